//! The file channel end to end: TAILDIR → file channel → Kafka with the real `rflume` binary, a
//! real broker, real files and signals. What a put committed survives `kill -9`; what a take
//! committed is not delivered again; a torn write is cut off and reported; a second agent and a
//! Flume channel's directories are refused; a disk that really fills up pushes back on the
//! source and recovers by itself.
//!
//! How a test knows a put committed without looking inside the agent: the file channel
//! acknowledges a TAILDIR batch once it is on disk, and TAILDIR then saves its position (within
//! 250 ms), so "the position file says line N" means "lines before N are in the channel". A take
//! committed shows in the channel's checkpoint: its watermark says every event below it was
//! delivered.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::stream::*;
// common::stream and common::tally (re-exported by common) both name these.
use common::stream::{numbered, Tally};
use common::*;

const TOPIC: &str = "fc";
/// Generous for anything that takes seconds on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(90);

/// What the tests here need of a [`Work`].
trait Checks {
    fn config(&self, bootstrap: &str, channel: &[(&str, &str)]) -> String;
    fn wait_stored(&self, agent: &Agent, n: usize);
    fn wait_delivered(&self, agent: &Agent, n: u64);
}

impl Checks for Work {
    fn config(&self, bootstrap: &str, channel: &[(&str, &str)]) -> String {
        self.taildir_pipeline(bootstrap, TOPIC, channel)
    }

    /// Lines `0..n` are in the channel: TAILDIR saved a position past them.
    #[track_caller]
    fn wait_stored(&self, agent: &Agent, n: usize) {
        let want = (n * LINE_LEN) as u64;
        agent.wait_until(
            DEADLINE,
            &format!("lines 0..{n} are in the channel"),
            || saved_position(&self.positions, &self.log).is_some_and(|p| p >= want),
        );
    }

    /// The channel's checkpoint says every event below `n` was delivered.
    #[track_caller]
    fn wait_delivered(&self, agent: &Agent, n: u64) {
        let cp = self.channel.join("checkpoint");
        agent.wait_until(
            DEADLINE,
            &format!("the checkpoint says {n} events were delivered"),
            || {
                rflume::channel::file::checkpoint::load(&[cp.as_path()])
                    .0
                    .is_some_and(|c| c.watermark >= n)
            },
        );
    }
}

/// Every line `0..n` exactly once, in order.
#[track_caller]
fn assert_in_order_exactly_once(records: &[Record], n: usize) {
    let tally = Tally::of(records, n);
    assert!(
        tally.complete() && tally.duplicates == 0,
        "every line exactly once: {tally}"
    );
    let numbers: Vec<usize> = records.iter().filter_map(|r| number_of(&r.value)).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "lines out of order"
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// Lines whose put committed (the broker is unreachable: they are only in the channel) are all
/// delivered by the agent that starts after a `kill -9`, exactly once and in order — the
/// restarted TAILDIR resumes past them, so every one of them comes from the channel's disk. The
/// channel's directories are 0700 and its files 0600.
#[test]
fn committed_puts_survive_kill_9_and_are_delivered_after_restart() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let w = Work::new();
    let down = ClosedPort::new();
    let mut agent = Agent::start(&w.config(&down.address(), &[]), "a1");
    append_lines(&w.log, (0..5000).map(numbered));
    w.wait_stored(&agent, 5000);
    agent.kill9();

    for dir in ["checkpoint", "data"] {
        let dir = w.channel.join(dir);
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for f in std::fs::read_dir(&dir).expect("list").flatten() {
            assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
        }
    }

    let mut agent = Agent::start(&w.config(&broker.bootstrap(), &[]), "a1");
    agent.wait_for_log(DEADLINE, "replayed 5000 waiting events");
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 5000, DEADLINE);
    assert_eq!(records.len(), 5000, "all of them arrive");
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 5000, DEADLINE);
    assert_in_order_exactly_once(&records, 5000);
}

/// Lines whose take committed (Kafka acknowledged them and the channel recorded it) are not
/// delivered again after a `kill -9`: the restarted agent ships only what came after.
#[test]
fn committed_takes_are_not_delivered_again_after_kill_9() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let w = Work::new();
    let fast = [("checkpointInterval", "100")];
    let mut agent = Agent::start(&w.config(&broker.bootstrap(), &fast), "a1");
    append_lines(&w.log, (0..3000).map(numbered));
    w.wait_stored(&agent, 3000);
    w.wait_delivered(&agent, 3000);
    agent.kill9();

    let mut agent = Agent::start(&w.config(&broker.bootstrap(), &fast), "a1");
    append_lines(&w.log, (3000..4000).map(numbered));
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 4000, DEADLINE);
    assert_eq!(records.len(), 4000);
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 4000, DEADLINE);
    assert_in_order_exactly_once(&records, 4000);
}

