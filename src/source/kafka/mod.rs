//! Kafka source: Flume's `org.apache.flume.source.kafka.KafkaSource` (no short alias in Flume), on
//! librdkafka's consumer instead of Java's `KafkaConsumer`.
//!
//! **Delivery guarantee** (Flume's): at least once. Records are read in a consumer group
//! (`kafka.consumer.group.id`, default `flume`) with `enable.auto.commit = false`; a batch (up to
//! `batchSize` records or `batchDurationMillis`) is put into the channels, and only after that put
//! committed are the offsets committed, each partition's the offset after the last record of the
//! batch. A full channel holds the batch and retries (backpressure): the consumer reads nothing
//! more until the put commits, and nothing past what was put is ever committed. After a crash,
//! a rebalance or a failed commit, the group re-reads from the last committed offsets: what was
//! put and not yet committed is delivered again (duplicates, as in Flume), never lost.
//!
//! Where rflume differs from Flume, on purpose:
//! * A record that is not an `AvroFlumeEvent` with `useFlumeEventFormat = true`: Flume logs
//!   "KafkaSource EXCEPTION" and loses the record (its offset is committed with the next batch);
//!   rflume also skips it — it cannot be made into the event the file asks for — but logs it at
//!   ERROR with its topic, partition and offset, so that it can be read again from Kafka, and
//!   counts it (`EventReadFail`).
//! * A failed offset commit is logged (the records will be delivered again); Flume logs the
//!   exception the same way but names no cause.
//! * `zookeeperConnect` without `kafka.bootstrap.servers` (deprecated; Flume 1.9 and 1.10 look
//!   the brokers up in ZooKeeper, Flume 1.11 removed it and refuses such a file with "Bootstrap
//!   Servers must be specified"): rflume does what 1.9 does (`crate::kafka::zookeeper`), but
//!   when the source starts rather than while configuring, and an unreachable or empty ZooKeeper
//!   fails the source's start at ERROR with the file and line. `rflume check` does not connect.
//!   `migrateZookeeperOffsets` is reported as not applicable: rflume reads only offsets stored in
//!   Kafka.
//!
//! Layout: this file holds the settings (read as Flume's `KafkaSource.doConfigure` reads them) and
//! what `rflume check` shows; `consumer.rs` is the source at run time.

mod consumer;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::kafka::brokers::parse_broker_list;
use crate::kafka::consumer_props::{self, CONSUMER_PREFIX, GROUP_ID};
use crate::kafka::producer_props::{ProducerProps, UserSetting};
use crate::kafka::zookeeper::SECURITY_PROTOCOLS;

use super::{Source, SourceSpec};

/// Flume's `KafkaSourceConstants` names and defaults.
const BOOTSTRAP_SERVERS: &str = "kafka.bootstrap.servers";
const TOPICS: &str = "kafka.topics";
const TOPICS_REGEX: &str = "kafka.topics.regex";
const DEFAULT_GROUP_ID: &str = "flume";
const BATCH_SIZE: &str = "batchSize";
const DEFAULT_BATCH_SIZE: u64 = 1000;
const BATCH_DURATION_MS: &str = "batchDurationMillis";
const DEFAULT_BATCH_DURATION_MS: u64 = 1000;
const AVRO_EVENT: &str = "useFlumeEventFormat";
const SET_TOPIC_HEADER: &str = "setTopicHeader";
const TOPIC_HEADER: &str = "topicHeader";
const DEFAULT_TOPIC_HEADER: &str = "topic";
const MIGRATE_ZOOKEEPER_OFFSETS: &str = "migrateZookeeperOffsets";
const ZOOKEEPER_CONNECT: &str = "zookeeperConnect";
const OLD_TOPIC: &str = "topic";
const OLD_GROUP_ID: &str = "groupId";
/// Flume 1.11: `header.<flumeHeader> = <kafkaHeader>` copies a record header into the event.
const KAFKA_HEADER_PREFIX: &str = "header.";

/// What the source subscribes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// `kafka.topics` (or the deprecated `topic`): a comma list.
    Topics(Vec<String>),
    /// `kafka.topics.regex`: a pattern (wins over `kafka.topics`, as in Flume).
    Pattern(String),
}

