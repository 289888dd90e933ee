//! The Kafka sink's properties, read as Flume's `KafkaSink.configure` reads them (1.9, plus 1.11's
//! `timestampHeader` and `header.*`), with every silent Flume quirk turned into a diagnostic.

use super::dead_letter::OnRejected;
use super::topic::{invalid_topic_name, TopicTemplate};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::java::java_hashmap_order;
use crate::kafka::brokers::parse_broker_list;
use crate::kafka::producer_props::{self, ProducerProps, UserSetting, PRODUCER_PREFIX};

/// Flume's `KafkaSinkConstants` names and defaults.
const BOOTSTRAP_SERVERS: &str = "kafka.bootstrap.servers";
const TOPIC: &str = "kafka.topic";
const DEFAULT_TOPIC: &str = "default-flume-topic";
const BATCH_SIZE: &str = "flumeBatchSize";
const DEFAULT_BATCH_SIZE: u64 = 100;
const AVRO_EVENT: &str = "useFlumeEventFormat";
const STATIC_PARTITION: &str = "defaultPartitionId";
const PARTITION_HEADER: &str = "partitionIdHeader";
const ALLOW_TOPIC_OVERRIDE: &str = "allowTopicOverride";
const TOPIC_HEADER: &str = "topicHeader";
const DEFAULT_TOPIC_HEADER: &str = "topic";
const TIMESTAMP_HEADER: &str = "timestampHeader";
const KAFKA_HEADER_PREFIX: &str = "header.";
/// The event header whose value becomes the record key (`KafkaSinkConstants.KEY_HEADER`).
pub(super) const KEY_HEADER: &str = "key";

/// rflume-only: how many take transactions may wait for acknowledgements at once. Flume has one
/// (send, flush, wait, commit); pipelining keeps the broker busy while earlier batches are acked,
/// with the same guarantee (each take commits only after all its records are acknowledged).
const MAX_IN_FLIGHT_BATCHES: &str = "rflume.maxInFlightBatches";
/// Fewest batches in flight by default.
const MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES: u64 = 8;
/// By default enough batches are in flight to cover this many events. Each record waits about
/// `linger.ms` (5) plus a round trip before its ack, so throughput is bounded by in-flight events
/// divided by that time: 10,000 events allow over a million records a second, while 8 batches of
/// Flume's default 100 events would cap a sink near 130,000/s.
const DEFAULT_IN_FLIGHT_EVENTS: u64 = 10_000;
/// Upper bound: the batch slot is part of the per-record delivery opaque (16 bits).
const MAX_MAX_IN_FLIGHT_BATCHES: u64 = 1024;

/// Effective settings of one Kafka sink.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSettings {
    /// `host:port` entries, port defaulted to 9092.
    pub bootstrap_servers: Vec<String>,
    /// `kafka.topic` as written (or the default).
    pub topic: String,
    pub topic_template: TopicTemplate,
    /// Whether `kafka.topic` (or `topic`) was missing and the default is used.
    pub topic_is_default: bool,
    pub batch_size: usize,
    pub use_flume_event_format: bool,
    pub default_partition_id: Option<i32>,
    pub partition_id_header: Option<String>,
    pub allow_topic_override: bool,
    pub topic_header: String,
    pub timestamp_header: Option<String>,
    /// `header.<flumeHeader> = <kafkaHeader>` in the order Flume's `HashMap` iterates them.
    pub header_mappings: Vec<(String, String)>,
    pub producer: ProducerProps,
    pub max_in_flight_batches: usize,
    /// rflume: what happens to an event Kafka will never accept (`rflume.onRejected`).
    pub on_rejected: OnRejected,
}

impl KafkaSettings {
    /// Reads the sink's properties; every problem is recorded on `r`. `None` when the sink cannot
    /// be built (Flume would drop it, or rflume refuses a setting it cannot honour).
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        // Deprecated names first (Flume's translateOldProps): the new name wins when both exist.
        let old_brokers = r.deprecated("brokerList", BOOTSTRAP_SERVERS);
        let old_topic = r.deprecated("topic", TOPIC);
        let old_batch = r.deprecated("batchSize", BATCH_SIZE);
        let old_acks = r.deprecated("requiredAcks", "kafka.producer.acks");
        for old in ["serializer.class", "key.serializer.class"] {
            if let Some((_, line)) = r.ignored(old) {
                let new = if old == "serializer.class" {
                    "kafka.producer.value.serializer"
                } else {
                    "kafka.producer.key.serializer"
                };
                r.warn(
                    old,
                    Some(line),
                    format!(
                        "{old} is deprecated and ignored (Flume's Kafka producer uses {new}; \
                         rflume sends the key header and the body bytes as they are)"
                    ),
                    Some("delete the line".to_string()),
                );
            }
        }

