//! Routing end to end: a multiplexing selector fed by a header that an interceptor set, and sink
//! groups (failover across two brokers, load balancing across two topics), against real brokers,
//! a real tailed file and the real `rflume` binary.
//!
//! Delivery is judged after the agent stopped cleanly, on the whole content of every topic.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

fn count_by_value(records: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        *m.entry(r.value_str().to_string()).or_insert(0) += 1;
    }
    m
}

fn exactly_once(records: &[Record], expected: &[String], what: &str) {
    let counts = count_by_value(records);
    let wanted: BTreeMap<String, usize> = expected.iter().map(|l| (l.clone(), 1)).collect();
    assert_eq!(
        counts, wanted,
        "{what}: every expected line exactly once, nothing else"
    );
}

/// A TAILDIR source on `log` whose position file is `pos`, written every 300 ms.
fn taildir(log: &Path, pos: &Path) -> String {
    format!(
        "a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {}
a1.sources.r1.positionFile = {}
a1.sources.r1.writePosInterval = 300
",
        log.display().to_string().replace('\\', "\\\\"),
        pos.display()
    )
}

/// A Kafka sink `k` on `channel` sending to `topic` at `bootstrap`.
fn kafka_sink(k: &str, channel: &str, bootstrap: &str, topic: &str) -> String {
    format!(
        "a1.sinks.{k}.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.{k}.channel = {channel}
a1.sinks.{k}.kafka.bootstrap.servers = {bootstrap}
a1.sinks.{k}.kafka.topic = {topic}
a1.sinks.{k}.flumeBatchSize = 50
"
    )
}

/// The position TAILDIR saved for `log` in Flume's position file, if any.
fn saved_position(pos: &Path, log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(pos).ok()?;
    let entries: serde_json::Value = serde_json::from_str(&text).ok()?;
    entries.as_array()?.iter().find_map(|e| {
        (e.get("file")?.as_str()? == log.to_str()?).then(|| e.get("pos")?.as_u64())?
    })
}

/// regex_extractor sets `level` from each line, a multiplexing selector sends ERROR and WARN to
/// one topic and the rest (default) to another, WARN to both; regex_filter drops DEBUG lines
/// before any of it. Each line lands exactly where its level says, exactly once, and the file's
/// saved position moves past the filtered lines — also when a whole batch was filtered out.
#[test]
fn multiplexing_by_an_extracted_header_into_two_topics() {
    let broker = Broker::start();
    broker.create_topic("errors", 1);
    broker.create_topic("other", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    let pos = dir.path().join("taildir_position.json");
    let levels = ["INFO", "ERROR", "DEBUG", "WARN", "TRACE"];
    let lines: Vec<String> = (0..200)
        .map(|i| format!("{} event {i}", levels[i % levels.len()]))
        .collect();
    append_lines(&log, &lines);
    let config = format!(
        "a1.sources = r1
a1.channels = c_err c_all
a1.sinks = k_err k_all
{source}a1.sources.r1.channels = c_err c_all
a1.sources.r1.interceptors = drop_debug level
a1.sources.r1.interceptors.drop_debug.type = regex_filter
a1.sources.r1.interceptors.drop_debug.regex = ^DEBUG
a1.sources.r1.interceptors.drop_debug.excludeEvents = true
a1.sources.r1.interceptors.level.type = regex_extractor
a1.sources.r1.interceptors.level.regex = ^(\\\\w+) event
a1.sources.r1.interceptors.level.serializers = s1
a1.sources.r1.interceptors.level.serializers.s1.name = level
a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = level
a1.sources.r1.selector.mapping.ERROR = c_err
a1.sources.r1.selector.mapping.WARN = c_err c_all
a1.sources.r1.selector.default = c_all
a1.channels.c_err.type = memory
a1.channels.c_all.type = memory
{k_err}{k_all}",
        source = taildir(&log, &pos),
        k_err = kafka_sink("k_err", "c_err", &broker.bootstrap(), "errors"),
        k_all = kafka_sink("k_all", "c_all", &broker.bootstrap(), "other"),
    );
    let mut agent = Agent::start(&config, "a1");
    let size = || std::fs::metadata(&log).expect("log").len();
    agent.wait_until(DEADLINE, "the first lines' position is saved", || {
        saved_position(&pos, &log) == Some(size())
    });
    // A batch that the filter drops entirely: its position must still be saved.
    let debug: Vec<String> = (0..20).map(|i| format!("DEBUG late {i}")).collect();
    append_lines(&log, &debug);
    agent.wait_until(
        DEADLINE,
        "the position moves past a filtered-out batch",
        || saved_position(&pos, &log) == Some(size()),
    );
    agent.stop_cleanly();

    let of = |levels: &[&str]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| levels.iter().any(|lv| l.starts_with(&format!("{lv} "))))
            .cloned()
            .collect()
    };
    let errors = consume_all(&broker.bootstrap(), "errors", 1, 80, DEADLINE);
    exactly_once(&errors, &of(&["ERROR", "WARN"]), "topic errors");
    let other = consume_all(&broker.bootstrap(), "other", 1, 120, DEADLINE);
    exactly_once(&other, &of(&["INFO", "WARN", "TRACE"]), "topic other");
    let source = agent.stop_totals("SOURCE.r1");
    assert_eq!(source["EventReceivedCount"], 220);
    assert_eq!(source["Unrouted"], 0, "a default catches every other level");
}

