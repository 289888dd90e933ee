//! What a Kafka consumer sees of rflume's Kafka sink: topic, partition, key, value, record headers
//! and timestamp, built from Flume events the way Flume's `KafkaSink` builds its `ProducerRecord`.
//!
//! Input is Flume's `seq` source (bodies "0", "1", …) with Flume's `static`, `host` and
//! `timestamp` interceptors for headers, all configured with Flume's property names. Each test has
//! its own broker, topics and agent.
//!
//! The seq source sends a fixed number of events and nothing here can time out, so every test
//! asserts exactly once on the topic's final content: it waits until the events are in Kafka,
//! stops the agent (SIGTERM, exit 0) and then reads the topics to their end.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

/// Generous on a loaded 2-core machine; a passing test needs a few seconds.
const DELIVERY: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// Record keys of [`keys_land_on_the_partition_javas_partitioner_picks`]: Kafka's murmur2 test
/// inputs, then assorted ASCII, UTF-8 and punctuated keys.
const KEYS: [&str; 20] = [
    "21",
    "foobar",
    "a-little-bit-long-string",
    "a-little-bit-longer-string",
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
    "abc",
    "k-1",
    "user-42",
    "order-0001",
    "order-0002",
    "session:9f86d081",
    "日志",
    "ключ",
    "x",
    "yy",
    "zzz",
    "host-01.example.com",
    "2024-01-01T00:00:00Z",
    "tenant/acme",
    "🙂",
];

