//! One Flume event → one Kafka record, as Flume's `KafkaSink.process` builds its `ProducerRecord`:
//! topic from the `topicHeader` header (when `allowTopicOverride`) or `kafka.topic` with `%{header}`
//! substitution; key from the `key` header; partition from `defaultPartitionId`, overridden by the
//! integer in `partitionIdHeader`; (1.11) timestamp from `timestampHeader` and record headers from
//! `header.*`; value = the body, or Flume's Avro event with `useFlumeEventFormat`.
//!
//! The common case (literal topic, no Avro, no header mapping) borrows everything from the event
//! and the settings and allocates nothing.

use rdkafka::message::{Header, OwnedHeaders};
use thiserror::Error;

use crate::event::Event;
use crate::kafka::avro::encode_flume_event;

use super::ratelimit::RateLimit;
use super::settings::{KafkaSettings, KEY_HEADER};
use super::topic::TopicTemplate;

/// Why an event cannot become a record. Retrying cannot help: the event is diverted like a record
/// Kafka rejects (`rflume.onRejected`), or, with `retry`, its whole batch fails, as in Flume.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Flume's `EventDeliveryException` text, so operators' alerts keep matching.
    #[error("Non integer partition id specified (header {header} = '{value}')")]
    NonIntegerPartition { header: String, value: String },
    /// Java's `ProducerRecord` refuses negative partitions; librdkafka would read -1 as "any".
    #[error("Invalid partition: {0}. Partition number should always be non-negative or null.")]
    NegativePartition(i32),
}

/// Per-sink record construction state.
pub struct RecordBuilder {
    template: TopicTemplate,
    literal_topic: String,
    allow_topic_override: bool,
    topic_header: String,
    default_partition_id: Option<i32>,
    partition_id_header: Option<String>,
    timestamp_header: Option<String>,
    header_mappings: Vec<(String, String)>,
    use_flume_event_format: bool,
    bad_timestamp_warning: RateLimit,
}

/// Buffers reused from event to event (rendered topic, Avro value).
#[derive(Default)]
pub struct Scratch {
    topic: String,
    payload: Vec<u8>,
}

/// Everything `BaseProducer::send` needs, borrowed from the event, the settings or the scratch.
pub struct Record<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub partition: Option<i32>,
    pub timestamp: Option<i64>,
    pub headers: Option<OwnedHeaders>,
    pub payload: &'a [u8],
}

impl RecordBuilder {
    pub fn new(settings: &KafkaSettings) -> Self {
        RecordBuilder {
            template: settings.topic_template.clone(),
            literal_topic: settings.topic.clone(),
            allow_topic_override: settings.allow_topic_override,
            topic_header: settings.topic_header.clone(),
            default_partition_id: settings.default_partition_id,
            partition_id_header: settings.partition_id_header.clone(),
            timestamp_header: settings.timestamp_header.clone(),
            header_mappings: settings.header_mappings.clone(),
            use_flume_event_format: settings.use_flume_event_format,
            bad_timestamp_warning: RateLimit::new(std::time::Duration::from_secs(10)),
        }
    }

