//! The Kafka channel (`org.apache.flume.channel.kafka.KafkaChannel`) end to end on the tansu
//! broker, with the real binary: the channel's topic `ch` holds the events; what reached the
//! output is judged after the last agent stopped, by reading it to its end.
//!
//! * TAILDIR → Kafka channel → Kafka sink, a clean stop: every line once in `out`, and `ch` read by
//!   an independent consumer holds Flume's `AvroFlumeEvent` datums with the events' headers;
//! * `kill -9` while lines stream in, then a restart: nothing lost; the duplicates the channel's
//!   take side adds (those in `out` beyond those the source already put twice into `ch`) are
//!   bounded by the sink's open takes;
//! * a sink whose broker is down (a killed proxy): its takes roll back, and once the proxy is back
//!   the same records are delivered, none lost;
//! * a channel with no sink (`parseAsFlumeEvent = false`: bare bodies in `ch`, the consumer group
//!   never joined), and a channel with no source (a sink reading a topic another producer fills
//!   with Flume events: the headers arrive).
//!
//! The consumer-group join on tansu takes some seconds (see `kafka-test-infra.md`); every wait is
//! for a condition with a deadline.

mod common;

use std::path::Path;
use std::time::Duration;

use common::tally::number_of;
use common::*;

const DEADLINE: Duration = Duration::from_secs(120);

/// TAILDIR on `logs/app.log` → Kafka channel c1 (topic `ch`) → Kafka sink k1 → `out`.
fn pipeline(
    logs: &Path,
    pos: &Path,
    bootstrap: &str,
    sink_bootstrap: &str,
    extra: &[&str],
) -> String {
    let conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {logs}/app\\.log
a1.sources.r1.positionFile = {pos}
a1.sources.r1.writePosInterval = 200
a1.sources.r1.batchSize = 200
a1.sources.r1.fileHeader = true
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = ch
a1.channels.c1.kafka.consumer.group.id = g
a1.channels.c1.kafka.consumer.fetch.max.wait.ms = 10
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 100
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.kafka.bootstrap.servers = {sink_bootstrap}
a1.sinks.k1.kafka.topic = out
",
        logs = logs.display(),
        pos = pos.display(),
    );
    with_lines(conf, extra)
}

