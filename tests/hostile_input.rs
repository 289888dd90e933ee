//! Hostile input end to end: lines far beyond any sane length, lines exactly at and one byte over
//! `rflume.maxLineLength`, a file of random bytes, and records Kafka will never accept. Each case
//! behaves as the README documents, nothing is held in memory unbounded, the pipeline keeps
//! flowing — the lines written after the hostile ones arrive — and what was delivered is judged
//! after the agent stopped, byte for byte.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use tempfile::TempDir;

use common::*;

const TOPIC: &str = "hostile";
const DELIVERY: Duration = Duration::from_secs(90);

/// A test's files: the tailed directory, the position file, the dead-letter directory.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn logs(&self) -> PathBuf {
        let p = self.dir.path().join("logs");
        fs::create_dir_all(&p).expect("logs dir");
        p
    }
    fn log(&self, name: &str) -> PathBuf {
        self.logs().join(name)
    }
    fn pos(&self) -> PathBuf {
        self.dir.path().join("state").join("taildir_position.json")
    }
    fn dead_letter(&self) -> PathBuf {
        self.dir.path().join("dead-letter")
    }
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(bytes).expect("append");
    f.flush().expect("flush");
}

/// TAILDIR on `logs/app.log` → memory → Kafka, its dead letters in the test's directory, with
/// `source` and `sink` settings added.
fn taildir_conf(
    files: &Files,
    bootstrap: &str,
    source: &[(&str, &str)],
    sink: &[(&str, &str)],
) -> String {
    let dl = files.dead_letter().display().to_string();
    let mut settings: Vec<(String, String)> =
        vec![("sinks.k1.rflume.deadLetter.directory".into(), dl)];
    settings.extend(
        source
            .iter()
            .map(|(k, v)| (format!("sources.r1.{k}"), v.to_string())),
    );
    settings.extend(
        sink.iter()
            .map(|(k, v)| (format!("sinks.k1.{k}"), v.to_string())),
    );
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    taildir_to_kafka(&files.logs(), &files.pos(), bootstrap, TOPIC, &settings)
}

/// Starts `conf` as agent `a1` with Flume's metrics server on a free port.
fn start_monitored(conf: &str) -> (Agent, u16) {
    let port = free_port();
    let flags = [
        "-Dflume.monitoring.type=http".to_string(),
        format!("-Dflume.monitoring.port={port}"),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut agent = Agent::start_with_args(conf, "a1", &flags);
    agent.wait_for_log(
        DELIVERY,
        &format!("serving metrics on http://127.0.0.1:{port}"),
    );
    (agent, port)
}

/// What the metrics server says of sink k1 and source r1: (`/metrics` JSON, the Prometheus page).
fn metrics(port: u16) -> (serde_json::Value, String) {
    let json = http::metrics_json(port).expect("/metrics answers");
    let prometheus = http::get(&format!("http://127.0.0.1:{port}/metrics/prometheus"))
        .expect("/metrics/prometheus answers")
        .body;
    (json, prometheus)
}

/// Every record of the dead-letter directory, in file and line order: (topic, error, body).
fn dead_letters(dir: &Path) -> Vec<(String, String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in fs::read_to_string(&f)
            .expect("read dead-letter file")
            .lines()
        {
            let v: serde_json::Value =
                serde_json::from_str(line).expect("one JSON object per line");
            let body = base64::engine::general_purpose::STANDARD
                .decode(v["body"].as_str().expect("body"))
                .expect("base64 body");
            assert_eq!(v["size"].as_u64(), Some(body.len() as u64));
            out.push((
                v["topic"].as_str().unwrap_or_default().to_string(),
                v["error"].as_str().unwrap_or_default().to_string(),
                body,
            ));
        }
    }
    out
}

/// A deterministic pseudo-random byte stream (xorshift64*): the same "random file" every run.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// TAILDIR's framing: lines end at `\n`, one `\r` before it is removed.
fn taildir_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.iter().position(|b| *b == b'\n') {
        let mut line = &rest[..i];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        out.push(line.to_vec());
        rest = &rest[i + 1..];
    }
    out
}

