//! The spooling directory source end to end: spooldir → memory channel → Kafka sink against a
//! real broker, with the real `rflume` binary, real files, renames and signals.
//!
//! Every line carries a unique name, so what reaches Kafka is counted exactly, judged after the
//! agent stopped by reading the topic to its end.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::TempDir;

use common::*;

const TOPIC: &str = "spool";
const DELIVERY: Duration = Duration::from_secs(60);

struct Spool {
    broker: Broker,
    dir: TempDir,
}

impl Spool {
    fn new() -> Spool {
        let broker = Broker::start();
        broker.create_topic(TOPIC, 1);
        Spool {
            broker,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn config(&self, extra: &[(&str, &str)]) -> String {
        let mut c = format!(
            "a1.sources = r1\n\
             a1.channels = c1\n\
             a1.sinks = k1\n\
             a1.sources.r1.type = spooldir\n\
             a1.sources.r1.channels = c1\n\
             a1.sources.r1.spoolDir = {}\n\
             a1.sources.r1.pollDelay = 100\n\
             a1.channels.c1.type = memory\n\
             a1.channels.c1.capacity = 1000\n\
             a1.channels.c1.transactionCapacity = 100\n\
             a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.kafka.bootstrap.servers = {}\n\
             a1.sinks.k1.kafka.topic = {TOPIC}\n",
            self.spool().display(),
            self.broker.bootstrap()
        );
        for (k, v) in extra {
            c.push_str(&format!("{k} = {v}\n"));
        }
        c
    }

    /// Writes a complete file the way spooling directories are fed: elsewhere, then moved in.
    fn drop_file(&self, name: &str, lines: &[String], mtime_secs_ago: u64) -> PathBuf {
        fs::create_dir_all(self.spool()).unwrap();
        // `name` may be in a subdirectory of the spool (recursiveDirectorySearch).
        let staged = self
            .dir
            .path()
            .join(format!("staging-{}", name.replace('/', "_")));
        append_lines(&staged, lines);
        let t = SystemTime::now() - Duration::from_secs(mtime_secs_ago);
        fs::File::options()
            .write(true)
            .open(&staged)
            .unwrap()
            .set_modified(t)
            .unwrap();
        let dest = self.spool().join(name);
        fs::rename(&staged, &dest).unwrap();
        dest
    }

    fn records(&self, at_least: usize) -> Vec<Record> {
        consume_all(&self.broker.bootstrap(), TOPIC, 1, at_least, DELIVERY)
    }

    fn values(&self, at_least: usize) -> Vec<String> {
        self.records(at_least)
            .iter()
            .map(|r| r.value_str().to_string())
            .collect()
    }

    fn completed(&self, file: &Path) -> PathBuf {
        PathBuf::from(format!("{}.COMPLETED", file.display()))
    }

    /// rflume's delivered offset of `file`, from its progress file.
    fn delivered(&self, file: &Path) -> Option<u64> {
        let state = self.spool().join(".flumespool/.rflume-spool.json");
        let v: serde_json::Value = serde_json::from_slice(&fs::read(state).ok()?).ok()?;
        v["files"].as_array()?.iter().find_map(|e| {
            (e["path"].as_str()? == file.display().to_string()).then(|| e["delivered"].as_u64())?
        })
    }
}

fn lines(tag: &str, n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("{tag}-{i:06} some text of a spooled line"))
        .collect()
}

/// Every expected line once, nothing else: (missing, duplicated, unexpected).
fn tally(got: &[String], expected: &[String]) -> (usize, usize, usize) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for g in got {
        *counts.entry(g.as_str()).or_default() += 1;
    }
    let missing = expected
        .iter()
        .filter(|e| !counts.contains_key(e.as_str()))
        .count();
    let dups = counts.values().filter(|&&c| c > 1).map(|c| c - 1).sum();
    let unexpected = counts
        .keys()
        .filter(|k| !expected.iter().any(|e| e == *k))
        .count();
    (missing, dups, unexpected)
}

