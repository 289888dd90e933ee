//! The Kafka sink's properties, read as Flume's `KafkaSink.configure` reads them (1.9, plus 1.11's
//! `timestampHeader` and `header.*`), with every silent Flume quirk turned into a diagnostic.

use super::avro::java_hashmap_order;
use super::brokers::parse_broker_list;
use super::producer_props::{self, ProducerProps, UserSetting, PRODUCER_PREFIX};
use super::topic::{invalid_topic_name, TopicTemplate};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;

/// Flume's `KafkaSinkConstants` names and defaults.
pub const BOOTSTRAP_SERVERS: &str = "kafka.bootstrap.servers";
pub const TOPIC: &str = "kafka.topic";
pub const DEFAULT_TOPIC: &str = "default-flume-topic";
pub const BATCH_SIZE: &str = "flumeBatchSize";
pub const DEFAULT_BATCH_SIZE: u64 = 100;
pub const AVRO_EVENT: &str = "useFlumeEventFormat";
pub const STATIC_PARTITION: &str = "defaultPartitionId";
pub const PARTITION_HEADER: &str = "partitionIdHeader";
pub const ALLOW_TOPIC_OVERRIDE: &str = "allowTopicOverride";
pub const TOPIC_HEADER: &str = "topicHeader";
pub const DEFAULT_TOPIC_HEADER: &str = "topic";
pub const TIMESTAMP_HEADER: &str = "timestampHeader";
pub const KAFKA_HEADER_PREFIX: &str = "header.";
/// The event header whose value becomes the record key (`KafkaSinkConstants.KEY_HEADER`).
pub const KEY_HEADER: &str = "key";