/// A 10 MB line with the defaults (`rflume.maxLineLength` = 1 MiB, `split`): TAILDIR ships it in
/// 1 MiB pieces without ever holding it whole; Kafka (librdkafka's `message.max.bytes`, 1 MB)
/// refuses the nine full pieces, which go to the dead-letter file, and takes the last one. The
/// line is all there, byte for byte, and the lines around it arrive. Flume would hold the line
/// in memory, fail the batch on every retry and never deliver the lines after it.
#[test]
fn a_ten_megabyte_line_is_split_diverted_and_the_lines_after_it_arrive() {
    let files = Files::new();
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let app = files.log("app.log");
    let huge: Vec<u8> = (0..10_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    append_lines(&app, ["before"]);
    let (mut agent, port) = start_monitored(&taildir_conf(&files, &broker.bootstrap(), &[], &[]));
    let mut content = huge.clone();
    content.extend_from_slice(b"\nafter 1\nafter 2\n");
    append_bytes(&app, &content);

    let read = || consume_all(&broker.bootstrap(), TOPIC, 1, 4, Duration::from_secs(5));
    agent.wait_until(DELIVERY, "the lines after the huge one arrive", || {
        read().iter().any(|r| r.value == b"after 2")
    });
    // The diversion shows in both renderings of the metrics while the agent runs (counted at
    // the take's commit, which may follow the records' visibility on the topic by a moment).
    agent.wait_until(DELIVERY, "/metrics counts the nine diverted pieces", || {
        metrics(port).0["SINK.k1"]["DeadLetteredCount"] == "9"
    });
    let (json, prometheus) = metrics(port);
    assert_eq!(json["SINK.k1"]["DeadLetteredCount"], "9", "{json}");
    assert_eq!(json["SOURCE.r1"]["LongLinesSplit"], "1", "{json}");
    assert!(
        prometheus.contains("rflume_sink_events_dead_lettered_total{sink=\"k1\"} 9\n")
            && prometheus.contains("rflume_source_long_lines_split_total{source=\"r1\"} 1\n"),
        "{prometheus}"
    );
    agent.stop_cleanly();

    let max = 1024 * 1024;
    let records = read();
    let delivered: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
    let last_piece = &huge[9 * max..];
    assert_eq!(
        delivered.len(),
        4,
        "before, the last piece, after 1, after 2"
    );
    assert_eq!(delivered[0], b"before");
    assert_eq!(delivered[1], last_piece, "the piece Kafka accepts");
    assert_eq!(&delivered[2..], [&b"after 1"[..], &b"after 2"[..]]);

    let dead = dead_letters(&files.dead_letter());
    assert_eq!(dead.len(), 9, "the nine full pieces");
    let mut whole = Vec::new();
    for (topic, error, body) in &dead {
        assert_eq!(topic, TOPIC);
        assert_eq!(error, "MessageSizeTooLarge");
        assert_eq!(body.len(), max);
        whole.extend_from_slice(body);
    }
    whole.extend_from_slice(last_piece);
    assert!(
        whole == huge,
        "dead-letter pieces + the delivered piece are the line"
    );

    let log = agent.log();
    assert!(
        log.contains("a line of 10000000 bytes is longer than rflume.maxLineLength = 1048576: shipped as 10 events"),
        "{log}"
    );
    assert_eq!(
        log.matches("Kafka refused an event of 1048576 bytes for topic hostile for good")
            .count(),
        9,
        "each diverted piece logged once"
    );
    let sink = agent.stop_totals("SINK.k1");
    assert_eq!(sink["DeadLetteredCount"], 9);
    assert_eq!(sink["EventDrainSuccessCount"], 4);
    assert_eq!(sink["RollbackCount"], 0, "nothing was retried");
    assert_eq!(agent.stop_totals("SOURCE.r1")["LongLinesSplit"], 1);
}

/// `rflume.maxLineLength = 100`: a line of exactly 100 bytes is one event; one of 101 bytes is
/// two (`split`) or its first 100 bytes (`truncate`, the last byte counted and logged as
/// dropped); the exec source (a `tail -F`) and TAILDIR frame alike; the lines after arrive.
#[test]
fn lines_exactly_at_and_one_over_the_limit() {
    let at = "a".repeat(100);
    let over = format!("{}Z", "b".repeat(100));
    for (policy, expected) in [
        (
            "split",
            vec![
                at.clone(),
                "b".repeat(100),
                "Z".to_string(),
                "after".to_string(),
            ],
        ),
        (
            "truncate",
            vec![at.clone(), "b".repeat(100), "after".to_string()],
        ),
    ] {
        let files = Files::new();
        let broker = Broker::start();
        broker.create_topic(TOPIC, 1);
        broker.create_topic("exec", 1);
        let app = files.log("app.log");
        append_lines(&app, [&at, &over, &"after".to_string()]);
        let limit = [
            ("rflume.maxLineLength", "100"),
            ("rflume.longLines", policy),
        ];
        let mut conf = taildir_conf(&files, &broker.bootstrap(), &limit, &[]);
        // A second pipeline: exec `tail -F` of the same file into topic `exec`.
        conf = conf
            .replace("a1.sources = r1", "a1.sources = r1 r2")
            .replace("a1.channels = c1", "a1.channels = c1 c2")
            .replace("a1.sinks = k1", "a1.sinks = k1 k2");
        conf.push_str(&format!(
            "a1.sources.r2.type = exec
a1.sources.r2.command = tail -n +1 -F {app}
a1.sources.r2.channels = c2
a1.sources.r2.rflume.maxLineLength = 100
a1.sources.r2.rflume.longLines = {policy}
a1.channels.c2.type = memory
a1.sinks.k2.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k2.channel = c2
a1.sinks.k2.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k2.kafka.topic = exec
",
            app = app.display(),
            bootstrap = broker.bootstrap()
        ));
        let mut agent = Agent::start(&conf, "a1");
        for topic in [TOPIC, "exec"] {
            agent.wait_until(DELIVERY, &format!("{policy}: 'after' in {topic}"), || {
                consume_all(&broker.bootstrap(), topic, 1, 1, Duration::from_secs(5))
                    .iter()
                    .any(|r| r.value == b"after")
            });
        }
        agent.stop_cleanly();
        for topic in [TOPIC, "exec"] {
            let records = consume_all(
                &broker.bootstrap(),
                topic,
                1,
                expected.len(),
                Duration::from_secs(10),
            );
            assert_eq!(values(&records), expected, "{policy} {topic}");
        }
        let log = agent.log();
        let want = if policy == "split" {
            "a line of 101 bytes is longer than rflume.maxLineLength = 100: shipped as 2 events"
        } else {
            "a line of 101 bytes is longer than rflume.maxLineLength = 100: its first 100 bytes were shipped and 1 bytes dropped"
        };
        assert_eq!(log.matches(want).count(), 2, "once per source: {log}");
        assert!(
            !log.contains("a line of 100 bytes"),
            "the line at the limit is not long"
        );
        let counter = if policy == "split" {
            "LongLinesSplit"
        } else {
            "LongLinesTruncated"
        };
        assert_eq!(agent.stop_totals("SOURCE.r1")[counter], 1);
        assert_eq!(agent.stop_totals("SOURCE.r2")[counter], 1);
    }
}

/// A file of random bytes (NUL, invalid UTF-8, lone `\r`, long and empty lines): TAILDIR ships
/// exactly its lines as Flume's `TailFile` frames them (bytes untouched), and the line written
/// after it arrives.
#[test]
fn a_file_of_random_bytes_is_shipped_as_its_lines() {
    let files = Files::new();
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let app = files.log("app.log");
    let mut data = random_bytes(512 * 1024, 0x5eed_1234_abcd_0017);
    data.extend_from_slice(b"\n");
    append_bytes(&app, &data);
    let mut agent = Agent::start(&taildir_conf(&files, &broker.bootstrap(), &[], &[]), "a1");
    append_lines(&app, ["after the random bytes"]);
    let mut expected = taildir_lines(&data);
    expected.push(b"after the random bytes".to_vec());
    assert!(expected.len() > 1000, "random data has many newlines");
    let read = || {
        consume_all(
            &broker.bootstrap(),
            TOPIC,
            1,
            expected.len(),
            Duration::from_secs(10),
        )
    };
    agent.wait_until(DELIVERY, "the line after the random bytes arrives", || {
        read()
            .last()
            .is_some_and(|r| r.value == b"after the random bytes")
    });
    agent.stop_cleanly();
    let got: Vec<Vec<u8>> = read().into_iter().map(|r| r.value).collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "every line byte for byte, in order");
    assert_eq!(agent.stop_totals("SINK.k1")["DeadLetteredCount"], 0);
}

