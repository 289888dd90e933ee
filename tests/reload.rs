//! Hot reload as configuration management does it: the file is rewritten (or SIGHUP sent) while
//! lines stream, and nothing may be lost; a broken edit must leave the running pipeline alone.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::http::{get, metrics_json};
use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// Appends numbered lines to a file in small bursts until stopped.
struct Stream {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Stream {
    fn start(path: PathBuf) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let (s, c) = (stop.clone(), count.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let from = c.load(Ordering::Relaxed);
                append_lines(&path, (from..from + 20).map(|i| format!("line-{i:06}")));
                c.store(from + 20, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Stream {
            stop,
            count,
            thread: Some(thread),
        }
    }
    fn written(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("appender thread");
        }
        self.written()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn channel_size(port: u16) -> usize {
    metrics_json(port)
        .and_then(|m| {
            m["CHANNEL.c1"]["ChannelSize"]
                .as_str()
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn changing_a_sink_setting_while_lines_stream_loses_nothing_and_keeps_the_channel() {
    let broker = Broker::start();
    broker.create_topic("r1", 1);
    let mut proxy = Proxy::start(&broker);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let port = free_port();
    let settings = [
        ("sources.r1.batchTimeout", "100"),
        ("sinks.k1.kafka.producer.message.timeout.ms", "1500"),
        ("sinks.k1.kafka.producer.reconnect.backoff.max.ms", "500"),
    ];
    let through_proxy = exec_tail_to_kafka(&log, &proxy.bootstrap(), "r1", &settings);
    let port_flag = format!("-Dflume.monitoring.port={port}");
    let mut agent = Agent::start_with_args(
        &through_proxy,
        "a1",
        &["-Dflume.monitoring.type=http", &port_flag],
    );
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    let stream = Stream::start(log.clone());
    agent.wait_until(DEADLINE, "lines flow", || {
        metrics_json(port).is_some_and(|m| m["SINK.k1"]["EventDrainSuccessCount"] != "0")
    });
    let tail_before = agent.descendant_pids();
    // The broker becomes unreachable: events pile up in the memory channel.
    proxy.kill();
    agent.wait_until(DEADLINE, "the channel holds events", || {
        channel_size(port) > 200
    });
    // Configuration management points the sink straight at the broker.
    let direct = exec_tail_to_kafka(&log, &broker.bootstrap(), "r1", &settings);
    std::fs::write(agent.conf_path(), direct).expect("rewrite the config");
    agent.wait_for_log(DEADLINE, "configuration reloaded: restarted [sink k1]");
    let reloaded = agent.log();
    let line = reloaded
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .expect("reload line");
    assert!(
        line.contains("channel c1") && line.contains("source r1"),
        "kept: {line}"
    );
    agent.wait_until(
        DEADLINE,
        "the held events drain through the new sink",
        || channel_size(port) < 50,
    );
    let written = stream.stop();
    assert_eq!(
        agent.descendant_pids(),
        tail_before,
        "the unchanged exec source kept its tail -F"
    );
    // The exec source's guarantee starts once a line is read: wait until it read them all.
    agent.wait_until(
        DEADLINE,
        "the source read every line and the channel is empty",
        || {
            metrics_json(port).is_some_and(|m| {
                m["SOURCE.r1"]["EventAcceptedCount"] == written.to_string().as_str()
                    && m["CHANNEL.c1"]["ChannelSize"] == "0"
            })
        },
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "r1", 1, written, DEADLINE);
    let seen: BTreeSet<&str> = records.iter().map(|r| r.value_str()).collect();
    let missing: Vec<String> = (0..written)
        .map(|i| format!("line-{i:06}"))
        .filter(|l| !seen.contains(l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lines lost, first {:?}",
        missing.len(),
        missing.first()
    );
}

#[test]
fn an_invalid_edit_is_rejected_and_the_old_pipeline_keeps_running() {
    let broker = Broker::start();
    broker.create_topic("r2", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let port = free_port();
    let good = exec_tail_to_kafka(
        &log,
        &broker.bootstrap(),
        "r2",
        &[("sources.r1.batchTimeout", "100")],
    );
    let port_flag = format!("-Dflume.monitoring.port={port}");
    let mut agent =
        Agent::start_with_args(&good, "a1", &["-Dflume.monitoring.type=http", &port_flag]);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    append_lines(&log, (0..50).map(|i| format!("first-{i}")));
    agent.wait_until(DEADLINE, "first lines delivered", || {
        metrics_json(port).is_some_and(|m| m["SINK.k1"]["EventDrainSuccessCount"] == "50")
    });
    // A typo in the sink's type: Flume would drop the sink and run the source into a channel
    // nobody reads. rflume keeps what runs.
    let broken = good.replace(
        "org.apache.flume.sink.kafka.KafkaSink",
        "org.apache.flume.sink.kafka.KafkaSnik",
    );
    std::fs::write(agent.conf_path(), &broken).expect("write");
    agent.signal(libc::SIGHUP);
    agent.wait_for_log(
        DEADLINE,
        "configuration reload rejected, the running configuration is kept",
    );
    let health = get(&format!("http://127.0.0.1:{port}/health")).expect("answer");
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(
        health.body.contains("reload was rejected"),
        "{}",
        health.body
    );
    append_lines(&log, (0..50).map(|i| format!("second-{i}")));
    agent.wait_until(DEADLINE, "the old pipeline still delivers", || {
        metrics_json(port).is_some_and(|m| m["SINK.k1"]["EventDrainSuccessCount"] == "100")
    });
    // Putting the file back clears the report.
    std::fs::write(agent.conf_path(), &good).expect("write");
    agent.wait_until(DEADLINE, "/health is 200 again", || {
        get(&format!("http://127.0.0.1:{port}/health")).is_some_and(|h| h.status == 200)
    });
    agent.stop_cleanly();
    assert_eq!(
        consume_all(&broker.bootstrap(), "r2", 1, 100, DEADLINE).len(),
        100
    );
}

#[test]
fn no_reload_conf_keeps_the_configuration_on_sighup_and_edits() {
    let config = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
        a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
        a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n";
    let mut agent = Agent::start_with_args(config, "a1", &["--no-reload-conf"]);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    std::fs::write(
        agent.conf_path(),
        config.replace("type = null", "type = logger"),
    )
    .expect("write");
    agent.signal(libc::SIGHUP);
    agent.wait_for_log(DEADLINE, "--no-reload-conf keeps the configuration");
    assert!(
        !agent.log().contains("Reloading configuration"),
        "{}",
        agent.log()
    );
    agent.stop_cleanly();
}