/// Without a default, events whose value has no mapping are dropped as in Flume — but counted
/// and logged.
#[test]
fn unmapped_values_without_a_default_are_counted_and_logged() {
    let broker = Broker::start();
    broker.create_topic("errors", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    let pos = dir.path().join("taildir_position.json");
    let lines: Vec<String> = (0..30)
        .map(|i| format!("{} event {i}", if i % 3 == 0 { "ERROR" } else { "INFO" }))
        .collect();
    append_lines(&log, &lines);
    let config = format!(
        "a1.sources = r1
a1.channels = c_err
a1.sinks = k_err
{source}a1.sources.r1.channels = c_err
a1.sources.r1.interceptors = level
a1.sources.r1.interceptors.level.type = regex_extractor
a1.sources.r1.interceptors.level.regex = ^(\\\\w+)
a1.sources.r1.interceptors.level.serializers = s1
a1.sources.r1.interceptors.level.serializers.s1.name = level
a1.sources.r1.selector.type = multiplexing
a1.sources.r1.selector.header = level
a1.sources.r1.selector.mapping.ERROR = c_err
a1.channels.c_err.type = memory
{k_err}",
        source = taildir(&log, &pos),
        k_err = kafka_sink("k_err", "c_err", &broker.bootstrap(), "errors"),
    );
    let port = free_port();
    let mut agent = Agent::start_with_args(
        &config,
        "a1",
        &[
            "-Dflume.monitoring.type=http",
            &format!("-Dflume.monitoring.port={port}"),
        ],
    );
    agent.wait_for_log(
        DEADLINE,
        &format!("serving metrics on http://127.0.0.1:{port}"),
    );
    agent.wait_until(
        DEADLINE,
        "every line was read and its position saved",
        || saved_position(&pos, &log) == std::fs::metadata(&log).ok().map(|m| m.len()),
    );
    // The drop count is where a dashboard looks, not only in the log: Flume's JSON (rflume's own
    // attribute, joined to the source's object) and Prometheus.
    let json = common::http::metrics_json(port).expect("/metrics answers");
    assert_eq!(json["SOURCE.r1"]["Unrouted"], "20", "{json}");
    let page = common::http::get(&format!("http://127.0.0.1:{port}/metrics/prometheus"))
        .expect("/metrics/prometheus answers");
    assert!(
        page.body
            .contains("\nrflume_source_events_unrouted_total{source=\"r1\"} 20\n"),
        "{}",
        page.body
    );
    agent.stop_cleanly();
    let errors = consume_all(&broker.bootstrap(), "errors", 1, 10, DEADLINE);
    let expected: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("ERROR"))
        .cloned()
        .collect();
    exactly_once(&errors, &expected, "topic errors");
    assert_eq!(agent.stop_totals("SOURCE.r1")["Unrouted"], 20);
    assert!(
        agent.log().contains("dropped since the last report: the multiplexing selector has no mapping for their header value (e.g. 'INFO')"),
        "{}",
        agent.log()
    );
}

