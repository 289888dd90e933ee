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
//! * `zookeeperConnect` without `kafka.bootstrap.servers`: Flume looks the brokers up in ZooKeeper;
//!   rflume cannot and refuses the source (unsupported), naming the fix. `migrateZookeeperOffsets`
//!   is reported as not applicable: rflume reads only offsets stored in Kafka.
//!
//! Layout: this file holds the settings (read as Flume's `KafkaSource.doConfigure` reads them) and
//! what `rflume check` shows; `consumer.rs` is the source at run time.

mod consumer;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::kafka::brokers::parse_broker_list;
use crate::kafka::consumer_props::{self, CONSUMER_PREFIX};
use crate::kafka::producer_props::{ProducerProps, UserSetting};

use super::{Source, SourceSpec};

/// Flume's `KafkaSourceConstants` names and defaults.
const BOOTSTRAP_SERVERS: &str = "kafka.bootstrap.servers";
const TOPICS: &str = "kafka.topics";
const TOPICS_REGEX: &str = "kafka.topics.regex";
const GROUP_ID: &str = "kafka.consumer.group.id";
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
            .ignored(ZOOKEEPER_CONNECT)
            .map(|(v, l)| (v.to_string(), l));
        if let Some((v, line)) = r.ignored(MIGRATE_ZOOKEEPER_OFFSETS) {
            r.warn(
                MIGRATE_ZOOKEEPER_OFFSETS,
                Some(line),
                format!(
                    "not applicable (= {v}): rflume reads only the offsets stored in Kafka; \
                     offsets kept in ZooKeeper by Flume 1.6 and older are not migrated"
                ),
                Some("delete the line".to_string()),
            );
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
                    Some((zk, line)) => r.unsupported(
                        ZOOKEEPER_CONNECT,
                        Some(*line),
                        format!(
                            "{ZOOKEEPER_CONNECT} is deprecated; Flume looks the brokers up in \
                             ZooKeeper ({zk}), rflume cannot"
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
        })
    }
}

impl Describe for KafkaSourceSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut rows = vec![(
            BOOTSTRAP_SERVERS.to_string(),
            self.bootstrap_servers.join(","),
        )];
        let none = || "(none)".to_string();
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
        rows.extend(
            self.consumer
                .describe_as(CONSUMER_PREFIX)
                .into_iter()
                .filter(|(k, _)| k != GROUP_ID),
        );
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
    use crate::config::reader::ComponentProps;
    use crate::config::Diagnostics;
    use std::path::Path;
    use std::sync::Arc;

    fn parse(pairs: &[(&str, &str)]) -> (Option<KafkaSourceSettings>, Vec<String>) {
        let c = ComponentProps::sink_for_test(pairs);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        let s = KafkaSourceSettings::parse(&mut r);
        r.finish("the Kafka source");
        (s, d.items.iter().map(|i| i.to_string()).collect())
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
            ("zookeeperConnect", "zk:2181"),
            ("migrateZookeeperOffsets", "true"),
        ]);
        assert!(s.is_none());
        assert!(
            diags.iter().any(|d| d.contains("rflume cannot")),
            "{diags:?}"
        );
        assert!(
            diags.iter().any(|d| d.contains("not applicable")),
            "{diags:?}"
        );
    }
}