/// Effective settings of one Kafka source.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSourceSettings {
    pub bootstrap_servers: Vec<String>,
    pub subscription: Subscription,
    pub group_id: String,
    pub batch_size: usize,
    pub batch_duration_ms: u64,
    pub use_flume_event_format: bool,
    pub set_topic_header: bool,
    pub topic_header: String,
    /// `header.<flume> = <kafka>` pairs.
    pub header_mappings: Vec<(String, String)>,
    pub consumer: ProducerProps,
    /// `zookeeperConnect` when `kafka.bootstrap.servers` is absent: `bootstrap_servers` is then
    /// empty and the brokers are looked up when the source starts.
    pub zookeeper: Option<ZookeeperLookup>,
}

/// Where and how the source looks its brokers up in ZooKeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZookeeperLookup {
    /// The connect string as written (`host:2181,host2:2181/chroot`).
    pub connect: String,
    /// `kafka.consumer.security.protocol` (default `PLAINTEXT`): which endpoint of each broker.
    pub security_protocol: String,
    /// `FILE:LINE` of the `zookeeperConnect` line, for the start-up error.
    pub location: String,
}

impl KafkaSourceSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        // Flume's translateOldProperties: `topic` and `groupId` are used when the new names are
        // absent.
        let old_topic = r.deprecated(OLD_TOPIC, TOPICS);
        let old_group = r.deprecated(OLD_GROUP_ID, GROUP_ID);

        let subscription = match r.opt_string(TOPICS_REGEX).filter(|v| !v.is_empty()) {
            Some(pattern) => {
                if let Some(line) = r.line(TOPICS) {
                    r.warn(
                        TOPICS,
                        Some(line),
                        format!("ignored: {TOPICS_REGEX} is also set and wins, as in Flume"),
                        Some("delete one of the two lines".to_string()),
                    );
                }
                if let Err(e) = regex::Regex::new(&pattern) {
                    let line = r.line(TOPICS_REGEX);
                    r.error(
                        TOPICS_REGEX,
                        line,
                        format!("not a regular expression: {e}"),
                        None,
                    );
                }
                Some(Subscription::Pattern(pattern))
            }
            None => match r.opt_string(TOPICS).filter(|v| !v.is_empty()).or(old_topic) {
                Some(list) => {
                    let topics: Vec<String> = list
                        .split(',')
                        .map(|t| t.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .collect();
                    Some(Subscription::Topics(topics))
                }
                None => {
                    r.error(
                        TOPICS,
                        None,
                        "At least one Kafka topic must be specified.",
                        Some(format!("set {} = topic1,topic2", r.full_key(TOPICS))),
                    );
                    None
                }
            },
        };

        let batch_size = r.positive_int(BATCH_SIZE, DEFAULT_BATCH_SIZE) as usize;
        let batch_duration_ms = r.positive_int(BATCH_DURATION_MS, DEFAULT_BATCH_DURATION_MS);
        let use_flume_event_format = r.bool(AVRO_EVENT, false);
        let zookeeper = r
            .raw(ZOOKEEPER_CONNECT)
            .filter(|(v, _)| !v.trim().is_empty())
            .map(|(v, l)| (v.trim().to_string(), l));
        // Flume 1.9's doStart migrates when zookeeperConnect is set, migrateZookeeperOffsets is
        // true (Boolean.valueOf; the default) and the subscription is one topic. rflume never
        // migrates: said where Flume would have, so that a group whose offsets live only in
        // ZooKeeper is not silently started at auto.offset.reset.
        let migrate = r
            .ignored(MIGRATE_ZOOKEEPER_OFFSETS)
            .map(|(v, l)| (v.trim().eq_ignore_ascii_case("true"), l));
        let one_topic = matches!(&subscription, Some(Subscription::Topics(t)) if t.len() == 1);
        match (&zookeeper, migrate) {
            (Some((_, zk_line)), m) if m.is_none_or(|(on, _)| on) && one_topic => {
                let line = m.map_or(*zk_line, |(_, l)| l);
                r.warn(
                    MIGRATE_ZOOKEEPER_OFFSETS,
                    Some(line),
                    "not applicable in rflume: Flume 1.9 (migrateZookeeperOffsets, default true) \
                     copies this group's offsets from ZooKeeper, where Flume 1.6 and older kept \
                     them, into Kafka when Kafka has none; rflume reads only the offsets stored \
                     in Kafka, so such a group starts at kafka.consumer.auto.offset.reset",
                    Some(
                        "if the group's offsets are in Kafka already, set \
                         migrateZookeeperOffsets = false; otherwise migrate them once with \
                         Flume 1.9 before switching"
                            .to_string(),
                    ),
                );
            }
            (None, Some((true, line))) => r.warn(
                MIGRATE_ZOOKEEPER_OFFSETS,
                Some(line),
                "has no effect without zookeeperConnect (as in Flume)",
                Some("delete the line".to_string()),
            ),
            _ => {}
        }

        let bootstrap_servers = match r.raw(BOOTSTRAP_SERVERS) {
            Some((v, line)) if !v.trim().is_empty() => {
                if let Some((_, zk_line)) = &zookeeper {
                    r.warn(
                        ZOOKEEPER_CONNECT,
                        Some(*zk_line),
                        format!(
                            "{ZOOKEEPER_CONNECT} is deprecated and not used: \
                             {BOOTSTRAP_SERVERS} is set"
                        ),
                        Some("delete the line".to_string()),
                    );
                }
                let v = v.to_string();
                parse_broker_list(r, BOOTSTRAP_SERVERS, Some(line), &v)
            }
            _ => {
                match &zookeeper {
                    // Flume 1.9's warning; the lookup itself happens at start.
                    Some((zk, line)) => r.warn(
                        ZOOKEEPER_CONNECT,
                        Some(*line),
                        format!(
                            "{ZOOKEEPER_CONNECT} is deprecated (Flume 1.11 no longer reads it); \
                             the brokers are looked up in ZooKeeper ({zk}) when the source starts"
                        ),
                        Some(format!(
                            "set {} = host1:9092,host2:9092",
                            r.full_key(BOOTSTRAP_SERVERS)
                        )),
                    ),
                    None => r.error(
                        BOOTSTRAP_SERVERS,
                        None,
                        "Bootstrap Servers must be specified",
                        Some(format!(
                            "set {} = host1:9092,host2:9092",
                            r.full_key(BOOTSTRAP_SERVERS)
                        )),
                    ),
                }
                None
            }
        };

        let group_id = match r
            .opt_string(GROUP_ID)
            .filter(|g| !g.is_empty())
            .or(old_group)
        {
            Some(g) => g,
            None => DEFAULT_GROUP_ID.to_string(),
        };
        let set_topic_header = r.bool(SET_TOPIC_HEADER, true);
        let topic_header = r.string(TOPIC_HEADER, DEFAULT_TOPIC_HEADER);
        let header_mappings: Vec<(String, String)> = r
            .with_prefix(KAFKA_HEADER_PREFIX)
            .into_iter()
            .map(|(flume, kafka, _)| (flume, kafka.trim().to_string()))
            .collect();

        let user: Vec<UserSetting> = r
            .with_prefix(CONSUMER_PREFIX)
            .into_iter()
            .map(|(k, v, line)| UserSetting::under(CONSUMER_PREFIX, k, v, line))
            .collect();
        let zookeeper = match (&bootstrap_servers, zookeeper) {
            (None, Some((connect, line))) => {
                let security_protocol = zookeeper_security_protocol(r, &user);
                let location = r.file_line(Some(line));
                Some(ZookeeperLookup {
                    connect,
                    security_protocol: security_protocol?,
                    location,
                })
            }
            _ => None,
        };
        let bootstrap_servers = match (&zookeeper, bootstrap_servers) {
            (Some(_), _) => Some(Vec::new()),
            (None, b) => b,
        };
        let servers = bootstrap_servers.as_deref().unwrap_or_default().join(",");
        let consumer = consumer_props::translate(r, &user, &servers, &group_id);

        if r.failed() {
            return None;
        }
        Some(KafkaSourceSettings {
            bootstrap_servers: bootstrap_servers?,
            subscription: subscription?,
            group_id,
            batch_size,
            batch_duration_ms,
            use_flume_event_format,
            set_topic_header,
            topic_header,
            header_mappings,
            consumer,
            zookeeper,
        })
    }
}

