//! The Kafka channel's settings: Flume's `KafkaChannel.configure` (its names, defaults,
//! deprecated names and fallbacks), what `rflume check` prints, and the spec that builds the
//! channel.

use std::sync::Arc;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::kafka::brokers::parse_broker_list;
use crate::kafka::consumer_props::{self, CONSUMER_PREFIX, GROUP_ID};
use crate::kafka::producer_props::{self, ProducerProps, UserSetting};
use crate::metrics::ChannelCounter;

use super::{KafkaChannel, UNBOUNDED};
use crate::channel::{Channel, ChannelSpec, OpenError};

/// `KafkaChannelConfiguration` names and defaults.
const BOOTSTRAP_SERVERS: &str = "kafka.bootstrap.servers";
const TOPIC: &str = "kafka.topic";
const DEFAULT_TOPIC: &str = "flume-channel";
const DEFAULT_GROUP_ID: &str = "flume";
const PARSE_AS_FLUME_EVENT: &str = "parseAsFlumeEvent";
const DEFAULT_PARSE_AS_FLUME_EVENT: bool = true;
const POLL_TIMEOUT: &str = "kafka.pollTimeout";
/// The user guide's name for it, which Flume's code never reads.
const DOCUMENTED_POLL_TIMEOUT: &str = "pollTimeout";
const DEFAULT_POLL_TIMEOUT_MS: i64 = 500;
const STATIC_PARTITION: &str = "defaultPartitionId";
const PARTITION_HEADER: &str = "partitionIdHeader";
const MIGRATE_ZOOKEEPER_OFFSETS: &str = "migrateZookeeperOffsets";
const DEFAULT_MIGRATE_ZOOKEEPER_OFFSETS: bool = true;
const ZOOKEEPER_CONNECT: &str = "zookeeperConnect";
const AUTO_OFFSET_RESET: &str = "kafka.consumer.auto.offset.reset";
/// `KafkaChannelConfiguration.DEFAULT_AUTO_OFFSET_RESET` (the user guide says latest; the code
/// sets earliest, and the code is what runs).
const DEFAULT_AUTO_OFFSET_RESET: &str = "earliest";
/// `KafkaChannelConfiguration.DEFAULT_ACKS`: the channel waits for every in-sync replica.
const DEFAULT_ACKS: &str = "all";
/// Java's `linger.ms` default, which Flume's channel keeps (it flushes at commit anyway).
const DEFAULT_LINGER_MS: &str = "0";
/// Deprecated names (`translateOldProps`).
const OLD_TOPIC: &str = "topic";
const OLD_BROKER_LIST: &str = "brokerList";
const OLD_GROUP_ID: &str = "groupId";
const READ_SMALLEST_OFFSET: &str = "readSmallestOffset";

/// Effective settings of one Kafka channel.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaChannelSettings {
    pub bootstrap_servers: Vec<String>,
    pub topic: String,
    pub group_id: String,
    pub parse_as_flume_event: bool,
    pub poll_timeout_ms: u64,
    pub static_partition: Option<i32>,
    pub partition_header: Option<String>,
    pub migrate_zookeeper_offsets: bool,
    pub producer: ProducerProps,
    pub consumer: ProducerProps,
}