/// The `key` header is the record key and Kafka's key partitioning applies: 20 sources, each
/// stamping its events with one of [`KEYS`], feed one sink; every record lands in the partition
/// Java's default partitioner picks for its key, `toPositive(murmur2(key)) % 7`, computed here by
/// the test's own murmur2 (checked against Kafka's published vectors below).
#[test]
fn keys_land_on_the_partition_javas_partitioner_picks() {
    const PARTITIONS: i32 = 7;
    const PER_KEY: usize = 5;
    let broker = Broker::start();
    broker.create_topic("keyed", PARTITIONS);
    let expected: BTreeMap<&str, i32> = KEYS
        .iter()
        .map(|k| (*k, java_partition(k.as_bytes(), PARTITIONS)))
        .collect();
    let spread: BTreeSet<i32> = expected.values().copied().collect();
    assert!(
        spread.len() >= 4,
        "test data: the keys should spread over the partitions: {expected:?}"
    );
    let mut config = channel_and_sink(&broker, "keyed");
    let ids: Vec<String> = (0..KEYS.len()).map(|i| format!("r{i}")).collect();
    config.push_str(&format!("a1.sources = {}\n", ids.join(" ")));
    for (id, key) in ids.iter().zip(KEYS) {
        config.push_str(&format!(
            "a1.sources.{id}.type = seq
a1.sources.{id}.totalEvents = {PER_KEY}
a1.sources.{id}.batchSize = {PER_KEY}
a1.sources.{id}.channels = c1
a1.sources.{id}.interceptors = i1
a1.sources.{id}.interceptors.i1.type = static
a1.sources.{id}.interceptors.i1.key = key
a1.sources.{id}.interceptors.i1.value = {key}
"
        ));
    }
    let mut agent = Agent::start(&config, "a1");

    let records = delivered(
        &mut agent,
        &broker,
        "keyed",
        PARTITIONS,
        KEYS.len() * PER_KEY,
    );
    let mut per_key: BTreeMap<&str, Vec<(i32, String)>> = BTreeMap::new();
    for r in &records {
        let key = r
            .key_str()
            .unwrap_or_else(|| panic!("a record without key: {r:?}"));
        let key = *KEYS
            .iter()
            .find(|k| **k == key)
            .unwrap_or_else(|| panic!("unexpected key {key:?}"));
        per_key
            .entry(key)
            .or_default()
            .push((r.partition, r.value_str().to_string()));
    }
    for (key, partition) in &expected {
        let got = per_key.get(key).cloned().unwrap_or_default();
        let want: Vec<(i32, String)> = counting(PER_KEY)
            .into_iter()
            .map(|b| (*partition, b))
            .collect();
        assert_eq!(got, want, "records keyed {key:?}: (partition, body)");
    }
    assert_eq!(records.len(), KEYS.len() * PER_KEY, "nothing else");
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
// Topics and partitions: which topic and partition the events go to
// ---------------------------------------------------------------------------------------------

/// Where 30 events of a seq source end up, for each way Flume's sink chooses a topic and a
/// partition: the `topic` header overrides `kafka.topic` unless `allowTopicOverride = false`;
/// `%{header}` escapes are substituted; `defaultPartitionId` pins a partition; the integer in
/// the `partitionIdHeader` header wins over it.
#[test]
fn topic_and_partition_follow_the_sinks_settings_and_the_events_headers() {
    struct Case {
        what: &'static str,
        /// `kafka.topic`.
        configured: &'static str,
        extra: Vec<String>,
        /// The topic the records must be in, and its partition count.
        lands_in: (&'static str, i32),
        /// The partitions of that topic they may use (None: any).
        partitions: Option<HashSet<i32>>,
        /// Another topic that must stay empty.
        stays_empty: Option<&'static str>,
    }
    let override_header = || {
        vec![
            interceptors(&["i1"]),
            static_header("i1", "topic", "from-header"),
        ]
    };
    let cases = [
        Case {
            what: "allowTopicOverride defaults to true: the topic header names the topic",
            configured: "configured",
            extra: override_header(),
            lands_in: ("from-header", 1),
            partitions: None,
            stays_empty: Some("configured"),
        },
        Case {
            what: "allowTopicOverride = false: the topic header is ignored",
            configured: "configured",
            extra: [vec![sink("allowTopicOverride", "false")], override_header()].concat(),
            lands_in: ("configured", 1),
            partitions: None,
            stays_empty: Some("from-header"),
        },
        Case {
            what: "kafka.topic = app-%{service}: the header's value is substituted",
            configured: "app-%{service}",
            extra: vec![
                interceptors(&["i1"]),
                static_header("i1", "service", "checkout"),
            ],
            lands_in: ("app-checkout", 1),
            partitions: None,
            stays_empty: None,
        },
        Case {
            what: "defaultPartitionId = 2 pins every record (no key) to partition 2",
            configured: "pinned",
            extra: vec![sink("defaultPartitionId", "2")],
            lands_in: ("pinned", 3),
            partitions: Some(HashSet::from([2])),
            stays_empty: None,
        },
        Case {
            what: "the partitionIdHeader header (1) wins over defaultPartitionId (2)",
            configured: "routed",
            extra: vec![
                sink("defaultPartitionId", "2"),
                sink("partitionIdHeader", "shard"),
                interceptors(&["i1"]),
                static_header("i1", "shard", "1"),
            ],
            lands_in: ("routed", 3),
            partitions: Some(HashSet::from([1])),
            stays_empty: None,
        },
    ];
    for case in cases {
        let broker = Broker::start();
        let (topic, partitions) = case.lands_in;
        broker.create_topic(topic, partitions);
        if let Some(other) = case.stays_empty {
            broker.create_topic(other, 1);
        }
        let config = [vec![seq_to_kafka(&broker, case.configured, 30)], case.extra].concat();
        let mut agent = Agent::start(&config.concat(), "a1");

        let records = delivered(&mut agent, &broker, topic, partitions, 30);
        assert_eq!(bodies(&records), counting(30), "{}", case.what);
        if let Some(allowed) = &case.partitions {
            assert_eq!(&self::partitions(&records), allowed, "{}", case.what);
        }
        if let Some(other) = case.stays_empty {
            // The agent has stopped: nothing can still arrive there.
            let stray = records_now(&broker, other, 1);
            assert!(stray.is_empty(), "{}: {other} got {stray:?}", case.what);
        }
    }
}

/// How Flume combines a key with an explicit partition (`new ProducerRecord(topic, partitionId,
/// key, body)`): the `partitionIdHeader` value, else `defaultPartitionId`, pins the partition and
/// the key is still the record's key; only without either does the key's hash choose. One sink,
/// three sources: keyed; keyed with a partition header; partition header only — first without,
/// then with `defaultPartitionId`.
#[test]
fn an_explicit_partition_wins_over_the_key_and_the_key_is_kept() {
    const PARTITIONS: i32 = 7;
    const PER_SOURCE: usize = 10;
    const SHARD: i32 = 5;
    const NO_KEY_SHARD: i32 = 3;
    const DEFAULT_PARTITION: i32 = 6;
    // A key whose own partition is none of the explicit ones, so each rule is visible.
    let key = *KEYS
        .iter()
        .find(|k| {
            ![SHARD, NO_KEY_SHARD, DEFAULT_PARTITION]
                .contains(&java_partition(k.as_bytes(), PARTITIONS))
        })
        .expect("test data: a key hashing elsewhere");
    let hashed = java_partition(key.as_bytes(), PARTITIONS);
    for default_partition in [None, Some(DEFAULT_PARTITION)] {
        let broker = Broker::start();
        broker.create_topic("routed", PARTITIONS);
        let mut config = [
            channel_and_sink(&broker, "routed"),
            sink("partitionIdHeader", "shard"),
            sink("header.src", "src"),
            "a1.sources = keyed pinned unkeyed\n".to_string(),
            headed_source("keyed", PER_SOURCE, &[("key", key)]),
            headed_source("pinned", PER_SOURCE, &[("key", key), ("shard", "5")]),
            headed_source("unkeyed", PER_SOURCE, &[("shard", "3")]),
        ]
        .concat();
        if let Some(p) = default_partition {
            config.push_str(&sink("defaultPartitionId", &p.to_string()));
        }
        let mut agent = Agent::start(&config, "a1");

        let records = delivered(&mut agent, &broker, "routed", PARTITIONS, 3 * PER_SOURCE);
        let by_source = by_header(&records, "src");
        let keyed_lands = default_partition.unwrap_or(hashed);
        for (source, partition, record_key) in [
            ("keyed", keyed_lands, Some(key)),
            ("pinned", SHARD, Some(key)),
            ("unkeyed", NO_KEY_SHARD, None),
        ] {
            let want: Vec<Placed> = counting(PER_SOURCE)
                .into_iter()
                .map(|b| (partition, record_key, b))
                .collect();
            assert_eq!(
                by_source.get(source),
                Some(&want),
                "source {source} with defaultPartitionId {default_partition:?}: (partition, key, \
                 body) in partition order"
            );
        }
        assert_eq!(records.len(), 3 * PER_SOURCE, "nothing else");
    }
}

/// One sink, several topics, as Flume routes them with `topicHeader = dest` (the header named
/// there, not `topic`, names the topic; events without it go to `kafka.topic`): each topic gets
/// exactly its events; in each, a key's records are on the partition Java's partitioner picks,
/// and every source's events are in the order they were made, per partition.
#[test]
fn one_sink_writes_several_topics_by_header_keyed_and_in_order() {
    const PER_SOURCE: usize = 30;
    let broker = Broker::start();
    for (topic, partitions) in [("orders", 3), ("clicks", 5), ("fallback", 2)] {
        broker.create_topic(topic, partitions);
    }
    let sources: [Routed; 6] = [
        (
            "o1",
            &[("dest", "orders"), ("key", "order-0001")],
            "orders",
            3,
        ),
        (
            "o2",
            &[("dest", "orders"), ("key", "order-0002")],
            "orders",
            3,
        ),
        ("c1", &[("dest", "clicks"), ("key", "user-42")], "clicks", 5),
        ("c2", &[("dest", "clicks")], "clicks", 5),
        ("f1", &[("key", "k-1")], "fallback", 2),
        // The default header name means nothing once topicHeader names another.
        ("f2", &[("topic", "orders")], "fallback", 2),
    ];
    let mut config = [
        channel_and_sink(&broker, "fallback"),
        sink("topicHeader", "dest"),
        sink("header.src", "src"),
        format!("a1.sources = {}\n", sources.map(|s| s.0).join(" ")),
    ]
    .concat();
    for (id, headers, _, _) in &sources {
        config.push_str(&headed_source(id, PER_SOURCE, headers));
    }
    let mut agent = Agent::start(&config, "a1");

    let mut all = BTreeMap::new();
    for (topic, partitions) in [("orders", 3), ("clicks", 5), ("fallback", 2)] {
        let wanted = sources.iter().filter(|s| s.2 == topic).count() * PER_SOURCE;
        let records = if topic == "fallback" {
            // The last topic read: the agent is stopped once it is complete.
            delivered(&mut agent, &broker, topic, partitions, wanted)
        } else {
            wait_for(&agent, &broker, topic, partitions, wanted)
        };
        all.insert(topic, records);
    }
    // Read again now that the agent has stopped: each topic holds exactly what its sources
    // sent, nothing arrived late anywhere (a late copy would not pass the per-source checks
    // below if it lost its `src` header on the way).
    for (topic, partitions) in [("orders", 3), ("clicks", 5), ("fallback", 2)] {
        let wanted = sources.iter().filter(|s| s.2 == topic).count() * PER_SOURCE;
        assert_eq!(
            records_now(&broker, topic, partitions).len(),
            wanted,
            "{topic}: every record once after the stop"
        );
    }
    for (id, headers, topic, partitions) in sources {
        let records: Vec<&Record> = all[topic]
            .iter()
            .filter(|r| r.header_str("src") == Some(id))
            .collect();
        let bodies: Vec<String> = {
            let mut b: Vec<String> = records.iter().map(|r| r.value_str().to_string()).collect();
            b.sort_by_key(|v| v.parse::<u64>().unwrap_or(u64::MAX));
            b
        };
        assert_eq!(
            bodies,
            counting(PER_SOURCE),
            "source {id} in {topic}, once each"
        );
        let key = headers.iter().find(|h| h.0 == "key").map(|h| h.1);
        for r in &records {
            assert_eq!(r.key_str(), key, "source {id}: {r:?}");
            if let Some(k) = key {
                assert_eq!(
                    r.partition,
                    java_partition(k.as_bytes(), partitions),
                    "source {id} key {k}: {r:?}"
                );
            }
        }
        // `consume_all` returns (partition, offset) order: per partition, the order made.
        let mut per_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
        for r in &records {
            per_partition
                .entry(r.partition)
                .or_default()
                .push(r.value_str().parse().unwrap_or(u64::MAX));
        }
        for (p, seq) in per_partition {
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "source {id}, {topic} partition {p}: out of order {seq:?}"
            );
        }
    }
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
    let mut bodies = Vec::new();
    for r in &records {
        let event = FlumeEvent::decode(&r.value);
        bodies.push(event.body_str().to_string());
        let headers = event.header_map();
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
// Current property names and producer settings
// ---------------------------------------------------------------------------------------------

/// The current names (`kafka.bootstrap.servers`, `kafka.topic`, `flumeBatchSize`,
/// `kafka.producer.*`) with `acks = all` deliver, without deprecation warnings, with each
/// compression codec real configs use.
#[test]
fn current_names_with_acks_all_and_compression_deliver() {
    for codec in ["lz4", "snappy"] {
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
        assert_eq!(bodies(&records), counting(200), "{codec}");
        let log = agent.log();
        assert!(
            !log.contains("deprecated") && !log.contains("ERROR"),
            "current names with {codec}, no complaints:\n{log}"
        );
    }
}

/// `kafka.producer.linger.ms` reaches the producer: with 4 s of linger, nothing is acknowledged
/// for the first 2.5 s after the sink starts (without it, the batch is sent at once).
///
/// The hold starts when the agent logs that it starts the sink, which is before the sink can
/// produce anything, and lasts its full length whatever the machine's load: records can only
/// appear 4 s after the first one was produced, so they cannot appear within the hold.
#[test]
fn producer_linger_ms_passes_through() {
    const LINGER: Duration = Duration::from_millis(4000);
    const HOLD: Duration = Duration::from_millis(2500);
    let broker = Broker::start();
    broker.create_topic("lingering", 1);
    let config = [
        seq_to_kafka(&broker, "lingering", 5),
        sink("kafka.producer.linger.ms", &LINGER.as_millis().to_string()),
    ]
    .concat();
    let mut agent = Agent::start(&config, "a1");
    agent.wait_for_log(DELIVERY, "Starting Sink k1");
    let hold_started = Instant::now();

    let early = poll_until(HOLD, || !records_now(&broker, "lingering", 1).is_empty());
    assert!(
        !early,
        "records were visible {:?} after the sink started despite linger.ms = {}",
        hold_started.elapsed(),
        LINGER.as_millis()
    );
    assert!(hold_started.elapsed() >= HOLD, "the hold ran in full");
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
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = {events}
a1.sources.r1.batchSize = 10
a1.sources.r1.channels = c1
{}",
        channel_and_sink(broker, topic)
    )
}

/// Memory channel c1 → Kafka sink k1 on `topic`, with the current property names.
fn channel_and_sink(broker: &Broker, topic: &str) -> String {
    format!(
        "a1.channels = c1
a1.sinks = k1
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

/// A seq source `id` (bodies "0".."events-1") into c1 whose events carry `headers` (one static
/// interceptor each), plus `src = id`, so that a record can be traced to its source.
fn headed_source(id: &str, events: usize, headers: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("src", id));
    let ids: Vec<String> = (1..=all.len()).map(|i| format!("h{i}")).collect();
    let mut out = format!(
        "a1.sources.{id}.type = seq
a1.sources.{id}.totalEvents = {events}
a1.sources.{id}.batchSize = 10
a1.sources.{id}.channels = c1
a1.sources.{id}.interceptors = {}
",
        ids.join(" ")
    );
    for (i, (k, v)) in ids.iter().zip(all) {
        out.push_str(&format!(
            "a1.sources.{id}.interceptors.{i}.type = static
a1.sources.{id}.interceptors.{i}.key = {k}
a1.sources.{id}.interceptors.{i}.value = {v}
"
        ));
    }
    out
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

/// Waits until `topic` holds at least `n` records, stops the agent (SIGTERM, exit 0) and returns
/// everything the topic then holds, read to its end; fails early, with the agent's log, if the
/// agent exits first (e.g. rejects the config).
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
            break;
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
    agent.stop_cleanly();
    consume_all(&broker.bootstrap(), topic, partitions, n, DELIVERY)
}

/// Waits (with the agent still running) until `topic` holds at least `n` records; returns them.
fn wait_for(agent: &Agent, broker: &Broker, topic: &str, partitions: i32, n: usize) -> Vec<Record> {
    let mut records = Vec::new();
    agent.wait_until(DELIVERY, &format!("{n} records in {topic}"), || {
        records = consume_all(
            &broker.bootstrap(),
            topic,
            partitions,
            n,
            Duration::from_secs(2),
        );
        records.len() >= n
    });
    records
}

/// A source of [`one_sink_writes_several_topics_by_header_keyed_and_in_order`]: its id, its
/// headers, the topic it must land in and that topic's partition count.
type Routed = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    i32,
);

/// (partition, key, body) of a record.
type Placed<'a> = (i32, Option<&'a str>, String);

/// Per value of record header `name`: (partition, key, body) of each record, in the order
/// `consume_all` returns them (partition, offset).
fn by_header<'a>(records: &'a [Record], name: &str) -> BTreeMap<&'a str, Vec<Placed<'a>>> {
    let mut out: BTreeMap<&str, Vec<Placed>> = BTreeMap::new();
    for r in records {
        let source = r
            .header_str(name)
            .unwrap_or_else(|| panic!("a record without header {name}: {r:?}"));
        out.entry(source)
            .or_default()
            .push((r.partition, r.key_str(), r.value_str().to_string()));
    }
    out
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
