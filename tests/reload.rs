//! Hot reload as configuration management does it: the file is rewritten (or SIGHUP sent) while
//! lines stream, and nothing may be lost; a broken edit must leave the running pipeline alone.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::http::{get, metrics_json, ConfServer};
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

/// `(source, channel, sink, exec command, file_roll directory)` per pipe, all in agent a1: each
/// exec source feeds a memory channel (capacity 10000) that a file_roll sink writes into its
/// directory, one file for the sink's whole life (`rollInterval = 0`). A file_roll sink whose
/// directory does not exist yet fails each batch and keeps the events in the channel: a sink that
/// the test holds back and releases with `mkdir`.
fn exec_pipes(pipes: &[(&str, &str, &str, &str, &Path)]) -> String {
    let list = |pick: usize| {
        pipes
            .iter()
            .map(|p| [p.0, p.1, p.2][pick])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut text = format!(
        "a1.sources = {}\na1.channels = {}\na1.sinks = {}\n",
        list(0),
        list(1),
        list(2)
    );
    for (source, channel, sink, command, out) in pipes {
        text.push_str(&format!(
            "a1.sources.{source}.type = exec
a1.sources.{source}.command = {command}
a1.sources.{source}.channels = {channel}
a1.sources.{source}.batchTimeout = 100
a1.channels.{channel}.type = memory
a1.channels.{channel}.capacity = 10000
a1.channels.{channel}.transactionCapacity = 1000
a1.sinks.{sink}.type = file_roll
a1.sinks.{sink}.channel = {channel}
a1.sinks.{sink}.sink.directory = {out}
a1.sinks.{sink}.sink.rollInterval = 0
",
            out = out.display()
        ));
    }
    text
}

/// Every line of every file a file_roll sink wrote into `dir` (none while it does not exist).
fn rolled_lines(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `component`'s counter `key` from `/metrics` (`None` while it is not there).
fn metric(port: u16, component: &str, key: &str) -> Option<String> {
    metrics_json(port)?[component][key]
        .as_str()
        .map(str::to_string)
}

/// The agent's "configuration reloaded: …" line, the `nth` one (from 1).
fn reload_line(agent: &Agent, nth: usize) -> String {
    agent
        .log()
        .lines()
        .filter(|l| l.contains("configuration reloaded:"))
        .nth(nth - 1)
        .unwrap_or_else(|| panic!("no reload line #{nth}\n{}", agent.log()))
        .to_string()
}

fn times_logged(agent: &Agent, needle: &str) -> usize {
    agent.log().matches(needle).count()
}

fn numbered_lines(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i:06}")).collect()
}

/// Releases the held-back file_roll sink of channel c1 (creates its directory), waits until it
/// emptied the channel, and checks that it wrote each of `prefix-000001` … `prefix-N` of every
/// `(prefix, N)` exactly once.
#[track_caller]
fn release_and_check(agent: &Agent, port: u16, out: &Path, numbered: &[(&str, usize)]) {
    let expected: Vec<String> = numbered
        .iter()
        .flat_map(|(prefix, n)| numbered_lines(prefix, *n))
        .collect();
    std::fs::create_dir(out).expect("mkdir");
    agent.wait_until(DEADLINE, "the sink delivers everything", || {
        rolled_lines(out).len() >= expected.len()
            && metric(port, "CHANNEL.c1", "ChannelSize").as_deref() == Some("0")
    });
    assert_exactly_once(&rolled_lines(out), &expected);
}

/// `lines` hold each of `expected` exactly once and nothing else.
#[track_caller]
fn assert_exactly_once(lines: &[String], expected: &[String]) {
    let mut got = lines.to_vec();
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    if got != want {
        let seen: BTreeSet<&String> = got.iter().collect();
        let missing: Vec<&String> = want.iter().filter(|l| !seen.contains(l)).collect();
        panic!(
            "{} lines delivered, {} expected; {} missing (first {:?}), {} duplicates or strangers",
            got.len(),
            want.len(),
            missing.len(),
            missing.first(),
            got.len() + missing.len() - want.len()
        );
    }
}

/// Flume's poll path: the configuration comes from an HTTP server (`--conf-uri`, nothing to
/// watch with inotify, no SIGHUP), and `-i 1` makes the agent fetch it every second. Fetches of
/// the same text reload nothing; a changed text is applied: the changed source restarts with its
/// new command, the unchanged sink keeps writing its file.
#[test]
fn a_configuration_served_over_http_is_polled_and_a_change_is_applied() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let server = ConfServer::start(&exec_pipes(&[(
        "r1",
        "c1",
        "k1",
        "echo served-first",
        &out,
    )]));
    let dir = tempfile::Builder::new()
        .prefix("rflume-agent-")
        .tempdir()
        .expect("tempdir");
    let mut cmd = std::process::Command::new(rflume_bin());
    cmd.args(["agent", "--name", "a1", "--conf-uri"])
        .arg(server.uri())
        .args(["--poll-interval", "1", "-Dflume.root.logger=INFO,console"]);
    let mut agent = Agent::spawn(dir, cmd);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    assert!(
        agent.log().contains("by polling every 1s"),
        "{}",
        agent.log()
    );
    agent.wait_until(DEADLINE, "the first command's line is written", || {
        rolled_lines(&out) == ["served-first"]
    });
    // The agent polls: the server is asked again and again, and the same text reloads nothing.
    let asked = server.served();
    agent.wait_until(DEADLINE, "the agent polls the server twice more", || {
        server.served() >= asked + 2
    });
    assert!(
        !agent.log().contains("Reloading configuration"),
        "{}",
        agent.log()
    );
    server.serve(&exec_pipes(&[(
        "r1",
        "c1",
        "k1",
        "echo served-second",
        &out,
    )]));
    agent.wait_for_log(DEADLINE, "configuration reloaded: restarted [source r1]");
    let line = reload_line(&agent, 1);
    assert!(line.contains("unchanged [channel c1, sink k1]"), "{line}");
    agent.wait_until(DEADLINE, "the new command's line is written", || {
        rolled_lines(&out).len() == 2
    });
    // The unchanged sink kept its one file; the old command was not run again.
    assert_eq!(rolled_lines(&out), ["served-first", "served-second"]);
    assert_eq!(
        std::fs::read_dir(&out).expect("out").count(),
        1,
        "one file: the sink was not restarted"
    );
    agent.stop_cleanly();
}