/// rflume-only: how many take transactions may wait for acknowledgements at once. Flume has one
/// (send, flush, wait, commit); pipelining keeps the broker busy while earlier batches are acked,
/// with the same guarantee (each take commits only after all its records are acknowledged).
pub const MAX_IN_FLIGHT_BATCHES: &str = "rflume.maxInFlightBatches";
/// Fewest batches in flight by default.
pub const MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES: u64 = 8;
/// By default enough batches are in flight to cover this many events. Each record waits about
/// `linger.ms` (5) plus a round trip before its ack, so throughput is bounded by in-flight events
/// divided by that time: 10,000 events allow over a million records a second, while 8 batches of
/// Flume's default 100 events would cap a sink near 130,000/s.
pub const DEFAULT_IN_FLIGHT_EVENTS: u64 = 10_000;
/// Upper bound: the batch slot is part of the per-record delivery opaque (16 bits).
pub const MAX_MAX_IN_FLIGHT_BATCHES: u64 = 1024;

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
            if let Some((_, line)) = r.raw(old) {
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
        if let Some((v, line)) = r.raw("kafka.flumeBatchSize") {
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
        Self::check_linger(r, &producer, max_in_flight_batches * batch_size);

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
        let (Some(from), Ok(ms)) = (&p.from, p.value.parse::<f64>()) else {
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
        if r.line(BATCH_SIZE).is_some() {
            return r.positive(BATCH_SIZE, DEFAULT_BATCH_SIZE);
        }
        let Some(old) = old.filter(|v| !v.trim().is_empty()) else {
            return DEFAULT_BATCH_SIZE;
        };
        let line = r.line("batchSize");
        match old.trim().parse::<i64>() {
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
        let entries = r.with_prefix(KAFKA_HEADER_PREFIX);
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
        rows
    }
}

/// `rflume.maxInFlightBatches` when the file does not set it: batches for
/// [`DEFAULT_IN_FLIGHT_EVENTS`] events, at least [`MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES`].
pub fn default_max_in_flight_batches(batch_size: u64) -> u64 {
    DEFAULT_IN_FLIGHT_EVENTS
        .div_ceil(batch_size.max(1))
        .clamp(MIN_DEFAULT_MAX_IN_FLIGHT_BATCHES, MAX_MAX_IN_FLIGHT_BATCHES)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::diag::{Diagnostics, Severity};
    use crate::config::reader::ComponentProps;
    use crate::sink::kafka::brokers::normalize_broker;
    use std::path::Path;
    use std::sync::Arc;

    pub(crate) fn comp(pairs: &[(&str, &str)]) -> ComponentProps {
        ComponentProps::sink_for_test(pairs)
    }

    /// Parses `pairs` (line n = n-th pair) and returns the settings and the rendered diagnostics.
    pub(crate) fn parse(pairs: &[(&str, &str)]) -> (Option<KafkaSettings>, Vec<String>) {
        let c = comp(pairs);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        let s = KafkaSettings::parse(&mut r);
        r.finish("the Kafka sink");
        let rendered = d
            .items
            .iter()
            .map(|i| {
                let sev = if i.severity == Severity::Error {
                    "E"
                } else {
                    "W"
                };
                format!("{sev} {i}")
            })
            .collect();
        (s, rendered)
    }

    fn has(diags: &[String], needle: &str) -> bool {
        diags.iter().any(|d| d.contains(needle))
    }

    #[test]
    fn minimal_config_gets_flume_defaults() {
        let (s, d) = parse(&[("kafka.bootstrap.servers", "b1:9092"), ("kafka.topic", "t")]);
        let s = s.expect("valid");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(s.bootstrap_servers, vec!["b1:9092"]);
        assert_eq!(s.topic_template, TopicTemplate::Literal("t".into()));
        assert_eq!(s.batch_size(), 100);
        assert!(s.allow_topic_override);
        assert_eq!(s.topic_header, "topic");
        assert!(!s.use_flume_event_format);
        assert_eq!(s.default_partition_id, None);
        assert_eq!(
            s.max_in_flight_batches, 100,
            "10,000 events of 100-event batches"
        );
        assert_eq!(default_max_in_flight_batches(1000), 10);
        assert_eq!(default_max_in_flight_batches(5000), 8);
        assert_eq!(default_max_in_flight_batches(1), 1024);
        assert_eq!(s.producer.get("acks"), Some("1"));
        assert_eq!(s.producer.get("linger.ms"), Some("5"));
        assert_eq!(s.producer.get("partitioner"), Some("murmur2_random"));
        assert_eq!(s.producer.get("bootstrap.servers"), Some("b1:9092"));
        let rows = s.describe();
        assert!(
            rows.contains(&("kafka.topic".into(), "t".into())),
            "{rows:?}"
        );
        assert!(rows.contains(&("flumeBatchSize".into(), "100".into())));
        assert!(rows
            .iter()
            .any(|(k, v)| k == "kafka.producer.acks" && v.starts_with('1')));
        assert!(rows.iter().any(|(k, _)| k == "rflume.maxInFlightBatches"));
    }

    #[test]
    fn missing_bootstrap_servers_is_an_error() {
        let (s, d) = parse(&[("kafka.topic", "t")]);
        assert!(s.is_none());
        assert!(
            has(&d, "E f.conf: a1.sinks.k1.kafka.bootstrap.servers: Bootstrap Servers must be specified"),
            "{d:?}"
        );
        let (s, _) = parse(&[("kafka.bootstrap.servers", " "), ("kafka.topic", "t")]);
        assert!(s.is_none());
    }

    #[test]
    fn missing_topic_warns_and_uses_default() {
        let (s, d) = parse(&[("kafka.bootstrap.servers", "b1")]);
        let s = s.expect("valid");
        assert_eq!(s.topic, "default-flume-topic");
        assert!(s.topic_is_default);
        assert!(
            has(
                &d,
                "Topic was not specified. Using default-flume-topic as the topic."
            ),
            "{d:?}"
        );
    }

    #[test]
    fn broker_entries_are_trimmed_and_get_default_port() {
        let (s, d) = parse(&[
            (
                "kafka.bootstrap.servers",
                "Slave001:9092, Slave002 ,Slave003,[::1],[fe80::1]:9093",
            ),
            ("kafka.topic", "t"),
        ]);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            s.expect("valid").bootstrap_servers,
            vec![
                "Slave001:9092",
                "Slave002:9092",
                "Slave003:9092",
                "[::1]:9092",
                "[fe80::1]:9093"
            ]
        );
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "a:9092,,b"),
            ("kafka.topic", "t"),
        ]);
        assert_eq!(
            s.expect("empty entries are skipped, as Java does")
                .bootstrap_servers,
            vec!["a:9092", "b:9092"]
        );
        assert!(
            has(
                &d,
                "f.conf:1: a1.sinks.k1.kafka.bootstrap.servers: entry 2 of the broker list is empty; skipped"
            ),
            "{d:?}"
        );
        let (s, d) = parse(&[("kafka.bootstrap.servers", " , "), ("kafka.topic", "t")]);
        assert!(s.is_none());
        assert!(has(&d, "the broker list has no entries"), "{d:?}");
        let (s, d) = parse(&[("kafka.bootstrap.servers", "a:x"), ("kafka.topic", "t")]);
        assert!(s.is_none());
        assert!(has(&d, "'x' is not a port number"), "{d:?}");
        assert_eq!(normalize_broker("SSL://h").as_deref(), Ok("SSL://h:9092"));
    }

    #[test]
    fn deprecated_names_warn_and_new_names_win() {
        let (s, d) = parse(&[
            ("brokerList", "old:1"),
            ("topic", "oldtopic"),
            ("batchSize", "7"),
            ("requiredAcks", "-1"),
        ]);
        let s = s.expect("valid");
        assert_eq!(s.bootstrap_servers, vec!["old:1"]);
        assert_eq!(s.topic, "oldtopic");
        assert_eq!(s.batch_size(), 7);
        assert_eq!(s.producer.get("acks"), Some("-1"));
        for old in ["brokerList", "topic", "batchSize", "requiredAcks"] {
            let warning = "W f.conf:";
            let text = format!("{old} is deprecated. Please use the parameter");
            assert!(
                d.iter()
                    .any(|x| x.starts_with(warning) && x.contains(&text)),
                "{old}: {d:?}"
            );
        }
        let (s, d) = parse(&[
            ("brokerList", "old:1"),
            ("kafka.bootstrap.servers", "new:2"),
            ("batchSize", "7"),
            ("flumeBatchSize", "9"),
            ("requiredAcks", "0"),
            ("kafka.producer.acks", "all"),
            ("kafka.topic", "t"),
        ]);
        let s = s.expect("valid");
        assert_eq!(s.bootstrap_servers, vec!["new:2"]);
        assert_eq!(s.batch_size(), 9);
        assert_eq!(s.producer.get("acks"), Some("all"));
        assert!(
            has(&d, "brokerList is deprecated and ignored here"),
            "{d:?}"
        );
    }

    #[test]
    fn serializer_class_is_accepted_with_a_warning() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("serializer.class", "kafka.serializer.StringEncoder"),
            ("key.serializer.class", "kafka.serializer.StringEncoder"),
        ]);
        assert!(s.is_some());
        assert!(has(&d, "W f.conf:3: a1.sinks.k1.serializer.class: serializer.class is deprecated and ignored"), "{d:?}");
        assert!(
            has(&d, "W f.conf:4: a1.sinks.k1.key.serializer.class"),
            "{d:?}"
        );
    }

    #[test]
    fn kafka_flume_batch_size_is_reported_and_not_used() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.flumeBatchSize", "20"),
        ]);
        assert_eq!(s.expect("valid").batch_size(), 100);
        assert_eq!(d.len(), 1, "exactly one diagnostic: {d:?}");
        assert!(
            d[0].starts_with("W f.conf:3: a1.sinks.k1.kafka.flumeBatchSize: ignored"),
            "{d:?}"
        );
        assert!(d[0].contains("a1.sinks.k1.flumeBatchSize = 20"), "{d:?}");
    }

    #[test]
    fn partition_and_batch_values_are_validated() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("defaultPartitionId", "x"),
            ("flumeBatchSize", "0"),
        ]);
        assert!(s.is_none());
        assert!(
            has(
                &d,
                "E f.conf:3: a1.sinks.k1.defaultPartitionId: 'x' is not an integer partition id"
            ),
            "{d:?}"
        );
        assert!(
            has(
                &d,
                "E f.conf:4: a1.sinks.k1.flumeBatchSize: must be greater than 0"
            ),
            "{d:?}"
        );
        let (s, _) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("defaultPartitionId", "3"),
            ("partitionIdHeader", "p"),
            ("useFlumeEventFormat", "true"),
            ("allowTopicOverride", "false"),
            ("topicHeader", "dest"),
            ("timestampHeader", "ts"),
            ("rflume.maxInFlightBatches", "2"),
        ]);
        let s = s.expect("valid");
        assert_eq!(s.default_partition_id, Some(3));
        assert_eq!(s.partition_id_header.as_deref(), Some("p"));
        assert!(s.use_flume_event_format);
        assert!(!s.allow_topic_override);
        assert_eq!(s.topic_header, "dest");
        assert_eq!(s.timestamp_header.as_deref(), Some("ts"));
        assert_eq!(s.max_in_flight_batches, 2);
    }

    #[test]
    fn invalid_topics_are_errors() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "my topic"),
        ]);
        assert!(s.is_none());
        assert!(
            has(&d, "E f.conf:2: a1.sinks.k1.kafka.topic: topic 'my topic'"),
            "{d:?}"
        );
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t-%{h}"),
            ("allowTopicOverride", "false"),
        ]);
        assert!(s.is_none());
        assert!(has(&d, "Flume does not substitute"), "{d:?}");
        let (s, d) = parse(&[("kafka.bootstrap.servers", "b"), ("kafka.topic", ".%{h}")]);
        assert!(s.is_some(), "a template's fixed part may be '.': {d:?}");
        let (s, d) = parse(&[("kafka.bootstrap.servers", "b"), ("kafka.topic", "a b%{h}")]);
        assert!(s.is_none());
        assert!(has(&d, "not \" \""), "{d:?}");
    }

    #[test]
    fn header_mappings_follow_java_order() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("header.timestamp", "ts"),
            ("header.a", "A"),
        ]);
        assert!(d.is_empty(), "{d:?}");
        // "a" is bucket 1, "timestamp" bucket 15 (see sink::kafka::avro tests).
        assert_eq!(
            s.expect("valid").header_mappings,
            vec![
                ("a".to_string(), "A".to_string()),
                ("timestamp".to_string(), "ts".to_string())
            ]
        );
    }

    #[test]
    fn producer_settings_pass_translate_or_warn() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.linger.ms", "50"),
            ("kafka.producer.compression.type", "gzip"),
            ("kafka.producer.buffer.memory", "33554432"),
            ("kafka.producer.delivery.timeout.ms", "30000"),
            ("kafka.producer.max.request.size", "2000000"),
            ("kafka.producer.send.buffer.bytes", "-1"),
            ("kafka.producer.max.block.ms", "1000"),
            (
                "kafka.producer.key.serializer",
                "org.apache.kafka.common.serialization.StringSerializer",
            ),
            (
                "kafka.producer.value.serializer",
                "org.apache.kafka.common.serialization.ByteArraySerializer",
            ),
            ("kafka.producer.queue.buffering.max.messages", "50000"),
            ("kafka.producer.security.protocol", "PLAINTEXT"),
            ("kafka.producer.acks", "all"),
        ]);
        let s = s.expect("valid");
        let p = &s.producer;
        assert_eq!(p.get("linger.ms"), Some("50"));
        assert_eq!(p.get("compression.type"), Some("gzip"));
        assert_eq!(p.get("queue.buffering.max.kbytes"), Some("32768"));
        assert_eq!(p.get("message.timeout.ms"), Some("30000"));
        assert_eq!(p.get("message.max.bytes"), Some("2000000"));
        assert_eq!(p.get("socket.send.buffer.bytes"), Some("0"));
        assert_eq!(p.get("queue.buffering.max.messages"), Some("50000"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("max.block.ms"), None);
        assert!(has(&d, "W f.conf:9: a1.sinks.k1.kafka.producer.max.block.ms: max.block.ms has no effect in rflume because"), "{d:?}");
        assert!(has(&d, "W f.conf:10: a1.sinks.k1.kafka.producer.key.serializer: key.serializer has no effect"), "{d:?}");
        assert!(has(&d, "W f.conf:11: a1.sinks.k1.kafka.producer.value.serializer: value.serializer has no effect"), "{d:?}");
        assert!(
            has(
                &d,
                "W f.conf:3: a1.sinks.k1.kafka.producer.linger.ms: records wait up to 50 ms"
            ),
            "{d:?}"
        );
        assert_eq!(d.len(), 4, "{d:?}");
        let rows = s.describe();
        assert!(
            rows.contains(&(
                "kafka.producer.buffer.memory".into(),
                "32768 (as librdkafka queue.buffering.max.kbytes; 33554432 bytes = 32768 KiB)"
                    .into()
            )),
            "{rows:?}"
        );
    }

    #[test]
    fn java_only_settings_that_change_behaviour_are_errors() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            (
                "kafka.producer.partitioner.class",
                "com.example.MyPartitioner",
            ),
            ("kafka.producer.interceptor.classes", "com.example.Spy"),
            (
                "kafka.producer.value.serializer",
                "io.confluent.kafka.serializers.KafkaAvroSerializer",
            ),
            (
                "kafka.producer.ssl.truststore.location",
                "/etc/kafka/truststore.jks",
            ),
            (
                "kafka.producer.ssl.keystore.location",
                "/etc/kafka/keystore.jks",
            ),
        ]);
        assert!(s.is_none());
        assert!(has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.partitioner.class: a custom partitioner class"), "{d:?}");
        assert!(
            has(
                &d,
                "E f.conf:4: a1.sinks.k1.kafka.producer.interceptor.classes"
            ),
            "{d:?}"
        );
        assert!(has(&d, "E f.conf:5: a1.sinks.k1.kafka.producer.value.serializer: a custom value.serializer"), "{d:?}");
        assert!(has(&d, "E f.conf:6: a1.sinks.k1.kafka.producer.ssl.truststore.location: librdkafka cannot read a JKS trust store"), "{d:?}");
        assert!(has(&d, "kafka.producer.ssl.ca.location = ca.pem"), "{d:?}");
        assert!(has(&d, "E f.conf:7: a1.sinks.k1.kafka.producer.ssl.keystore.location: librdkafka cannot read a JKS keystore"), "{d:?}");
        assert!(has(&d, "-deststoretype PKCS12"), "{d:?}");
    }

    #[test]
    fn pem_stores_are_translated() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.ssl.truststore.location", "/etc/ca.pem"),
            ("kafka.producer.ssl.truststore.type", "PEM"),
            ("kafka.producer.ssl.truststore.password", "x"),
        ]);
        assert!(has(&d, "ssl.truststore.password has no effect"), "{d:?}");
        if producer_props::librdkafka_has_feature("ssl") {
            let s = s.unwrap_or_else(|| panic!("{d:?}"));
            assert_eq!(s.producer.get("ssl.ca.location"), Some("/etc/ca.pem"));
        } else {
            // A librdkafka built without OpenSSL says so, on the user's line.
            assert!(s.is_none());
            assert!(
                has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.ssl.truststore.location: librdkafka: Configuration property \"ssl.ca.location\" not supported in this build"),
                "{d:?}"
            );
        }
    }

    #[test]
    fn librdkafka_rejects_unknown_and_bad_values() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.lingr.ms", "5"),
            ("kafka.producer.compression.type", "brotli"),
        ]);
        assert!(s.is_none());
        assert!(has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.lingr.ms: librdkafka: No such configuration property"), "{d:?}");
        assert!(has(&d, "E f.conf:4: a1.sinks.k1.kafka.producer.compression.type: librdkafka: Invalid value \"brotli\""), "{d:?}");
    }

    #[test]
    fn aliases_of_one_property_conflict() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.delivery.timeout.ms", "1000"),
            ("kafka.producer.message.timeout.ms", "2000"),
        ]);
        assert!(s.is_none());
        assert!(
            has(
                &d,
                "which a1.sinks.k1.kafka.producer.delivery.timeout.ms (line 3) already sets"
            ),
            "{d:?}"
        );
    }

    #[test]
    fn idempotence_needs_acks_all() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.enable.idempotence", "true"),
        ]);
        assert!(s.is_none());
        assert!(has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.enable.idempotence: enable.idempotence = true needs acks = all"), "{d:?}");
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.enable.idempotence", "true"),
            ("kafka.producer.acks", "all"),
        ]);
        assert!(s.is_some(), "{d:?}");
    }

    #[test]
    fn scram_needs_a_librdkafka_with_openssl() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.security.protocol", "SASL_PLAINTEXT"),
            ("kafka.producer.sasl.mechanism", "SCRAM-SHA-256"),
            ("kafka.producer.sasl.username", "u"),
            ("kafka.producer.sasl.password", "p"),
        ]);
        if producer_props::librdkafka_has_feature("sasl_scram") {
            assert!(s.is_some(), "{d:?}");
        } else {
            // rd_kafka_conf_set accepts the mechanism; only creating a client finds it missing.
            assert!(s.is_none());
            assert!(
                has(&d, "E f.conf:4: a1.sinks.k1.kafka.producer.sasl.mechanism: librdkafka refuses this producer configuration: No provider for SASL mechanism SCRAM-SHA-256"),
                "{d:?}"
            );
        }
    }

    #[test]
    fn librdkafka_cross_checks_surface_at_parse_time() {
        // Each value is valid alone; librdkafka refuses the combination when creating a producer.
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.enable.idempotence", "true"),
            ("kafka.producer.acks", "all"),
            ("kafka.producer.max.in.flight.requests.per.connection", "10"),
        ]);
        assert!(s.is_none(), "{d:?}");
        assert!(
            has(&d, "librdkafka refuses this producer configuration"),
            "{d:?}"
        );
        // A consumer-only property is accepted by rd_kafka_conf_set but warned about.
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.group.id", "g"),
        ]);
        assert!(s.is_some(), "{d:?}");
        assert!(
            has(
                &d,
                "W f.conf:3: a1.sinks.k1.kafka.producer.group.id: librdkafka:"
            ),
            "{d:?}"
        );
    }

    #[test]
    fn jaas_secrets_never_appear_in_describe_or_debug() {
        let (s, _) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.sasl.mechanism", "PLAIN"),
            (
                "kafka.producer.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";"#,
            ),
        ]);
        if producer_props::librdkafka_has_feature("sasl_plain") {
            let s = s.expect("PLAIN credentials are valid");
            assert_eq!(s.producer.get("sasl.username"), Some("u"));
            assert!(s.describe().iter().all(|(_, v)| !v.contains("= p")));
            assert!(
                !format!("{s:?}").contains("\"p\""),
                "Debug must not show the password"
            );
        }
    }
}
