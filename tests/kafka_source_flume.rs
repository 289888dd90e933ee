//! Interop with real Apache Flume (the JVM tier): a Flume 1.9.0 / 1.11.0 Kafka sink with
//! `useFlumeEventFormat = true` writes Avro `AvroFlumeEvent`s with headers (seq source, static
//! interceptors) into a topic on Kafka 2.3.1; rflume's Kafka source with the same flag reads
//! them, and rflume's Kafka sink writes them on (also as Avro events). Compared exactly: every
//! body, every header Flume wrote with its value, and the headers Flume's Kafka source would add
//! (`topic`, `partition`, `offset`; `key` from the record key; `timestamp` from the record).

mod common;

use std::time::Duration;

use common::jvm::{FlumeAgent, FlumeVersion, KafkaCluster, KafkaVersion, Peers};
use common::*;

const DEADLINE: Duration = Duration::from_secs(180);
const EVENTS: usize = 200;

fn flume_writer(bootstrap: &str, topic: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = {EVENTS}
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = i1 i2
a1.sources.r1.interceptors.i1.type = static
a1.sources.r1.interceptors.i1.key = app
a1.sources.r1.interceptors.i1.value = web-1
a1.sources.r1.interceptors.i2.type = static
a1.sources.r1.interceptors.i2.key = key
a1.sources.r1.interceptors.i2.value = the-key
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.useFlumeEventFormat = true
"
    )
}

fn rflume_reader(bootstrap: &str, input: &str, out: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.channels = c1
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {input}
a1.sources.r1.kafka.consumer.group.id = {input}-rflume
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.useFlumeEventFormat = true
a1.sources.r1.batchSize = 100
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {out}
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.useFlumeEventFormat = true
"
    )
}

fn flume_avro_events_read_by_rflume(version: FlumeVersion) {
    let test = format!("Flume {version:?} Kafka sink → rflume Kafka source");
    let Some(peers) = Peers::get(
        &test,
        &[KafkaVersion::V2_3_1.sets(), &[version.set()]].concat(),
    ) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let input = format!("flume-avro-{}", common::jvm::unique());
    let out = format!("{input}-out");
    cluster.create_topic(&input, 1);
    cluster.create_topic(&out, 1);

    let flume = FlumeAgent::start(
        &peers,
        version,
        &flume_writer(&cluster.bootstrap(), &input),
        "a1",
    );
    flume.wait_until(DEADLINE, "Flume wrote every event", || {
        consume_all(&cluster.bootstrap(), &input, 1, 0, DEADLINE).len() >= EVENTS
    });
    drop(flume);
    let written = consume_all(&cluster.bootstrap(), &input, 1, EVENTS, DEADLINE);
    assert_eq!(written.len(), EVENTS);

    let mut agent = Agent::start(&rflume_reader(&cluster.bootstrap(), &input, &out), "a1");
    agent.wait_until(DEADLINE, "rflume passed every event on", || {
        consume_all(&cluster.bootstrap(), &out, 1, 0, DEADLINE).len() >= EVENTS
    });
    agent.stop_cleanly();
    let passed = consume_all(&cluster.bootstrap(), &out, 1, EVENTS, DEADLINE);
    assert_eq!(passed.len(), EVENTS, "{}", agent.log());

    for (w, p) in written.iter().zip(&passed) {
        let from_flume = FlumeEvent::decode(&w.value);
        let through_rflume = FlumeEvent::decode(&p.value);
        assert_eq!(through_rflume.body, from_flume.body, "offset {}", w.offset);
        let (fh, rh) = (from_flume.header_map(), through_rflume.header_map());
        for (k, v) in &fh {
            assert_eq!(
                rh.get(k),
                Some(v),
                "header {k} of offset {}: {rh:?}",
                w.offset
            );
        }
        assert_eq!(fh["app"], "web-1");
        assert_eq!(rh["topic"], input);
        assert_eq!(rh["partition"], w.partition.to_string());
        assert_eq!(rh["offset"], w.offset.to_string());
        assert_eq!(
            w.key_str(),
            Some("the-key"),
            "Flume keys the record by the key header"
        );
        assert_eq!(rh["key"], "the-key");
        assert_eq!(
            rh["timestamp"],
            w.timestamp.map(|t| t.to_string()).unwrap_or_default()
        );
        // Nothing else: the source adds exactly Flume's headers.
        assert_eq!(rh.len(), fh.len() + 4, "{rh:?} vs {fh:?}");
    }
}

#[test]
fn flume_1_9_kafka_sink_avro_events_are_read_by_rflumes_kafka_source() {
    flume_avro_events_read_by_rflume(FlumeVersion::V1_9_0);
}

#[test]
fn flume_1_11_kafka_sink_avro_events_are_read_by_rflumes_kafka_source() {
    flume_avro_events_read_by_rflume(FlumeVersion::V1_11_0);
}