        let bootstrap_servers = Self::parse_bootstrap(r, old_brokers);

        let (topic, topic_is_default) = match r.opt_string(TOPIC).or(old_topic) {
            Some(t) if !t.trim().is_empty() => (t.trim().to_string(), false),
            _ => {
                r.warn(
                    TOPIC,
                    None,
                    format!("Topic was not specified. Using {DEFAULT_TOPIC} as the topic."),
                    Some(format!("set {} = <topic>", r.full_key(TOPIC))),
                );
                (DEFAULT_TOPIC.to_string(), true)
            }
        };

        let batch_size = Self::parse_batch_size(r, old_batch);
        let use_flume_event_format = r.bool(AVRO_EVENT, false);
        let default_partition_id = match r.parse::<i32>(STATIC_PARTITION, "an integer partition id")
        {
            Some(p) if p < 0 => {
                let line = r.line(STATIC_PARTITION);
                r.error(
                    STATIC_PARTITION,
                    line,
                    format!(
                        "Invalid partition: {p}. Partition number should always be non-negative"
                    ),
                    None,
                );
                None
            }
            other => other,
        };
        let partition_id_header = r.opt_string(PARTITION_HEADER).filter(|h| !h.is_empty());
        let allow_topic_override = r.bool(ALLOW_TOPIC_OVERRIDE, true);
        let topic_header = r.string(TOPIC_HEADER, DEFAULT_TOPIC_HEADER);
        let timestamp_header = r.opt_string(TIMESTAMP_HEADER).filter(|h| !h.is_empty());
        let header_mappings = Self::parse_header_mappings(r);

        let topic_template = Self::parse_topic(r, &topic, allow_topic_override);
        let on_rejected = OnRejected::parse(r);

        let default_in_flight = default_max_in_flight_batches(batch_size);
        let max_in_flight_batches = r.positive(MAX_IN_FLIGHT_BATCHES, default_in_flight);
        let max_in_flight_batches = if max_in_flight_batches > MAX_MAX_IN_FLIGHT_BATCHES {
            let line = r.line(MAX_IN_FLIGHT_BATCHES);
            r.error(
                MAX_IN_FLIGHT_BATCHES,
                line,
                format!("at most {MAX_MAX_IN_FLIGHT_BATCHES} batches can be in flight"),
                None,
            );
            default_in_flight
        } else {
            max_in_flight_batches
        };

        // The user guide's `kafka.flumeBatchSize` is not read by Flume's code: warn, do not use.
        if let Some((v, line)) = r.ignored("kafka.flumeBatchSize") {
            let fix = r.full_key(BATCH_SIZE);
            r.warn(
                "kafka.flumeBatchSize",
                Some(line),
                format!(
                    "ignored: Flume reads {BATCH_SIZE}, not kafka.flumeBatchSize (the Flume user \
                     guide is wrong), so the batch size is {batch_size}, not {v}"
                ),
                Some(format!(
                    "rename the line to {fix} = {v} if you want batches of {v}"
                )),
            );
        }

        // Producer settings: the file's kafka.producer.*, then requiredAcks if acks is absent.
        let mut user: Vec<UserSetting> = r
            .with_prefix(PRODUCER_PREFIX)
            .into_iter()
            .map(|(k, v, line)| UserSetting::from_prefixed(k, v, line))
            .collect();
        if let Some(acks) = old_acks {
            let line = r.line("requiredAcks").unwrap_or(0);
            user.push(UserSetting {
                key: "acks".into(),
                value: acks.trim().to_string(),
                line,
                flume_key: "requiredAcks".into(),
            });
        }
        // Translated even without a usable broker list, so that every problem is reported at once.
        let servers = bootstrap_servers.as_deref().unwrap_or_default().join(",");
        let producer = producer_props::translate(r, &user, &servers);
        Self::check_linger(
            r,
            &producer,
            max_in_flight_batches.saturating_mul(batch_size),
        );

