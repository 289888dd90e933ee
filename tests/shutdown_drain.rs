//! Stopping the agent: SIGTERM and SIGINT drain what was read into Kafka and exit 0; a drain that
//! cannot finish (broker unreachable) ends at `--drain-timeout` and says exactly what was left;
//! the exec command never outlives the agent, whether it was stopped or killed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Generous bound for what should take seconds.
const DEADLINE: Duration = Duration::from_secs(30);
/// "Exit within 10 s" of a graceful stop with a healthy broker (the default drain timeout).
const GRACEFUL_EXIT: Duration = Duration::from_secs(10);

fn line(n: usize) -> String {
    format!("line-{n:06}")
}

/// exec `tail -F` → memory → Kafka. `tail -n +1` reads the file from its first line, so lines
/// appended before `tail` opened the file are not skipped.
fn kafka_config(log: &Path, bootstrap: &str, topic: &str, source_extra: &[(&str, &str)]) -> String {
    let mut conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1

a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {log}
a1.sources.r1.channels = c1

a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000

a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 100
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.kafka.producer.reconnect.backoff.max.ms = 500
",
        log = log.display()
    );
    for (k, v) in source_extra {
        conf.push_str(&format!("a1.sources.r1.{k} = {v}\n"));
    }
    conf
}

/// exec with the given command (and shell) → memory → null sink: no broker needed.
fn null_sink_config(command: &str, shell: Option<&str>) -> String {
    let mut conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = {command}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
"
    );
    if let Some(shell) = shell {
        conf.push_str(&format!("a1.sources.r1.shell = {shell}\n"));
    }
    conf
}

/// Waits until the agent's `tail` has read `path` to its end: from then on every line of the
/// file has been read by the agent (what happens to it is the agent's responsibility).
fn wait_until_tail_read_everything(agent: &Agent, path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    agent.wait_until(
        DEADLINE,
        &format!("tail has read all {len} bytes of {}", path.display()),
        || {
            agent
                .descendant_pids()
                .into_iter()
                .filter_map(|pid| process_read_offset(pid, path))
                .any(|pos| pos >= len)
        },
    );
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The agent's descendants once every program in `names` runs among them.
fn wait_for_descendants(agent: &Agent, names: &[&str]) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    agent.wait_until(
        DEADLINE,
        &format!("the exec command runs ({names:?} among the agent's descendants)"),
        || {
            found = agent
                .descendant_pids()
                .into_iter()
                .map(|p| (p, comm(p)))
                .collect();
            names.iter().all(|n| found.iter().any(|(_, c)| c == n))
        },
    );
    found
}

fn assert_all_gone(processes: &[(u32, String)], after: &str) {
    let mut alive = Vec::new();
    let gone = poll_until(Duration::from_secs(10), || {
        alive = processes
            .iter()
            .filter(|(pid, _)| pid_alive(*pid))
            .cloned()
            .collect();
        alive.is_empty()
    });
    assert!(
        gone,
        "processes started by the exec source still run 10 s {after}: {alive:?} (of {processes:?})"
    );
}

fn values_of(broker: &Broker, topic: &str) -> Vec<String> {
    consume_all(&broker.bootstrap(), topic, 1, 0, DEADLINE)
        .iter()
        .map(|r| r.value_str().to_string())
        .collect()
}

/// A stop signal with a healthy broker: the lines the source has read but not yet stored (its
/// batch is far from full and its timeout far away) are flushed, drained to Kafka, and the agent
/// exits 0 within 10 s saying the channel is empty.
fn stop_delivers_everything_read(signal: libc::c_int, topic: &str) {
    let broker = Broker::start();
    broker.create_topic(topic, 1);
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, Vec::<String>::new());
    let config = kafka_config(
        &log,
        &broker.bootstrap(),
        topic,
        &[("batchSize", "1000"), ("batchTimeout", "60000")],
    );
    let mut agent = Agent::start(&config, "a1");
    let lines: Vec<String> = (0..500).map(line).collect();
    append_lines(&log, &lines);
    wait_until_tail_read_everything(&agent, &log);
    assert!(
        values_of(&broker, topic).is_empty(),
        "precondition: the lines wait in the source's unfinished batch, not yet in Kafka"
    );

    let stopped = Instant::now();
    agent.signal(signal);
    let status = agent.wait_exit(GRACEFUL_EXIT + Duration::from_secs(20));
    let took = stopped.elapsed();
    let status = status.unwrap_or_else(|| panic!("agent still running 30 s after the signal"));
    assert_eq!(status.code(), Some(0), "exit status\n{}", agent.log());
    assert!(
        took <= GRACEFUL_EXIT,
        "the agent took {took:?} to stop with a healthy broker\n{}",
        agent.log()
    );
    assert_eq!(
        values_of(&broker, topic),
        lines,
        "every line read before the signal is in Kafka, once, in order"
    );
    assert!(
        agent.log().contains("channel c1 drained: 0 events left"),
        "the log says the channel drained with 0 events left\n{}",
        agent.log()
    );
    for totals in [
        "SOURCE.r1: EventReceivedCount=500 EventAcceptedCount=500",
        "CHANNEL.c1: EventPutSuccessCount=500 EventTakeSuccessCount=500 ChannelSize=0",
        "SINK.k1: EventDrainSuccessCount=500 RollbackCount=0",
    ] {
        assert!(
            agent.log().contains(totals),
            "the stop logs the totals with Flume's counter names: {totals}\n{}",
            agent.log()
        );
    }
    eprintln!("stopped in {took:?}");
}

