//! What the agent exposes on the machine: the files it creates are private (position files and
//! dead-letter files 0600, their directories 0700), and a position file that cannot be written
//! is said loudly — an ERROR at start, at most one WARN a minute while it lasts, and a stop that
//! says the positions were not saved instead of "stopped cleanly" — while lines keep flowing.
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

/// Directories rflume creates for positions and dead letters are 0700, their files 0600,
/// whatever the umask (here the permissive 0000).
#[test]
fn position_and_dead_letter_files_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).expect("logs");
    let pos = dir.path().join("state/sub/taildir_position.json");
    let dead = dir.path().join("dead/letters");
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    append_lines(logs.join("app.log"), ["ok", &"x".repeat(3000)]);
    let dead_dir = dead.display().to_string();
    let conf = taildir_conf(
        &logs,
        &pos,
        &broker.bootstrap(),
        &[
            ("sinks.k1.kafka.producer.max.request.size", "2000"),
            ("sinks.k1.rflume.deadLetter.directory", &dead_dir),
        ],
    );
    let mut agent = spawn_agent(&conf, "INFO", true);
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
}

/// `rflume agent` on `conf` with the given log level; `open_umask` starts it with umask 0000,
/// which would make every file it creates world-readable if rflume relied on the umask.
fn spawn_agent(conf: &str, level: &str, open_umask: bool) -> Agent {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("agent dir");
    let conf_path = dir.path().join("flume.conf");
    fs::write(&conf_path, conf).expect("conf");
    let mut cmd = std::process::Command::new(rflume_bin());
    cmd.args(["agent", "--name", "a1"])
        .arg(format!("-Dflume.root.logger={level},console"))
        .arg("--conf-file")
        .arg(&conf_path);
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
    let mut agent = spawn_agent(
        &taildir_conf(&logs, &pos, &broker.bootstrap(), &[]),
        "DEBUG",
        false,
    );
    agent.wait_for_log(DELIVERY, "positions cannot be saved");
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
/// back: one ERROR when writes start failing, an INFO when they work again, and a clean stop.
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
    let mut agent = Agent::start(&taildir_conf(&logs, &pos, &broker.bootstrap(), &[]), "a1");
    agent.wait_until(DELIVERY, "the first position is saved", || {
        fs::read_to_string(&pos).is_ok_and(|t| t.contains("\"pos\":4"))
    });
    fs::remove_dir_all(&state).expect("remove the state dir");
    fs::write(&state, "in the way").expect("block it");
    agent.wait_for_log(DELIVERY, "positions cannot be saved");
    append_lines(&app, ["two"]);
    agent.wait_until(DELIVERY, "lines still flow", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(5)).len() >= 2
    });
    fs::remove_file(&state).expect("unblock");
    agent.wait_for_log(DELIVERY, "written again after");
    agent.wait_until(DELIVERY, "the position covers both lines", || {
        fs::read_to_string(&pos).is_ok_and(|t| t.contains("\"pos\":8"))
    });
    agent.stop_cleanly();
    let log = agent.log();
    assert_eq!(log.matches("positions cannot be saved").count(), 1, "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    assert_eq!(mode(&state), 0o700, "the recreated directory is private");
}