/// `conf` with each `key = value` line of `extra` replacing the line of that key, or appended.
fn with_lines(mut conf: String, extra: &[&str]) -> String {
    for line in extra {
        let key = line.split('=').next().unwrap_or_default().trim();
        let mut replaced = false;
        let lines: Vec<String> = conf
            .lines()
            .filter_map(|l| {
                if l.split('=').next().unwrap_or_default().trim() == key {
                    replaced = true;
                    // An empty value removes the line.
                    (!line.trim_end().ends_with('=')).then(|| line.to_string())
                } else {
                    Some(l.to_string())
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

fn tally(broker: &Broker, topic: &str, partitions: i32, total: usize) -> Tally {
    Tally::of(
        &consume_all(&broker.bootstrap(), topic, partitions, total, DEADLINE),
        total,
    )
}

/// The bodies of `ch`'s Avro datums as a tally (the channel's records are not bare lines).
fn tally_channel(broker: &Broker, partitions: i32, total: usize) -> Tally {
    let mut records = consume_all(&broker.bootstrap(), "ch", partitions, total, DEADLINE);
    for r in &mut records {
        r.value = FlumeEvent::decode(&r.value).body;
    }
    Tally::of(&records, total)
}

#[track_caller]
fn wait_delivered(broker: &Broker, agent: &Agent, total: usize) {
    agent.wait_until(DEADLINE, &format!("{total} lines in out"), || {
        let now = consume_all(&broker.bootstrap(), "out", 1, 0, DEADLINE);
        Tally::of(&now, total).missing.is_empty()
    });
}

fn write_lines(path: &Path, range: std::ops::Range<usize>) {
    append_lines(path, range.map(numbered));
}

/// A clean stop after everything arrived: each line once in `out`; `ch` holds AvroFlumeEvent
/// datums carrying TAILDIR's `file` header, spread over the topic's two partitions.
#[test]
fn every_event_once_through_the_channel_topic_after_a_clean_stop() {
    let broker = Broker::start();
    broker.create_topic("ch", 2);
    broker.create_topic("out", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    write_lines(&log, 0..3000);
    let conf = pipeline(
        dir.path(),
        &dir.path().join("pos.json"),
        &broker.bootstrap(),
        &broker.bootstrap(),
        &[],
    );
    let mut agent = Agent::start(&conf, "a1");
    wait_delivered(&broker, &agent, 3000);
    agent.stop_cleanly();
    let out = tally(&broker, "out", 1, 3000);
    eprintln!("out: {}", out.summary());
    assert!(out.missing.is_empty(), "{}", out.summary());
    assert_eq!(out.duplicates, 0, "{}", out.summary());
    assert_eq!(out.foreign, 0, "{}", out.summary());

    let records = consume_all(&broker.bootstrap(), "ch", 2, 3000, DEADLINE);
    assert_eq!(
        records.len(),
        3000,
        "the channel's topic holds each event once"
    );
    let log_path = log.display().to_string();
    for r in &records {
        let e = FlumeEvent::decode(&r.value);
        assert!(number_of(&e.body).is_some(), "{:?}", e.body_str());
        assert_eq!(e.header_map().get("file"), Some(&log_path));
    }
    let partitions: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(
        partitions.len(),
        2,
        "keyless records spread over both partitions"
    );
}

/// `kill -9` mid-stream and a restart: nothing lost. TAILDIR may put lines into `ch` twice (its
/// positions are written every 200 ms); beyond those, the duplicates in `out` are the channel's
/// takes that the sink had sent but not committed when the agent died: at most its batches in
/// flight (flumeBatchSize 100 × the Kafka sink's window).
#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() {
    let broker = Broker::start();
    broker.create_topic("ch", 2);
    broker.create_topic("out", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    let conf = pipeline(
        dir.path(),
        &dir.path().join("pos.json"),
        &broker.bootstrap(),
        &broker.bootstrap(),
        &[],
    );
    let total = 20_000;
    let mut agent = Agent::start(&conf, "a1");
    // The stream starts once the channel's consumer has its partitions, so that the kill comes
    // while lines are still being written and delivered.
    agent.wait_for_log(DEADLINE, "partition 1 assigned");
    let stream = LineStream::start(log.clone(), total, 100, Duration::from_millis(50));
    agent.wait_until(DEADLINE, "a few thousand lines in out", || {
        tally(&broker, "out", 1, 0).distinct >= 3000
    });
    agent.kill9();
    let at_kill = tally(&broker, "out", 1, 0);
    let mut agent = Agent::start(&conf, "a1");
    stream.finish(DEADLINE);
    wait_delivered(&broker, &agent, total);
    agent.stop_cleanly();
    let out = tally(&broker, "out", 1, total);
    let ch = tally_channel(&broker, 2, total);
    eprintln!(
        "at the kill: {}\nch: {}\nout: {}",
        at_kill.summary(),
        ch.summary(),
        out.summary()
    );
    assert!(at_kill.distinct < total, "the kill came mid-stream");
    assert!(out.missing.is_empty(), "{}", out.summary());
    assert!(ch.missing.is_empty(), "{}", ch.summary());
    let by_take_side = out.duplicates.saturating_sub(ch.duplicates);
    // The Kafka sink's default window of in-flight batches, times its batch size.
    let in_flight_bound = 100 * 10;
    assert!(
        by_take_side <= in_flight_bound,
        "{by_take_side} duplicates from the take side, more than the sink had in flight: {}",
        out.summary()
    );
}

/// The sink's broker is down (its proxy killed): each take rolls back. Once the proxy is back,
/// the rolled-back records are delivered: nothing is missing, and nothing repeated beyond what
/// the sink itself retried.
#[test]
fn rolled_back_takes_are_delivered_again_once_the_sink_recovers() {
    let broker = Broker::start();
    broker.create_topic("ch", 1);
    broker.create_topic("out", 1);
    let mut proxy = Proxy::start(&broker);
    proxy.kill();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    write_lines(&log, 0..2000);
    let conf = pipeline(
        dir.path(),
        &dir.path().join("pos.json"),
        &broker.bootstrap(),
        &proxy.bootstrap(),
        &[
            "a1.sinks.k1.kafka.producer.message.timeout.ms = 2000",
            "a1.sinks.k1.kafka.producer.reconnect.backoff.max.ms = 200",
        ],
    );
    let mut agent = Agent::start(&conf, "a1");
    // Every line is in the channel's topic, none delivered, and the sink has failed a batch.
    agent.wait_until(DEADLINE, "2000 events in ch", || {
        tally_channel(&broker, 1, 0).distinct >= 2000
    });
    agent.wait_until(DEADLINE, "a rolled-back take", || {
        agent.log().contains("rolled back")
    });
    assert_eq!(tally(&broker, "out", 1, 0).records, 0);
    proxy.restart();
    wait_delivered(&broker, &agent, 2000);
    agent.stop_cleanly();
    let out = tally(&broker, "out", 1, 2000);
    eprintln!("{}", out.summary());
    assert!(out.missing.is_empty(), "{}", out.summary());
    assert!(out.out_of_order.is_empty(), "{}", out.summary());
}

/// A channel with no sink (a source filling Kafka for other consumers) and
/// `parseAsFlumeEvent = false`: `ch` holds the bare bodies; the `key` header is the record key.
#[test]
fn source_only_channel_writes_bare_bodies_with_parse_as_flume_event_false() {
    let broker = Broker::start();
    broker.create_topic("ch", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    write_lines(&log, 0..500);
    let conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {logs}/app\\.log
a1.sources.r1.positionFile = {logs}/pos.json
a1.sources.r1.interceptors = k
a1.sources.r1.interceptors.k.type = static
a1.sources.r1.interceptors.k.key = key
a1.sources.r1.interceptors.k.value = host-7
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = ch
a1.channels.c1.parseAsFlumeEvent = false
",
        logs = dir.path().display(),
        bootstrap = broker.bootstrap(),
    );
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_until(DEADLINE, "500 records in ch", || {
        tally(&broker, "ch", 1, 0).distinct >= 500
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "ch", 1, 500, DEADLINE);
    let t = Tally::of(&records, 500);
    assert!(t.missing.is_empty() && t.duplicates == 0, "{}", t.summary());
    assert!(records.iter().all(|r| r.key_str() == Some("host-7")));
    assert!(
        agent.log().contains("headers") || agent.log().contains("parseAsFlumeEvent"),
        "the lost headers are announced: {}",
        agent.log()
    );
    assert!(
        !agent.log().contains("Created new consumer"),
        "a channel without sinks never joins the group: {}",
        agent.log()
    );
}

/// A channel with no source: a sink reading a topic another producer fills with Flume's Avro
/// events. The headers arrive (the Kafka sink writes them as Avro again), the record key becomes
/// the `key` header; a record that is not an Avro event is skipped and named.
#[test]
fn sink_only_channel_reads_flume_events_another_producer_wrote() {
    let broker = Broker::start();
    broker.create_topic("ch", 1);
    broker.create_topic("out", 1);
    let p = TestProducer::new(&broker.bootstrap(), &[]);
    p.send("ch", None, b"not avro at all", &[]);
    for n in 0..300 {
        let mut h = rflume::event::Headers::new();
        h.insert("app", format!("web-{n}"));
        let mut value = Vec::new();
        rflume::kafka::avro::encode_flume_event(&h, numbered(n).as_bytes(), &mut value);
        p.send("ch", Some(format!("k{n}").as_bytes()), &value, &[]);
    }
    p.flush(DEADLINE);
    let conf = format!(
        "a1.channels = c1
a1.sinks = k1
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {b}
a1.channels.c1.kafka.topic = ch
a1.channels.c1.kafka.consumer.group.id = readers
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.useFlumeEventFormat = true
a1.sinks.k1.kafka.bootstrap.servers = {b}
a1.sinks.k1.kafka.topic = out
",
        b = broker.bootstrap()
    );
    let mut agent = Agent::start(&conf, "a1");
    agent.wait_until(DEADLINE, "300 events in out", || {
        consume_all(&broker.bootstrap(), "out", 1, 0, Duration::from_secs(5)).len() >= 300
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "out", 1, 300, DEADLINE);
    assert_eq!(records.len(), 300);
    for (n, r) in records.iter().enumerate() {
        let e = FlumeEvent::decode(&r.value);
        assert_eq!(e.body_str(), numbered(n));
        let h = e.header_map();
        assert_eq!(h["app"], format!("web-{n}"));
        assert_eq!(h["key"], format!("k{n}"));
    }
    assert!(
        agent.log().contains("is not a Flume Avro event"),
        "{}",
        agent.log()
    );
}
