//! Exec source behaviours that need no broker: restart of an exiting command and its throttle,
//! its stderr, a command that cannot start, and an agent that outlives SIGHUP. Events are
//! observed through the logger sink's Flume-format lines.

mod common;

use std::time::{Duration, Instant};

use common::process::catches_signal;
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

/// The logger sink's event lines with `body` in them.
fn event_lines<'a>(log: &'a str, body: &'a str) -> impl Iterator<Item = &'a str> {
    log.lines()
        .filter(move |l| l.contains("Event: {") && l.contains(body))
}

fn events_with(log: &str, body: &str) -> usize {
    event_lines(log, body).count()
}

/// The command stamps each run with the time it started (`r@` and milliseconds since the epoch,
/// short enough for one logger line; its own clock), so the gaps between runs are measured by the runs themselves, not by log latency:
/// each must be at least `restartThrottle`, or the agent did not wait.
#[test]
fn an_exiting_command_is_restarted_after_the_throttle_and_logged() {
    const THROTTLE_MS: u64 = 500;
    const RUNS: usize = 4;
    let mut agent = Agent::start(
        &config(
            "date +r@%s%3N; exit 3",
            &format!(
                "a1.sources.r1.restart = true\na1.sources.r1.restartThrottle = {THROTTLE_MS}\n"
            ),
        ),
        "a1",
    );
    agent.wait_until(DEADLINE, "four runs of the command were shipped", || {
        events_with(&agent.log(), "r@") >= RUNS
    });
    agent.stop_cleanly();
    let log = agent.log();
    let starts: Vec<u64> = event_lines(&log, "r@")
        .map(|l| {
            let text = l.rsplit("r@").next().unwrap_or_default();
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("no timestamp in {l:?}"))
        })
        .collect();
    let gaps: Vec<u64> = starts
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    eprintln!("gaps between runs (ms): {gaps:?}");
    assert!(
        gaps.len() >= RUNS - 1 && gaps.iter().all(|&g| g >= THROTTLE_MS),
        "each run starts at least {THROTTLE_MS} ms after the previous one: gaps {gaps:?} ms\n{log}"
    );
    assert!(log.contains("exited with 3"), "exit logged:\n{log}");
    assert!(
        log.contains(&format!("Restarting in {THROTTLE_MS}ms, exit code 3")),
        "restart logged:\n{log}"
    );
}

/// With `restart = false` (the default) a command that ends is not run again: the agent says
/// so, and in the 2 s that follow that message (four times the configured throttle) no second
/// run appears.
#[test]
fn without_restart_the_source_says_it_produces_nothing_more() {
    const HOLD: Duration = Duration::from_secs(2);
    let mut agent = Agent::start(
        &config("echo once-marker", "a1.sources.r1.restartThrottle = 500\n"),
        "a1",
    );
    agent.wait_for_log(DEADLINE, "restart=false");
    let said = Instant::now();
    let rerun = poll_until(HOLD, || events_with(&agent.log(), "once-marker") > 1);
    assert!(!rerun, "the command ran again:\n{}", agent.log());
    assert!(said.elapsed() >= HOLD, "the hold ran in full");
    agent.stop_cleanly();
    let log = agent.log();
    assert_eq!(events_with(&log, "once-marker"), 1, "{log}");
    assert!(!log.contains("Restarting"), "{log}");
}

/// `logStdErr = true` logs the command's stderr lines (they are not events); without it they
/// are not logged. Judged on each agent's whole log, after it stopped.
#[test]
fn stderr_is_logged_only_with_log_std_err() {
    let command = "echo to-stderr-marker >&2; echo to-stdout-marker; sleep 30";
    for log_std_err in [true, false] {
        let extra = if log_std_err {
            "a1.sources.r1.logStdErr = true\n"
        } else {
            ""
        };
        let mut agent = Agent::start(&config(command, extra), "a1");
        agent.wait_until(DEADLINE, "stdout line shipped", || {
            events_with(&agent.log(), "to-stdout-marker") == 1
        });
        if log_std_err {
            agent.wait_for_log(DEADLINE, "StderrLogger[1] = 'to-stderr-marker'");
        }
        agent.stop_cleanly();
        let log = agent.log();
        assert_eq!(
            events_with(&log, "to-stderr-marker"),
            0,
            "stderr is never an event\n{log}"
        );
        assert_eq!(
            log.contains("StderrLogger"),
            log_std_err,
            "stderr logged only with logStdErr = true (here {log_std_err})\n{log}"
        );
    }
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
    agent.stop_cleanly();
}

/// SIGHUP (logrotate's `postrotate` habit, or a closed terminal) must not kill the agent: it is
/// logged and the running configuration keeps working (a reload, when enabled, replaces it).
/// The signal is sent once the agent has its handler (`SigCgt`); the handlers are installed
/// before the configuration is read, so an early SIGHUP is caught too
/// (`drop_in.rs::signals_are_caught_before_the_configuration_is_read`).
#[test]
fn sighup_is_logged_and_the_agent_keeps_running() {
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    append_lines(&file, ["before-hup"]);
    let mut agent = Agent::start(
        &config(&format!("tail -n +1 -F {}", file.display()), ""),
        "a1",
    );
    agent.wait_until(DEADLINE, "the first line was shipped", || {
        events_with(&agent.log(), "before-hup") == 1
    });
    let pid = agent.pid();
    agent.wait_until(DEADLINE, "the agent handles SIGHUP", || {
        catches_signal(pid, libc::SIGHUP)
    });

    agent.signal(libc::SIGHUP);
    agent.wait_for_log(DEADLINE, "received SIGHUP");
    append_lines(&file, ["after-hup"]);
    agent.wait_until(DEADLINE, "a line written after SIGHUP was shipped", || {
        events_with(&agent.log(), "after-hup") == 1
    });
    assert!(agent.is_running(), "{}", agent.log());
    agent.stop_cleanly();
}

/// A command that writes three lines and then pauses: with a batch far from full and
/// `batchTimeout` a minute away, the lines are handed on once the command has been silent for
/// `rflume.idleFlushMs` (20 ms by default), not after the minute. With it set to 0 (Flume's
/// behaviour) they wait in the batch, and the stop flushes them.
#[test]
fn a_partial_batch_is_handed_on_when_the_command_pauses() {
    let slow = |extra: &str| {
        config(
            "echo idle-1; echo idle-2; echo idle-3; exec sleep 600",
            extra,
        )
        .replace("batchTimeout = 100", "batchTimeout = 60000")
        .replace(
            "a1.channels.c1.type",
            "a1.sources.r1.batchSize = 100\na1.channels.c1.type",
        )
    };
    let mut agent = Agent::start(&slow(""), "a1");
    let started = Instant::now();
    agent.wait_until(DEADLINE, "the three lines were shipped", || {
        events_with(&agent.log(), "idle-") == 3
    });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "shipped long before batchTimeout"
    );
    agent.stop_cleanly();

    let mut agent = Agent::start(&slow("a1.sources.r1.rflume.idleFlushMs = 0\n"), "a1");
    agent.wait_until(DEADLINE, "the source started the command", || {
        agent.log().contains("Source r1") && agent.log().contains("started")
    });
    // The control: without the idle flush nothing is shipped while the command pauses...
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet_until {
        assert_eq!(events_with(&agent.log(), "idle-"), 0, "{}", agent.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and the stop still stores and drains what the batch held.
    agent.stop_cleanly();
    assert_eq!(events_with(&agent.log(), "idle-"), 3, "{}", agent.log());
}