/// The security protocol whose endpoints the ZooKeeper lookup takes: Flume 1.9 passes
/// `kafka.consumer.security.protocol` (default `PLAINTEXT`) to `SecurityProtocol.valueOf`, which
/// takes only the exact upper-case names and fails the source's configuration on anything else.
fn zookeeper_security_protocol(r: &mut PropReader, user: &[UserSetting]) -> Option<String> {
    let Some(set) = user.iter().find(|u| u.key == "security.protocol") else {
        return Some("PLAINTEXT".to_string());
    };
    let value = set.value.trim();
    if SECURITY_PROTOCOLS.contains(&value) {
        return Some(value.to_string());
    }
    r.error(
        &format!("{CONSUMER_PREFIX}security.protocol"),
        Some(set.line),
        format!(
            "'{value}' is not a security protocol Flume can look brokers up in ZooKeeper for \
             (SecurityProtocol.valueOf takes {})",
            SECURITY_PROTOCOLS.join(", ")
        ),
        Some("write the protocol's name in capitals".to_string()),
    );
    None
}

impl Describe for KafkaSourceSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let none = || "(none)".to_string();
        let mut rows = match &self.zookeeper {
            Some(zk) => vec![
                (
                    BOOTSTRAP_SERVERS.to_string(),
                    format!(
                        "(looked up in ZooKeeper at start, {} endpoints)",
                        zk.security_protocol
                    ),
                ),
                (ZOOKEEPER_CONNECT.to_string(), zk.connect.clone()),
            ],
            None => vec![
                (
                    BOOTSTRAP_SERVERS.to_string(),
                    self.bootstrap_servers.join(","),
                ),
                (ZOOKEEPER_CONNECT.to_string(), "(not used)".to_string()),
            ],
        };
        match &self.subscription {
            Subscription::Topics(t) => {
                rows.push((TOPICS.to_string(), t.join(",")));
                rows.push((TOPICS_REGEX.to_string(), none()));
            }
            Subscription::Pattern(p) => {
                rows.push((
                    TOPICS.to_string(),
                    "(not used: kafka.topics.regex wins)".to_string(),
                ));
                rows.push((TOPICS_REGEX.to_string(), p.clone()));
            }
        }
        rows.extend([
            (GROUP_ID.to_string(), self.group_id.clone()),
            (BATCH_SIZE.to_string(), self.batch_size.to_string()),
            (
                BATCH_DURATION_MS.to_string(),
                self.batch_duration_ms.to_string(),
            ),
            (
                AVRO_EVENT.to_string(),
                self.use_flume_event_format.to_string(),
            ),
            (
                SET_TOPIC_HEADER.to_string(),
                self.set_topic_header.to_string(),
            ),
            (TOPIC_HEADER.to_string(), self.topic_header.clone()),
        ]);
        for (flume, kafka) in &self.header_mappings {
            rows.push((format!("{KAFKA_HEADER_PREFIX}{flume}"), kafka.clone()));
        }
        rows.extend(self.consumer.describe_consumer());
        rows
    }
}

