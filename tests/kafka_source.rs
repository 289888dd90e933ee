//! The Kafka source (`org.apache.flume.source.kafka.KafkaSource`) end to end on the tansu broker:
//! topic `in` → Kafka source → memory channel → Kafka sink → topic `out`, with the real binary.
//! What reached `out` is judged after the last agent stopped, by reading the topic to its end.
//!
//! * a SIGTERM and a restart in the middle: nothing lost, nothing repeated (the offsets of what was
//!   put are committed before the source stops);
//! * `kill -9` in the middle of a stream and a restart: nothing lost; duplicates only from the
//!   batches that were put but not committed when it died (bounded by the batches in flight);
//! * a full channel whose sink cannot deliver (its broker is a closed port): the source holds its
//!   batch and commits nothing, and once the sink is pointed at a broker again every record
//!   arrives;
//! * `useFlumeEventFormat = true` on both ends: body and headers round-trip, the source adds
//!   Flume's `topic`, `partition`, `offset`, `timestamp` and `key` headers;
//! * `kafka.topics.regex`: every matching topic is read, the others not.
//!
//! The consumer-group join on tansu takes some seconds (see `kafka-test-infra.md`), so each test
//! waits for the source's "assigned" log line, with a deadline, before it judges timing-sensitive
//! steps.

mod common;

use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(120);

