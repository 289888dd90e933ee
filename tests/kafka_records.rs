//! What a Kafka consumer sees of rflume's Kafka sink: topic, partition, key, value, record headers
//! and timestamp, built from Flume events the way Flume's `KafkaSink` builds its `ProducerRecord`.
//!
//! Input is Flume's `seq` source (bodies "0", "1", …) with Flume's `static`, `host` and
//! `timestamp` interceptors for headers, all configured with Flume's property names. Each test has
//! its own broker, topics and agent.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apache_avro::types::Value;
use apache_avro::Schema;

use common::*;

/// Generous on a loaded 2-core machine; a passing test needs a few seconds.
const DELIVERY: Duration = Duration::from_secs(60);

/// Flume's `AvroFlumeEvent` (flume-ng-sdk/src/main/avro/flume.avdl).
const FLUME_EVENT_SCHEMA: &str = r#"{"type":"record","name":"AvroFlumeEvent","namespace":"org.apache.flume.source.avro","fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}"#;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// The `key` header is the record key, so Kafka's key partitioning applies: every record lands
/// in the partition Java's default partitioner picks for that key.
#[test]
fn record_key_is_the_key_header() {
    let broker = Broker::start();
    broker.create_topic("keyed", 3);
    let config = [
        seq_to_kafka(&broker, "keyed", 30),
        interceptors(&["i1"]),
        static_header("i1", "key", "k-1"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "keyed", 3, 30);
    assert_eq!(bodies(&records), counting(30));
    for r in &records {
        assert_eq!(r.key_str(), Some("k-1"), "{r:?}");
        assert_eq!(r.partition, java_partition(b"k-1", 3), "{r:?}");
    }
}

/// Interceptors run in list order; a static interceptor overwrites an existing header only with
/// `preserveExisting = false` (its default is true).
#[test]
fn static_interceptors_set_the_key_in_order_honouring_preserve_existing() {
    let broker = Broker::start();
    broker.create_topic("rekeyed", 1);
    let config = [
        seq_to_kafka(&broker, "rekeyed", 10),
        interceptors(&["i1", "i2", "i3"]),
        static_header("i1", "key", "k-1"),
        static_header("i2", "key", "k-2"),
        source("interceptors.i2.preserveExisting", "false"),
        static_header("i3", "key", "k-3"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "rekeyed", 1, 10);
    assert_eq!(bodies(&records), counting(10));
    let keys: HashSet<Option<&str>> = records.iter().map(Record::key_str).collect();
    assert_eq!(keys, HashSet::from([Some("k-2")]));
}

// ---------------------------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------------------------

/// `allowTopicOverride` defaults to true: the `topic` header names the topic.
#[test]
fn topic_header_overrides_the_configured_topic() {
    let broker = Broker::start();
    broker.create_topic("configured", 1);
    broker.create_topic("from-header", 1);
    let config = [
        seq_to_kafka(&broker, "configured", 20),
        interceptors(&["i1"]),
        static_header("i1", "topic", "from-header"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "from-header", 1, 20);
    assert_eq!(bodies(&records), counting(20));
    let stray = records_now(&broker, "configured", 1);
    assert!(stray.is_empty(), "nothing goes to configured: {stray:?}");
}

/// With `allowTopicOverride = false` the `topic` header is ignored.
#[test]
fn topic_header_is_ignored_when_topic_override_is_not_allowed() {
    let broker = Broker::start();
    broker.create_topic("configured", 1);
    broker.create_topic("from-header", 1);
    let config = [
        seq_to_kafka(&broker, "configured", 20),
        sink("allowTopicOverride", "false"),
        interceptors(&["i1"]),
        static_header("i1", "topic", "from-header"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "configured", 1, 20);
    assert_eq!(bodies(&records), counting(20));
    let stray = records_now(&broker, "from-header", 1);
    assert!(stray.is_empty(), "nothing goes to from-header: {stray:?}");
}

/// `kafka.topic = prefix-%{hdr}`: the header's value is substituted.
#[test]
fn topic_substitutes_header_escapes() {
    let broker = Broker::start();
    broker.create_topic("app-checkout", 1);
    let config = [
        seq_to_kafka(&broker, "app-%{service}", 20),
        interceptors(&["i1"]),
        static_header("i1", "service", "checkout"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "app-checkout", 1, 20);
    assert_eq!(bodies(&records), counting(20));
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// `useFlumeEventFormat = true`: each value is a bare Avro datum of Flume's `AvroFlumeEvent`
/// carrying the event's headers and body, readable with Flume's schema and nothing else.
#[test]
fn flume_event_format_values_are_avro_flume_events() {
    let broker = Broker::start();
    broker.create_topic("avro", 1);
    let config = [
        seq_to_kafka(&broker, "avro", 20),
        sink("useFlumeEventFormat", "true"),
        interceptors(&["i1", "i2", "i3"]),
        static_header("i1", "origin", "rflume-test ✓"),
        interceptor("i2", "host"),
        interceptor("i3", "timestamp"),
    ]
    .concat();
    let started = epoch_millis();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "avro", 1, 20);
    let schema = Schema::parse_str(FLUME_EVENT_SCHEMA).unwrap();
    let mut bodies = Vec::new();
    for r in &records {
        let (headers, body) = decode_flume_event(&schema, &r.value);
        bodies.push(String::from_utf8(body).unwrap());
        assert_eq!(
            headers.keys().map(String::as_str).collect::<Vec<_>>(),
            ["host", "origin", "timestamp"],
            "{headers:?}"
        );
        assert_eq!(headers["origin"], "rflume-test ✓");
        // The host interceptor's default is `useIP = true`.
        assert!(headers["host"].parse::<IpAddr>().is_ok(), "{headers:?}");
        let ts: i64 = headers["timestamp"].parse().unwrap();
        assert!(
            (started..=epoch_millis()).contains(&ts),
            "timestamp header {ts} not within the test's run"
        );
        assert_eq!(r.key, None, "no `key` header, no key");
    }
    assert_eq!(bodies, counting(20));
}

// ---------------------------------------------------------------------------------------------
// Record headers and timestamps (Flume 1.11)
// ---------------------------------------------------------------------------------------------

/// `header.<flume> = <kafka>` copies that Flume header into a Kafka record header (others are not
/// copied); `timestampHeader` names the header with the record's timestamp in epoch millis.
#[test]
fn mapped_headers_and_timestamp_header_reach_the_record() {
    const JULY_2017: i64 = 1_500_000_000_000;
    let broker = Broker::start();
    broker.create_topic("annotated", 1);
    let config = [
        seq_to_kafka(&broker, "annotated", 20),
        sink("header.env", "X-Env"),
        sink("timestampHeader", "ts"),
        interceptors(&["i1", "i2", "i3"]),
        static_header("i1", "env", "prod"),
        static_header("i2", "ts", &JULY_2017.to_string()),
        static_header("i3", "unmapped", "stays in Flume"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "annotated", 1, 20);
    assert_eq!(bodies(&records), counting(20));
    for r in &records {
        assert_eq!(
            r.headers,
            [("X-Env".to_string(), Some(b"prod".to_vec()))],
            "{r:?}"
        );
        assert_eq!(r.timestamp, Some(JULY_2017), "{r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Partitions
// ---------------------------------------------------------------------------------------------

/// `defaultPartitionId` puts every record (no key) in that partition of a 3-partition topic.
#[test]
fn default_partition_id_selects_the_partition() {
    let broker = Broker::start();
    broker.create_topic("pinned", 3);
    let config = [
        seq_to_kafka(&broker, "pinned", 30),
        sink("defaultPartitionId", "2"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "pinned", 3, 30);
    assert_eq!(bodies(&records), counting(30));
    assert_eq!(partitions(&records), HashSet::from([2]));
}

/// The integer in the `partitionIdHeader` header wins over `defaultPartitionId`.
#[test]
fn partition_id_header_overrides_default_partition_id() {
    let broker = Broker::start();
    broker.create_topic("routed", 3);
    let config = [
        seq_to_kafka(&broker, "routed", 30),
        sink("defaultPartitionId", "2"),
        sink("partitionIdHeader", "shard"),
        interceptors(&["i1"]),
        static_header("i1", "shard", "1"),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "routed", 3, 30);
    assert_eq!(bodies(&records), counting(30));
    assert_eq!(partitions(&records), HashSet::from([1]));
}

// ---------------------------------------------------------------------------------------------
// Current property names and producer settings
// ---------------------------------------------------------------------------------------------

/// The current names (`kafka.bootstrap.servers`, `kafka.topic`, `flumeBatchSize`,
/// `kafka.producer.*`) with `acks = all` and lz4 compression deliver, without deprecation warnings.
#[test]
fn current_names_with_acks_all_and_lz4_deliver() {
    current_names_deliver_with_compression("lz4");
}

/// The same with snappy, which several real configs use.
#[test]
fn current_names_with_acks_all_and_snappy_deliver() {
    current_names_deliver_with_compression("snappy");
}

fn current_names_deliver_with_compression(codec: &str) {
    let broker = Broker::start();
    broker.create_topic("current", 1);
    let config = [
        seq_to_kafka(&broker, "current", 200),
        sink("kafka.producer.acks", "all"),
        sink("kafka.producer.compression.type", codec),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(&mut agent, &broker, "current", 1, 200);
    assert_eq!(bodies(&records), counting(200));
    let log = agent.log();
    assert!(
        !log.contains("deprecated") && !log.contains("ERROR"),
        "current names, no complaints:\n{log}"
    );
}

/// `kafka.producer.linger.ms` reaches the producer: with 3 s of linger, nothing can be
/// acknowledged in the first 3 s after the agent starts (without it, the batch is sent at once).
#[test]
fn producer_linger_ms_passes_through() {
    let broker = Broker::start();
    broker.create_topic("lingering", 1);
    let config = [
        seq_to_kafka(&broker, "lingering", 5),
        sink("kafka.producer.linger.ms", "3000"),
    ]
    .concat();
    let started = Instant::now();
    let mut agent = Agent::start(&config, "a1");

    let hold = Duration::from_millis(2500);
    let early = poll_until(hold.saturating_sub(started.elapsed()), || {
        !records_now(&broker, "lingering", 1).is_empty()
    });
    assert!(
        !early,
        "records were visible {:?} after start despite linger.ms = 3000",
        started.elapsed()
    );
    let records = delivered(&mut agent, &broker, "lingering", 1, 5);
    assert_eq!(bodies(&records), counting(5));
}

/// The reference values from Kafka's `UtilsTest.testMurmur2`, so that [`java_partition`] can be
/// trusted as the yardstick for key partitioning.
#[test]
fn murmur2_matches_kafkas_java_implementation() {
    for (input, expected) in [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        ("abc", 479470107),
    ] {
        assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
    }
}

// ---------------------------------------------------------------------------------------------
// Config text, in Flume's property names
// ---------------------------------------------------------------------------------------------

/// `seq` source (bodies "0".."events-1", 10 per batch) → memory channel → Kafka sink on `topic`,
/// with the current property names.
fn seq_to_kafka(broker: &Broker, topic: &str, events: usize) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1

a1.sources.r1.type = seq
a1.sources.r1.totalEvents = {events}
a1.sources.r1.batchSize = 10
a1.sources.r1.channels = c1

a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100

a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.flumeBatchSize = 20
a1.sinks.k1.channel = c1
",
        broker.bootstrap()
    )
}

/// `a1.sinks.k1.<key> = <value>`
fn sink(key: &str, value: &str) -> String {
    format!("a1.sinks.k1.{key} = {value}\n")
}

/// `a1.sources.r1.<key> = <value>`
fn source(key: &str, value: &str) -> String {
    format!("a1.sources.r1.{key} = {value}\n")
}

/// `a1.sources.r1.interceptors = i1 i2 …`
fn interceptors(ids: &[&str]) -> String {
    source("interceptors", &ids.join(" "))
}

/// An interceptor of Flume type `kind` (`host`, `timestamp`, …) with its defaults.
fn interceptor(id: &str, kind: &str) -> String {
    source(&format!("interceptors.{id}.type"), kind)
}

/// A `static` interceptor setting header `key` to `value`.
fn static_header(id: &str, key: &str, value: &str) -> String {
    [
        interceptor(id, "static"),
        source(&format!("interceptors.{id}.key"), key),
        source(&format!("interceptors.{id}.value"), value),
    ]
    .concat()
}

// ---------------------------------------------------------------------------------------------
// Reading back
// ---------------------------------------------------------------------------------------------

/// Waits until `topic` holds at least `n` records and returns all of them; fails early, with the
/// agent's log, if the agent exits (e.g. rejects the config).
fn delivered(
    agent: &mut Agent,
    broker: &Broker,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<Record> {
    let end = Instant::now() + DELIVERY;
    loop {
        let records = consume_all(
            &broker.bootstrap(),
            topic,
            partitions,
            n,
            Duration::from_secs(2),
        );
        if records.len() >= n {
            return records;
        }
        if let Some(status) = agent.wait_exit(Duration::ZERO) {
            panic!(
                "the agent exited ({status}) with {} of {n} records in {topic}:\n{}",
                records.len(),
                agent.log()
            );
        }
        if Instant::now() >= end {
            panic!(
                "{} of {n} records in {topic} after {DELIVERY:?}:\n{}",
                records.len(),
                agent.log()
            );
        }
    }
}

/// What `topic` holds right now.
fn records_now(broker: &Broker, topic: &str, partitions: i32) -> Vec<Record> {
    consume_all(
        &broker.bootstrap(),
        topic,
        partitions,
        0,
        Duration::from_secs(10),
    )
}

/// The bodies the seq source generates: "0", "1", …
fn counting(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// Record values in (partition, offset) order; for one partition, the order sent.
fn bodies(records: &[Record]) -> Vec<String> {
    let mut v: Vec<&Record> = records.iter().collect();
    // Across partitions, order by body so that a spread is compared as a set.
    if partitions(records).len() > 1 {
        v.sort_by_key(|r| r.value_str().parse::<u64>().unwrap_or(u64::MAX));
    }
    v.iter().map(|r| r.value_str().to_string()).collect()
}

fn partitions(records: &[Record]) -> HashSet<i32> {
    records.iter().map(|r| r.partition).collect()
}

/// Decodes a bare `AvroFlumeEvent` datum; the value must contain nothing else.
fn decode_flume_event(schema: &Schema, value: &[u8]) -> (BTreeMap<String, String>, Vec<u8>) {
    let mut rest = value;
    let datum = apache_avro::from_avro_datum(schema, &mut rest, None)
        .unwrap_or_else(|e| panic!("not an AvroFlumeEvent datum ({e}): {value:?}"));
    assert!(
        rest.is_empty(),
        "{} bytes after the datum: {value:?}",
        rest.len()
    );
    let Value::Record(fields) = datum else {
        panic!("not a record: {datum:?}");
    };
    let mut headers = BTreeMap::new();
    let mut body = None;
    for (name, field) in fields {
        match (name.as_str(), field) {
            ("headers", Value::Map(map)) => {
                for (k, v) in map {
                    let Value::String(v) = v else {
                        panic!("header {k} is not a string: {v:?}");
                    };
                    headers.insert(k, v);
                }
            }
            ("body", Value::Bytes(b)) => body = Some(b),
            (name, field) => panic!("unexpected field {name}: {field:?}"),
        }
    }
    (headers, body.expect("no body field"))
}

fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The partition Kafka's Java `DefaultPartitioner` (and librdkafka's `murmur2_random`) picks for
/// a keyed record: `toPositive(murmur2(key)) % partitions`.
fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Kafka's `Utils.murmur2`.
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}
