//! Kafka client helpers for tests: create topics, read everything back, produce test data.
//!
//! All clients use the rdkafka crate's bundled librdkafka (2.12): older librdkafka cannot parse
//! tansu's ApiVersions response.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::wait_until;

/// Topic creation is a metadata change on an idle local broker: seconds at most.
const TOPIC_DEADLINE: Duration = Duration::from_secs(30);

/// One consumed record, owned, with everything a test may assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// Empty for a null value (Flume never sends one).
    pub value: Vec<u8>,
    /// In wire order; a header may repeat or have a null value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch, if the record carries a timestamp.
    pub timestamp: Option<i64>,
}

impl Record {
    /// The value as UTF-8 (panics otherwise: test data is text unless a test says otherwise).
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(&self.value).expect("record value is not UTF-8")
    }

    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .map(|k| std::str::from_utf8(k).expect("record key is not UTF-8"))
    }

    /// The first header named `name` with a non-null value.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .map(|v| std::str::from_utf8(v).expect("header value is not UTF-8"))
    }
}

/// The values of `records` as strings, for `assert_eq!(values(&records), ["a", "b"])`.
pub fn values(records: &[Record]) -> Vec<&str> {
    records.iter().map(Record::value_str).collect()
}

/// Creates `name` with `partitions` partitions (replication 1) on the cluster at `bootstrap`,
/// then waits until the topic's metadata lists every partition, so that a producer or agent
/// started next finds it. Panics if it already exists: each test owns its topics.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("cannot create an rdkafka admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(TOPIC_DEADLINE));
    // The admin API is async only; a throwaway current-thread runtime just polls the future
    // (librdkafka's own threads do the work).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("cannot build a tokio runtime");
    let results = runtime
        .block_on(admin.create_topics([&topic], &options))
        .unwrap_or_else(|e| panic!("creating topic {name} on {bootstrap} failed: {e}"));
    for result in results {
        if let Err((topic, code)) = result {
            panic!("creating topic {topic} on {bootstrap} failed: {code:?}");
        }
    }
    wait_until(
        TOPIC_DEADLINE,
        &format!("metadata on {bootstrap} shows topic {name} with {partitions} partitions"),
        || topic_partition_count(bootstrap, name) == Some(partitions as usize),
    );
}

/// The partition count of `topic` per the cluster's metadata, or `None` if it does not exist.
pub fn topic_partition_count(bootstrap: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("cannot create an rdkafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    Some(t.partitions().len())
}

/// Reads `topic` (partitions `0..partitions`) from the beginning and returns its records sorted by
/// (partition, offset).
///
/// Stops as soon as every partition has reported end-of-partition *and* at least `expected` records
/// were read, or when `deadline` passes, whichever comes first; it never panics on a shortfall, so
/// the test's own assertion says what was missing. Pass `expected = 0` to read what is there now.
///
/// This is the only reliable way to count on tansu (its high watermark is wrong). `assign`, not
/// `subscribe`: a consumer-group join can take ~23 s on tansu. `fetch.wait.max.ms=10`: with the
/// default 500 ms, tansu delays every fetch and reading is 10x slower. `fetch.queue.backoff.ms=5`:
/// with the default 1000 ms a consumer that falls behind stops fetching for a whole second.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    deadline: Duration,
) -> Vec<Record> {
    consume_all_with(bootstrap, &[], topic, partitions, expected, deadline)
}