/// A changed source (its exec command) restarts alone: the channel and the sink keep running
/// (started once, according to the agent's own log), and the events the channel held while the
/// sink was held back are all delivered with the new command's, each once.
#[test]
fn a_changed_source_restarts_alone_and_the_channel_keeps_its_events() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let port = free_port();
    let port_flag = format!("-Dflume.monitoring.port={port}");
    let first = exec_pipes(&[("r1", "c1", "k1", "seq -f a-%06g 1 500", &out)]);
    let mut agent =
        Agent::start_with_args(&first, "a1", &["-Dflume.monitoring.type=http", &port_flag]);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    // The sink's directory is missing: the 500 lines stay in the channel.
    agent.wait_until(
        DEADLINE,
        "the channel holds the first command's lines",
        || metric(port, "CHANNEL.c1", "ChannelSize").as_deref() == Some("500"),
    );
    let second = exec_pipes(&[("r1", "c1", "k1", "seq -f b-%06g 1 300", &out)]);
    std::fs::write(agent.conf_path(), second).expect("rewrite the config");
    agent.wait_for_log(DEADLINE, "configuration reloaded: restarted [source r1]");
    let line = reload_line(&agent, 1);
    assert!(line.contains("unchanged [channel c1, sink k1]"), "{line}");
    agent.wait_until(
        DEADLINE,
        "the new command's lines join the held ones",
        || metric(port, "CHANNEL.c1", "ChannelSize").as_deref() == Some("800"),
    );
    release_and_check(&agent, port, &out, &[("a", 500), ("b", 300)]);
    assert_eq!(
        times_logged(&agent, "Created channel c1 "),
        1,
        "channel kept"
    );
    assert_eq!(times_logged(&agent, "Starting Sink k1 "), 1, "sink kept");
    assert_eq!(
        times_logged(&agent, "Starting Source r1 "),
        2,
        "source restarted"
    );
    agent.stop_cleanly();
}