/// Three files, oldest first by modification time (not by name): every line once, in Flume's
/// order, each file renamed `.COMPLETED` only after it was delivered; the `file` and `basename`
/// headers as Flume sets them (seen through `useFlumeEventFormat`).
#[test]
fn files_are_shipped_once_oldest_first_and_renamed() {
    let s = Spool::new();
    let c = s.drop_file("c.log", &lines("c", 0..300), 300);
    let a = s.drop_file("a.log", &lines("a", 0..250), 100);
    let b = s.drop_file("b.log", &lines("b", 0..10), 200);
    let mut agent = Agent::start(
        &s.config(&[
            ("a1.sources.r1.fileHeader", "true"),
            ("a1.sources.r1.basenameHeader", "true"),
            ("a1.sinks.k1.useFlumeEventFormat", "true"),
        ]),
        "a1",
    );
    agent.wait_until(DELIVERY, "every file renamed", || {
        [&a, &b, &c].iter().all(|f| s.completed(f).exists())
    });
    agent.stop_cleanly();
    let records = s.records(560);
    let events: Vec<FlumeEvent> = records
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect();
    let bodies: Vec<String> = events.iter().map(|e| e.body_str().to_string()).collect();
    let expected: Vec<String> = lines("c", 0..300)
        .into_iter()
        .chain(lines("b", 0..10))
        .chain(lines("a", 0..250))
        .collect();
    assert_eq!(bodies, expected, "oldest first, each line once, in order");
    let first = events[0].header_map();
    assert_eq!(
        first.get("file").map(String::as_str),
        Some(&*c.display().to_string())
    );
    assert_eq!(first.get("basename").map(String::as_str), Some("c.log"));
    for f in [&a, &b, &c] {
        assert!(!f.exists(), "{} was renamed", f.display());
    }
    assert!(
        !s.spool().join(".flumespool/.flumespool-main.meta").exists(),
        "no file in flight: Flume's meta file is removed, as Flume does"
    );
}

/// `kill -9` in the middle of a file, with lines read into the channel but not delivered (the
/// broker is stopped first): after a restart every line arrives, the file is renamed, and lines
/// are shipped twice only past the offset rflume had saved.
#[test]
fn kill_9_in_the_middle_of_a_file_loses_nothing() {
    const TOTAL: usize = 40_000;
    let mut s = Spool::new();
    let expected = lines("k9", 0..TOTAL);
    let file = s.drop_file("big.log", &expected, 10);
    let line_len = expected[0].len() as u64 + 1;
    // Small batches, one at a time: the file takes seconds to deliver, so the kill lands in it.
    let config = s.config(&[
        ("a1.sinks.k1.flumeBatchSize", "100"),
        ("a1.sinks.k1.rflume.maxInFlightBatches", "1"),
    ]);
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "a delivered offset is saved", || {
        s.delivered(&file).is_some_and(|d| d > 0)
    });
    s.broker.pause();
    let saved = s.delivered(&file).unwrap_or(0);
    agent.kill9();
    assert!(
        file.exists() && saved < TOTAL as u64 * line_len,
        "the kill came mid-file (saved {saved}); make the file larger"
    );
    s.broker.resume();
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "the file is renamed after the restart", || {
        s.completed(&file).exists()
    });
    agent.stop_cleanly();
    let got = s.values(TOTAL);
    let (missing, dups, unexpected) = tally(&got, &expected);
    assert_eq!(
        (missing, unexpected),
        (0, 0),
        "nothing lost, nothing foreign"
    );
    let past_saved = TOTAL - (saved / line_len) as usize;
    assert!(
        dups <= past_saved,
        "{dups} duplicates, but only {past_saved} lines were past the saved offset {saved}"
    );
    eprintln!("saved offset {saved}: {dups} duplicates of {TOTAL} lines");
}

/// A file appended to after it was picked up: reported at ERROR with Flume's message, left
/// untouched (not renamed), and the other files go on. After a restart the rest of it arrives and
/// it is renamed: nothing lost, nothing twice.
#[test]
fn a_file_changed_after_pick_up_is_reported_and_finished_after_a_restart() {
    let mut s = Spool::new();
    let first = lines("grow", 0..2000);
    let file = s.drop_file("grow.log", &first, 100);
    s.broker.pause();
    let config = s.config(&[]);
    let mut agent = Agent::start(&config, "a1");
    // The channel (1000) fills: the file is picked up and read part-way.
    agent.wait_until(DELIVERY, "the reader is part-way into the file", || {
        agent.log().contains("started:")
            && common::process::process_read_offset(agent.pid(), &file).is_some_and(|o| o > 0)
    });
    let more = lines("grow", 2000..2100);
    append_lines(&file, &more);
    s.broker.resume();
    agent.wait_for_log(DELIVERY, "File has changed size since being read");
    let other = lines("other", 0..5);
    let other_file = s.drop_file("other.log", &other, 0);
    agent.wait_until(DELIVERY, "the other file is shipped and renamed", || {
        s.completed(&other_file).exists()
    });
    assert!(
        file.exists() && !s.completed(&file).exists(),
        "left untouched"
    );
    agent.stop_cleanly();
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "the grown file is finished", || {
        s.completed(&file).exists()
    });
    agent.stop_cleanly();
    let expected: Vec<String> = first.iter().chain(&other).chain(&more).cloned().collect();
    let got = s.values(expected.len());
    assert_eq!(tally(&got, &expected), (0, 0, 0), "each line exactly once");
}