/// `in` → Kafka source r1 (group `g`) → memory c1 → Kafka sink k1 → `out`, both on `bootstrap`.
/// The sink's `allowTopicOverride = false`: the source sets the `topic` header to `in`, which
/// the sink would otherwise follow (Flume's well-known loop back into the input topic).
fn pipeline(bootstrap: &str, sink_bootstrap: &str, extra: &[&str]) -> String {
    let mut conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.channels = c1
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = in
a1.sources.r1.kafka.consumer.group.id = g
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.kafka.consumer.fetch.max.wait.ms = 10
a1.sources.r1.batchSize = 500
a1.sources.r1.batchDurationMillis = 200
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 500
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.kafka.bootstrap.servers = {sink_bootstrap}
a1.sinks.k1.kafka.topic = out
"
    );
    // An extra line replaces the base's line of the same key (no duplicate-key warning).
    for line in extra {
        let key = line.split('=').next().unwrap_or_default().trim();
        let mut replaced = false;
        let lines: Vec<String> = conf
            .lines()
            .map(|l| {
                if l.split('=').next().unwrap_or_default().trim() == key {
                    replaced = true;
                    line.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect();
        conf = lines.join("\n") + "\n";
        if !replaced {
            conf.push_str(line);
            conf.push('\n');
        }
    }
    conf
}

/// The file channel c1 under `dir`: what the source put survives a `kill -9`.
fn file_channel(dir: &std::path::Path) -> Vec<String> {
    vec![
        "a1.channels.c1.type = file".to_string(),
        format!(
            "a1.channels.c1.checkpointDir = {}/checkpoint",
            dir.display()
        ),
        format!("a1.channels.c1.dataDirs = {}/data", dir.display()),
    ]
}

fn produce(broker: &Broker, topic: &str, range: std::ops::Range<usize>) {
    let p = TestProducer::new(&broker.bootstrap(), &[]);
    for n in range {
        p.send_value(topic, numbered(n));
    }
    p.flush(DEADLINE);
}

fn tally_out(broker: &Broker, partitions: i32, total: usize) -> Tally {
    Tally::of(
        &consume_all(&broker.bootstrap(), "out", partitions, total, DEADLINE),
        total,
    )
}

#[track_caller]
fn wait_delivered(broker: &Broker, agent: &Agent, total: usize) {
    agent.wait_until(DEADLINE, &format!("{total} lines in out"), || {
        let now = consume_all(&broker.bootstrap(), "out", 1, 0, DEADLINE);
        Tally::of(&now, total).missing.is_empty()
    });
}

/// Two agents one after the other in the same group, a SIGTERM between them: every record once.
#[test]
fn sigterm_and_restart_lose_and_repeat_nothing() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    produce(&broker, "in", 0..3000);
    let conf = pipeline(&broker.bootstrap(), &broker.bootstrap(), &[]);
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_until(DEADLINE, "the first lines in out", || {
        tally_out(&broker, 1, 0).distinct > 0
    });
    agent.stop_cleanly();
    let before = tally_out(&broker, 1, 0);
    assert!(before.distinct > 0, "{}", before.summary());
    produce(&broker, "in", 3000..6000);
    let mut agent = Agent::start(&conf, "a1");
    wait_delivered(&broker, &agent, 6000);
    agent.stop_cleanly();
    let t = tally_out(&broker, 1, 6000);
    eprintln!("{}", t.summary());
    assert!(t.missing.is_empty(), "{}", t.summary());
    assert_eq!(
        t.duplicates,
        0,
        "a clean stop commits what it put: {}",
        t.summary()
    );
    assert_eq!(t.foreign, 0, "{}", t.summary());
}

/// `kill -9` while records stream in, then a restart: nothing lost; the duplicates are the
/// records put but not committed when the agent died. The channel is a file channel: a memory
/// channel loses what it holds on `kill -9`, in Flume as in rflume, and the source has committed
/// those offsets (Flume's contract: committed once in the channel).
#[test]
fn kill_9_mid_stream_loses_nothing_and_repeats_only_uncommitted_batches() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let channel = file_channel(dir.path());
    let extra: Vec<&str> = channel.iter().map(String::as_str).collect();
    let conf = pipeline(&broker.bootstrap(), &broker.bootstrap(), &extra);
    let total = 20_000;
    let producer = {
        let bootstrap = broker.bootstrap();
        std::thread::spawn(move || {
            let p = TestProducer::new(&bootstrap, &[]);
            for n in 0..total {
                p.send_value("in", numbered(n));
                if n % 500 == 499 {
                    // A pacing clock for the input stream, not a wait for a condition.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            p.flush(DEADLINE);
        })
    };
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_until(DEADLINE, "a few thousand lines in out", || {
        tally_out(&broker, 1, 0).distinct >= 3000
    });
    agent.kill9();
    let at_kill = tally_out(&broker, 1, 0);
    let mut agent = Agent::start(&conf, "a1");
    producer.join().expect("producer thread");
    wait_delivered(&broker, &agent, total);
    agent.stop_cleanly();
    let t = tally_out(&broker, 1, total);
    eprintln!("at the kill: {}\nafter: {}", at_kill.summary(), t.summary());
    assert!(t.missing.is_empty(), "{}", t.summary());
    // Repeated: the source's batch put but not committed (500), and the sink's takes that
    // Kafka had acknowledged but the channel had not committed (its pipelined batches).
    assert!(
        t.duplicates <= 500 + 10_000,
        "more duplicates than the records in flight: {}",
        t.summary()
    );
}

/// A channel of 100 whose sink cannot reach its broker (a proxy that is down): the source holds
/// its batch and reads no further; once the broker is reachable again every record arrives, once.
#[test]
fn full_channel_holds_the_batch_and_loses_nothing_once_the_sink_recovers() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    produce(&broker, "in", 0..2000);
    let mut proxy = Proxy::start(&broker);
    proxy.kill();
    let conf = pipeline(
        &broker.bootstrap(),
        &proxy.bootstrap(),
        &[
            "a1.channels.c1.capacity = 100",
            "a1.channels.c1.transactionCapacity = 100",
            "a1.channels.c1.keep-alive = 0",
            "a1.sources.r1.batchSize = 50",
            "a1.sinks.k1.flumeBatchSize = 50",
            "a1.sinks.k1.kafka.producer.reconnect.backoff.max.ms = 200",
        ],
    );
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_for_log(DEADLINE, "holding the batch");
    assert_eq!(tally_out(&broker, 1, 0).records, 0);
    proxy.restart();
    wait_delivered(&broker, &agent, 2000);
    agent.stop_cleanly();
    let t = tally_out(&broker, 1, 2000);
    eprintln!("{}", t.summary());
    assert!(t.missing.is_empty(), "{}", t.summary());
    assert!(t.out_of_order.is_empty(), "{}", t.summary());
}

/// `useFlumeEventFormat = true` on the source and the sink: the event's headers and body go
/// through, and the source adds Flume's headers where the event has none.
#[test]
fn flume_event_format_round_trips_headers_and_adds_flumes() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    let p = TestProducer::new(&broker.bootstrap(), &[]);
    let mut written = Vec::new();
    for n in 0..10 {
        let mut value = Vec::new();
        let mut h = rflume::event::Headers::new();
        h.insert("app", format!("web-{n}"));
        h.insert("host", "h1");
        if n == 0 {
            // Already there: the source must not replace it.
            h.insert("partition", "seven");
        }
        rflume::kafka::avro::encode_flume_event(&h, numbered(n).as_bytes(), &mut value);
        p.send("in", Some(format!("k{n}").as_bytes()), &value, &[]);
        written.push(h);
    }
    // A record that is not an Avro event: skipped and logged, the others still go through.
    p.send("in", None, b"not avro at all", &[]);
    p.flush(DEADLINE);
    let conf = pipeline(
        &broker.bootstrap(),
        &broker.bootstrap(),
        &[
            "a1.sources.r1.useFlumeEventFormat = true",
            "a1.sinks.k1.useFlumeEventFormat = true",
        ],
    );
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_until(DEADLINE, "10 events in out", || {
        consume_all(&broker.bootstrap(), "out", 1, 0, Duration::from_secs(5)).len() >= 10
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "out", 1, 10, DEADLINE);
    assert_eq!(records.len(), 10);
    assert!(
        agent.log().contains("is not a Flume Avro event"),
        "{}",
        agent.log()
    );
    for (n, r) in records.iter().enumerate() {
        let e = FlumeEvent::decode(&r.value);
        assert_eq!(e.body_str(), numbered(n));
        let h = e.header_map();
        assert_eq!(h["app"], format!("web-{n}"));
        assert_eq!(h["host"], "h1");
        assert_eq!(h["topic"], "in");
        assert_eq!(h["offset"], n.to_string());
        assert_eq!(h["key"], format!("k{n}"));
        assert_eq!(
            h["partition"],
            if n == 0 {
                "seven".to_string()
            } else {
                "0".to_string()
            }
        );
        let ts: i64 = h["timestamp"].parse().expect("a number");
        assert!(ts > 1_600_000_000_000, "{ts}");
        // The sink keys the record with the key header, as Flume's does.
        assert_eq!(r.key_str(), Some(format!("k{n}").as_str()));
    }
}

/// `kafka.topics.regex` subscribes to every topic whose whole name matches, as Java's pattern
/// subscription does: `logs-a` and `logs-b`, not `xlogs-c`, which an unanchored search (librdkafka's
/// own reading of a pattern) would also match.
#[test]
fn topics_regex_reads_every_matching_topic_and_only_those() {
    let broker = Broker::start();
    for t in ["logs-a", "logs-b", "xlogs-c", "out"] {
        broker.create_topic(t, 1);
    }
    produce(&broker, "logs-a", 0..100);
    produce(&broker, "logs-b", 100..200);
    produce(&broker, "xlogs-c", 200..300);
    let conf = pipeline(
        &broker.bootstrap(),
        &broker.bootstrap(),
        &[
            "a1.sources.r1.kafka.topics.regex = logs-[a-z]",
            // Metadata refreshes find the topics quickly.
            "a1.sources.r1.kafka.consumer.topic.metadata.refresh.interval.ms = 1000",
        ],
    );
    let mut agent = Agent::start(&conf, "a1");
    wait_delivered(&broker, &agent, 200);
    agent.stop_cleanly();
    let t = tally_out(&broker, 1, 200);
    eprintln!("{}", t.summary());
    assert!(t.missing.is_empty(), "{}", t.summary());
    assert_eq!(t.distinct, 200, "xlogs-c must not be read: {}", t.summary());
}