/// Channel c1's `(ChannelCapacity, ChannelSize)` from `/metrics`.
fn c1(port: u16) -> (u64, u64) {
    let read = |key: &str| {
        metric(port, "CHANNEL.c1", key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no CHANNEL.c1 {key} in /metrics"))
    };
    (read("ChannelCapacity"), read("ChannelSize"))
}

/// Sends `lines` to a netcat source on `port` (retrying the connection while the source starts)
/// and waits for its `OK` per line: each line is then in the channel.
fn send_to_netcat(port: u16, lines: &[String]) {
    use std::io::{BufRead, BufReader, Write};
    let mut conn = None;
    wait_until(DEADLINE, "the netcat source accepts connections", || {
        conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
        conn.is_some()
    });
    let mut conn = conn.expect("connected");
    conn.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut text = lines.join("\n");
    text.push('\n');
    conn.write_all(text.as_bytes()).expect("send");
    let mut acks = BufReader::new(conn);
    for line in lines {
        let mut ok = String::new();
        acks.read_line(&mut ok).expect("read the ack");
        assert_eq!(ok, "OK\n", "ack for {line}");
    }
}

/// A changed channel (its capacity): the events the old channel holds move into the new one and
/// are delivered once the held-back sink is released, each once, with what the restarted source
/// takes afterwards. A netcat source: restarting it reads nothing twice, so a lost or doubled
/// move shows in the output. A new capacity too small for what the channel holds is not applied
/// until it drained, and the agent says so.
#[test]
fn a_changed_channel_moves_its_events_into_the_new_one() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = work.path().join("out");
    let port = free_port();
    let netcat = free_port();
    let port_flag = format!("-Dflume.monitoring.port={port}");
    let config = |capacity: usize| {
        format!(
            "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {netcat}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = {capacity}
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = {}
a1.sinks.k1.sink.rollInterval = 0
",
            out.display()
        )
    };
    let mut agent = Agent::start_with_args(
        &config(10_000),
        "a1",
        &["-Dflume.monitoring.type=http", &port_flag],
    );
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    send_to_netcat(netcat, &numbered_lines("before", 500));
    assert_eq!(c1(port).1, 500, "events in c1");
    // Too small for what it holds: the channel keeps its old settings (and its events), says so.
    std::fs::write(agent.conf_path(), config(100)).expect("rewrite the config");
    agent.wait_for_log(
        DEADLINE,
        "channel c1: keeping its old settings: it holds 500 events and the new capacity is 100",
    );
    agent.wait_for_log(DEADLINE, "configuration reloaded:");
    assert!(
        reload_line(&agent, 1).contains("unchanged [channel c1]"),
        "{}",
        reload_line(&agent, 1)
    );
    assert_eq!(c1(port), (10000, 500), "(capacity, size)");
    // Room enough: the events move into the new channel.
    std::fs::write(agent.conf_path(), config(1000)).expect("rewrite the config");
    agent.wait_for_log(
        DEADLINE,
        "moved 500 events into channel c1 with its new settings",
    );
    agent.wait_until(DEADLINE, "the second reload is logged", || {
        times_logged(&agent, "configuration reloaded:") == 2
    });
    let line = reload_line(&agent, 2);
    assert!(
        line.contains("restarted [channel c1, sink k1, source r1]"),
        "{line}"
    );
    assert!(line.contains("500 events moved"), "{line}");
    assert_eq!(c1(port), (1000, 500), "(capacity, size)");
    send_to_netcat(netcat, &numbered_lines("after", 200));
    assert_eq!(c1(port).1, 700, "events in c1");
    release_and_check(&agent, port, &out, &[("before", 500), ("after", 200)]);
    agent.stop_cleanly();
}