/// Failover across two brokers: k1 (priority 10) sends through a proxy to broker 1, k2 (priority
/// 5) straight to broker 2. Killing the proxy makes k1's records time out; the group fails over
/// to k2. Once the proxy is back and k1's penalty is over, k1 takes over again. No line is lost.
#[test]
fn failover_switches_to_the_second_broker_and_back() {
    let broker1 = Broker::start();
    let broker2 = Broker::start();
    broker1.create_topic("events", 1);
    broker2.create_topic("events", 1);
    let mut proxy = Proxy::start(&broker1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    let pos = dir.path().join("taildir_position.json");
    append_lines(&log, Vec::<String>::new());
    let fast_failure = "kafka.producer.message.timeout.ms = 2000
kafka.producer.reconnect.backoff.ms = 100
kafka.producer.reconnect.backoff.max.ms = 500";
    let tune = |k: &str| -> String {
        fast_failure
            .lines()
            .map(|l| format!("a1.sinks.{k}.{l}\n"))
            .collect()
    };
    let config = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1 k2
a1.sinkgroups = g1
{source}a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 100
{k1}{t1}{k2}{t2}a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.priority.k1 = 10
a1.sinkgroups.g1.processor.priority.k2 = 5
a1.sinkgroups.g1.processor.maxpenalty = 4000
",
        source = taildir(&log, &pos),
        k1 = kafka_sink("k1", "c1", &proxy.bootstrap(), "events"),
        t1 = tune("k1"),
        k2 = kafka_sink("k2", "c1", &broker2.bootstrap(), "events"),
        t2 = tune("k2"),
    );
    let mut agent = Agent::start(&config, "a1");
    let topic = |b: &Broker| -> HashSet<String> {
        consume_all(&b.bootstrap(), "events", 1, 0, Duration::from_secs(5))
            .iter()
            .map(|r| r.value_str().to_string())
            .collect()
    };
    let mut appended: Vec<String> = Vec::new();
    let append = |phase: &str, n: usize, appended: &mut Vec<String>| {
        let start = appended.len();
        let batch: Vec<String> = (start..start + n)
            .map(|i| format!("{phase}-{i:05}"))
            .collect();
        append_lines(&log, &batch);
        appended.extend(batch.iter().cloned());
        batch
    };

    let before = append("before", 100, &mut appended);
    agent.wait_until(DEADLINE, "k1 delivers to broker 1", || {
        let got = topic(&broker1);
        before.iter().all(|l| got.contains(l))
    });
    assert!(topic(&broker2).is_empty(), "k2 is idle while k1 works");

    proxy.kill();
    let during = append("during", 100, &mut appended);
    agent.wait_until(DEADLINE, "k2 takes over on broker 2", || {
        let got = topic(&broker2);
        during.iter().all(|l| got.contains(l))
    });
    assert!(
        agent
            .log()
            .contains("Sink k1 failed and has been sent to failover list"),
        "{}",
        agent.log()
    );

    proxy.restart();
    // Lines keep coming; k1's penalty ends and it takes over again.
    let mut after_restart: Vec<String> = Vec::new();
    agent.wait_until(DEADLINE, "k1 delivers to broker 1 again", || {
        after_restart.extend(append("after", 5, &mut appended));
        let got = topic(&broker1);
        after_restart.iter().any(|l| got.contains(l))
    });
    let last = append("last", 50, &mut appended);
    agent.wait_until(DEADLINE, "the last lines are delivered", || {
        let (a, b) = (topic(&broker1), topic(&broker2));
        last.iter().all(|l| a.contains(l) || b.contains(l))
    });
    agent.stop_cleanly();

    let (a, b) = (topic(&broker1), topic(&broker2));
    let missing: Vec<&String> = appended
        .iter()
        .filter(|l| !a.contains(*l) && !b.contains(*l))
        .collect();
    assert!(missing.is_empty(), "lost lines: {missing:?}");
    assert!(
        last.iter().any(|l| a.contains(l)),
        "after its return k1 (priority 10) is the active sink again"
    );
}

/// Load balancing (round robin) over two Kafka sinks: both take batches, every line is
/// delivered exactly once across the two topics.
#[test]
fn load_balance_round_robin_spreads_batches_over_both_sinks() {
    let broker = Broker::start();
    broker.create_topic("left", 1);
    broker.create_topic("right", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("app.log");
    let pos = dir.path().join("taildir_position.json");
    let config = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1 k2
a1.sinkgroups = g1
{source}a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 50
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 100
{k1}{k2}a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = load_balance
a1.sinkgroups.g1.processor.backoff = true
a1.sinkgroups.g1.processor.selector = round_robin
",
        source = taildir(&log, &pos),
        k1 = kafka_sink("k1", "c1", &broker.bootstrap(), "left"),
        k2 = kafka_sink("k2", "c1", &broker.bootstrap(), "right"),
    );
    let mut agent = Agent::start(&config, "a1");
    let mut lines = Vec::new();
    // Several appends, so that the channel holds several batches over time.
    for round in 0..10 {
        let batch: Vec<String> = (0..100).map(|i| format!("lb-{round}-{i:03}")).collect();
        append_lines(&log, &batch);
        lines.extend(batch);
    }
    agent.wait_until(DEADLINE, "every line is delivered", || {
        saved_position(&pos, &log) == std::fs::metadata(&log).ok().map(|m| m.len())
    });
    agent.stop_cleanly();
    let left = consume_all(&broker.bootstrap(), "left", 1, 1, DEADLINE);
    let right = consume_all(&broker.bootstrap(), "right", 1, 1, DEADLINE);
    assert!(
        !left.is_empty() && !right.is_empty(),
        "both sinks took batches: {} / {}",
        left.len(),
        right.len()
    );
    let both: Vec<Record> = left.into_iter().chain(right).collect();
    exactly_once(&both, &lines, "left + right");
}
