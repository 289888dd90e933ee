//! The monitoring server as a Flume dashboard, a Prometheus scraper and a load balancer see it:
//! real HTTP to the port given with Flume's own flags, against an agent shipping to a real broker.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::http::{get, metrics_json, request};
use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

fn flume_flags(port: u16) -> Vec<String> {
    vec![
        "-Dflume.monitoring.type=http".to_string(),
        format!("-Dflume.monitoring.port={port}"),
    ]
}

fn start_monitored(config: &str, port: u16, extra: &[&str]) -> Agent {
    let mut args = flume_flags(port);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = Agent::start_with_args(config, "a1", &refs);
    agent.wait_for_log(
        DEADLINE,
        &format!("serving metrics on http://127.0.0.1:{port}"),
    );
    agent
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn metrics_json_has_flumes_keys_and_values_after_a_known_number_of_events() {
    let broker = Broker::start();
    broker.create_topic("m1", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append_lines(&log, (0..500).map(|i| format!("event-{i}")));
    let port = free_port();
    let mut agent = start_monitored(
        &exec_tail_to_kafka(&log, &broker.bootstrap(), "m1", &[]),
        port,
        &[],
    );
    agent.wait_until(DEADLINE, "the sink committed 500 events", || {
        metrics_json(port).is_some_and(|m| m["SINK.k1"]["EventDrainSuccessCount"] == "500")
    });
    let answer = get(&format!("http://127.0.0.1:{port}/metrics")).expect("answer");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json;charset=utf-8");
    let m: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(keys(&m), names(&["SOURCE.r1", "CHANNEL.c1", "SINK.k1"]));
    // Every attribute of Flume's MBean interfaces, nothing else, every value a string.
    assert_eq!(
        keys(&m["SOURCE.r1"]),
        names(&[
            "AppendAcceptedCount",
            "AppendBatchAcceptedCount",
            "AppendBatchReceivedCount",
            "AppendReceivedCount",
            "ChannelWriteFail",
            "EventAcceptedCount",
            "EventReadFail",
            "EventReceivedCount",
            "GenericProcessingFail",
            "OpenConnectionCount",
            "StartTime",
            "StopTime",
            "Type"
        ])
    );
    assert_eq!(
        keys(&m["CHANNEL.c1"]),
        names(&[
            "ChannelCapacity",
            "ChannelFillPercentage",
            "ChannelSize",
            "EventPutAttemptCount",
            "EventPutSuccessCount",
            "EventTakeAttemptCount",
            "EventTakeSuccessCount",
            "StartTime",
            "StopTime",
            "Type"
        ])
    );
    assert_eq!(
        keys(&m["SINK.k1"]),
        names(&[
            "BatchCompleteCount",
            "BatchEmptyCount",
            "BatchUnderflowCount",
            "ConnectionClosedCount",
            "ConnectionCreatedCount",
            "ConnectionFailedCount",
            "EventDrainAttemptCount",
            "EventDrainSuccessCount",
            "KafkaEventSendTimer",
            "RollbackCount",
            "StartTime",
            "StopTime",
            "Type"
        ])
    );
    for (component, attrs) in m.as_object().expect("object") {
        for (k, v) in attrs.as_object().expect("object") {
            assert!(v.is_string(), "{component}.{k} = {v} is not a string");
        }
    }
    let (src, ch, sink) = (&m["SOURCE.r1"], &m["CHANNEL.c1"], &m["SINK.k1"]);
    assert_eq!(src["Type"], "SOURCE");
    assert_eq!(src["EventReceivedCount"], "500");
    assert_eq!(src["EventAcceptedCount"], "500");
    assert_eq!(src["StopTime"], "0");
    assert_eq!(ch["Type"], "CHANNEL");
    assert_eq!(ch["ChannelCapacity"], "10000");
    assert_eq!(ch["ChannelSize"], "0");
    assert_eq!(ch["ChannelFillPercentage"], "0.0");
    assert_eq!(ch["EventPutSuccessCount"], "500");
    assert_eq!(ch["EventTakeSuccessCount"], "500");
    assert_eq!(sink["Type"], "SINK");
    assert_eq!(sink["EventDrainSuccessCount"], "500");
    assert_eq!(sink["RollbackCount"], "0");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    for c in [src, ch, sink] {
        let start: u64 = c["StartTime"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("number");
        assert!(
            start > now_ms - 120_000 && start <= now_ms,
            "StartTime {start}"
        );
    }
    // Flume's other answers.
    let root = get(&format!("http://127.0.0.1:{port}/")).expect("answer");
    assert_eq!(root.status, 200);
    assert!(
        root.body.contains("<a href = \"./metrics\"> here</a>"),
        "{}",
        root.body
    );
    let trace =
        request("TRACE", &format!("http://127.0.0.1:{port}/metrics"), None).expect("answer");
    assert_eq!(trace.status, 403);
    assert_eq!(
        get(&format!("http://127.0.0.1:{port}/nope"))
            .expect("answer")
            .status,
        404
    );
    // Exactly once is judged on the whole topic after the agent stopped: a snapshot taken while
    // it runs could miss a duplicate sent later.
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "m1", 1, 500, DEADLINE);
    assert_eq!(
        records.len(),
        500,
        "every event once, read to the end after the stop"
    );
}

#[test]
fn prometheus_text_parses_and_carries_counters_and_librdkafka_statistics() {
    let broker = Broker::start();
    broker.create_topic("p1", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append_lines(&log, (0..250).map(|i| format!("event-{i}")));
    let port = free_port();
    let mut agent = start_monitored(
        &exec_tail_to_kafka(&log, &broker.bootstrap(), "p1", &[]),
        port,
        &[],
    );
    let url = format!("http://127.0.0.1:{port}/metrics/prometheus");
    let scrape = || {
        let a = get(&url).expect("answer");
        assert_eq!(a.status, 200);
        assert!(
            a.content_type.starts_with("text/plain; version=0.0.4"),
            "{}",
            a.content_type
        );
        let lines = a.body.lines().map(|l| Ok(l.to_string()));
        (
            prometheus_parse::Scrape::parse(lines).expect("valid exposition text"),
            a.body,
        )
    };
    let value = |s: &prometheus_parse::Scrape, metric: &str, label: (&str, &str)| {
        s.samples
            .iter()
            .find(|x| x.metric == metric && x.labels.get(label.0) == Some(label.1))
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    // librdkafka's statistics come every 5 s once the producer is connected.
    agent.wait_until(
        DEADLINE,
        "250 delivered and broker statistics present",
        || {
            let (s, _) = scrape();
            value(&s, "rflume_sink_events_drained_total", ("sink", "k1")) == Some(250.0)
                && s.samples
                    .iter()
                    .any(|x| x.metric == "rflume_kafka_broker_rtt_seconds")
        },
    );
    let (s, body) = scrape();
    assert_eq!(
        value(&s, "rflume_source_events_accepted_total", ("source", "r1")),
        Some(250.0)
    );
    assert_eq!(
        value(&s, "rflume_channel_events_put_total", ("channel", "c1")),
        Some(250.0)
    );
    assert_eq!(
        value(&s, "rflume_channel_events", ("channel", "c1")),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "rflume_channel_capacity_events", ("channel", "c1")),
        Some(10000.0)
    );
    assert_eq!(value(&s, "rflume_component_up", ("name", "k1")), Some(1.0));
    assert_eq!(
        value(&s, "rflume_kafka_producer_queue_messages", ("sink", "k1")),
        Some(0.0)
    );
    assert!(s
        .samples
        .iter()
        .any(|x| x.metric == "rflume_kafka_broker_up"
            && x.labels
                .get("broker")
                .is_some_and(|b| b.contains(&broker.port().to_string()))));
    // Families are typed and documented; counters end in _total.
    for name in [
        "rflume_sink_events_drained_total",
        "rflume_channel_events",
        "rflume_kafka_requests_in_flight",
    ] {
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    for line in body
        .lines()
        .filter(|l| l.starts_with("# TYPE ") && l.ends_with(" counter"))
    {
        assert!(
            line.split(' ')
                .nth(2)
                .is_some_and(|n| n.ends_with("_total")),
            "{line}"
        );
    }
    // A Prometheus scraper asking /metrics for its format gets it there too.
    let negotiated = request(
        "GET",
        &format!("http://127.0.0.1:{port}/metrics"),
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .expect("answer");
    assert!(negotiated
        .body
        .contains("# TYPE rflume_channel_events gauge"));
    agent.stop_cleanly();
}

#[test]
fn health_turns_503_during_a_broker_outage_and_200_after() {
    let broker = Broker::start();
    broker.create_topic("h1", 1);
    let mut proxy = Proxy::start(&broker);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let port = free_port();
    let config = exec_tail_to_kafka(
        &log,
        &proxy.bootstrap(),
        "h1",
        &[
            ("sources.r1.batchTimeout", "100"),
            ("sinks.k1.kafka.producer.message.timeout.ms", "1500"),
            ("sinks.k1.kafka.producer.reconnect.backoff.ms", "100"),
            ("sinks.k1.kafka.producer.reconnect.backoff.max.ms", "500"),
        ],
    );
    let mut agent = start_monitored(&config, port, &["-Drflume.health.sinkFailingSeconds=1"]);
    let health = || get(&format!("http://127.0.0.1:{port}/health")).expect("answer");
    append_lines(&log, (0..100).map(|i| format!("before-{i}")));
    agent.wait_until(DEADLINE, "the first lines are delivered", || {
        metrics_json(port).is_some_and(|m| m["SINK.k1"]["EventDrainSuccessCount"] == "100")
    });
    let h = health();
    assert_eq!(h.status, 200, "{}", h.body);
    assert!(h.body.contains("\"status\":\"UP\""), "{}", h.body);

    proxy.kill();
    append_lines(&log, (0..100).map(|i| format!("during-{i}")));
    let mut last = String::new();
    agent.wait_until(DEADLINE, "/health answers 503 naming the sink", || {
        let h = health();
        last = h.body.clone();
        h.status == 503 && h.body.contains("sink k1 has been failing")
    });
    let json: serde_json::Value = serde_json::from_str(&last).expect("JSON");
    assert_eq!(json["status"], "DOWN");
    assert_eq!(json["components"]["SINK.k1"]["state"], "failing");

    proxy.restart();
    agent.wait_until(DEADLINE, "/health answers 200 again", || {
        health().status == 200
    });
    agent.wait_until(DEADLINE, "everything delivered", || {
        metrics_json(port).is_some_and(|m| m["CHANNEL.c1"]["ChannelSize"] == "0")
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "h1", 1, 200, DEADLINE);
    let distinct: BTreeSet<&str> = records.iter().map(|r| r.value_str()).collect();
    assert_eq!(
        distinct.len(),
        200,
        "every line delivered (duplicates allowed)"
    );
}

#[test]
fn health_reports_components_that_do_not_run() {
    // Sink k2 names a channel that does not exist: Flume drops it and runs the rest; so does
    // rflume, and /health says so.
    let port = free_port();
    let config = "a1.sources = r1\na1.channels = c1\na1.sinks = k1 k2\n\
        a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
        a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n\
        a1.sinks.k2.type = null\na1.sinks.k2.channel = c9\n";
    let mut agent = start_monitored(config, port, &[]);
    // The metrics server answers before the components start (it serves while they do): the
    // components are judged once the agent says it started.
    agent.wait_for_log(DEADLINE, "agent a1 started");
    let h = get(&format!("http://127.0.0.1:{port}/health")).expect("answer");
    assert_eq!(h.status, 503, "{}", h.body);
    let json: serde_json::Value = serde_json::from_str(&h.body).expect("JSON");
    let reasons = json["reasons"].to_string();
    assert!(reasons.contains("not running: sink k2"), "{reasons}");
    assert_eq!(json["components"]["SINK.k1"]["state"], "running");
    // Flume's JSON has no entry for a null sink (NullSink registers no counter group).
    let m = metrics_json(port).expect("metrics");
    assert_eq!(keys(&m), names(&["SOURCE.r1", "CHANNEL.c1"]));
    agent.stop_cleanly();
}

/// Under `--allow-unsupported` the parts rflume cannot run are named by /health too (503), so a
/// fleet's health checks see the pipeline is partial, not only the log's reminders.
#[test]
fn health_names_unsupported_components_started_with_the_opt_in() {
    let port = free_port();
    let config = "a1.sources = r1\na1.channels = c1 c2\na1.sinks = k1 k2\n\
        a1.sources.r1.type = seq\na1.sources.r1.channels = c1 c2\n\
        a1.channels.c1.type = memory\na1.channels.c2.type = memory\n\
        a1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n\
        a1.sinks.k2.type = irc\na1.sinks.k2.hostname = irc.example.com\na1.sinks.k2.channel = c2\n";
    let mut agent = start_monitored(config, port, &["--allow-unsupported"]);
    // The metrics server answers before the components start (it serves while they do): the
    // components are judged once the agent says it started.
    agent.wait_for_log(DEADLINE, "agent a1 started");
    let h = get(&format!("http://127.0.0.1:{port}/health")).expect("answer");
    assert_eq!(h.status, 503, "{}", h.body);
    let json: serde_json::Value = serde_json::from_str(&h.body).expect("JSON");
    let reasons = json["reasons"].to_string();
    assert!(reasons.contains("not running: sink k2"), "{reasons}");
    assert!(reasons.contains("channel c2"), "{reasons}");
    assert_eq!(json["components"]["SINK.k1"]["state"], "running");
    agent.stop_cleanly();
}

#[test]
fn secrets_never_reach_the_log_check_or_metrics() {
    let secret = "s3cr3t-Pa55word";
    let broker = Broker::start();
    broker.create_topic("s1", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{secret}\";"
    );
    let config = exec_tail_to_kafka(
        &log,
        &broker.bootstrap(),
        "s1",
        &[
            (
                "sinks.k1.kafka.producer.security.protocol",
                "SASL_PLAINTEXT",
            ),
            ("sinks.k1.kafka.producer.sasl.mechanism", "PLAIN"),
            ("sinks.k1.kafka.producer.sasl.jaas.config", &jaas),
            ("sinks.k1.kafka.producer.ssl.key.password", secret),
        ],
    );
    let port = free_port();
    let mut agent = start_monitored(&config, port, &["-Drflume.counters.logIntervalSeconds=1"]);
    agent.wait_for_log(DEADLINE, "SINK.k1: ");
    let json = get(&format!("http://127.0.0.1:{port}/metrics"))
        .expect("answer")
        .body;
    let prom = get(&format!("http://127.0.0.1:{port}/metrics/prometheus"))
        .expect("answer")
        .body;
    let health = get(&format!("http://127.0.0.1:{port}/health"))
        .expect("answer")
        .body;
    let check = run_rflume([
        "check".as_ref(),
        "--conf-file".as_ref(),
        agent.conf_path().as_os_str(),
        "--name".as_ref(),
        "a1".as_ref(),
    ]);
    let check_out = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check_out.contains("sasl.jaas.config"),
        "check shows the key: {check_out}"
    );
    agent.stop_cleanly();
    for (what, text) in [
        ("agent log", agent.log()),
        ("rflume check", check_out),
        ("/metrics", json),
        ("/metrics/prometheus", prom),
        ("/health", health),
    ] {
        assert!(!text.contains(secret), "{what} shows the secret:\n{text}");
    }
}

/// The number a counter of Flume's JSON holds (every value is a string).
fn count(m: &serde_json::Value, component: &str, name: &str) -> Option<u64> {
    m[component][name].as_str()?.parse().ok()
}

/// One sample of `/metrics/prometheus`, parsed by a Prometheus text-format parser.
fn prometheus_value(port: u16, metric: &str, label: (&str, &str)) -> Option<f64> {
    let page = get(&format!("http://127.0.0.1:{port}/metrics/prometheus"))?;
    let scrape = prometheus_parse::Scrape::parse(page.body.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition text");
    scrape
        .samples
        .iter()
        .find(|x| x.metric == metric && x.labels.get(label.0) == Some(label.1))
        .and_then(|x| match x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => Some(v),
            _ => None,
        })
}

/// Milliseconds since `start`: a timer summing the agent's sequential work can hold no more.
fn ms_since(start: std::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Topic `in` (300 records) → Kafka source → memory → Kafka sink → `out`: the source's object is
/// KafkaSourceCounterMBean's attributes exactly, its counts are the records read, the idle source
/// keeps counting empty polls, and the timers are milliseconds of the batches' time.
#[test]
fn a_kafka_source_reports_flumes_kafka_source_counters() {
    const RECORDS: usize = 300;
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    let producer = TestProducer::new(&broker.bootstrap(), &[]);
    for n in 0..RECORDS {
        producer.send_value("in", format!("record-{n}"));
    }
    producer.flush(DEADLINE);
    let bootstrap = broker.bootstrap();
    let config = format!(
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
a1.sources.r1.batchSize = 1000
a1.sources.r1.batchDurationMillis = 200
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = out
"
    );
    let port = free_port();
    let started = std::time::Instant::now();
    let mut agent = start_monitored(&config, port, &[]);
    agent.wait_until(
        DEADLINE,
        "every record delivered, then an empty poll",
        || {
            metrics_json(port).is_some_and(|m| {
                count(&m, "SINK.k1", "EventDrainSuccessCount") == Some(RECORDS as u64)
                    && count(&m, "SOURCE.r1", "KafkaEmptyCount").is_some_and(|n| n >= 1)
            })
        },
    );
    let m = metrics_json(port).expect("/metrics");
    assert_eq!(
        keys(&m["SOURCE.r1"]),
        names(&[
            "AppendAcceptedCount",
            "AppendBatchAcceptedCount",
            "AppendBatchReceivedCount",
            "AppendReceivedCount",
            "EventAcceptedCount",
            "EventReceivedCount",
            "KafkaCommitTimer",
            "KafkaEmptyCount",
            "KafkaEventGetTimer",
            "OpenConnectionCount",
            "StartTime",
            "StopTime",
            "Type"
        ]),
        "KafkaSourceCounterMBean's attributes: {m:#}"
    );
    let src = &m["SOURCE.r1"];
    for (k, v) in src.as_object().expect("object") {
        assert!(v.is_string(), "SOURCE.r1.{k} = {v} is not a string");
    }
    assert_eq!(src["EventReceivedCount"], RECORDS.to_string());
    assert_eq!(src["EventAcceptedCount"], RECORDS.to_string());
    let elapsed = ms_since(started);
    let get_ms = count(&m, "SOURCE.r1", "KafkaEventGetTimer").expect("a number");
    // Every batch with records ran until its poll came back empty or its 200 ms were up.
    assert!(
        (1..=elapsed).contains(&get_ms),
        "KafkaEventGetTimer {get_ms} ms, not within 1..={elapsed} ms of the agent's life"
    );
    let commit_ms = count(&m, "SOURCE.r1", "KafkaCommitTimer").expect("a number");
    assert!(commit_ms <= elapsed, "KafkaCommitTimer {commit_ms} ms");
    // An idle source keeps polling and counting, as Flume's.
    let empty = count(&m, "SOURCE.r1", "KafkaEmptyCount").expect("a number");
    agent.wait_until(DEADLINE, "more empty polls while idle", || {
        metrics_json(port)
            .and_then(|m| count(&m, "SOURCE.r1", "KafkaEmptyCount"))
            .is_some_and(|n| n > empty)
    });
    // The same counters in Prometheus' units.
    let polls = prometheus_value(
        port,
        "rflume_source_kafka_empty_polls_total",
        ("source", "r1"),
    )
    .expect("rflume_source_kafka_empty_polls_total");
    assert!(polls > empty as f64, "{polls}");
    let get_s = prometheus_value(
        port,
        "rflume_source_kafka_get_seconds_total",
        ("source", "r1"),
    )
    .expect("rflume_source_kafka_get_seconds_total");
    assert!(get_s >= get_ms as f64 / 1000.0 && get_s <= ms_since(started) as f64 / 1000.0);
    assert!(
        prometheus_value(
            port,
            "rflume_source_kafka_commit_seconds_total",
            ("source", "r1")
        )
        .is_some(),
        "rflume_source_kafka_commit_seconds_total"
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "out", 1, RECORDS, DEADLINE);
    assert_eq!(records.len(), RECORDS, "every record once in out");
}

/// seq (300 events) → Kafka channel → Kafka sink whose broker is down, then up: the channel's
/// object is KafkaChannelCounterMBean's attributes exactly; its takes rolled back while the sink
/// failed (RollbackCount, in events), the records were read from Kafka once (the rolled-back
/// events handed out again are no take attempts, as in Flume), and the send timer holds the
/// producer's 20 ms linger of every put.
#[test]
fn a_kafka_channel_reports_flumes_kafka_channel_counters() {
    const EVENTS: usize = 300;
    const LINGER_MS: u64 = 20;
    let broker = Broker::start();
    broker.create_topic("ch", 1);
    broker.create_topic("out", 1);
    let mut proxy = Proxy::start(&broker);
    proxy.kill();
    let (bootstrap, sink_bootstrap) = (broker.bootstrap(), proxy.bootstrap());
    let config = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sources.r1.totalEvents = {EVENTS}
a1.channels.c1.type = org.apache.flume.channel.kafka.KafkaChannel
a1.channels.c1.kafka.bootstrap.servers = {bootstrap}
a1.channels.c1.kafka.topic = ch
a1.channels.c1.kafka.consumer.group.id = g
a1.channels.c1.kafka.consumer.fetch.max.wait.ms = 10
a1.channels.c1.kafka.producer.linger.ms = {LINGER_MS}
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {sink_bootstrap}
a1.sinks.k1.kafka.topic = out
a1.sinks.k1.kafka.producer.message.timeout.ms = 2000
a1.sinks.k1.kafka.producer.reconnect.backoff.max.ms = 200
"
    );
    let port = free_port();
    let started = std::time::Instant::now();
    let mut agent = start_monitored(&config, port, &[]);
    agent.wait_until(DEADLINE, "every event put and a take rolled back", || {
        metrics_json(port).is_some_and(|m| {
            count(&m, "CHANNEL.c1", "EventPutSuccessCount") == Some(EVENTS as u64)
                && count(&m, "CHANNEL.c1", "RollbackCount").is_some_and(|n| n >= 1)
        })
    });
    proxy.restart();
    agent.wait_until(
        DEADLINE,
        "every event delivered once the broker is back",
        || {
            metrics_json(port).is_some_and(|m| {
                count(&m, "SINK.k1", "EventDrainSuccessCount") == Some(EVENTS as u64)
                    && count(&m, "CHANNEL.c1", "EventTakeSuccessCount") == Some(EVENTS as u64)
            })
        },
    );
    let m = metrics_json(port).expect("/metrics");
    assert_eq!(
        keys(&m["CHANNEL.c1"]),
        names(&[
            "ChannelCapacity",
            "ChannelFillPercentage",
            "ChannelSize",
            "EventPutAttemptCount",
            "EventPutSuccessCount",
            "EventTakeAttemptCount",
            "EventTakeSuccessCount",
            "KafkaCommitTimer",
            "KafkaEventGetTimer",
            "KafkaEventSendTimer",
            "RollbackCount",
            "StartTime",
            "StopTime",
            "Type"
        ]),
        "KafkaChannelCounterMBean's attributes: {m:#}"
    );
    let ch = &m["CHANNEL.c1"];
    for (k, v) in ch.as_object().expect("object") {
        assert!(v.is_string(), "CHANNEL.c1.{k} = {v} is not a string");
    }
    let n = EVENTS.to_string();
    assert_eq!(ch["EventPutAttemptCount"], n);
    assert_eq!(ch["EventPutSuccessCount"], n);
    assert_eq!(
        ch["EventTakeAttemptCount"], n,
        "records read from Kafka once"
    );
    assert_eq!(ch["EventTakeSuccessCount"], n);
    assert_eq!(ch["ChannelSize"], "0");
    // Flume's Kafka channel never sets a capacity: 0, and a fill of Double.MAX_VALUE.
    assert_eq!(ch["ChannelCapacity"], "0");
    assert_eq!(ch["ChannelFillPercentage"], "1.7976931348623157E308");
    let rolled_back = count(&m, "CHANNEL.c1", "RollbackCount").expect("a number");
    assert!(rolled_back >= 1, "RollbackCount {rolled_back}");
    assert!(
        count(&m, "SINK.k1", "RollbackCount").is_some_and(|n| n >= 1),
        "the sink rolled back too: {m:#}"
    );
    let elapsed = ms_since(started);
    let send_ms = count(&m, "CHANNEL.c1", "KafkaEventSendTimer").expect("a number");
    assert!(
        (LINGER_MS..=elapsed).contains(&send_ms),
        "KafkaEventSendTimer {send_ms} ms: every put waits the {LINGER_MS} ms linger, and the \
         puts are no longer than the agent's {elapsed} ms"
    );
    for timer in ["KafkaEventGetTimer", "KafkaCommitTimer"] {
        let ms = count(&m, "CHANNEL.c1", timer).expect("a number");
        assert!(ms <= elapsed, "{timer} {ms} ms");
    }
    assert_eq!(
        prometheus_value(
            port,
            "rflume_channel_events_rolled_back_total",
            ("channel", "c1")
        ),
        Some(rolled_back as f64)
    );
    let send_s = prometheus_value(
        port,
        "rflume_channel_kafka_send_seconds_total",
        ("channel", "c1"),
    )
    .expect("rflume_channel_kafka_send_seconds_total");
    assert!(
        (send_s - send_ms as f64 / 1000.0).abs() < 0.0005,
        "{send_s}"
    );
    for family in [
        "rflume_channel_kafka_get_seconds_total",
        "rflume_channel_kafka_commit_seconds_total",
    ] {
        assert!(
            prometheus_value(port, family, ("channel", "c1")).is_some(),
            "{family}"
        );
    }
    agent.stop_cleanly();
}

/// Flume's sources count `AppendBatchReceivedCount`/`AppendBatchAcceptedCount` themselves, and
/// only some do: TAILDIR both, per put; seq only the accepted ones, and none with batchSize 1;
/// exec never. A netcatudp source, whose Flume class keeps a plain CounterGroup and no MBean, is
/// not in the document at all.
#[test]
fn batch_counters_are_counted_only_by_the_sources_whose_flume_class_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exec_log = dir.path().join("exec.log");
    append_lines(&exec_log, (0..20).map(|i| format!("exec-{i}")));
    let tail_log = dir.path().join("tail.log");
    append_lines(&tail_log, (0..30).map(|i| format!("tail-{i}")));
    let (port, udp_port) = (free_port(), free_port());
    let config = format!(
        "a1.sources = r1 r2 r3 r4 r5
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {exec_log}
a1.sources.r1.channels = c1
a1.sources.r2.type = TAILDIR
a1.sources.r2.filegroups = f1
a1.sources.r2.filegroups.f1 = {tail_log}
a1.sources.r2.positionFile = {pos}
a1.sources.r2.batchSize = 10
a1.sources.r2.channels = c1
a1.sources.r3.type = seq
a1.sources.r3.batchSize = 10
a1.sources.r3.totalEvents = 50
a1.sources.r3.channels = c1
a1.sources.r4.type = seq
a1.sources.r4.totalEvents = 7
a1.sources.r4.channels = c1
a1.sources.r5.type = netcatudp
a1.sources.r5.bind = 127.0.0.1
a1.sources.r5.port = {udp_port}
a1.sources.r5.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
",
        exec_log = exec_log.display(),
        tail_log = tail_log.display(),
        pos = dir.path().join("taildir_position.json").display(),
    );
    let mut agent = start_monitored(&config, port, &[]);
    let mut m = serde_json::Value::Null;
    agent.wait_until(DEADLINE, "every source stored all its events", || {
        m = metrics_json(port).unwrap_or_default();
        [
            ("SOURCE.r1", 20),
            ("SOURCE.r2", 30),
            ("SOURCE.r3", 50),
            ("SOURCE.r4", 7),
        ]
        .iter()
        .all(|(c, n)| count(&m, c, "EventAcceptedCount") == Some(*n))
    });
    let batches = |c: &str| {
        (
            count(&m, c, "AppendBatchReceivedCount").expect("received"),
            count(&m, c, "AppendBatchAcceptedCount").expect("accepted"),
        )
    };
    assert_eq!(batches("SOURCE.r1"), (0, 0), "exec: {}", m["SOURCE.r1"]);
    let (received, accepted) = batches("SOURCE.r2");
    assert!(
        received >= 3 && accepted == received,
        "TAILDIR: 30 lines in batches of at most 10: {}",
        m["SOURCE.r2"]
    );
    assert_eq!(
        batches("SOURCE.r3"),
        (0, 5),
        "seq, batchSize 10: {}",
        m["SOURCE.r3"]
    );
    assert_eq!(
        batches("SOURCE.r4"),
        (0, 0),
        "seq, batchSize 1: {}",
        m["SOURCE.r4"]
    );
    assert!(m.get("SOURCE.r5").is_none(), "netcatudp: {m}");
    agent.stop_cleanly();
}