        if r.failed() {
            return None;
        }
        Some(KafkaSettings {
            bootstrap_servers: bootstrap_servers?,
            topic,
            topic_template: topic_template?,
            topic_is_default,
            batch_size: batch_size as usize,
            use_flume_event_format,
            default_partition_id,
            partition_id_header,
            allow_topic_override,
            topic_header,
            timestamp_header,
            header_mappings,
            producer,
            max_in_flight_batches: max_in_flight_batches as usize,
            on_rejected,
        })
    }

    /// `flumeBatchSize`: max events per take transaction.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn parse_bootstrap(r: &mut PropReader, old: Option<String>) -> Option<Vec<String>> {
        let (key, value, line) = match r.raw(BOOTSTRAP_SERVERS) {
            Some((v, line)) => (BOOTSTRAP_SERVERS, Some(v.to_string()), Some(line)),
            None => ("brokerList", old, r.line("brokerList")),
        };
        let value = value.filter(|v| !v.trim().is_empty());
        let Some(value) = value else {
            r.error(
                BOOTSTRAP_SERVERS,
                None,
                "Bootstrap Servers must be specified",
                Some(format!(
                    "set {} = host1:9092,host2:9092",
                    r.full_key(BOOTSTRAP_SERVERS)
                )),
            );
            return None;
        };
        parse_broker_list(r, key, line, &value)
    }

    /// Flume flushes the producer after every batch, so a large `linger.ms` tuned for Java never
    /// delayed a Flume batch; rflume does not flush (it pipelines batches) and librdkafka honours
    /// `linger.ms` for every record. Say so when the value is large enough to matter.
    fn check_linger(r: &mut PropReader, producer: &ProducerProps, in_flight_events: u64) {
        const NOTICEABLE_LINGER_MS: f64 = 50.0;
        let Some(p) = producer.find("linger.ms") else {
            return;
        };
        let (Some(from), Ok(ms)) = (&p.from, p.value.expose().parse::<f64>()) else {
            return;
        };
        if ms < NOTICEABLE_LINGER_MS {
            return;
        }
        let ceiling = (in_flight_events as f64 * 1000.0 / ms) as u64;
        let line = r.line(from);
        r.warn(
            from,
            line,
            format!(
                "records wait up to {ms} ms before being sent: Flume flushed after every batch, \
                 which made linger.ms moot, but rflume pipelines batches without flushing, so with \
                 {in_flight_events} events in flight this sink peaks near {ceiling} events/s"
            ),
            Some(format!(
                "lower linger.ms (librdkafka's default is 5) or raise {MAX_IN_FLIGHT_BATCHES}"
            )),
        );
    }

    fn parse_batch_size(r: &mut PropReader, old: Option<String>) -> u64 {
        if r.raw(BATCH_SIZE).is_some() {
            return r.positive_int(BATCH_SIZE, DEFAULT_BATCH_SIZE);
        }
        let Some(old) = old.filter(|v| !v.trim().is_empty()) else {
            return DEFAULT_BATCH_SIZE;
        };
        let line = r.line("batchSize");
        match old.trim().parse::<i32>() {
            Ok(n) if n > 0 => n as u64,
            _ => {
                r.error(
                    "batchSize",
                    line,
                    format!("'{old}' is not a positive integer"),
                    Some(format!("Flume's default is {DEFAULT_BATCH_SIZE}")),
                );
                DEFAULT_BATCH_SIZE
            }
        }
    }

    fn parse_header_mappings(r: &mut PropReader) -> Vec<(String, String)> {
        let mut entries = r.with_prefix(KAFKA_HEADER_PREFIX);
        // Flume builds the mappings from `context.getSubProperties("header.")`: a new HashMap
        // filled by iterating the sink's Context, itself a HashMap of the sink's keys. So the
        // sub-map's insertion order is the Context's iteration order (modelled with the sink's
        // keys put in file order, which decides only between keys that share a bucket there too).
        // Checked against real Flume 1.11 with 12 and 100 mappings (tests/flume_oracle.rs).
        let context_keys = r.keys_in_file_order();
        let context_order = java_hashmap_order(&context_keys);
        let rank = |name: &str| {
            let full = format!("{KAFKA_HEADER_PREFIX}{name}");
            context_order
                .iter()
                .position(|&i| context_keys[i] == full)
                .unwrap_or(usize::MAX)
        };
        entries.sort_by_cached_key(|(name, _, _)| rank(name));
        let mut mappings = Vec::new();
        for (flume, kafka, line) in entries {
            let kafka = kafka.trim().to_string();
            if kafka.is_empty() {
                r.error(
                    &format!("{KAFKA_HEADER_PREFIX}{flume}"),
                    Some(line),
                    "needs the name of the Kafka record header to copy the Flume header into",
                    None,
                );
                continue;
            }
            mappings.push((flume, kafka));
        }
        // Flume iterates Context.getSubProperties (a HashMap) to build the record headers.
        let names: Vec<&str> = mappings.iter().map(|(f, _)| f.as_str()).collect();
        let order = java_hashmap_order(&names);
        order.into_iter().map(|i| mappings[i].clone()).collect()
    }

    fn parse_topic(
        r: &mut PropReader,
        topic: &str,
        allow_topic_override: bool,
    ) -> Option<TopicTemplate> {
        let line = r.line(TOPIC).or_else(|| r.line("topic"));
        let key = if r.line(TOPIC).is_some() || line.is_none() {
            TOPIC
        } else {
            "topic"
        };
        if !allow_topic_override {
            // Flume sends to kafka.topic as written when overrides are off: no %{…} substitution.
            if let Some(why) = invalid_topic_name(topic) {
                let hint = if topic.contains('%') {
                    format!(
                        "with {ALLOW_TOPIC_OVERRIDE} = false Flume does not substitute %{{…}} in \
                         kafka.topic; set {ALLOW_TOPIC_OVERRIDE} = true or use a fixed topic"
                    )
                } else {
                    "use a valid topic name".to_string()
                };
                r.error(key, line, format!("topic '{topic}': {why}"), Some(hint));
                return None;
            }
            return Some(TopicTemplate::Literal(topic.to_string()));
        }
        match TopicTemplate::parse(topic) {
            Ok(t) => {
                if let Some(why) = t.invalid() {
                    r.error(key, line, format!("topic '{topic}': {why}"), None);
                    return None;
                }
                Some(t)
            }
            Err(why) => {
                r.error(
                    key,
                    line,
                    format!("topic '{topic}': {why}"),
                    Some(
                        "take the varying part from an event header instead: %{name} in \
                         kafka.topic, or the whole topic from the topicHeader header"
                            .to_string(),
                    ),
                );
                None
            }
        }
    }
}