/// The exec source's command line as `ps` shows it, for each process the agent started.
fn commands_of(agent: &Agent) -> Vec<String> {
    agent
        .descendant_pids()
        .iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

/// A reload that adds a pipeline (source, channel and sink) starts it, and one that removes a
/// pipeline stops it: its command is gone and its counters leave `/metrics`. The pipeline the
/// reload does not touch keeps its command process and delivers on.
#[test]
fn an_added_pipeline_starts_and_a_removed_one_stops() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let (log1, log2, log3) = (w.join("one.log"), w.join("two.log"), w.join("three.log"));
    let (out1, out2, out3) = (w.join("out1"), w.join("out2"), w.join("out3"));
    for d in [&out1, &out2, &out3] {
        std::fs::create_dir(d).expect("mkdir");
    }
    let tail = |log: &Path| format!("tail -n +1 -F {}", log.display());
    let port = free_port();
    let port_flag = format!("-Dflume.monitoring.port={port}");
    append_lines(&log1, ["one-1"]);
    append_lines(&log2, ["two-1"]);
    append_lines(&log3, ["three-1"]);
    let first = exec_pipes(&[
        ("r1", "c1", "k1", &tail(&log1), &out1),
        ("r2", "c2", "k2", &tail(&log2), &out2),
    ]);
    let mut agent =
        Agent::start_with_args(&first, "a1", &["-Dflume.monitoring.type=http", &port_flag]);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    agent.wait_until(DEADLINE, "both pipelines deliver", || {
        rolled_lines(&out1) == ["one-1"] && rolled_lines(&out2) == ["two-1"]
    });
    let runs = |log: &Path| {
        let log = log.display().to_string();
        move |commands: &[String]| commands.iter().any(|c| c.contains(&log))
    };
    agent.wait_until(DEADLINE, "both tails run", || {
        let c = commands_of(&agent);
        runs(&log1)(&c) && runs(&log2)(&c)
    });
    let r1_before: Vec<u32> = agent
        .descendant_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains(&log1.display().to_string()))
        })
        .collect();
    let second = exec_pipes(&[
        ("r1", "c1", "k1", &tail(&log1), &out1),
        ("r3", "c3", "k3", &tail(&log3), &out3),
    ]);
    std::fs::write(agent.conf_path(), second).expect("rewrite the config");
    agent.wait_for_log(DEADLINE, "configuration reloaded:");
    let line = reload_line(&agent, 1);
    assert!(
        line.contains("added [channel c3, sink k3, source r3]"),
        "{line}"
    );
    assert!(
        line.contains("removed [channel c2, sink k2, source r2]"),
        "{line}"
    );
    assert!(
        line.contains("unchanged [channel c1, sink k1, source r1]"),
        "{line}"
    );
    agent.wait_until(DEADLINE, "the added pipeline delivers", || {
        rolled_lines(&out3) == ["three-1"]
    });
    agent.wait_until(DEADLINE, "the removed source's command is gone", || {
        !runs(&log2)(&commands_of(&agent))
    });
    agent.wait_until(DEADLINE, "the removed components leave /metrics", || {
        metrics_json(port).is_some_and(|m| {
            m.get("SOURCE.r2").is_none()
                && m.get("CHANNEL.c2").is_none()
                && m.get("SINK.k2").is_none()
                && m.get("SINK.k3").is_some()
        })
    });
    // The untouched pipeline keeps its command and goes on delivering.
    append_lines(&log1, ["one-2"]);
    append_lines(&log2, ["two-2"]);
    agent.wait_until(DEADLINE, "the kept pipeline delivers on", || {
        rolled_lines(&out1) == ["one-1", "one-2"]
    });
    assert!(
        r1_before
            .iter()
            .all(|p| agent.descendant_pids().contains(p)),
        "r1's tail kept running"
    );
    assert_eq!(
        rolled_lines(&out2),
        ["two-1"],
        "nothing reads two.log any more"
    );
    agent.stop_cleanly();
}