/// A crash in the middle of writing a record leaves a torn tail: the restarted agent names the
/// file and offset, cuts the torn bytes off, starts, and delivers every committed line.
#[test]
fn a_torn_tail_is_reported_cut_off_and_the_agent_starts() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let w = Work::new();
    let down = ClosedPort::new();
    let mut agent = Agent::start(&w.config(&down.address(), &[]), "a1");
    append_lines(&w.log, (0..2000).map(numbered));
    w.wait_stored(&agent, 2000);
    agent.kill9();
    let data = w.channel.join("data");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("list")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("rflume-wal-"))
        .collect();
    segments.sort();
    let newest = segments.pop().expect("a segment");
    let good_len = std::fs::metadata(&newest).expect("stat").len();
    // The first bytes of a record header, as a write cut short by the crash leaves them.
    append_raw(&newest, &[0x52, 0x46, 0x01, 0x00, 0xff, 0x10, 0x00]);

    let mut agent = Agent::start(&w.config(&broker.bootstrap(), &[]), "a1");
    agent.wait_for_log(
        DEADLINE,
        &format!(
            "{} at offset {good_len}: torn or damaged record",
            newest.display()
        ),
    );
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 2000, DEADLINE);
    assert_eq!(records.len(), 2000);
    agent.stop_cleanly();
    assert_eq!(
        std::fs::metadata(&newest)
            .map(|m| m.len())
            .unwrap_or(good_len),
        good_len,
        "the torn bytes were cut off (or the delivered segment deleted)"
    );
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 2000, DEADLINE);
    assert_in_order_exactly_once(&records, 2000);
}

fn append_raw(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
}

/// Two agents on the same directories would corrupt each other: the second one refuses to start,
/// naming the directory and the agent that holds it; the first one carries on.
#[test]
fn a_second_agent_on_the_same_directories_is_refused() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let w = Work::new();
    let config = w.config(&broker.bootstrap(), &[]);
    let mut first = Agent::start(&config, "a1");
    first.wait_for_log(DEADLINE, "agent a1 started");
    let mut second = Agent::start(&config, "a1");
    let status = second
        .wait_exit(DEADLINE)
        .expect("the second agent exits by itself");
    assert_eq!(status.code(), Some(1), "{}", second.log());
    let expected = format!(
        "is in use by another file channel (process {})",
        first.pid()
    );
    assert!(second.log().contains(&expected), "{}", second.log());
    append_lines(&w.log, (0..100).map(numbered));
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 100, DEADLINE);
    assert_eq!(records.len(), 100, "the first agent still delivers");
    first.stop_cleanly();
}

/// Directories that hold a Flume file channel are recognised: the agent refuses to start, says
/// how to drain them with Flume, and writes nothing there.
#[test]
fn a_flume_file_channel_is_refused_and_left_untouched() {
    let w = Work::new();
    let checkpoint = w.channel.join("checkpoint");
    let data = w.channel.join("data");
    std::fs::create_dir_all(&checkpoint).expect("mkdir");
    std::fs::create_dir_all(&data).expect("mkdir");
    let flume_files = [
        (
            checkpoint.join("checkpoint"),
            b"\x00\x00\x00\x02flume".to_vec(),
        ),
        (checkpoint.join("checkpoint.meta"), b"meta".to_vec()),
        (data.join("log-1"), b"\x7f\x00flume data".to_vec()),
        (data.join("log-1.meta"), b"meta".to_vec()),
    ];
    for (p, b) in &flume_files {
        std::fs::write(p, b).expect("write");
    }
    let down = ClosedPort::new();
    let mut agent = Agent::start(&w.config(&down.address(), &[]), "a1");
    let status = agent
        .wait_exit(DEADLINE)
        .expect("the agent exits by itself");
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains(&format!(
            "{} holds an Apache Flume file channel",
            checkpoint.display()
        )) || log.contains(&format!(
            "{} holds an Apache Flume file channel",
            data.display()
        )),
        "{log}"
    );
    assert!(
        log.contains("no sources"),
        "the message says how to drain it: {log}"
    );
    for (p, b) in &flume_files {
        assert_eq!(
            &std::fs::read(p).expect("read"),
            b,
            "{} is untouched",
            p.display()
        );
    }
    for dir in [&checkpoint, &data] {
        let names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with("rflume")),
            "nothing of rflume's is written next to Flume's files: {names:?}"
        );
    }
}

/// A disk that really fills up (a 12 MiB tmpfs, 20 MB of lines, the broker unreachable): once
/// less than `minimumRequiredSpace` would be left, puts fail with Flume's "Usable space
/// exhausted" and the source holds back (its position stops); nothing committed is harmed. When
/// the broker returns, delivered segments are deleted, space comes back, puts resume by
/// themselves and every line arrives, exactly once.
#[test]
fn a_full_disk_pushes_back_and_recovers_by_itself() {
    const LINES: usize = 200_000;
    let fs = SmallFs::mount(12);
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let mut proxy = Proxy::start(&broker);
    proxy.kill();
    let mut w = Work::new();
    w.channel = fs.dir.join("channel");
    let config = w.config(
        &proxy.bootstrap(),
        &[
            ("maxFileSize", "1048576"),
            ("minimumRequiredSpace", "1048576"),
        ],
    );
    let mut agent = Agent::start(&config, "a1");
    append_lines(&w.log, (0..LINES).map(numbered));
    agent.wait_for_log(DEADLINE, "Usable space exhausted");
    // The source holds back: its position stays short of the end while the disk is full.
    let stored = saved_position(&w.positions, &w.log).unwrap_or(0);
    assert!(
        stored < (LINES * LINE_LEN) as u64,
        "the source stopped storing: position {stored}"
    );
    assert!(
        fs.free() >= 1 << 19,
        "the channel kept (most of) minimumRequiredSpace free: {} bytes left",
        fs.free()
    );
    assert!(agent.is_running(), "a full disk is not a reason to die");

    proxy.restart();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, LINES, DEADLINE * 2);
    assert!(records.len() >= LINES, "{}", Tally::of(&records, LINES));
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, LINES, DEADLINE);
    let tally = Tally::of(&records, LINES);
    eprintln!("full disk and recovery: {tally}");
    assert!(tally.complete(), "{tally}");
    assert_eq!(tally.duplicates, 0, "{tally}");
}
