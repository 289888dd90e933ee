//! Logs an operator can keep: Flume's size-based rolling with Flume's file names, reopening after
//! logrotate moved the file, journald's priorities, log4j's layout and periodic counter lines.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

const PIPELINE: &str = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n\
    a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
    a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn logfile_rolls_by_size_with_flume_names_as_log4j_properties_in_conf_say() {
    let conf = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        conf.path().join("log4j.properties"),
        format!(
            "flume.root.logger=INFO,LOGFILE\nflume.log.dir={}\nlog4j.appender.LOGFILE.MaxFileSize=2KB\nlog4j.appender.LOGFILE.MaxBackupIndex=3\n",
            logs.path().display()
        ),
    )
    .expect("write");
    let mut cmd = Command::new(rflume_bin());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("flume.conf"), PIPELINE).expect("write");
    cmd.args([
        "agent",
        "--name",
        "a1",
        "--conf-file",
        "flume.conf",
        "-Drflume.counters.logIntervalSeconds=0.05",
        "--conf",
    ])
    .arg(conf.path());
    let mut agent = Agent::spawn(dir, cmd);
    let file = |n: u32| match n {
        0 => logs.path().join("flume.log"),
        n => logs.path().join(format!("flume.log.{n}")),
    };
    agent.wait_until(DEADLINE, "flume.log.3 exists", || file(3).exists());
    // LOGFILE came from the file (the default is the console): nothing on stderr.
    assert!(
        !agent.log().contains("rflume agent a1 started"),
        "{}",
        agent.log()
    );
    agent.wait_until(DEADLINE, "another roll", || {
        read(&file(3)) != read(&file(2))
    });
    assert!(
        !file(4).exists(),
        "MaxBackupIndex=3 keeps three rolled files"
    );
    for n in 1..=3 {
        let len = std::fs::metadata(file(n)).expect("rolled file").len();
        assert!(
            len <= 2048,
            "flume.log.{n} has {len} bytes, more than MaxFileSize"
        );
        assert!(
            read(&file(n)).contains("SOURCE.r1: "),
            "counter lines in flume.log.{n}"
        );
    }
    agent.stop_cleanly();
}

#[test]
fn logfile_is_reopened_after_logrotate_renames_it_and_on_sighup() {
    let logs = tempfile::tempdir().expect("tempdir");
    let dir_flag = format!("-Dflume.log.dir={}", logs.path().display());
    let mut agent = Agent::start_with_args(
        PIPELINE,
        "a1",
        &[
            "-Dflume.root.logger=INFO,LOGFILE",
            &dir_flag,
            "-Drflume.counters.logIntervalSeconds=0.2",
        ],
    );
    let log = logs.path().join("flume.log");
    agent.wait_until(DEADLINE, "the agent logs to flume.log", || {
        read(&log).contains("rflume agent a1 started")
    });
    // logrotate's default (create): rename, then the writer must notice by itself.
    let rotated = logs.path().join("flume.log-1");
    std::fs::rename(&log, &rotated).expect("rename");
    agent.wait_until(DEADLINE, "a new flume.log gets counter lines", || {
        read(&log).contains("SINK.k1: ")
    });
    let old_len = std::fs::metadata(&rotated).expect("rotated").len();
    // postrotate's `kill -HUP`: reopened at once.
    let second = logs.path().join("flume.log-2");
    std::fs::rename(&log, &second).expect("rename");
    agent.signal(libc::SIGHUP);
    agent.wait_until(DEADLINE, "the SIGHUP line is in the new file", || {
        read(&log).contains("received SIGHUP")
    });
    assert!(!read(&second).contains("received SIGHUP"));
    agent.wait_until(DEADLINE, "more counter lines", || {
        read(&log).matches("SINK.k1: ").count() >= 2
    });
    assert_eq!(
        std::fs::metadata(&rotated).expect("rotated").len(),
        old_len,
        "nothing written to the moved file"
    );
    agent.stop_cleanly();
}

#[test]
fn log4j_layout_matches_flumes_pattern() {
    let mut agent = Agent::start_with_args(PIPELINE, "a1", &["-Drflume.log.layout=log4j"]);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    agent.stop_cleanly();
    let pattern = regex::Regex::new(
        r"^\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2},\d{3} (INFO |WARN |ERROR|DEBUG) \[[^\]]+\] \([a-z_.]+:\d+\) - ",
    )
    .expect("regex");
    let log = agent.log();
    let line = log
        .lines()
        .find(|l| l.contains("rflume agent a1 started"))
        .expect("start line");
    assert!(pattern.is_match(line), "{line}");
    // The location is the emitting module, as log4j's %C.%M names the class:
    // the start line comes from the agent's start step.
    assert!(
        line.contains(" INFO  [main] (rflume.agent.start:"),
        "{line}"
    );
}

#[test]
fn under_journald_lines_carry_priorities_and_no_timestamps() {
    let dir = tempfile::Builder::new()
        .prefix("rflume-agent-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(dir.path().join("flume.conf"), PIPELINE).expect("write");
    // The harness sends stderr to agent.log: make it the "journal stream".
    let log = dir.path().join("agent.log");
    std::fs::write(&log, "").expect("touch");
    let meta = std::fs::metadata(&log).expect("stat");
    let mut cmd = Command::new(rflume_bin());
    cmd.args([
        "agent",
        "--name",
        "a1",
        "--conf-file",
        "flume.conf",
        "-Dflume.root.logger=INFO,console",
    ])
    .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    let mut agent = Agent::spawn(dir, cmd);
    agent.wait_for_log(DEADLINE, "rflume agent a1 started");
    agent.stop_cleanly();
    let log = agent.log();
    let line = log
        .lines()
        .find(|l| l.contains("rflume agent a1 started"))
        .expect("line");
    assert!(line.starts_with("<6>INFO [main] "), "{line}");
    assert!(
        !regex::Regex::new(r"\d{2}:\d{2}:\d{2}")
            .expect("re")
            .is_match(line),
        "{line}"
    );
}

#[test]
fn counters_are_logged_periodically_not_only_at_stop() {
    let mut agent = Agent::start_with_args(
        PIPELINE,
        "a1",
        &["-Drflume.counters.logIntervalSeconds=0.3"],
    );
    agent.wait_until(DEADLINE, "two counter rounds before any stop", || {
        agent
            .log()
            .matches("CHANNEL.c1: EventPutSuccessCount=")
            .count()
            >= 2
    });
    agent.stop_cleanly();
}