/// A name whose `.COMPLETED` file already exists: the lines are delivered, the file is left
/// where it is (Flume: "File name has been re-used…"), the old completed file is untouched and
/// the other files go on.
#[test]
fn a_name_clashing_with_a_completed_file_is_delivered_and_left_in_place() {
    let s = Spool::new();
    fs::create_dir_all(s.spool()).unwrap();
    let old = s.spool().join("x.log.COMPLETED");
    fs::write(&old, "old contents\n").unwrap();
    let x = s.drop_file("x.log", &lines("x", 0..20), 50);
    let y = s.drop_file("y.log", &lines("y", 0..20), 10);
    let mut agent = Agent::start(&s.config(&[]), "a1");
    agent.wait_for_log(DELIVERY, "File name has been re-used with different files");
    agent.wait_until(DELIVERY, "y.log is renamed", || s.completed(&y).exists());
    agent.stop_cleanly();
    assert!(x.exists(), "x.log stays");
    assert_eq!(fs::read_to_string(&old).unwrap(), "old contents\n");
    let expected: Vec<String> = lines("x", 0..20)
        .into_iter()
        .chain(lines("y", 0..20))
        .collect();
    assert_eq!(s.values(40), expected);
}

/// A directory Flume worked on: Flume's `.flumespool-main.meta` (written here with the Apache
/// Avro library, as Flume's `DurablePositionTracker` writes it) says 40 lines of `a.log` were
/// committed; `done.log.COMPLETED` was finished. rflume ships exactly the other 60 lines, never
/// the completed file, and removes Flume's meta file once `a.log` is done.
#[test]
fn a_directory_left_by_flume_resumes_at_flumes_offset() {
    let s = Spool::new();
    fs::create_dir_all(s.spool().join(".flumespool")).unwrap();
    fs::write(s.spool().join("done.log.COMPLETED"), "finished by flume\n").unwrap();
    let all = lines("fl", 0..100);
    let a = s.drop_file("a.log", &all, 10);
    let offset: usize = all[..40].iter().map(|l| l.len() + 1).sum();
    let meta = s.spool().join(".flumespool/.flumespool-main.meta");
    write_flume_meta(&meta, &a.display().to_string(), &[10, offset as i64]);
    let mut agent = Agent::start(&s.config(&[]), "a1");
    agent.wait_until(DELIVERY, "a.log is renamed", || s.completed(&a).exists());
    agent.stop_cleanly();
    assert_eq!(s.values(60), all[40..].to_vec());
    assert!(
        !meta.exists(),
        "Flume's meta file is removed with its file, as Flume does"
    );
}