/// [`consume_all`] with more client settings (`security.protocol`, `ssl.ca.location`, SASL).
pub fn consume_all_with(
    bootstrap: &str,
    client: &[(&str, &str)],
    topic: &str,
    partitions: i32,
    expected: usize,
    deadline: Duration,
) -> Vec<Record> {
    let end = Instant::now() + deadline;
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("rflume-test-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.queue.backoff.ms", "5")
        .set("allow.auto.create.topics", "false");
    for (k, v) in client {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create().expect("cannot create an rdkafka consumer");
    // Offset 0 rather than Offset::Beginning: resolving "beginning" through ListOffsets costs a
    // 500 ms round of backoff against tansu, per call. Offsets start at 0 on a fresh topic, and
    // should that ever be out of range, `auto.offset.reset=earliest` still starts at the beginning.
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Offset(0))
            .expect("cannot build a partition assignment");
    }
    consumer
        .assign(&assignment)
        .unwrap_or_else(|e| panic!("cannot assign {topic} on {bootstrap}: {e}"));

    let mut records = Vec::new();
    // EOF is reported each time a partition's end is reached; a record after it un-sets it.
    let mut at_eof: HashMap<i32, bool> = (0..partitions).map(|p| (p, false)).collect();
    loop {
        let done = records.len() >= expected && at_eof.values().all(|&eof| eof);
        let now = Instant::now();
        if done || now >= end {
            break;
        }
        match consumer.poll((end - now).min(Duration::from_millis(100))) {
            None => {}
            Some(Ok(m)) => {
                at_eof.insert(m.partition(), false);
                records.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: m
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    timestamp: m.timestamp().to_millis(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p, true);
            }
            // Transient errors (topic not yet known, broker briefly away during a fault test) are
            // retried until the deadline; the caller's assertion reports the outcome.
            Some(Err(_)) => {}
        }
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

/// Counts delivery reports and keeps client-level errors, so tests can wait for events
/// ("the producer saw the outage") instead of sleeping.
#[derive(Default)]
pub struct ProducerEvents {
    delivered: AtomicUsize,
    failed: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for ProducerEvents {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors
            .lock()
            .unwrap()
            .push(format!("{error}: {reason}"));
    }
}

impl ProducerContext for ProducerEvents {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::SeqCst);
            }
            Err((e, _)) => self.failed.lock().unwrap().push(e.to_string()),
        }
    }
}

/// An rdkafka producer for test data and harness self-tests (not how rflume produces).
pub struct TestProducer {
    producer: ThreadedProducer<ProducerEvents>,
}

impl TestProducer {
    /// A producer on `bootstrap` with test-friendly defaults, then `overrides` (librdkafka names).
    pub fn new(bootstrap: &str, overrides: &[(&str, &str)]) -> TestProducer {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            // Small batches go out at once: tests send little and want it delivered promptly.
            .set("linger.ms", "5");
        for (k, v) in overrides {
            config.set(*k, *v);
        }
        let producer = config
            .create_with_context(ProducerEvents::default())
            .expect("cannot create an rdkafka producer");
        TestProducer { producer }
    }

    /// Queues one record; waits for room if librdkafka's queue is full.
    pub fn send(&self, topic: &str, key: Option<&[u8]>, value: &[u8], headers: &[(&str, &[u8])]) {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (k, v) in headers {
                owned = owned.insert(rdkafka::message::Header {
                    key: k,
                    value: Some(*v),
                });
            }
            record = record.headers(owned);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    // The producer's own thread drains the queue; give it a moment.
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("producing to {topic} failed: {e}"),
            }
        }
    }

    /// Queues one value without key or headers.
    pub fn send_value(&self, topic: &str, value: impl AsRef<[u8]>) {
        self.send(topic, None, value.as_ref(), &[]);
    }

    /// Waits until every queued record was delivered or failed, at most `deadline`.
    pub fn flush(&self, deadline: Duration) {
        if let Err(e) = self.producer.flush(deadline) {
            panic!(
                "producer flush: {e}; delivered {}, failed {:?}, client errors {:?}",
                self.delivered(),
                self.failed(),
                self.errors()
            );
        }
    }

    /// Records acknowledged by the broker so far.
    pub fn delivered(&self) -> usize {
        self.producer.context().delivered.load(Ordering::SeqCst)
    }

    /// Delivery errors so far (e.g. `MessageTimedOut`).
    pub fn failed(&self) -> Vec<String> {
        self.producer.context().failed.lock().unwrap().clone()
    }

    /// Client-level errors so far (e.g. connection refused, all brokers down).
    pub fn errors(&self) -> Vec<String> {
        self.producer.context().errors.lock().unwrap().clone()
    }

    /// Records queued or in flight, not yet reported.
    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }
}

// ---------------------------------------------------------------------------------------------
// Flume's Avro event (`useFlumeEventFormat = true`)
// ---------------------------------------------------------------------------------------------

/// Flume's `AvroFlumeEvent` (flume-ng-sdk/src/main/avro/flume.avdl).
pub const FLUME_EVENT_SCHEMA: &str = r#"{"type":"record","name":"AvroFlumeEvent","namespace":"org.apache.flume.source.avro","fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}"#;

