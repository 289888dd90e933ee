//! Stopping the agent: SIGTERM and SIGINT drain what was read into Kafka and exit 0; a drain that
//! cannot finish (broker unreachable) ends at `--drain-timeout` and says exactly what was left;
//! the exec command never outlives the agent, whether it was stopped or killed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::STOP_DEADLINE;
use common::*;

/// Generous bound for what should take seconds.
const DEADLINE: Duration = Duration::from_secs(30);

fn line(n: usize) -> String {
    format!("line-{n:06}")
}

/// Prompt reconnects once a broker is back (librdkafka's back-off grows to 10 s by default).
const RECONNECT: (&str, &str) = ("sinks.k1.kafka.producer.reconnect.backoff.max.ms", "500");

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

/// The topic's values, once at least `expected` records are there (or after [`DEADLINE`]).
fn values_of(broker: &Broker, topic: &str, expected: usize) -> Vec<String> {
    consume_all(&broker.bootstrap(), topic, 1, expected, DEADLINE)
        .iter()
        .map(|r| r.value_str().to_string())
        .collect()
}

/// A stop signal with a healthy broker: the lines the source has read but not yet stored (its
/// batch is far from full and its timeout far away) are flushed, drained to Kafka, and the agent
/// exits 0 saying the channel is empty, with totals that account for every line. (How fast is
/// not asserted: the drain finishing, not timing out, is what "0 events left" shows.)
fn stop_delivers_everything_read(signal: libc::c_int, topic: &str) {
    let broker = Broker::start();
    broker.create_topic(topic, 1);
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, Vec::<String>::new());
    let config = exec_tail_to_kafka(
        &log,
        &broker.bootstrap(),
        topic,
        &[
            ("sources.r1.batchSize", "1000"),
            ("sources.r1.batchTimeout", "60000"),
            // Flume's behaviour (no flush when the command pauses), so the lines stay unstored.
            ("sources.r1.rflume.idleFlushMs", "0"),
            RECONNECT,
        ],
    );
    let mut agent = Agent::start(&config, "a1");
    let lines: Vec<String> = (0..500).map(line).collect();
    append_lines(&log, &lines);
    wait_until_tail_read_everything(&agent, &log);
    assert!(
        values_of(&broker, topic, 0).is_empty(),
        "precondition: the lines wait in the source's unfinished batch, not yet in Kafka"
    );

    let stopped = Instant::now();
    agent.signal(signal);
    let status = agent.wait_exit(STOP_DEADLINE);
    let took = stopped.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("agent still running {STOP_DEADLINE:?} after the signal"));
    assert_eq!(status.code(), Some(0), "exit status\n{}", agent.log());
    assert_eq!(
        values_of(&broker, topic, lines.len()),
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
/// `--drain-timeout` (2 s; not before: the stop takes at least that long), the agent exits 0
/// and logs at ERROR how many events it leaves in which channel — exactly the lines it read that
/// never reached Kafka. The wait for the exit is far longer than the drain timeout, so a loaded
/// machine cannot fail it; a drain that ignored its timeout would never end.
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
    let config = exec_tail_to_kafka(
        &log,
        &proxy.bootstrap(),
        topic,
        &[("sources.r1.batchTimeout", "100"), RECONNECT],
    );
    let mut agent = Agent::start_with_args(&config, "a1", &["--drain-timeout", "2"]);

    let before = 50;
    append_lines(&log, (0..before).map(line));
    agent.wait_until(DEADLINE, "the first lines reach Kafka", || {
        values_of(&broker, topic, 0).len() >= before
    });
    proxy.kill();
    let total = before + 300;
    append_lines(&log, (before..total).map(line));
    wait_until_tail_read_everything(&agent, &log);

    let stopped = Instant::now();
    agent.sigterm();
    let status = agent.wait_exit(STOP_DEADLINE);
    let took = stopped.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("agent still running {STOP_DEADLINE:?} after SIGTERM"));
    assert_eq!(status.code(), Some(0), "exit status\n{}", agent.log());
    assert!(
        took >= DRAIN,
        "the agent stopped after {took:?}, before its 2 s drain timeout, with undeliverable \
         events in the channel\n{}",
        agent.log()
    );

    let in_topic: std::collections::HashSet<String> =
        values_of(&broker, topic, before).into_iter().collect();
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

/// Nothing the exec command started outlives the agent: after a graceful stop the whole process
/// group of a shell pipeline goes, not just the shell; after `kill -9`, which gives the agent no
/// chance to clean up, the kernel must still end its `tail -F` (parent-death signal) and a
/// pipeline's whole group, or every crash would leave an orphan reading the log forever.
#[test]
fn no_process_of_the_exec_command_outlives_the_agent() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["one"]);
    let tail = format!("tail -n +1 -F {}", log.display());
    let pipeline = format!("{tail} | cat");
    struct Case<'a> {
        what: &'a str,
        command: &'a str,
        shell: Option<&'a str>,
        /// The programs it runs, all of which must be gone.
        programs: &'a [&'a str],
        crash: bool,
    }
    let sh = Some("/bin/sh -c");
    let cases = [
        Case {
            what: "SIGTERM, shell pipeline",
            command: &pipeline,
            shell: sh,
            programs: &["tail", "cat"],
            crash: false,
        },
        Case {
            what: "kill -9, plain tail",
            command: &tail,
            shell: None,
            programs: &["tail"],
            crash: true,
        },
        Case {
            what: "kill -9, shell pipeline",
            command: &pipeline,
            shell: sh,
            programs: &["tail", "cat"],
            crash: true,
        },
    ];
    for c in cases {
        let mut agent = Agent::start(&null_sink_config(c.command, c.shell), "a1");
        let processes = wait_for_descendants(&agent, c.programs);
        if c.crash {
            agent.kill9();
        } else {
            agent.stop_cleanly();
        }
        let what = c.what;
        assert_all_gone(&processes, &format!("after the agent ended ({what})"));
    }
}
