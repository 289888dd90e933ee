//! Flume's `/metrics` JSON against real Flume (issue 22): the same pipeline, run by Flume 1.9,
//! Flume 1.11 and rflume with Flume's monitoring flags, reports the same components, the same
//! counter names and the same kind of value (every value a string; numbers where Flume has
//! numbers), and the same event counts once the input is delivered. Components whose Flume class
//! registers no counters (the null and logger sinks here) must be absent from both. Dashboards and scrapers
//! written for Flume read rflume unchanged.
//!
//! The Kafka source reads what the Kafka sink wrote, into a Kafka channel on Flume 1.11 (whose
//! channel jar the test peers carry, `flume-kafka-channel`) and a memory channel on Flume 1.9
//! (both versions' KafkaChannelCounterMBean declare the same getters, so 1.11 stands for both).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::http::get;
use common::jvm::{unique, FlumeAgent, FlumeVersion, KafkaCluster, KafkaVersion, Peers};
use common::*;
use serde_json::Value;

const LINES: usize = 200;
const SEQ_EVENTS: usize = 50;
const DELIVERY: Duration = Duration::from_secs(120);
/// Flume's Kafka channel jar, which the Flume sets do not carry (`tests/peers/flume-kafka-channel`).
const CHANNEL_SET: &str = "flume-kafka-channel";

/// TAILDIR → memory → Kafka, exec → file channel → null, seq → memory → logger, and the Kafka
/// sink's topic → Kafka source → Kafka channel (or memory, `kafka_channel = false`) → null: the
/// component types the seed and the corpus use most, with Kafka's and the file channel's own
/// counters.
fn config(dir: &Path, bootstrap: &str, topic: &str, kafka_channel: bool) -> String {
    let logs = dir.join("logs");
    let c4 = if kafka_channel {
        format!(
            "a1.channels.c4.type = org.apache.flume.channel.kafka.KafkaChannel\n\
             a1.channels.c4.kafka.bootstrap.servers = {bootstrap}\n\
             a1.channels.c4.kafka.topic = {topic}-ch\n\
             a1.channels.c4.kafka.consumer.group.id = {topic}-ch\n"
        )
    } else {
        // Room for the Kafka source's batch of 1000: Flume removes a source whose batchSize is
        // larger than its channel's transactionCapacity.
        "a1.channels.c4.type = memory\n\
         a1.channels.c4.capacity = 10000\n\
         a1.channels.c4.transactionCapacity = 1000\n"
            .to_string()
    };
    format!(
        "a1.sources = r1 r2 r3 r4\n\
         a1.channels = c1 c2 c3 c4\n\
         a1.sinks = k1 k2 k3 k4\n\
         a1.sources.r1.type = TAILDIR\n\
         a1.sources.r1.channels = c1\n\
         a1.sources.r1.positionFile = {dir}/taildir_position.json\n\
         a1.sources.r1.filegroups = f1\n\
         a1.sources.r1.filegroups.f1 = {logs}/tailed\\.log\n\
         a1.sources.r2.type = exec\n\
         a1.sources.r2.channels = c2\n\
         a1.sources.r2.command = tail -F -c +0 {logs}/exec.log\n\
         a1.sources.r3.type = seq\n\
         a1.sources.r3.channels = c3\n\
         a1.sources.r3.totalEvents = {SEQ_EVENTS}\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 10000\n\
         a1.channels.c1.transactionCapacity = 100\n\
         a1.channels.c2.type = file\n\
         a1.channels.c2.checkpointDir = {dir}/checkpoint\n\
         a1.channels.c2.dataDirs = {dir}/data\n\
         a1.channels.c3.type = memory\n\
         a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}\n\
         a1.sinks.k1.kafka.topic = {topic}\n\
         a1.sinks.k2.type = null\n\
         a1.sinks.k2.channel = c2\n\
         a1.sinks.k3.type = logger\n\
         a1.sinks.k3.channel = c3\n\
         a1.sources.r4.type = org.apache.flume.source.kafka.KafkaSource\n\
         a1.sources.r4.channels = c4\n\
         a1.sources.r4.kafka.bootstrap.servers = {bootstrap}\n\
         a1.sources.r4.kafka.topics = {topic}\n\
         a1.sources.r4.kafka.consumer.group.id = {topic}-src\n\
         a1.sources.r4.kafka.consumer.auto.offset.reset = earliest\n\
         {c4}\
         a1.sinks.k4.type = null\n\
         a1.sinks.k4.channel = c4\n",
        dir = dir.display(),
        logs = logs.display(),
    )
}