impl SourceSpec for KafkaSourceSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(consumer::KafkaSource::new(name, self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<KafkaSourceSettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, Some("the Kafka source"), KafkaSourceSettings::parse);
        (s, d.lines())
    }

    #[test]
    fn flume_defaults() {
        let (s, diags) = parse(&[
            ("kafka.bootstrap.servers", "b1,b2:9093"),
            ("kafka.topics", "a, b"),
        ]);
        let s = s.expect("parses");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(s.bootstrap_servers, ["b1:9092", "b2:9093"]);
        assert_eq!(
            s.subscription,
            Subscription::Topics(vec!["a".into(), "b".into()])
        );
        assert_eq!(s.group_id, "flume");
        assert_eq!((s.batch_size, s.batch_duration_ms), (1000, 1000));
        assert!(!s.use_flume_event_format);
        assert!(s.set_topic_header);
        assert_eq!(s.topic_header, "topic");
        assert_eq!(s.consumer.get("enable.auto.commit"), Some("false"));
        assert_eq!(s.consumer.get("group.id"), Some("flume"));
    }

    #[test]
    fn regex_wins_over_topics_and_old_names_are_used() {
        let (s, diags) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topics", "a"),
            ("kafka.topics.regex", "^logs-.*"),
            ("groupId", "old"),
        ]);
        let s = s.expect("parses");
        assert_eq!(s.subscription, Subscription::Pattern("^logs-.*".into()));
        assert_eq!(s.group_id, "old");
        assert!(diags.iter().any(|d| d.contains("wins")), "{diags:?}");
        assert!(
            diags.iter().any(|d| d.contains("groupId is deprecated")),
            "{diags:?}"
        );
        let (s, _) = parse(&[("kafka.bootstrap.servers", "b"), ("topic", "t")]);
        assert_eq!(
            s.expect("parses").subscription,
            Subscription::Topics(vec!["t".into()])
        );
    }

    #[test]
    fn missing_topics_brokers_and_zookeeper_only() {
        let (s, diags) = parse(&[("kafka.bootstrap.servers", "b")]);
        assert!(s.is_none());
        assert!(
            diags.iter().any(|d| d.contains("At least one Kafka topic")),
            "{diags:?}"
        );
        let (s, diags) = parse(&[("kafka.topics", "t")]);
        assert!(s.is_none());
        assert!(
            diags.iter().any(|d| d.contains("Bootstrap Servers")),
            "{diags:?}"
        );
        let (s, diags) = parse(&[
            ("kafka.topics", "t"),
            ("zookeeperConnect", "zk:2181/kafka"),
            ("migrateZookeeperOffsets", "true"),
        ]);
        assert!(
            diags.iter().any(|d| d.contains("not applicable")),
            "{diags:?}"
        );
        assert!(
            diags
                .iter()
                .any(|d| d.contains("zookeeperConnect is deprecated")),
            "{diags:?}"
        );
        let s = s.expect("zookeeperConnect alone is enough, as in Flume 1.9");
        assert!(s.bootstrap_servers.is_empty());
        let zk = s.zookeeper.expect("looked up at start");
        assert_eq!(zk.connect, "zk:2181/kafka");
        assert_eq!(zk.security_protocol, "PLAINTEXT");
        assert!(zk.location.starts_with("f.conf:"), "{}", zk.location);
    }

    #[test]
    fn offsets_in_zookeeper_are_said_not_migrated_where_flume_would_migrate() {
        let migrating = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![
                ("kafka.topics", "t"),
                ("zookeeperConnect", "zk:2181"),
                ("kafka.bootstrap.servers", "b"),
            ];
            pairs.extend_from_slice(extra);
            let (_, diags) = parse(&pairs);
            diags
                .iter()
                .any(|d| d.contains("migrateZookeeperOffsets") && d.contains("not applicable"))
        };
        // Flume's default (true), and true written out: Flume 1.9 migrates, rflume says it does not.
        assert!(migrating(&[]));
        assert!(migrating(&[("migrateZookeeperOffsets", "TRUE")]));
        // false, or several topics (Flume migrates only a single topic): the same as Flume.
        assert!(!migrating(&[("migrateZookeeperOffsets", "false")]));
        assert!(!migrating(&[("kafka.topics", "t,u")]));
        let (_, diags) = parse(&[
            ("kafka.topics", "t"),
            ("kafka.bootstrap.servers", "b"),
            ("migrateZookeeperOffsets", "true"),
        ]);
        assert!(
            diags
                .iter()
                .any(|d| d.contains("no effect without zookeeperConnect")),
            "{diags:?}"
        );
    }

    #[test]
    fn zookeeper_lookup_takes_the_consumers_security_protocol() {
        let (s, _) = parse(&[
            ("kafka.topics", "t"),
            ("zookeeperConnect", "zk:2181"),
            ("kafka.consumer.security.protocol", "SASL_SSL"),
        ]);
        let zk = s.and_then(|s| s.zookeeper).expect("parses");
        assert_eq!(zk.security_protocol, "SASL_SSL");
        // SecurityProtocol.valueOf: the exact names only.
        let (s, diags) = parse(&[
            ("kafka.topics", "t"),
            ("zookeeperConnect", "zk:2181"),
            ("kafka.consumer.security.protocol", "ssl"),
        ]);
        assert!(s.is_none());
        assert!(
            diags.iter().any(|d| d.contains("not a security protocol")),
            "{diags:?}"
        );
        // With a broker list, zookeeperConnect is not used (Flume's warning).
        let (s, diags) = parse(&[
            ("kafka.topics", "t"),
            ("zookeeperConnect", "zk:2181"),
            ("kafka.bootstrap.servers", "b:9092"),
        ]);
        let s = s.expect("parses");
        assert!(s.zookeeper.is_none());
        assert_eq!(s.bootstrap_servers, ["b:9092"]);
        assert!(diags.iter().any(|d| d.contains("not used")), "{diags:?}");
    }
}
