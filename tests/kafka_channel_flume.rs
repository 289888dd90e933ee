//! Interop with real Apache Flume 1.11.0's Kafka channel (the JVM tier), on Kafka 2.3.1: the
//! channel's topic is the interface, so each side must read what the other wrote.
//!
//! * Flume writes: a source-only Flume agent (seq source, static interceptors → Kafka channel,
//!   `parseAsFlumeEvent = true`); a sink-only rflume agent (Kafka channel on the same topic →
//!   Kafka sink with `useFlumeEventFormat = true`) passes every event on with its headers.
//! * rflume writes: the same shapes the other way round, Flume's Kafka sink writing the events it
//!   took from its Kafka channel.
//!
//! Compared exactly: every body once, and every header the writer set, with its value.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::jvm::{FlumeAgent, FlumeVersion, KafkaCluster, KafkaVersion, Peers};
use common::*;

const DEADLINE: Duration = Duration::from_secs(180);
const EVENTS: usize = 200;
/// Flume's Kafka channel jar, which the Flume sets do not carry (`tests/peers/flume-kafka-channel`).
const CHANNEL_SET: &str = "flume-kafka-channel";

/// seq → static interceptors (`app`, `key`) → Kafka channel on `topic`: no sink.
fn writer(bootstrap: &str, topic: &str, seq_type: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sources.r1.type = {seq_type}
a1.sources.r1.totalEvents = {EVENTS}
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = i1 i2
a1.sources.r1.interceptors.i1.type = static
a1.sources.r1.interceptors.i1.key = app
a1.sources.r1.interceptors.i1.value = web-1
a1.sources.r1.interceptors.i2.type = static
a1.sources.r1.interceptors.i2.key = key
a1.sources.r1.interceptors.i2.value = the-key
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = {topic}
"
    )
}

/// Kafka channel on `topic` (group `group`) → Kafka sink writing Avro events to `out`: no source.
fn reader(bootstrap: &str, topic: &str, group: &str, out: &str) -> String {
    format!(
        "a1.channels = c1
a1.sinks = k1
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = {topic}
a1.channels.c1.kafka.consumer.group.id = {group}
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {out}
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.useFlumeEventFormat = true
"
    )
}

/// The channel topic holds `EVENTS` Avro events with the writer's headers, and `out` the same
/// events once each, headers kept.
fn assert_passed_on(bootstrap: &str, topic: &str, out: &str) {
    let written = consume_all(bootstrap, topic, 1, EVENTS, DEADLINE);
    assert_eq!(written.len(), EVENTS, "the channel topic");
    let passed = consume_all(bootstrap, out, 1, EVENTS, DEADLINE);
    assert_eq!(passed.len(), EVENTS, "passed on");
    let mut bodies = BTreeSet::new();
    for (w, p) in written.iter().zip(&passed) {
        let (we, pe) = (FlumeEvent::decode(&w.value), FlumeEvent::decode(&p.value));
        assert_eq!(
            w.key_str(),
            Some("the-key"),
            "the key header is the record key"
        );
        let (wh, ph) = (we.header_map(), pe.header_map());
        assert_eq!(wh["app"], "web-1", "{wh:?}");
        for (k, v) in &wh {
            assert_eq!(ph.get(k), Some(v), "header {k}: {ph:?}");
        }
        assert_eq!(ph["key"], "the-key");
        bodies.insert(pe.body_str().to_string());
    }
    let expected: BTreeSet<String> = (0..EVENTS).map(|n| n.to_string()).collect();
    assert_eq!(bodies, expected, "every seq body once");
}

#[test]
fn flume_kafka_channel_writes_and_rflumes_reads_and_the_reverse() {
    let test = "Flume 1.11 Kafka channel <-> rflume Kafka channel";
    let version = FlumeVersion::V1_11_0;
    let Some(peers) = Peers::get(
        test,
        &[KafkaVersion::V2_3_1.sets(), &[version.set(), CHANNEL_SET]].concat(),
    ) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let bootstrap = cluster.bootstrap();
    let base = format!("kchan-{}", common::jvm::unique());

    // Flume writes, rflume reads.
    let (topic, out) = (format!("{base}-f"), format!("{base}-f-out"));
    cluster.create_topic(&topic, 1);
    cluster.create_topic(&out, 1);
    let mut flume = FlumeAgent::start_with_sets(
        &peers,
        version,
        &writer(&bootstrap, &topic, "seq"),
        "a1",
        &[],
        &[CHANNEL_SET],
    );
    flume.wait_until(DEADLINE, "Flume's channel holds every event", || {
        consume_all(&bootstrap, &topic, 1, 0, DEADLINE).len() >= EVENTS
    });
    flume.stop(Duration::from_secs(20));
    let mut agent = Agent::start(&reader(&bootstrap, &topic, "rflume", &out), "a1");
    agent.wait_until(DEADLINE, "rflume passed every event on", || {
        consume_all(&bootstrap, &out, 1, 0, DEADLINE).len() >= EVENTS
    });
    agent.stop_cleanly();
    assert_passed_on(&bootstrap, &topic, &out);

    // rflume writes, Flume reads.
    let (topic, out) = (format!("{base}-r"), format!("{base}-r-out"));
    cluster.create_topic(&topic, 1);
    cluster.create_topic(&out, 1);
    let mut agent = Agent::start(&writer(&bootstrap, &topic, "seq"), "a1");
    agent.wait_until(DEADLINE, "rflume's channel holds every event", || {
        consume_all(&bootstrap, &topic, 1, 0, DEADLINE).len() >= EVENTS
    });
    agent.stop_cleanly();
    let mut flume = FlumeAgent::start_with_sets(
        &peers,
        version,
        &reader(&bootstrap, &topic, "flume", &out),
        "a1",
        &[],
        &[CHANNEL_SET],
    );
    flume.wait_until(DEADLINE, "Flume passed every event on", || {
        consume_all(&bootstrap, &out, 1, 0, DEADLINE).len() >= EVENTS
    });
    flume.stop(Duration::from_secs(20));
    assert_passed_on(&bootstrap, &topic, &out);
}