/// Effective settings for `rflume check`: `(Flume property, value)`.
impl Describe for KafkaSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let none = || "(none)".to_string();
        let mut rows = vec![
            (
                BOOTSTRAP_SERVERS.to_string(),
                self.bootstrap_servers.join(","),
            ),
            (
                TOPIC.to_string(),
                if self.topic_is_default {
                    format!("{} (default)", self.topic)
                } else {
                    self.topic.clone()
                },
            ),
            (BATCH_SIZE.to_string(), self.batch_size.to_string()),
            (
                AVRO_EVENT.to_string(),
                self.use_flume_event_format.to_string(),
            ),
            (
                STATIC_PARTITION.to_string(),
                self.default_partition_id
                    .map(|p| p.to_string())
                    .unwrap_or_else(none),
            ),
            (
                PARTITION_HEADER.to_string(),
                self.partition_id_header.clone().unwrap_or_else(none),
            ),
            (
                ALLOW_TOPIC_OVERRIDE.to_string(),
                self.allow_topic_override.to_string(),
            ),
            (TOPIC_HEADER.to_string(), self.topic_header.clone()),
            (
                TIMESTAMP_HEADER.to_string(),
                self.timestamp_header.clone().unwrap_or_else(none),
            ),
        ];
        for (flume, kafka) in &self.header_mappings {
            rows.push((format!("{KAFKA_HEADER_PREFIX}{flume}"), kafka.clone()));
        }
        rows.extend(self.producer.describe());
        rows.push((
            MAX_IN_FLIGHT_BATCHES.to_string(),
            format!(
                "{} (rflume only: up to {} events awaiting acknowledgement)",
                self.max_in_flight_batches,
                self.max_in_flight_batches * self.batch_size
            ),
        ));
        rows.extend(self.on_rejected.describe());
        rows
    }
}

/// `rflume.maxInFlightBatches` when the file does not set it: batches for
/// [`DEFAULT_IN_FLIGHT_EVENTS`] events, at least [`MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES`].
pub(super) fn default_max_in_flight_batches(batch_size: u64) -> u64 {
    DEFAULT_IN_FLIGHT_EVENTS
        .div_ceil(batch_size.max(1))
        .clamp(MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES, MAX_MAX_IN_FLIGHT_BATCHES)
}