/// `rflume.onRejected = drop`: a record Kafka refuses is dropped — counted and logged with its
/// size and topic — and the pipeline flows on. (The default, `deadLetter`, is shown above.)
#[test]
fn drop_policy_drops_loudly_and_the_pipeline_flows() {
    let files = Files::new();
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let app = files.log("app.log");
    append_lines(&app, ["small 1", &"x".repeat(5000), "small 2"]);
    let conf = taildir_conf(
        &files,
        &broker.bootstrap(),
        &[],
        &[
            ("rflume.onRejected", "drop"),
            ("kafka.producer.max.request.size", "2000"),
        ],
    );
    let (mut agent, port) = start_monitored(&conf);
    agent.wait_until(DELIVERY, "small 2 arrives", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(5))
            .iter()
            .any(|r| r.value == b"small 2")
    });
    agent.wait_until(DELIVERY, "/metrics counts the dropped event", || {
        metrics(port).0["SINK.k1"]["RejectedDroppedCount"] == "1"
    });
    let (json, prometheus) = metrics(port);
    assert!(
        json["SINK.k1"].get("DeadLetteredCount").is_none(),
        "absent while 0: {json}"
    );
    assert!(
        prometheus.contains("rflume_sink_events_rejected_dropped_total{sink=\"k1\"} 1\n")
            && prometheus.contains("rflume_sink_events_dead_lettered_total{sink=\"k1\"} 0\n"),
        "{prometheus}"
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(10));
    assert_eq!(values(&records), ["small 1", "small 2"]);
    let log = agent.log();
    assert!(
        log.contains(
            "Kafka refused an event of 5000 bytes for topic hostile for good (MessageSizeTooLarge"
        ) && log.contains("DROPPED (rflume.onRejected = drop)"),
        "{log}"
    );
    assert_eq!(agent.stop_totals("SINK.k1")["RejectedDroppedCount"], 1);
    assert!(
        !files.dead_letter().exists(),
        "no dead-letter file with drop"
    );
}