    pub fn build<'a>(
        &'a self,
        sink: &str,
        event: &'a Event,
        scratch: &'a mut Scratch,
    ) -> Result<Record<'a>, RecordError> {
        let Scratch {
            topic: topic_buf,
            payload: payload_buf,
        } = scratch;
        let headers = &event.headers;

        let topic = self.topic(event, topic_buf);

        let mut partition = self.default_partition_id;
        if let Some(h) = &self.partition_id_header {
            if let Some(v) = headers.get(h) {
                // Java's Integer.parseInt: optional sign, decimal digits, nothing else.
                let p = v
                    .parse::<i32>()
                    .map_err(|_| RecordError::NonIntegerPartition {
                        header: h.clone(),
                        value: v.to_string(),
                    })?;
                partition = Some(p);
            }
        }
        if let Some(p) = partition.filter(|p| *p < 0) {
            return Err(RecordError::NegativePartition(p));
        }

        let timestamp = self.timestamp(sink, headers);

        let mut record_headers: Option<OwnedHeaders> = None;
        for (flume, kafka) in &self.header_mappings {
            if let Some(v) = headers.get(flume) {
                let h = record_headers
                    .take()
                    .unwrap_or_else(|| OwnedHeaders::new_with_capacity(self.header_mappings.len()));
                record_headers = Some(h.insert(Header {
                    key: kafka,
                    value: Some(v.as_bytes()),
                }));
            }
        }

        let payload: &'a [u8] = if self.use_flume_event_format {
            payload_buf.clear();
            encode_flume_event(headers, &event.body, payload_buf);
            payload_buf
        } else {
            &event.body
        };

        Ok(Record {
            topic,
            key: headers.get(KEY_HEADER).map(str::as_bytes),
            partition,
            timestamp,
            headers: record_headers,
            payload,
        })
    }

    /// The topic `event` goes to: `topicHeader` (when `allowTopicOverride`), else `kafka.topic`
    /// with its `%{header}` escapes rendered into `buf`.
    pub fn topic<'a>(&'a self, event: &'a Event, buf: &'a mut String) -> &'a str {
        let headers = &event.headers;
        if !self.allow_topic_override {
            &self.literal_topic
        } else if let Some(t) = headers.get(&self.topic_header) {
            t
        } else {
            match &self.template {
                TopicTemplate::Literal(t) => t,
                parts => {
                    buf.clear();
                    parts.render_into(headers, buf);
                    buf
                }
            }
        }
    }

    /// Flume 1.11: `Long.parseLong` of the header; an unparsable value is logged and the record
    /// gets the producer's time. A negative value is treated the same way: Java's `ProducerRecord`
    /// would throw and fail the batch on every retry, wedging the sink on one bad header.
    fn timestamp(&self, sink: &str, headers: &crate::event::Headers) -> Option<i64> {
        let name = self.timestamp_header.as_deref()?;
        let value = headers.get(name)?;
        match value.parse::<i64>() {
            Ok(ts) if ts >= 0 => Some(ts),
            _ => {
                if let Some(suppressed) = self.bad_timestamp_warning.allow() {
                    tracing::warn!(
                        sink,
                        suppressed,
                        "Invalid timestamp in header {name} - {value}; the record gets the send time"
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;
    use crate::sink::kafka::settings_tests::parse;
    use rdkafka::message::Headers as _;

    fn builder(extra: &[(&str, &str)]) -> RecordBuilder {
        let mut pairs = vec![("kafka.bootstrap.servers", "b"), ("kafka.topic", "base")];
        pairs.extend_from_slice(extra);
        let (s, d) = parse(&pairs);
        RecordBuilder::new(&s.unwrap_or_else(|| panic!("invalid settings: {d:?}")))
    }

    fn event(headers: &[(&str, &str)], body: &str) -> Event {
        Event::with_headers(
            headers.iter().copied().collect::<Headers>(),
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn plain_event_borrows_topic_and_body() {
        let b = builder(&[]);
        let e = event(&[], "hello");
        let mut scratch = Scratch::default();
        let r = b.build("k1", &e, &mut scratch).unwrap();
        assert_eq!(r.topic, "base");
        assert_eq!(r.payload, b"hello");
        assert_eq!(r.key, None);
        assert_eq!(r.partition, None);
        assert_eq!(r.timestamp, None);
        assert!(r.headers.is_none());
        assert!(
            std::ptr::eq(r.payload.as_ptr(), e.body.as_ptr()),
            "body is not copied"
        );
        assert_eq!(
            scratch.topic.capacity(),
            0,
            "literal topic allocates nothing"
        );
    }

    #[test]
    fn topic_header_overrides_unless_disabled() {
        let b = builder(&[]);
        let e = event(&[("topic", "other"), ("key", "k")], "x");
        let mut scratch = Scratch::default();
        let r = b.build("k1", &e, &mut scratch).unwrap();
        assert_eq!(r.topic, "other");
        assert_eq!(r.key, Some(&b"k"[..]));
        let b = builder(&[("allowTopicOverride", "false")]);
        let r = b.build("k1", &e, &mut scratch).unwrap();
        assert_eq!(r.topic, "base");
        let b = builder(&[("topicHeader", "dest")]);
        let e = event(&[("topic", "ignored"), ("dest", "d")], "x");
        assert_eq!(b.build("k1", &e, &mut scratch).unwrap().topic, "d");
    }

    #[test]
    fn topic_template_substitutes_headers() {
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "logs-%{app}"),
        ]);
        let b = RecordBuilder::new(&s.unwrap_or_else(|| panic!("{d:?}")));
        let mut scratch = Scratch::default();
        let e = event(&[("app", "web")], "x");
        assert_eq!(b.build("k1", &e, &mut scratch).unwrap().topic, "logs-web");
        let e = event(&[], "x");
        assert_eq!(b.build("k1", &e, &mut scratch).unwrap().topic, "logs-");
    }

    #[test]
    fn partition_from_default_and_header() {
        let b = builder(&[("defaultPartitionId", "2"), ("partitionIdHeader", "p")]);
        let mut scratch = Scratch::default();
        assert_eq!(
            b.build("k1", &event(&[], "x"), &mut scratch)
                .unwrap()
                .partition,
            Some(2)
        );
        assert_eq!(
            b.build("k1", &event(&[("p", "+5")], "x"), &mut scratch)
                .unwrap()
                .partition,
            Some(5)
        );
        let err = b
            .build("k1", &event(&[("p", "five")], "x"), &mut scratch)
            .err();
        assert_eq!(
            err,
            Some(RecordError::NonIntegerPartition {
                header: "p".into(),
                value: "five".into()
            })
        );
        assert!(err
            .unwrap()
            .to_string()
            .starts_with("Non integer partition id specified"));
        assert_eq!(
            b.build("k1", &event(&[("p", "-1")], "x"), &mut scratch)
                .err(),
            Some(RecordError::NegativePartition(-1))
        );
    }

    #[test]
    fn timestamp_header_and_record_headers() {
        let b = builder(&[
            ("timestampHeader", "ts"),
            ("header.host", "origin-host"),
            ("header.missing", "never"),
        ]);
        let mut scratch = Scratch::default();
        let e = event(&[("ts", "1700000000123"), ("host", "web1")], "x");
        let r = b.build("k1", &e, &mut scratch).unwrap();
        assert_eq!(r.timestamp, Some(1_700_000_000_123));
        let h = r.headers.expect("headers");
        assert_eq!(h.count(), 1);
        let first = h.get(0);
        assert_eq!(first.key, "origin-host");
        assert_eq!(first.value, Some(&b"web1"[..]));
        for bad in ["soon", "-5", " 12"] {
            let e = event(&[("ts", bad)], "x");
            assert_eq!(
                b.build("k1", &e, &mut scratch).unwrap().timestamp,
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn flume_event_format_wraps_headers_and_body() {
        let b = builder(&[("useFlumeEventFormat", "true")]);
        let mut scratch = Scratch::default();
        let e = event(&[("k", "v")], "x");
        let r = b.build("k1", &e, &mut scratch).unwrap();
        assert_eq!(r.payload, &[2, 2, b'k', 2, b'v', 0, 2, b'x'][..]);
    }
}