/// A record value that is a bare `AvroFlumeEvent` datum, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlumeEvent {
    /// In the order they are on the wire (Flume writes its `HashMap`'s iteration order).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FlumeEvent {
    /// Decodes `value`, which must be one `AvroFlumeEvent` datum and nothing else; panics with
    /// the bytes otherwise. The wire is read by hand (to keep the header order, which the
    /// `apache_avro` crate's map type throws away) and cross-checked with `apache_avro` against
    /// Flume's schema, so a value only this decoder accepts fails.
    pub fn decode(value: &[u8]) -> FlumeEvent {
        let event = AvroReader { rest: value }
            .flume_event()
            .unwrap_or_else(|e| panic!("not an AvroFlumeEvent datum ({e}): {value:?}"));
        Self::cross_checked(value, event)
    }

    /// `Some` when `value` is exactly one `AvroFlumeEvent` datum (cross-checked as [`decode`]
    /// does), `None` when it is not (e.g. a plain body).
    ///
    /// [`decode`]: FlumeEvent::decode
    pub fn try_decode(value: &[u8]) -> Option<FlumeEvent> {
        let event = AvroReader { rest: value }.flume_event().ok()?;
        Some(Self::cross_checked(value, event))
    }

    fn cross_checked(value: &[u8], event: FlumeEvent) -> FlumeEvent {
        let schema = apache_avro::Schema::parse_str(FLUME_EVENT_SCHEMA).expect("Flume's schema");
        let mut rest = value;
        let datum = apache_avro::from_avro_datum(&schema, &mut rest, None)
            .unwrap_or_else(|e| panic!("apache_avro rejects the datum ({e}): {value:?}"));
        assert!(
            rest.is_empty(),
            "{} bytes after the datum: {value:?}",
            rest.len()
        );
        let by_avro = match datum {
            apache_avro::types::Value::Record(fields) => fields,
            other => panic!("not a record: {other:?}"),
        };
        let mut avro_headers = BTreeMap::new();
        let mut avro_body = None;
        for (name, field) in by_avro {
            match (name.as_str(), field) {
                ("headers", apache_avro::types::Value::Map(map)) => {
                    for (k, v) in map {
                        let apache_avro::types::Value::String(v) = v else {
                            panic!("header {k} is not a string: {v:?}");
                        };
                        avro_headers.insert(k, v);
                    }
                }
                ("body", apache_avro::types::Value::Bytes(b)) => avro_body = Some(b),
                (name, field) => panic!("unexpected field {name}: {field:?}"),
            }
        }
        assert_eq!(
            (&avro_headers, avro_body.as_ref()),
            (&event.header_map(), Some(&event.body)),
            "apache_avro and the hand decoder disagree on {value:?}"
        );
        event
    }

    /// The headers by name (a header name appears once in a Flume event).
    pub fn header_map(&self) -> BTreeMap<String, String> {
        self.headers.iter().cloned().collect()
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("event body is not UTF-8")
    }
}

/// Avro's binary encoding, the parts `AvroFlumeEvent` uses (Avro 1.x specification, "Binary
/// Encoding"): zig-zag varint longs, length-prefixed strings and bytes, maps as blocks.
struct AvroReader<'a> {
    rest: &'a [u8],
}

impl AvroReader<'_> {
    fn flume_event(mut self) -> Result<FlumeEvent, String> {
        let mut headers = Vec::new();
        loop {
            let mut count = self.long()?;
            if count == 0 {
                break;
            }
            if count < 0 {
                // A negative count is followed by the block's size in bytes.
                count = -count;
                self.long()?;
            }
            for _ in 0..count {
                let key = self.string()?;
                let value = self.string()?;
                headers.push((key, value));
            }
        }
        let body = self.bytes()?.to_vec();
        if !self.rest.is_empty() {
            return Err(format!("{} bytes after the body", self.rest.len()));
        }
        Ok(FlumeEvent { headers, body })
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.rest.split_first().ok_or("truncated long")?;
            self.rest = rest;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((n >> 1) as i64 ^ -((n & 1) as i64));
            }
        }
        Err("long longer than 10 bytes".into())
    }

    fn bytes(&mut self) -> Result<&[u8], String> {
        let len = usize::try_from(self.long()?).map_err(|_| "negative length")?;
        if len > self.rest.len() {
            return Err(format!("length {len} past the end"));
        }
        let (b, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(b)
    }

    fn string(&mut self) -> Result<String, String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|e| format!("string is not UTF-8: {e}"))
    }
}