#[test]
fn sigterm_with_a_healthy_broker_delivers_everything_and_exits_0() {
    stop_delivers_everything_read(libc::SIGTERM, "drain-sigterm");
}

#[test]
fn sigint_behaves_like_sigterm() {
    stop_delivers_everything_read(libc::SIGINT, "drain-sigint");
}

/// The number in the agent's ERROR line about channel `channel`: "N events … channel c1 …".
fn events_left_in(log: &str, channel: &str) -> Option<usize> {
    log.lines()
        .filter(|l| l.contains("ERROR"))
        .filter(|l| {
            l.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .any(|w| w == channel)
        })
        .find_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words
                .windows(2)
                .find(|w| w[1].starts_with("event"))
                .and_then(|w| w[0].parse().ok())
        })
}

/// SIGTERM while Kafka is unreachable and events wait in the channel: the drain gives up at
/// `--drain-timeout`, the agent exits 0 and logs at ERROR how many events it leaves in which
/// channel — exactly the lines it read that never reached Kafka.
#[test]
fn sigterm_with_kafka_unreachable_reports_what_is_left_and_exits_0() {
    const DRAIN: Duration = Duration::from_secs(2);
    let topic = "drain-outage";
    let broker = Broker::start();
    broker.create_topic(topic, 1);
    let mut proxy = Proxy::start(&broker);
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, Vec::<String>::new());
    let config = kafka_config(&log, &proxy.bootstrap(), topic, &[("batchTimeout", "100")]);
    let mut agent = Agent::start_with_args(&config, "a1", &["--drain-timeout", "2"]);

    let before = 50;
    append_lines(&log, (0..before).map(line));
    agent.wait_until(DEADLINE, "the first lines reach Kafka", || {
        values_of(&broker, topic).len() >= before
    });
    proxy.kill();
    let total = before + 300;
    append_lines(&log, (before..total).map(line));
    wait_until_tail_read_everything(&agent, &log);

    let stopped = Instant::now();
    agent.sigterm();
    let status = agent.wait_exit(DRAIN + Duration::from_secs(20));
    let took = stopped.elapsed();
    let status = status.unwrap_or_else(|| panic!("agent still running 22 s after SIGTERM"));
    assert_eq!(status.code(), Some(0), "exit status\n{}", agent.log());
    assert!(
        took <= DRAIN + Duration::from_secs(4),
        "the agent took {took:?} to stop with --drain-timeout 2\n{}",
        agent.log()
    );

    let in_topic: std::collections::HashSet<String> =
        values_of(&broker, topic).into_iter().collect();
    let never_delivered = total - in_topic.len();
    let log_text = agent.log();
    let reported = events_left_in(&log_text, "c1").unwrap_or_else(|| {
        panic!("no ERROR line says how many events were left in channel c1\n{log_text}")
    });
    eprintln!(
        "stopped in {took:?}; {total} lines appended, {} in Kafka, {reported} reported left in c1",
        in_topic.len()
    );
    assert_eq!(
        reported,
        never_delivered,
        "events reported left in c1 = lines appended ({total}) - lines in Kafka ({})\n{log_text}",
        in_topic.len()
    );
}

/// After a graceful stop nothing the exec command started is left: the whole process group
/// of a shell pipeline goes, not just the shell.
#[test]
fn stop_leaves_no_process_of_the_exec_command() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["one"]);
    let config = null_sink_config(
        &format!("tail -n +1 -F {} | cat", log.display()),
        Some("/bin/sh -c"),
    );
    let mut agent = Agent::start(&config, "a1");
    let processes = wait_for_descendants(&agent, &["tail", "cat"]);

    agent.sigterm();
    let status = agent
        .wait_exit(DEADLINE)
        .unwrap_or_else(|| panic!("agent still running 30 s after SIGTERM"));
    assert_eq!(status.code(), Some(0), "{}", agent.log());
    assert_all_gone(&processes, "after the agent exited on SIGTERM");
}

/// `kill -9` gives the agent no chance to clean up; the kernel must still end its `tail -F`
/// (parent-death signal), or every crash would leave an orphan reading the log forever.
#[test]
fn kill_9_leaves_no_orphaned_tail() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["one"]);
    let config = null_sink_config(&format!("tail -n +1 -F {}", log.display()), None);
    let mut agent = Agent::start(&config, "a1");
    let processes = wait_for_descendants(&agent, &["tail"]);

    agent.kill9();
    assert_all_gone(&processes, "after kill -9 of the agent");
}

/// The same after `kill -9` for a command run through a shell (`shell = /bin/sh -c`, a
/// pipeline): the whole process group must go, not only the shell the agent started.
#[test]
fn kill_9_leaves_no_orphan_of_a_shell_pipeline() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["one"]);
    let config = null_sink_config(
        &format!("tail -n +1 -F {} | cat", log.display()),
        Some("/bin/sh -c"),
    );
    let mut agent = Agent::start(&config, "a1");
    let processes = wait_for_descendants(&agent, &["tail", "cat"]);

    agent.kill9();
    assert_all_gone(&processes, "after kill -9 of the agent");
}