impl KafkaChannelSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let old_topic = r.deprecated(OLD_TOPIC, TOPIC);
        let old_brokers = r.deprecated(OLD_BROKER_LIST, BOOTSTRAP_SERVERS);
        let old_group = r
            .deprecated(OLD_GROUP_ID, GROUP_ID)
            .filter(|g| !g.is_empty());
        let old_read_smallest = r.deprecated(READ_SMALLEST_OFFSET, AUTO_OFFSET_RESET);

        let topic = r
            .opt_string(TOPIC)
            .filter(|t| !t.is_empty())
            .or(old_topic.filter(|t| !t.is_empty()))
            .unwrap_or_else(|| DEFAULT_TOPIC.to_string());
        let group_id = r
            .opt_string(GROUP_ID)
            .filter(|g| !g.is_empty())
            .or(old_group)
            .unwrap_or_else(|| DEFAULT_GROUP_ID.to_string());

        let bootstrap_servers = match r.raw(BOOTSTRAP_SERVERS) {
            Some((v, line)) if !v.trim().is_empty() => {
                let v = v.to_string();
                parse_broker_list(r, BOOTSTRAP_SERVERS, Some(line), &v)
            }
            _ => match old_brokers.filter(|b| !b.trim().is_empty()) {
                Some(list) => {
                    let line = r.line(OLD_BROKER_LIST);
                    parse_broker_list(r, OLD_BROKER_LIST, line, &list)
                }
                None => {
                    r.error(
                        BOOTSTRAP_SERVERS,
                        None,
                        "Bootstrap Servers must be specified",
                        Some(format!(
                            "set {} = host1:9092,host2:9092",
                            r.full_key(BOOTSTRAP_SERVERS)
                        )),
                    );
                    None
                }
            },
        };

        let parse_as_flume_event = r.bool(PARSE_AS_FLUME_EVENT, DEFAULT_PARSE_AS_FLUME_EVENT);
        if !parse_as_flume_event {
            let line = r.line(PARSE_AS_FLUME_EVENT);
            r.warn(
                PARSE_AS_FLUME_EVENT,
                line,
                "parseAsFlumeEvent = false stores bare bodies: every header except `key` (the \
                 record key) is lost between the channel's sources and sinks, as in Flume",
                Some("keep it true unless other producers write this topic".to_string()),
            );
        }
        let poll_timeout_ms = poll_timeout(r);
        let static_partition = match r.raw(STATIC_PARTITION) {
            None => None,
            Some((v, line)) => match v.trim().parse::<i32>() {
                Ok(p) if p >= 0 => Some(p),
                Ok(p) => {
                    r.error(
                        STATIC_PARTITION,
                        Some(line),
                        format!(
                            "Invalid partition given with record: {p} is not in the range \
                             [0...) (Flume accepts the file and then fails every put)"
                        ),
                        Some("use a partition number of the topic, 0 or more".to_string()),
                    );
                    None
                }
                Err(_) => {
                    r.error(
                        STATIC_PARTITION,
                        Some(line),
                        format!("not an integer: '{v}' (Flume's getInteger throws)"),
                        Some("use a partition number of the topic, 0 or more".to_string()),
                    );
                    None
                }
            },
        };
        let partition_header = r.opt_string(PARTITION_HEADER);
        let migrate_zookeeper_offsets =
            r.bool(MIGRATE_ZOOKEEPER_OFFSETS, DEFAULT_MIGRATE_ZOOKEEPER_OFFSETS);
        if let Some((zk, line)) = r.ignored(ZOOKEEPER_CONNECT) {
            let zk = zk.to_string();
            let message = if migrate_zookeeper_offsets {
                format!(
                    "not applicable: Flume copies the group's offsets from ZooKeeper ({zk}) \
                     into Kafka when Kafka has none for it; rflume reads only the offsets kept \
                     in Kafka (a group without them starts at auto.offset.reset)"
                )
            } else {
                format!("not used ({MIGRATE_ZOOKEEPER_OFFSETS} = false), as in Flume")
            };
            r.warn(
                ZOOKEEPER_CONNECT,
                Some(line),
                message,
                Some("delete the line".to_string()),
            );
        }
        let servers = bootstrap_servers.as_deref().unwrap_or_default().join(",");

        let producer_user: Vec<UserSetting> = r
            .with_prefix(producer_props::PRODUCER_PREFIX)
            .into_iter()
            .map(|(k, v, line)| UserSetting::from_prefixed(k, v, line))
            .collect();
        let mut producer = producer_props::translate(r, &producer_user, &servers);
        channel_default(
            &mut producer,
            "acks",
            DEFAULT_ACKS,
            "Flume's Kafka channel default",
        );
        channel_default(
            &mut producer,
            "linger.ms",
            DEFAULT_LINGER_MS,
            "Java's default, kept by Flume's channel: a put waits for its records anyway",
        );

        let mut consumer_user: Vec<UserSetting> = r
            .with_prefix(CONSUMER_PREFIX)
            .into_iter()
            .map(|(k, v, line)| UserSetting::under(CONSUMER_PREFIX, k, v, line))
            .collect();
        if !consumer_user.iter().any(|s| s.key == "auto.offset.reset") {
            // readSmallestOffset = true means earliest, anything else latest (Boolean.valueOf);
            // with neither, the channel's default.
            let (value, line, from) = match old_read_smallest {
                Some(v) => {
                    let auto = if v.trim().eq_ignore_ascii_case("true") {
                        "earliest"
                    } else {
                        "latest"
                    };
                    (auto, r.line(READ_SMALLEST_OFFSET).unwrap_or(0), true)
                }
                None => (DEFAULT_AUTO_OFFSET_RESET, 0, false),
            };
            let mut s = UserSetting::under(
                CONSUMER_PREFIX,
                "auto.offset.reset".to_string(),
                value.to_string(),
                line,
            );
            if from {
                s.flume_key = READ_SMALLEST_OFFSET.to_string();
            }
            consumer_user.push(s);
        }
        let consumer = consumer_props::translate(r, &consumer_user, &servers, &group_id);

        if r.failed() {
            return None;
        }
        Some(KafkaChannelSettings {
            bootstrap_servers: bootstrap_servers?,
            topic,
            group_id,
            parse_as_flume_event,
            poll_timeout_ms,
            static_partition,
            partition_header,
            migrate_zookeeper_offsets,
            producer,
            consumer,
        })
    }
}

