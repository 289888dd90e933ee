//! What the agent exposes on the machine: the files it creates are private (position files,
//! dead-letter files and the file channel's files 0600, their directories 0700), the metrics
//! server listens on 127.0.0.1 only unless told otherwise, and a position file that cannot be
//! written is said loudly — an ERROR at start, at most one WARN a minute while it lasts, a
//! `/health` failure, and a stop that says the positions were not saved instead of "stopped
//! cleanly" — while lines keep flowing.
//!
//! "Unwritable" is made with a regular file where a directory should be (ENOTDIR), because the
//! tests may run as root, for whom permission bits are no obstacle.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;

const TOPIC: &str = "exposure";
const DELIVERY: Duration = Duration::from_secs(60);

/// TAILDIR → Kafka with fast position writes and polling (a position write happens on the read
/// loop's turns), plus `extra` settings.
fn taildir_conf(logs: &Path, pos: &Path, bootstrap: &str, extra: &[(&str, &str)]) -> String {
    let mut settings = vec![
        ("sources.r1.writePosInterval", "100"),
        ("sources.r1.backoffSleepIncrement", "20"),
        ("sources.r1.maxBackoffSleep", "100"),
    ];
    settings.extend_from_slice(extra);
    taildir_to_kafka(logs, pos, bootstrap, TOPIC, &settings)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Directories rflume creates for positions, dead letters and a file channel are 0700, their
/// files 0600, whatever the umask (here the permissive 0000); the metrics server, started with
/// Flume's flags and no host, listens on 127.0.0.1 alone (Flume: every interface).
#[test]
fn state_files_are_private_and_the_metrics_port_is_loopback_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("logs");
    let pos = dir.path().join("state/sub/taildir_position.json");
    let dead = dir.path().join("dead/letters");
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    append_lines(logs.join("app.log"), ["ok", &"x".repeat(3000)]);
    let dead_dir = dead.display().to_string();
    let checkpoint = dir.path().join("channel/checkpoint");
    let data = dir.path().join("channel/data");
    let (checkpoint_dir, data_dir) = (checkpoint.display().to_string(), data.display().to_string());
    let conf = taildir_conf(
        &logs,
        &pos,
        &broker.bootstrap(),
        &[
            ("sinks.k1.kafka.producer.max.request.size", "2000"),
            ("sinks.k1.rflume.deadLetter.directory", &dead_dir),
            ("channels.c1.type", "file"),
            ("channels.c1.checkpointDir", &checkpoint_dir),
            ("channels.c1.dataDirs", &data_dir),
            ("channels.c1.minimumRequiredSpace", "1048576"),
        ],
    );
    let port = free_port();
    let mut agent = spawn_agent(&conf, "INFO", true, Some(port));
    agent.wait_for_log(DELIVERY, "serving metrics on http://127.0.0.1:");
    let listening = listeners(port);
    assert!(!listening.is_empty(), "the metrics port {port} listens");
    for (address, _) in &listening {
        assert_eq!(address, "127.0.0.1", "metrics port {port}: {listening:?}");
    }
    agent.wait_until(
        DELIVERY,
        "the dead letter and the positions are written",
        || {
            fs::read_dir(&dead).is_ok_and(|mut d| d.next().is_some())
                && fs::read_to_string(&pos).is_ok_and(|t| t.contains("app.log"))
        },
    );
    agent.stop_cleanly();
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/sub")), 0o700);
    assert_eq!(mode(&pos), 0o600);
    assert_eq!(mode(Path::new(&format!("{}.rflume", pos.display()))), 0o600);
    assert_eq!(mode(&dir.path().join("dead")), 0o700);
    assert_eq!(mode(&dead), 0o700);
    for f in fs::read_dir(&dead).expect("dead letters") {
        assert_eq!(mode(&f.expect("entry").path()), 0o600);
    }
    assert_eq!(mode(&dir.path().join("channel")), 0o700);
    for d in [&checkpoint, &data] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
        let files: Vec<_> = walk(d);
        assert!(!files.is_empty(), "{} has files", d.display());
        for f in files {
            let want = if f.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(mode(&f), want, "{}", f.display());
        }
    }
}