fn monitoring_flags(port: u16) -> Vec<String> {
    vec![
        "-Dflume.monitoring.type=http".to_string(),
        format!("-Dflume.monitoring.port={port}"),
    ]
}

fn counter(m: &Value, component: &str, key: &str) -> Option<u64> {
    m[component][key].as_str()?.parse().ok()
}

/// Every input delivered and every channel empty, as the agent's own metrics say.
fn delivered(m: &Value) -> bool {
    // The null and logger sinks register no counters in Flume: their channels tell.
    counter(m, "SINK.k1", "EventDrainSuccessCount") == Some(LINES as u64)
        && counter(m, "CHANNEL.c2", "EventTakeSuccessCount") == Some(LINES as u64)
        && counter(m, "CHANNEL.c3", "EventTakeSuccessCount") == Some(SEQ_EVENTS as u64)
        && counter(m, "CHANNEL.c4", "EventTakeSuccessCount") == Some(LINES as u64)
        // The Kafka source has read to the end of its topic and polled once more.
        && counter(m, "SOURCE.r4", "KafkaEmptyCount").is_some_and(|n| n >= 1)
        && ["CHANNEL.c1", "CHANNEL.c2", "CHANNEL.c3", "CHANNEL.c4"]
            .iter()
            .all(|c| counter(m, c, "ChannelSize") == Some(0))
}

/// One side's metrics once its pipeline has delivered everything, parsed and as sent.
fn run_side(
    side: &str,
    cluster: &KafkaCluster,
    kafka_channel: bool,
    start: impl FnOnce(&str, u16) -> Box<dyn FnMut()>,
) -> (Value, String) {
    let work = tempfile::Builder::new()
        .prefix(&format!("rflume-metrics-{side}-"))
        .tempdir()
        .unwrap();
    let logs = work.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let lines: Vec<String> = (0..LINES).map(|i| format!("{side}-{i:04}")).collect();
    append_lines(logs.join("tailed.log"), &lines);
    append_lines(logs.join("exec.log"), &lines);
    let port = free_port();
    let topic = format!("metrics-{side}-{}", unique());
    cluster.create_topic(&topic, 1);
    cluster.create_topic(&format!("{topic}-ch"), 1);
    let mut stop = start(
        &config(work.path(), &cluster.bootstrap(), &topic, kafka_channel),
        port,
    );
    let (mut last, mut raw) = (Value::Null, String::new());
    let ok = poll_until(DELIVERY, || {
        let Some(answer) = get(&format!("http://127.0.0.1:{port}/metrics")) else {
            return false;
        };
        if let Ok(m) = serde_json::from_str(&answer.body) {
            (last, raw) = (m, answer.body);
        }
        delivered(&last)
    });
    stop();
    assert!(
        ok,
        "{side}: the pipeline did not deliver everything in {DELIVERY:?}; last /metrics: {last:#}"
    );
    (last, raw)
}

/// The names in the document in the order they were written (components and counters).
fn names_in_order(raw: &str) -> Vec<&str> {
    raw.split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0])
        .collect()
}

fn keys(m: &Value) -> BTreeMap<String, BTreeSet<String>> {
    m.as_object()
        .unwrap()
        .iter()
        .map(|(component, counters)| {
            let names = counters
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            (component.clone(), names)
        })
        .collect()
}

/// "number", "string" or what JSON type it is, for one counter's value.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(s) if s.parse::<f64>().is_ok() => "number as a string",
        Value::String(_) => "string",
        Value::Number(_) => "bare number",
        _ => "other",
    }
}