/// `kafka.pollTimeout` (Java's `getLong`); the documented `pollTimeout` is ignored, as by Flume.
fn poll_timeout(r: &mut PropReader) -> u64 {
    if let Some((v, line)) = r.ignored(DOCUMENTED_POLL_TIMEOUT) {
        r.warn(
            DOCUMENTED_POLL_TIMEOUT,
            Some(line),
            format!(
                "ignored (= {v}): Flume's user guide names it, but Flume reads {POLL_TIMEOUT}; \
                 rflume does the same"
            ),
            Some(format!("rename it to {}", r.full_key(POLL_TIMEOUT))),
        );
    }
    let Some((v, line)) = r.raw(POLL_TIMEOUT) else {
        return DEFAULT_POLL_TIMEOUT_MS as u64;
    };
    match v.trim().parse::<i64>() {
        Ok(ms) if ms >= 0 => ms as u64,
        Ok(ms) => {
            r.warn(
                POLL_TIMEOUT,
                Some(line),
                format!(
                    "a negative poll timeout ({ms}) makes every take fail in Flume (Java's poll \
                     refuses it); rflume waits 0 ms instead"
                ),
                Some("use 0 or more milliseconds".to_string()),
            );
            0
        }
        Err(_) => {
            r.error(
                POLL_TIMEOUT,
                Some(line),
                format!("not a number of milliseconds: '{v}' (Flume's getLong throws)"),
                Some(format!("Flume's default is {DEFAULT_POLL_TIMEOUT_MS}")),
            );
            DEFAULT_POLL_TIMEOUT_MS as u64
        }
    }
}

/// Replaces the producer translation's default for `name` (the Kafka sink's) by the channel's,
/// unless the file set it.
fn channel_default(props: &mut ProducerProps, name: &str, value: &str, why: &str) {
    if let Some(p) = props
        .props
        .iter_mut()
        .find(|p| p.name == name && p.from.is_none())
    {
        p.value = producer_props::PropValue::Plain(value.to_string());
        p.note = Some(why.to_string());
    }
}

impl Describe for KafkaChannelSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let none = || "(none)".to_string();
        let mut rows = vec![
            (
                BOOTSTRAP_SERVERS.to_string(),
                self.bootstrap_servers.join(","),
            ),
            (TOPIC.to_string(), self.topic.clone()),
            (GROUP_ID.to_string(), self.group_id.clone()),
            (
                PARSE_AS_FLUME_EVENT.to_string(),
                self.parse_as_flume_event.to_string(),
            ),
            (POLL_TIMEOUT.to_string(), self.poll_timeout_ms.to_string()),
            (
                STATIC_PARTITION.to_string(),
                self.static_partition.map_or_else(none, |p| p.to_string()),
            ),
            (
                PARTITION_HEADER.to_string(),
                self.partition_header.clone().unwrap_or_else(none),
            ),
            (
                MIGRATE_ZOOKEEPER_OFFSETS.to_string(),
                format!(
                    "{} (not applicable: offsets are read from Kafka only)",
                    self.migrate_zookeeper_offsets
                ),
            ),
        ];
        rows.extend(self.producer.describe());
        rows.extend(self.consumer.describe_consumer());
        rows
    }
}

impl ChannelSpec for KafkaChannelSettings {
    fn transaction_capacity(&self) -> usize {
        UNBOUNDED
    }
    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, OpenError> {
        let c =
            KafkaChannel::new(name, self.clone(), counter).map_err(|message| OpenError::Kafka {
                channel: name.to_string(),
                message,
            })?;
        Ok(Arc::new(c))
    }
}