/// Everything under `dir`, depth first.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// `rflume agent` on `conf` with the given log level; `open_umask` starts it with umask 0000,
/// which would make every file it creates world-readable if rflume relied on the umask;
/// `metrics_port` starts Flume's metrics server there (no host given).
fn spawn_agent(conf: &str, level: &str, open_umask: bool, metrics_port: Option<u16>) -> Agent {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("agent dir");
    let conf_path = dir.path().join("flume.conf");
    fs::write(&conf_path, conf).expect("conf");
    let mut cmd = std::process::Command::new(rflume_bin());
    cmd.args(["agent", "--name", "a1"])
        .arg(format!("-Dflume.root.logger={level},console"))
        .arg("--conf-file")
        .arg(&conf_path);
    if let Some(port) = metrics_port {
        cmd.arg("-Dflume.monitoring.type=http")
            .arg(format!("-Dflume.monitoring.port={port}"));
    }
    if open_umask {
        // SAFETY: umask(2) is async-signal-safe and only changes the child's file-mode mask.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    }
    Agent::spawn(dir, cmd)
}

/// A position file that cannot be written from the start: one ERROR before any line is read,
/// no repetition at every `writePosInterval` (100 ms here) — at most one WARN a minute — lines still
/// delivered, the source's failures counted, and the stop says the positions were not saved.
#[test]
fn an_unwritable_position_file_is_an_error_at_start_and_at_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("logs");
    let blocker = dir.path().join("not-a-directory");
    fs::write(
        &blocker,
        "a file where the position file's directory should be",
    )
    .expect("write");
    let pos = blocker.join("taildir_position.json");
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    append_lines(logs.join("app.log"), (0..50).map(|i| format!("line {i}")));
    // DEBUG: each suppressed failure leaves a debug line, which is what the test counts.
    let port = free_port();
    let mut agent = spawn_agent(
        &taildir_conf(&logs, &pos, &broker.bootstrap(), &[]),
        "DEBUG",
        false,
        Some(port),
    );
    agent.wait_for_log(DELIVERY, "positions cannot be saved");
    agent.wait_for_log(DELIVERY, "serving metrics on http://127.0.0.1:");
    let health = common::http::get(&format!("http://127.0.0.1:{port}/health")).expect("/health");
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(
        health.body.contains("source r1 cannot save its positions"),
        "{}",
        health.body
    );
    agent.wait_until(DELIVERY, "the lines are delivered anyway", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 50, Duration::from_secs(5)).len() >= 50
    });
    agent.wait_until(Duration::from_secs(30), "10 more failed writes", || {
        agent
            .log()
            .matches("reported at most once a minute")
            .count()
            >= 10
    });
    agent.stop_cleanly();
    let log = agent.log();
    let first = log
        .lines()
        .find(|l| l.contains("positions cannot be saved"))
        .expect("the error line");
    assert!(first.contains("ERROR"), "{first}");
    assert!(
        first.contains(&pos.display().to_string()),
        "names the file: {first}"
    );
    assert_eq!(
        log.matches("positions cannot be saved").count()
            + log.matches("positions still cannot be saved").count(),
        1,
        "no repetition within a minute:\n{log}"
    );
    assert!(
        log.contains("stopping WITHOUT saving the positions"),
        "{log}"
    );
    assert!(log.contains("were NOT saved"), "{log}");
    assert!(!log.contains("stopped cleanly"), "{log}");
    assert!(agent.stop_totals("SOURCE.r1")["PositionWriteFail"] >= 11);
    assert!(
        log.contains("not-a-directory is not a directory"),
        "says why: {first}"
    );
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 50, Duration::from_secs(10));
    assert_eq!(records.len(), 50, "nothing lost, nothing twice");
}

/// The position file's directory disappears (replaced by a file) while the agent runs, then comes
/// back: one ERROR when writes start failing, `/health` 503 while they fail and 200 again after,
/// an INFO when they work again, and a clean stop.
#[test]
fn a_position_file_that_becomes_unwritable_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("logs");
    let state = dir.path().join("state");
    let pos = state.join("taildir_position.json");
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let app = logs.join("app.log");
    append_lines(&app, ["one"]);
    let port = free_port();
    let conf = taildir_conf(&logs, &pos, &broker.bootstrap(), &[]);
    let mut agent = spawn_agent(&conf, "INFO", false, Some(port));
    agent.wait_for_log(DELIVERY, "serving metrics on http://127.0.0.1:");
    let health =
        || common::http::get(&format!("http://127.0.0.1:{port}/health")).map_or(0, |a| a.status);
    agent.wait_until(DELIVERY, "the first position is saved", || {
        fs::read_to_string(&pos).is_ok_and(|t| t.contains("\"pos\":4"))
    });
    // The agent writes its positions by create-and-rename into this directory, so a removal can
    // meet a temporary file created after it listed the directory (ENOTEMPTY): try again.
    let mut removed = Err(std::io::Error::other("not tried"));
    poll_until(DELIVERY, || {
        removed = fs::remove_dir_all(&state);
        removed.is_ok()
    });
    removed.expect("remove the state dir");
    fs::write(&state, "in the way").expect("block it");
    agent.wait_for_log(DELIVERY, "positions cannot be saved");
    assert_eq!(health(), 503, "unhealthy while positions cannot be saved");
    append_lines(&app, ["two"]);
    agent.wait_until(DELIVERY, "lines still flow", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(5)).len() >= 2
    });
    fs::remove_file(&state).expect("unblock");
    agent.wait_for_log(DELIVERY, "written again after");
    agent.wait_until(DELIVERY, "/health answers 200 again", || health() == 200);
    agent.wait_until(DELIVERY, "the position covers both lines", || {
        fs::read_to_string(&pos).is_ok_and(|t| t.contains("\"pos\":8"))
    });
    agent.stop_cleanly();
    let log = agent.log();
    assert_eq!(log.matches("positions cannot be saved").count(), 1, "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    assert_eq!(mode(&state), 0o700, "the recreated directory is private");
}