fn compare(version: FlumeVersion, test: &str) {
    // Only 1.11's Kafka channel jar is among the peers.
    let kafka_channel = version == FlumeVersion::V1_11_0;
    let mut sets = vec![version.set(), "zookeeper-3.4.14", "kafka-2.3.1"];
    let extra_sets: &[&str] = if kafka_channel { &[CHANNEL_SET] } else { &[] };
    sets.extend(extra_sets);
    let Some(peers) = Peers::get(test, &sets) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let (flume, flume_raw) = run_side("flume", &cluster, kafka_channel, |conf, port| {
        let mut agent = FlumeAgent::start_with_sets(
            &peers,
            version,
            conf,
            "a1",
            &monitoring_flags(port),
            extra_sets,
        );
        Box::new(move || {
            agent.stop(Duration::from_secs(30));
        })
    });
    let (rflume, rflume_raw) = run_side("rflume", &cluster, kafka_channel, |conf, port| {
        let flags = monitoring_flags(port);
        let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
        let mut agent = Agent::start_with_args(conf, "a1", &refs);
        Box::new(move || agent.stop_cleanly())
    });

    let (fk, rk) = (keys(&flume), keys(&rflume));
    assert_eq!(
        fk.keys().collect::<Vec<_>>(),
        rk.keys().collect::<Vec<_>>(),
        "{test}: the components /metrics lists"
    );
    let mut problems = Vec::new();
    for (component, names) in &fk {
        let ours = &rk[component];
        let missing: Vec<_> = names.difference(ours).collect();
        let extra: Vec<_> = ours.difference(names).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{component}: missing {missing:?}, not in Flume {extra:?}"
            ));
        }
        for name in names.intersection(ours) {
            let (f, r) = (&flume[component][name], &rflume[component][name]);
            if kind(f) != kind(r) {
                problems.push(format!(
                    "{component}.{name}: Flume {f} ({}), rflume {r} ({})",
                    kind(f),
                    kind(r)
                ));
            }
        }
    }
    // Counts that depend only on the input, not on timing, must be equal.
    let mut exact = vec![
        ("SOURCE.r1", "EventReceivedCount"),
        ("SOURCE.r1", "EventAcceptedCount"),
        ("SOURCE.r2", "EventReceivedCount"),
        ("SOURCE.r2", "EventAcceptedCount"),
        ("SOURCE.r3", "EventAcceptedCount"),
        ("CHANNEL.c1", "EventPutSuccessCount"),
        ("CHANNEL.c1", "EventTakeSuccessCount"),
        ("CHANNEL.c1", "ChannelCapacity"),
        ("CHANNEL.c2", "EventPutSuccessCount"),
        ("CHANNEL.c2", "ChannelCapacity"),
        ("CHANNEL.c3", "ChannelCapacity"),
        ("CHANNEL.c2", "EventTakeSuccessCount"),
        ("CHANNEL.c3", "EventTakeSuccessCount"),
        ("SINK.k1", "EventDrainSuccessCount"),
        ("SOURCE.r4", "EventReceivedCount"),
        ("SOURCE.r4", "EventAcceptedCount"),
        ("CHANNEL.c4", "EventPutAttemptCount"),
        ("CHANNEL.c4", "EventPutSuccessCount"),
        ("CHANNEL.c4", "EventTakeSuccessCount"),
        ("CHANNEL.c4", "ChannelCapacity"),
        ("CHANNEL.c4", "ChannelFillPercentage"),
    ];
    if kafka_channel {
        // Flume's Kafka channel counts a take attempt per record read from Kafka (a memory
        // channel's count depends on how often its sink polled), and nothing here rolls back.
        exact.push(("CHANNEL.c4", "EventTakeAttemptCount"));
        exact.push(("CHANNEL.c4", "RollbackCount"));
    }
    for (component, name) in exact {
        let (f, r) = (&flume[component][name], &rflume[component][name]);
        if f != r {
            problems.push(format!("{component}.{name}: Flume {f}, rflume {r}"));
        }
    }
    for component in fk.keys() {
        let (f, r) = (&flume[component]["Type"], &rflume[component]["Type"]);
        if f != r {
            problems.push(format!("{component}.Type: Flume {f}, rflume {r}"));
        }
    }
    // The order of names is not compared: Flume writes `HashMap`s filled in the order the
    // JVM's MBean introspector lists attributes (`Class.getMethods()`, which differs between JVM
    // builds), so names sharing a hash bucket come out in a JVM-dependent order (README,
    // "Differences"). JSON readers do not see order; the names that follow are printed when
    // the test is run with --nocapture, for whoever wants to look.
    eprintln!(
        "{test}: names in order\n  Flume:  {:?}\n  rflume: {:?}",
        names_in_order(&flume_raw),
        names_in_order(&rflume_raw)
    );
    assert!(
        problems.is_empty(),
        "{test}: /metrics differs from Flume's:\n  {}\nFlume: {flume:#}\nrflume: {rflume:#}",
        problems.join("\n  ")
    );
}

#[test]
fn flume_1_9_and_rflume_report_the_same_metrics() {
    compare(FlumeVersion::V1_9_0, "metrics against flume 1.9");
}

#[test]
fn flume_1_11_and_rflume_report_the_same_metrics() {
    compare(FlumeVersion::V1_11_0, "metrics against flume 1.11");
}
