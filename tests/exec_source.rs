//! Exec source behaviours that need no broker: restart of an exiting command, its stderr, and a
//! command that cannot start. Events are observed through the logger sink's Flume-format lines.

mod common;

use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(30);

fn config(command: &str, extra: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.shell = /bin/sh -c
a1.sources.r1.command = {command}
a1.sources.r1.batchTimeout = 100
a1.sources.r1.channels = c1
{extra}
a1.channels.c1.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.maxBytesToLog = 64
a1.sinks.k1.channel = c1
"
    )
}

fn events_with(log: &str, body: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("Event: {") && l.contains(body))
        .count()
}

#[test]
fn an_exiting_command_is_restarted_after_the_throttle_and_logged() {
    let mut agent = Agent::start(
        &config(
            "echo run-marker; exit 3",
            "a1.sources.r1.restart = true\na1.sources.r1.restartThrottle = 200\n",
        ),
        "a1",
    );
    agent.wait_until(DEADLINE, "three runs of the command were shipped", || {
        events_with(&agent.log(), "run-marker") >= 3
    });
    let log = agent.log();
    assert!(log.contains("exited with 3"), "exit logged:\n{log}");
    assert!(
        log.contains("Restarting in 200ms, exit code 3"),
        "restart logged:\n{log}"
    );
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));
}

#[test]
fn without_restart_the_source_says_it_produces_nothing_more() {
    let mut agent = Agent::start(&config("echo once-marker", ""), "a1");
    agent.wait_for_log(DEADLINE, "restart=false");
    let log = agent.log();
    assert_eq!(events_with(&log, "once-marker"), 1, "{log}");
    assert!(!log.contains("Restarting"), "{log}");
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));
}

#[test]
fn stderr_is_logged_only_with_log_std_err() {
    let mut agent = Agent::start(
        &config(
            "echo to-stderr-marker >&2; echo to-stdout-marker; sleep 30",
            "a1.sources.r1.logStdErr = true\n",
        ),
        "a1",
    );
    agent.wait_for_log(DEADLINE, "StderrLogger[1] = 'to-stderr-marker'");
    agent.wait_until(DEADLINE, "stdout line shipped", || {
        events_with(&agent.log(), "to-stdout-marker") == 1
    });
    assert_eq!(
        events_with(&agent.log(), "to-stderr-marker"),
        0,
        "stderr is not an event"
    );
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));

    let mut quiet = Agent::start(
        &config(
            "echo to-stderr-marker >&2; echo to-stdout-marker; sleep 30",
            "",
        ),
        "a1",
    );
    quiet.wait_until(DEADLINE, "stdout line shipped", || {
        events_with(&quiet.log(), "to-stdout-marker") == 1
    });
    assert!(!quiet.log().contains("StderrLogger"), "{}", quiet.log());
    quiet.sigterm();
    assert!(quiet.wait_exit(DEADLINE).is_some_and(|s| s.success()));
}

#[test]
fn a_command_that_cannot_start_is_reported_and_retried_with_restart() {
    let mut agent = Agent::start(
        &config(
            "unused",
            "a1.sources.r1.shell = /nonexistent/shell\na1.sources.r1.restart = true\na1.sources.r1.restartThrottle = 100\n",
        ),
        "a1",
    );
    agent.wait_until(DEADLINE, "two failed attempts were logged", || {
        agent.log().matches("/nonexistent/shell").count() >= 2
    });
    assert!(agent.is_running(), "the agent keeps running");
    agent.sigterm();
    assert!(agent.wait_exit(DEADLINE).is_some_and(|s| s.success()));
}