/// Flume's `DurablePositionTracker` file: an Avro container whose `file` metadata names the
/// target, one `TransferStateFileMeta { long offset }` record per commit.
fn write_flume_meta(path: &Path, target: &str, offsets: &[i64]) {
    use apache_avro::types::Record as AvroRecord;
    let schema = apache_avro::Schema::parse_str(
        r#"{"type":"record","name":"TransferStateFileMeta","namespace":"org.apache.flume.serialization","fields":[{"name":"offset","type":"long"}]}"#,
    )
    .unwrap();
    let mut w = apache_avro::Writer::new(&schema, Vec::new());
    w.add_user_metadata("file".to_string(), target).unwrap();
    for &o in offsets {
        let mut r = AvroRecord::new(&schema).unwrap();
        r.put("offset", o);
        w.append(r).unwrap();
        w.flush().unwrap();
    }
    fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// Real Flume as the oracle for what rflume leaves behind is in tests/flume_oracle.rs; this is
/// `rflume check`'s view of a spooldir with Flume's deprecated and unsupported settings.
#[test]
fn check_reports_unsupported_deserializers_and_bad_policies() {
    let s = Spool::new();
    fs::create_dir_all(s.spool()).unwrap();
    let config = s.config(&[
        ("a1.sources.r1.deserializer", "AVRO"),
        ("a1.sources.r1.deletePolicy", "later"),
    ]);
    let conf = s.dir.path().join("check.conf");
    fs::write(&conf, &config).unwrap();
    let out = run_rflume(["check", "-f", &conf.display().to_string(), "-n", "a1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("unsupported:")
            && l.contains("a1.sources.r1.deserializer")
            && l.contains("AVRO")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("error:") && l.contains("a1.sources.r1.deletePolicy")),
        "{stdout}"
    );
}

/// `includePattern`, `ignorePattern` and `recursiveDirectorySearch` together: only `*.log` files
/// not named `skip*` are read, in subdirectories too, except in a directory whose name matches
/// `ignorePattern` (Flume's `preVisitDirectory`). The files left out are the oldest, so a filter
/// that let them through would ship them first; they stay untouched, and none of their lines
/// arrive.
#[test]
fn include_ignore_and_recursive_search_pick_exactly_the_matching_files() {
    let s = Spool::new();
    let ignored = s.drop_file("skip-me.log", &lines("ignored", 0..5), 500);
    let not_included = s.drop_file("notes.txt", &lines("txt", 0..5), 400);
    fs::create_dir_all(s.spool().join("skipdir")).unwrap();
    let in_ignored_dir = s.drop_file("skipdir/e.log", &lines("skipdir", 0..5), 300);
    let top = s.drop_file("a.log", &lines("top", 0..20), 200);
    fs::create_dir_all(s.spool().join("sub/deeper")).unwrap();
    let nested = s.drop_file("sub/deeper/b.log", &lines("nested", 0..20), 100);
    let mut agent = Agent::start(
        &s.config(&[
            ("a1.sources.r1.includePattern", r"^.*\\.log$"),
            ("a1.sources.r1.ignorePattern", "^skip.*"),
            ("a1.sources.r1.recursiveDirectorySearch", "true"),
        ]),
        "a1",
    );
    agent.wait_until(DELIVERY, "both matching files are renamed", || {
        s.completed(&top).exists() && s.completed(&nested).exists()
    });
    agent.stop_cleanly();
    let expected: Vec<String> = lines("top", 0..20)
        .into_iter()
        .chain(lines("nested", 0..20))
        .collect();
    assert_eq!(
        s.values(40),
        expected,
        "the two matching files, oldest first"
    );
    for f in [&ignored, &not_included, &in_ignored_dir] {
        assert!(
            f.exists() && !s.completed(f).exists(),
            "{} is left alone",
            f.display()
        );
    }
}

/// `deletePolicy = immediate`: a delivered file is deleted, not renamed, and its lines arrive once.
#[test]
fn delete_policy_immediate_removes_delivered_files() {
    let s = Spool::new();
    let a = s.drop_file("a.log", &lines("del-a", 0..50), 20);
    let b = s.drop_file("b.log", &lines("del-b", 0..50), 10);
    let mut agent = Agent::start(
        &s.config(&[("a1.sources.r1.deletePolicy", "immediate")]),
        "a1",
    );
    agent.wait_until(DELIVERY, "both files are gone", || {
        !a.exists() && !b.exists()
    });
    agent.stop_cleanly();
    assert!(
        !s.completed(&a).exists() && !s.completed(&b).exists(),
        "deleted, not renamed"
    );
    let expected: Vec<String> = lines("del-a", 0..50)
        .into_iter()
        .chain(lines("del-b", 0..50))
        .collect();
    assert_eq!(s.values(100), expected, "every line once, in order");
}

/// `trackingPolicy = tracker_dir` with an absolute `trackerDir` outside the spool directory: a
/// delivered file stays where it is, marked by `<trackerDir>/<name><fileSuffix>`; after a restart
/// the marked file is not read again and a new file is.
#[test]
fn tracker_dir_marks_files_in_place_and_remembers_them_across_a_restart() {
    let s = Spool::new();
    let tracker = s.dir.path().join("tracker");
    let config = s.config(&[
        ("a1.sources.r1.trackingPolicy", "tracker_dir"),
        ("a1.sources.r1.trackerDir", &tracker.display().to_string()),
    ]);
    let first = s.drop_file("first.log", &lines("first", 0..30), 10);
    let marker = |name: &str| tracker.join(format!("{name}.COMPLETED"));
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "first.log is marked done", || {
        marker("first.log").exists()
    });
    agent.stop_cleanly();
    assert!(first.exists(), "the file stays in place");
    assert!(!s.completed(&first).exists(), "not renamed");
    let second = s.drop_file("second.log", &lines("second", 0..30), 0);
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "second.log is marked done", || {
        marker("second.log").exists()
    });
    agent.stop_cleanly();
    assert!(second.exists() && first.exists());
    let expected: Vec<String> = lines("first", 0..30)
        .into_iter()
        .chain(lines("second", 0..30))
        .collect();
    assert_eq!(
        s.values(60),
        expected,
        "each file once: the marked one is not read again after the restart"
    );
}

/// `consumeOrder = youngest`: the most recently modified file first.
#[test]
fn consume_order_youngest_reads_the_newest_file_first() {
    let s = Spool::new();
    let old = s.drop_file("old.log", &lines("old", 0..10), 300);
    let mid = s.drop_file("mid.log", &lines("mid", 0..10), 200);
    let new = s.drop_file("new.log", &lines("new", 0..10), 100);
    let mut agent = Agent::start(
        &s.config(&[("a1.sources.r1.consumeOrder", "youngest")]),
        "a1",
    );
    agent.wait_until(DELIVERY, "every file renamed", || {
        [&old, &mid, &new].iter().all(|f| s.completed(f).exists())
    });
    agent.stop_cleanly();
    let expected: Vec<String> = lines("new", 0..10)
        .into_iter()
        .chain(lines("mid", 0..10))
        .chain(lines("old", 0..10))
        .collect();
    assert_eq!(s.values(30), expected, "youngest first");
}
