//! The TAILDIR source, end to end, as production logs treat it: TAILDIR → memory channel
//! (capacity 10000, transactionCapacity 1000) → Kafka sink, against a real broker, with the real
//! `rflume` binary, real files, real renames, truncations and signals.
//!
//! Every line written carries a unique sequence number, so what reaches Kafka is counted exactly:
//! each test names the lines it expects and asserts each arrived exactly once (or, after `kill -9`,
//! at least once with duplicates within the documented bound).
//!
//! How a test knows the agent is done (no sleep-and-hope): it waits until every expected line is
//! in the topic, then until the position file shows every file delivered to its end, then stops
//! the agent with SIGTERM (which drains the channel) and reads the topic one last time. A
//! duplicate produced late (a file read again after a rename) is thus still counted.
//!
//! Negative checks ("the partial line is not shipped yet") use barriers instead of a hold period:
//! lines written to a second file of the same group and awaited in Kafka prove that the agent made
//! a full pass over the files after the condition was set up.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use common::*;

/// Each test has its own broker, so the topic name is each test's own.
const TOPIC: &str = "taildir";
/// Generous on a loaded 2-core machine; a passing test needs a fraction of it.
const DELIVERY: Duration = Duration::from_secs(60);
/// Position writes in most tests (Flume's default is 3000 ms; the kill -9 test keeps it).
const FAST_POS_WRITES: (&str, &str) = ("writePosInterval", "300");

// ---------------------------------------------------------------------------------------------
// 1–3. Rotation
// ---------------------------------------------------------------------------------------------

/// logrotate's default (`create`): `app.log` is renamed to `app.log.1` (older ones shifted to
/// `.2`, `.3`, …) and a new empty `app.log` created, four times, while an application keeps
/// logging. After each rename the application writes a few more lines through its old handle
/// (into the renamed file, as until it handles postrotate's SIGHUP), then reopens `app.log`.
/// Every line arrives exactly once, with either pattern:
/// - `app\.log` matches only the live file: renamed files are drained through the handle the
///   agent already holds;
/// - `app\.log.*` also matches the renamed files (`app.log` → `app.log.1`, and the shifts
///   `app.log.1` → `app.log.2` …): each is the same file under another name, followed by its
///   inode and not read again. (Flume reads it again from 0: FLUME-2777 and friends.)
#[test]
fn rotation_by_rename_and_create_delivers_every_line_exactly_once() {
    for (pattern, tag) in [(r"app\.log", "rot"), (r"app\.log.*", "ren")] {
        rotate_while_logging(pattern, tag, |t, writer, k| {
            let app = t.log_path("app.log");
            shift_rotated(t, k);
            fs::rename(&app, t.log_path("app.log.1")).expect("rename app.log");
            File::create(&app).expect("create the new app.log");
            writer.reopen();
        });
    }
}

/// logrotate's `copytruncate`, with a pattern that matches the copies (`app\.log.*`): the
/// application is held still while `app.log` is copied to `app.log.1` (older copies shifted) and
/// truncated to 0, four times, then keeps writing to its `O_APPEND` handle.
///
/// Holding the writer is the favourable case: with logrotate, lines written between the copy and
/// the truncation are in neither file and are lost whatever the tailer does — inherent to
/// copytruncate. What a tailer must get right is everything else: every line that was in the file
/// at copy time arrives once (the copy must start where the original had been read, not at 0 and
/// not at a stale saved position), and every line written after the truncation arrives once.
#[test]
fn copytruncate_delivers_every_line_exactly_once() {
    rotate_while_logging(r"app\.log.*", "cpt", |t, writer, k| {
        let app = t.log_path("app.log");
        writer.hold();
        shift_rotated(t, k);
        copy_like_logrotate(&app, &t.log_path("app.log.1"));
        OpenOptions::new()
            .write(true)
            .open(&app)
            .and_then(|f| f.set_len(0))
            .expect("truncate app.log");
        let written = writer.written();
        writer.release();
        eprintln!(
            "copytruncate {k}: app.log.1 holds lines {}..{written}",
            first_seq(&t.log_path("app.log.1")),
        );
    });
}

/// An application logs `tag` lines to `app.log` (followed with `pattern`) while `rotate` runs
/// four times; then every line must have arrived exactly once, judged after the agent stopped.
fn rotate_while_logging(
    pattern: &str,
    tag: &'static str,
    mut rotate: impl FnMut(&Taildir, &AppWriter, usize),
) {
    let t = Taildir::new();
    let mut agent = t.start(pattern, &[FAST_POS_WRITES]);
    let app = t.log_path("app.log");
    let writer = AppWriter::start(&app, tag, Pace::steady());

    rotate_four_times(&t, &agent, &writer, |k| rotate(&t, &writer, k));
    let expected = lines(tag, 0..writer.finish());

    let records = t.deliver_exactly_once(&mut agent, &expected, &t.log_files());
    eprintln!(
        "{pattern}, {tag}: {} lines in {} files, {} records",
        expected.len(),
        t.log_files().len(),
        records.len()
    );
}

/// Lines written to each generation of `app.log` before it is rotated away.
const LINES_PER_GENERATION: usize = 3000;

/// Four rotations, each once the current `app.log` holds [`LINES_PER_GENERATION`] more lines and
/// the agent is tracking it (a file renamed out of the pattern before any tailer saw it cannot be
/// read by any tailer), then one more generation.
fn rotate_four_times(
    t: &Taildir,
    agent: &Agent,
    writer: &AppWriter,
    mut rotate: impl FnMut(usize),
) {
    for k in 0..4 {
        writer.wait_written((k + 1) * LINES_PER_GENERATION);
        t.wait_until_tracked(agent, &t.log_path("app.log"));
        rotate(k);
    }
    writer.wait_written(5 * LINES_PER_GENERATION);
}

/// Copies `from` to `to` as logrotate's `copytruncate` does: the copy is created, then filled
/// 4 KiB at a time, so a tailer may see it while it grows.
fn copy_like_logrotate(from: &Path, to: &Path) {
    let data = fs::read(from).expect("read the log");
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for block in data.chunks(4096) {
        out.write_all(block).expect("write the copy");
    }
}

/// `app.log.K` → `app.log.K+1`, …, `app.log.1` → `app.log.2`, as logrotate does before rotation
/// number `k` (0-based).
fn shift_rotated(t: &Taildir, k: usize) {
    for i in (1..=k).rev() {
        let from = t.log_path(&format!("app.log.{i}"));
        let to = t.log_path(&format!("app.log.{}", i + 1));
        fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("rename {} → {}: {e}", from.display(), to.display()));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. kill -9
// ---------------------------------------------------------------------------------------------

/// 200,000 lines appended in chunks; the agent is killed with SIGKILL mid-stream (after a position
/// was saved, while lines still flow) and started again with the same configuration and position
/// file, and the writer finishes. No line is missing. Lines are shipped twice only if they had
/// reached Kafka after the position the crashed agent last saved (they are read again from it):
/// duplicates ≤ the number of lines in Kafka, at the kill, at or past the saved position.
/// The position file is written every 3 s here (Flume's default `writePosInterval`).
#[test]
fn kill_9_mid_stream_loses_nothing_and_duplicates_only_what_was_unsaved() {
    const TOTAL: usize = 200_000;
    let t = Taildir::new();
    let app = t.log_path("app.log");
    let len = line_len("k9");
    let mut agent = t.start(r"app\.log", &[]);
    // 1000 lines every 40 ms: ~25,000 lines/s, ~8 s in all.
    let writer = AppWriter::start(
        &app,
        "k9",
        Pace {
            chunk: 1000,
            pause: Duration::from_millis(40),
            limit: TOTAL,
        },
    );

    // Mid-stream and mid-interval: a position was saved, then 30,000 more lines were written.
    t.wait_position(&agent, "a position past line 10,000 is saved", |_| {
        t.delivered_offset(&app).is_some_and(|p| p >= 10_000 * len)
    });
    writer.wait_written(writer.written() + 30_000);
    let written_at_kill = writer.written();
    assert!(written_at_kill < TOTAL, "the kill is mid-stream");
    let saved_before_kill = t.delivered_offset(&app);
    agent.kill9();
    let killed = Instant::now();
    // What the restarted agent resumes from (read after the kill: a write may have landed
    // between the look above and the signal), and what had reached Kafka by then.
    let saved = t
        .delivered_offset(&app)
        .expect("the position file names app.log");
    assert_eq!(saved % len, 0, "a saved position is a line boundary");
    let resume_line = (saved / len) as usize;
    let before: Vec<Record> = consume_all(&t.broker.bootstrap(), TOPIC, 1, 0, DELIVERY);
    let at_kill = distinct_seqs(&before, "k9");
    let bound = at_kill.iter().filter(|&&s| s >= resume_line).count();

    let mut agent = t.start(r"app\.log", &[]);
    assert_eq!(writer.join(), TOTAL);
    let expected = lines("k9", 0..TOTAL);
    t.wait_for_all(&agent, &expected);
    t.wait_until_delivered(&agent, &[&app]);
    agent.stop_cleanly();
    let records = t.records(TOTAL);
    let tally = Tally::of(&records, &expected);
    eprintln!(
        "kill -9: {TOTAL} lines; {written_at_kill} written and {} in Kafka at the kill; position \
         file just before the kill {saved_before_kill:?}, after it {saved} = line {resume_line}; \
         bound (in Kafka at or past it) {bound}; after \
         restart: {} records, {} missing, {} duplicates, {} unexpected; kill to all delivered in \
         {:?}",
        at_kill.len(),
        records.len(),
        tally.missing,
        tally.duplicates,
        tally.unexpected,
        killed.elapsed(),
    );
    assert_eq!(tally.missing, 0, "no line may be lost: {tally}");
    assert_eq!(tally.unexpected, 0, "{tally}");
    assert!(
        tally.duplicates <= bound,
        "{} duplicates, but only {bound} lines in Kafka were past the saved position {saved} \
         (line {resume_line}): {tally}",
        tally.duplicates
    );
}

/// The memory channel's promise: what a `kill -9` destroys in the channel is read again. Kafka is
/// stalled (SIGSTOP) so that 5,000 lines are read into the channel but never acknowledged; the
/// position file is rewritten after they were read (a new file of the group appeared, which it
/// lists) and still names the last delivered line, not the last read one. After the kill, Kafka resumes and the restarted agent ships all
/// 5,000 again. (They may arrive twice: produce requests the killed agent had already written to
/// the stalled broker's socket are processed when it resumes. Not acknowledged, not delivered.)
#[test]
fn kill_9_with_lines_held_in_the_memory_channel_loses_none_of_them() {
    let mut t = Taildir::new();
    let app = t.log_path("app.log");
    let len = line_len("held");
    let delivered = lines("held", 0..5000);
    append_lines(&app, &delivered);
    let mut agent = t.start(r"app.*\.log", &[FAST_POS_WRITES]);
    t.wait_for_all(&agent, &delivered);
    t.wait_until_delivered(&agent, &[&app]);

    t.broker.pause();
    let held = lines("held", 5000..10_000);
    append_lines(&app, &held);
    let side = t.log_path("app-side.log");
    let side_lines = lines("side", 0..1);
    append_lines(&side, &side_lines);
    t.wait_until_tracked(&agent, &side);
    let saved = t.delivered_offset(&app);
    agent.kill9();
    t.broker.resume();
    assert_eq!(
        saved,
        Some(5000 * len),
        "the position file names the last line Kafka acknowledged (line 5,000), not the last \
         line read into the channel (line 10,000 = offset {})",
        10_000 * len
    );

    let mut agent = t.start(r"app.*\.log", &[FAST_POS_WRITES]);
    let expected: Vec<String> = delivered
        .iter()
        .chain(&held)
        .chain(&side_lines)
        .cloned()
        .collect();
    t.wait_for_all(&agent, &expected);
    t.wait_until_delivered(&agent, &[&app]);
    agent.stop_cleanly();
    let records = t.records(expected.len());
    let tally = Tally::of(&records, &expected);
    eprintln!("kill -9 with a stalled broker: {tally}");
    assert_eq!(tally.missing, 0, "{tally}");
    assert_eq!(tally.unexpected, 0, "{tally}");
}

// ---------------------------------------------------------------------------------------------
// 5. Flume's position file
// ---------------------------------------------------------------------------------------------

/// A node migrating from Flume: the position file Flume left (its exact layout, no rflume
/// sidecar) says line 501 of 1,000 is next. Exactly lines 501..=1000 arrive, in order, and the
/// position file afterwards is still in Flume's layout: a compact JSON array of objects with
/// exactly the keys `inode`, `pos`, `file`, in that order.
#[test]
fn flume_position_file_is_honoured_and_kept_in_flumes_layout() {
    let t = Taildir::new();
    let app = t.log_path("app.log");
    let all: Vec<String> = (1..=1000).map(|n| line("flm", n)).collect();
    append_lines(&app, &all);
    let len = line_len("flm");
    let inode = fs::metadata(&app).expect("stat").ino();
    let flume = format!(
        r#"[{{"inode":{inode},"pos":{},"file":"{}"}}]"#,
        500 * len,
        app.display()
    );
    fs::write(&t.pos_file, &flume).expect("write the position file");
    assert!(!t.sidecar().exists());

    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let expected = &all[500..];
    let records = t.deliver_exactly_once(&mut agent, expected, &[&app]);
    assert_eq!(values(&records), expected, "in file order");

    let text = fs::read_to_string(&t.pos_file).expect("read the position file");
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("not a JSON array of objects ({e}): {text}"));
    for o in &objects {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(keys, ["file", "inode", "pos"], "keys of {o:?} in {text}");
    }
    let entries: Vec<FlumePos> = serde_json::from_str(&text).expect("Flume's entry type");
    assert_eq!(
        serde_json::to_string(&entries).expect("json"),
        text,
        "Gson's compact layout, keys in Flume's order"
    );
    assert_eq!(
        entries,
        [FlumePos {
            inode,
            pos: 1000 * len,
            file: app.display().to_string()
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Inode reuse
// ---------------------------------------------------------------------------------------------

/// `app.log` is shipped and its position saved; while the agent is stopped the file is deleted
/// and a new file gets the same inode and at least as many bytes as the saved position — a file
/// Flume's inode rule would resume in the middle of (silently losing its first lines). On
/// restart the new file is shipped from its first line, and the old lines are not shipped again.
#[test]
fn a_new_file_that_reuses_a_saved_inode_is_read_from_its_first_line() {
    let fs_guard = InodeReusingDir::new();
    let t = Taildir::in_dir(fs_guard.logs.clone());
    let app = t.log_path("app.log");
    let old = lines("old", 0..100);
    append_lines(&app, &old);
    let old_inode = fs::metadata(&app).expect("stat").ino();

    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    t.wait_for_all(&agent, &old);
    t.wait_until_delivered(&agent, &[&app]);
    agent.stop_cleanly();
    let saved = t
        .positions()
        .into_iter()
        .find(|p| p.inode == old_inode)
        .expect("the stopped agent saved app.log's position");
    assert!(t.sidecar().exists(), "rflume's fingerprint sidecar");

    fs::remove_file(&app).expect("delete app.log");
    let new = lines("new", 0..150);
    t.replace_with_a_file_reusing(&app, old_inode, &new, saved.pos);

    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let expected: Vec<String> = old.iter().chain(&new).cloned().collect();
    t.deliver_exactly_once(&mut agent, &expected, &[&app]);
}

// ---------------------------------------------------------------------------------------------
// 7. Many files
// ---------------------------------------------------------------------------------------------

/// One file group (`.*\.log`) of 1,000 files of 20 lines: 500 exist when the agent starts, 500
/// are created while it runs (10 lines each, then 10 more appended to every one of them).
/// All 20,000 lines arrive exactly once and the position file lists all 1,000 files, delivered.
#[test]
fn a_thousand_files_in_one_group_are_shipped_exactly_once() {
    let t = Taildir::new();
    let name = |f: usize| format!("svc-{f:04}.log");
    let file_lines = |f: usize, r: std::ops::Range<usize>| -> Vec<String> {
        r.map(|i| line("many", f * 20 + i)).collect()
    };
    for f in 0..500 {
        append_lines(t.log_path(&name(f)), file_lines(f, 0..20));
    }
    let mut agent = t.start(r".*\.log", &[FAST_POS_WRITES]);
    for f in 500..1000 {
        append_lines(t.log_path(&name(f)), file_lines(f, 0..10));
    }
    for f in 500..1000 {
        append_lines(t.log_path(&name(f)), file_lines(f, 10..20));
    }
    let expected = lines("many", 0..20_000);

    t.wait_for_all(&agent, &expected);
    let files = t.log_files();
    assert_eq!(files.len(), 1000);
    t.deliver_exactly_once(&mut agent, &expected, &files);
    assert_eq!(t.positions().len(), 1000, "one position per file");
}

// ---------------------------------------------------------------------------------------------
// 8. Headers
// ---------------------------------------------------------------------------------------------

/// The file group's static header (`headers.f1.dc`), `fileHeader` and `byteOffsetHeader` reach
/// Kafka: as record headers through the sink's `header.<flume> = <kafka>` mapping (exactly the
/// mapped ones), and inside Flume's Avro event with `useFlumeEventFormat = true` (all of them).
/// One source feeds both sinks through a replicating selector.
#[test]
fn file_group_file_and_byte_offset_headers_reach_kafka() {
    let t = Taildir::new();
    t.broker.create_topic("taildir-avro", 1);
    let app = t.log_path("app.log");
    let sent = lines("hdr", 0..50);
    append_lines(&app, &sent);
    let len = line_len("hdr");
    let config = format!(
        "a1.sources = r1
a1.channels = c1 c2
a1.sinks = k1 k2
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1 c2
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {dir}/app\\\\.log
a1.sources.r1.positionFile = {pos}
a1.sources.r1.headers.f1.dc = eu-west-1
a1.sources.r1.fileHeader = true
a1.sources.r1.byteOffsetHeader = true
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.channels.c2.type = memory
a1.channels.c2.capacity = 10000
a1.channels.c2.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {TOPIC}
a1.sinks.k1.header.dc = datacenter
a1.sinks.k1.header.file = source-file
a1.sinks.k1.header.byteoffset = offset
a1.sinks.k2.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k2.channel = c2
a1.sinks.k2.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k2.kafka.topic = taildir-avro
a1.sinks.k2.useFlumeEventFormat = true
",
        dir = t.logs.display(),
        pos = t.pos_file.display(),
        bootstrap = t.broker.bootstrap(),
    );
    let mut agent = Agent::start(&config, "a1");
    let read_avro = || {
        consume_all(
            &t.broker.bootstrap(),
            "taildir-avro",
            1,
            sent.len(),
            DELIVERY,
        )
    };
    t.wait_for_all(&agent, &sent);
    read_avro();
    agent.stop_cleanly();
    let avro = read_avro();

    let records = t.records(sent.len());
    assert_eq!(values(&records), sent);
    let file = app.display().to_string();
    for (i, r) in records.iter().enumerate() {
        let mut headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    std::str::from_utf8(v.as_deref().unwrap_or(b"")).unwrap(),
                )
            })
            .collect();
        headers.sort();
        let offset = (i as u64 * len).to_string();
        assert_eq!(
            headers,
            [
                ("datacenter", "eu-west-1"),
                ("offset", offset.as_str()),
                ("source-file", file.as_str())
            ],
            "record {i}"
        );
    }

    assert_eq!(avro.len(), sent.len(), "Avro copies");
    for (i, r) in avro.iter().enumerate() {
        let event = FlumeEvent::decode(&r.value);
        let headers = event.header_map();
        assert_eq!(event.body, sent[i].as_bytes(), "Avro body {i}");
        let offset = (i as u64 * len).to_string();
        let want: BTreeMap<String, String> = [
            ("byteoffset", offset.as_str()),
            ("dc", "eu-west-1"),
            ("file", file.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(headers, want, "Avro headers of event {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Partial last line
// ---------------------------------------------------------------------------------------------

/// A last line without its newline is not shipped while the file is active (default
/// `idleTimeout`, 2 minutes) — not even after the agent has read the file twice since — and is
/// shipped once, whole, when its newline arrives.
#[test]
fn a_partial_last_line_waits_for_its_newline_and_is_not_split() {
    let t = Taildir::new();
    let mut agent = t.start(r".*\.log", &[FAST_POS_WRITES]);
    let app = t.log_path("app.log");
    let barrier = t.log_path("barrier.log");
    append_lines(&app, ["complete line"]);
    t.wait_for_all(&agent, &["complete line".to_string()]);

    append_raw(&app, b"half a li");
    // Three barrier lines, each awaited in Kafka before the next is written: the second is read
    // in a later pass over the files than the first, so by then `app.log` was read with its
    // partial line; the third proves that pass was delivered.
    for i in 0..3 {
        let marker = format!("barrier {i}");
        append_lines(&barrier, [&marker]);
        t.wait_for_all(&agent, &[marker]);
    }
    let early = t.records(0);
    assert_eq!(
        values(&early),
        ["complete line", "barrier 0", "barrier 1", "barrier 2"],
        "nothing of the unterminated line is shipped while the file is active"
    );

    append_raw(&app, b"ne\n");
    let expected = [
        "complete line",
        "barrier 0",
        "barrier 1",
        "barrier 2",
        "half a line",
    ]
    .map(String::from);
    let records = t.deliver_exactly_once(&mut agent, &expected, &[&app, &barrier]);
    assert_eq!(values(&records), expected, "one event, not two halves");
}

/// With a short `idleTimeout` (1.5 s), an unterminated last line is shipped once the file goes
/// idle (as Flume does); a line appended afterwards is shipped on its own.
#[test]
fn an_unterminated_line_is_shipped_when_the_file_goes_idle() {
    let t = Taildir::new();
    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES, ("idleTimeout", "1500")]);
    let app = t.log_path("app.log");
    append_raw(&app, b"first\nno newline at the end");
    let expected = ["first", "no newline at the end"].map(String::from);
    t.wait_for_all(&agent, &expected);
    append_lines(&app, ["after idle"]);
    let expected = ["first", "no newline at the end", "after idle"].map(String::from);
    let records = t.deliver_exactly_once(&mut agent, &expected, &[&app]);
    assert_eq!(values(&records), expected);
}

// ---------------------------------------------------------------------------------------------
// 10. Truncation
// ---------------------------------------------------------------------------------------------

/// `> app.log` (pattern `app\.log`): the agent notices the file is shorter than its position,
/// warns that it was truncated, and ships what is written after the truncation from offset 0.
/// The truncated file's new content is shorter than before, so the truncation is observable:
/// a file truncated and refilled past the old position before the agent looks is
/// indistinguishable from an appended one, for any tailer.
#[test]
fn truncation_restarts_at_offset_0_with_a_warning() {
    let t = Taildir::new();
    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let app = t.log_path("app.log");
    let before = lines("trn", 0..100);
    append_lines(&app, &before);
    t.wait_for_all(&agent, &before);
    t.wait_until_delivered(&agent, &[&app]);

    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&app)
        .expect("> app.log");
    let after_short = lines("trn", 100..110);
    append_lines(&app, &after_short);
    let mut expected = before.clone();
    expected.extend(after_short);
    t.wait_for_all(&agent, &expected);
    agent.wait_for_log(DELIVERY, "truncated");
    let warning = agent
        .log()
        .lines()
        .find(|l| l.contains("truncated"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(warning.contains("WARN"), "a warning: {warning}");

    let after = lines("trn", 110..300);
    append_lines(&app, &after);
    expected.extend(after);
    let records = t.deliver_exactly_once(&mut agent, &expected, &[&app]);
    assert_eq!(values(&records), expected, "in order");
}

/// Rotation while the agent is stopped (pattern `app\.log`): lines appended after the stop, then
/// `app.log` renamed out of the pattern to `app.log.1` and a new `app.log` written. On restart the
/// saved inode is found under its new name and drained from the saved offset, and the new file is
/// read from its first line: every line exactly once.
#[test]
fn rotation_while_stopped_is_handled_on_restart() {
    let t = Taildir::new();
    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let app = t.log_path("app.log");
    let first = lines("rws", 0..500);
    append_lines(&app, &first);
    t.wait_for_all(&agent, &first);
    t.wait_until_delivered(&agent, &[&app]);
    agent.stop_cleanly();

    let while_stopped = lines("rws", 500..700);
    append_lines(&app, &while_stopped);
    fs::rename(&app, t.log_path("app.log.1")).expect("rotate app.log away");
    let new_file = lines("rws", 700..900);
    append_lines(&app, &new_file);

    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let expected = lines("rws", 0..900);
    t.deliver_exactly_once(&mut agent, &expected, &[&app]);
}

// ---------------------------------------------------------------------------------------------
// 11. skipToEnd
// ---------------------------------------------------------------------------------------------

/// `skipToEnd = true`: a file present when the agent starts and not in the position file is
/// followed from its end (its 100 old lines are never shipped, and its position starts there);
/// a file that appears later is read from its first line.
#[test]
fn skip_to_end_skips_the_start_content_of_unknown_files_but_not_new_files() {
    let t = Taildir::new();
    let app = t.log_path("app.log");
    append_lines(&app, lines("old", 0..100));
    let mut agent = t.start(r".*\.log", &[FAST_POS_WRITES, ("skipToEnd", "true")]);
    t.wait_until_tracked(&agent, &app);
    assert_eq!(
        t.delivered_offset(&app),
        Some(100 * line_len("old")),
        "app.log's position starts at its end"
    );

    let appended = lines("new", 0..50);
    append_lines(&app, &appended);
    let later = t.log_path("later.log");
    let later_lines = lines("lat", 0..50);
    append_lines(&later, &later_lines);
    let expected: Vec<String> = appended.iter().chain(&later_lines).cloned().collect();
    t.deliver_exactly_once(&mut agent, &expected, &[&app, &later]);
}

// ---------------------------------------------------------------------------------------------
// 12. A corrupt position file
// ---------------------------------------------------------------------------------------------

/// A position file that is not Flume's JSON (torn by a disk failure, edited by hand): the agent
/// still starts, keeps the bad file for inspection under another name and says truthfully where
/// (the file named in its log holds exactly the bad bytes), reads the files from their start
/// (duplicates rather than loss, as Flume) and writes a valid position file again.
#[test]
fn a_corrupt_position_file_is_moved_aside_and_files_are_read_from_the_start() {
    let t = Taildir::new();
    let app = t.log_path("app.log");
    let all = lines("cor", 0..200);
    append_lines(&app, &all);
    let garbage = b"[{\"inode\":12,\"pos\":34,\"fi\x00\xff torn here";
    fs::write(&t.pos_file, garbage).expect("write the corrupt position file");

    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    t.deliver_exactly_once(&mut agent, &all, &[&app]);

    let state = t.pos_file.parent().expect("the state dir");
    let kept: Vec<PathBuf> = fs::read_dir(state)
        .expect("list the state dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| fs::read(p).is_ok_and(|b| b == garbage))
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "the corrupt bytes are kept in exactly one file beside the position file: {kept:?}"
    );
    assert_ne!(kept[0], t.pos_file, "under another name");
    let log = agent.log();
    let kept_name = kept[0].display().to_string();
    assert!(
        log.lines()
            .any(|l| (l.contains("ERROR") || l.contains("WARN"))
                && l.contains(&t.pos_file.display().to_string())
                && l.contains(&kept_name)),
        "a WARN or ERROR line names the position file and where it was kept ({kept_name})\n{}",
        tail(&log, 60)
    );
}

/// The same when the bad file cannot be moved aside (its directory is not writable by the
/// agent): the agent may carry on, but must not claim it kept the file under a name that does
/// not exist. The agent runs as `nobody` (or, when the tests are not root, the directory is made
/// read-only), with a logger sink: no broker needed.
#[test]
fn a_corrupt_position_file_that_cannot_be_moved_is_not_said_to_be_moved() {
    use std::os::unix::fs::PermissionsExt;
    let work = work_dir();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let (logs, state) = (work.path().join("logs"), work.path().join("state"));
    fs::create_dir(&logs).expect("mkdir logs");
    fs::create_dir(&state).expect("mkdir state");
    append_lines(logs.join("app.log"), ["a line"]);
    let pos_file = state.join("taildir_position.json");
    fs::write(&pos_file, b"[{\"inode\": torn").expect("write the corrupt position file");
    let root = unsafe { libc::geteuid() } == 0;
    let readable = if root { 0o755 } else { 0o555 };
    for dir in [&logs, &state] {
        fs::set_permissions(dir, fs::Permissions::from_mode(readable)).expect("chmod");
    }
    let config = taildir_source(&logs, r"app\.log", &pos_file, &[]) + "a1.sinks.k1.type = logger\n";
    let agent_dir = tempfile::Builder::new()
        .prefix("rflume-agent-")
        .tempdir()
        .expect("agent dir");
    fs::set_permissions(agent_dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = agent_dir.path().join("flume.conf");
    fs::write(&conf, config).expect("write the config");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(rflume_bin());
        c
    } else {
        Command::new(rflume_bin())
    };
    cmd.arg("agent").arg("--conf-file").arg(&conf).args([
        "--name",
        "a1",
        "-Dflume.root.logger=INFO,console",
    ]);
    let mut agent = Agent::spawn(agent_dir, cmd);
    agent.wait_for_log(DELIVERY, "a line");
    agent.stop_cleanly();

    let log = agent.log();
    let claim = log
        .lines()
        .find(|l| l.contains(&pos_file.display().to_string()) && l.contains("moved to "));
    if let Some(line) = claim {
        let named = line
            .split("moved to ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default();
        assert!(
            Path::new(named).exists(),
            "the agent says it moved the position file to {named}, which does not exist:\n{line}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains(&pos_file.display().to_string())),
        "the bad position file is reported\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Deleted files
// ---------------------------------------------------------------------------------------------

/// `rm app.log` while the application still writes to it: the agent reads the deleted file to
/// its end (lines written after the deletion too), then closes it about 1 s after it stopped
/// growing — not after `idleTimeout`, set to 10 minutes here — so the disk space is freed: the
/// agent's `/proc/PID/fd` no longer points at the deleted file.
#[test]
fn a_deleted_file_is_read_to_its_end_then_closed_so_its_space_is_freed() {
    let t = Taildir::new();
    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES, ("idleTimeout", "600000")]);
    let app = t.log_path("app.log");
    let mut application = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&app)
        .expect("open app.log");
    let before = lines("del", 0..100);
    write_lines(&mut application, &before);
    t.wait_for_all(&agent, &before);
    assert_eq!(
        open_fds_to(agent.pid(), &app),
        1,
        "precondition: the agent holds app.log open"
    );

    fs::remove_file(&app).expect("rm app.log");
    let after = lines("del", 100..150);
    write_lines(&mut application, &after);
    drop(application);
    let expected: Vec<String> = before.iter().chain(&after).cloned().collect();
    t.wait_for_all(&agent, &expected);
    let deleted = Instant::now();
    agent.wait_until(
        Duration::from_secs(30),
        "the agent closed the deleted app.log (idleTimeout is 10 minutes)",
        || open_fds_to(agent.pid(), &app) == 0,
    );
    let closed_after = deleted.elapsed();
    eprintln!("deleted app.log closed {closed_after:?} after its last lines arrived");
    // About 1 s in the agent; 10 s leaves a loaded 2-core runner room while still failing if
    // the close waited for a rescan cycle or idleTimeout instead of the file's last growth.
    assert!(
        closed_after < Duration::from_secs(10),
        "closed {closed_after:?} after the last growth, not about 1 s"
    );
    agent.stop_cleanly();
    assert_exactly_once(&t.records(expected.len()), &expected);
}

// ---------------------------------------------------------------------------------------------
// 14. Inode reuse while the agent runs
// ---------------------------------------------------------------------------------------------

/// While the agent runs: `app.log` (100 lines, shipped) is deleted and closed by the agent, and a
/// new file that got the same inode, at least as long as the old position, becomes `app.log`.
/// The rescan that finds it must treat it as a new file and read it from its first line — not
/// resume at the deleted file's offset, which would silently lose its first 100 lines.
#[test]
fn a_new_file_reusing_an_inode_while_the_agent_runs_is_read_from_its_first_line() {
    let fs_guard = InodeReusingDir::new();
    let t = Taildir::in_dir(fs_guard.logs.clone());
    let app = t.log_path("app.log");
    let mut agent = t.start(r"app\.log", &[FAST_POS_WRITES]);
    let old = lines("old", 0..100);
    append_lines(&app, &old);
    t.wait_for_all(&agent, &old);
    t.wait_until_delivered(&agent, &[&app]);
    let old_inode = fs::metadata(&app).expect("stat").ino();

    fs::remove_file(&app).expect("delete app.log");
    // The kernel reuses an inode only once nobody holds the file: wait until the agent let go.
    agent.wait_until(
        Duration::from_secs(30),
        "the agent closed the deleted app.log",
        || open_fds_to(agent.pid(), &app) == 0,
    );
    let new = lines("new", 0..150);
    t.replace_with_a_file_reusing(&app, old_inode, &new, 100 * line_len("old"));

    let expected: Vec<String> = old.iter().chain(&new).cloned().collect();
    t.deliver_exactly_once(&mut agent, &expected, &[&app]);
}

// ---------------------------------------------------------------------------------------------
// 15. Rescans: cachePatternMatching and the forced rescan
// ---------------------------------------------------------------------------------------------
//
// How to hide a new file from inotify and from the directory's mtime, as NFS does: the logs
// directory holds a dangling symlink `app.log` → `<work>/elsewhere/real.log`; creating `real.log`
// changes nothing in the logs directory. Only a pass that lists the directory again (every pass
// without cachePatternMatching, else the forced rescan) finds it.

/// The forced rescan period, 10 s; a pass that lists the directory (the barrier's) restarts it.
const FORCED_RESCAN: Duration = Duration::from_secs(10);

/// `cachePatternMatching` decides whether a pass lists the directory again: with it (the
/// default) the hidden file is not seen while the cached listing stands — a hold of 3 s, well
/// before a forced rescan can be due; without it the file is found by the next pass, before any
/// forced rescan could have found it.
#[test]
fn cache_pattern_matching_decides_whether_a_pass_lists_the_directory_again() {
    const HOLD: Duration = Duration::from_secs(3);
    for cache in [true, false] {
        let t = Taildir::new();
        let (hidden, real) = t.hidden_file();
        // Short back-off: an idle pass comes every 0.5 s instead of up to every 5 s.
        let mut agent = t.start(
            r".*\.log",
            &[
                FAST_POS_WRITES,
                ("cachePatternMatching", if cache { "true" } else { "false" }),
                ("backoffSleepIncrement", "100"),
                ("maxBackoffSleep", "500"),
            ],
        );
        let (listed, barriers) = t.listing_pass(&agent, HOLD);
        let lines_of_real = lines("hid", 0..20);
        append_lines(&real, &lines_of_real);
        let created = Instant::now();
        let mut expected = barriers;
        if cache {
            let seen = poll_until(HOLD, || {
                t.records(0).iter().any(|r| r.value.starts_with(b"hid-"))
            });
            assert!(
                !seen,
                "with cachePatternMatching the listing is cached while the directory's mtime \
                 is unchanged, yet {} was read {:?} after it was created",
                hidden.display(),
                created.elapsed()
            );
            assert!(created.elapsed() >= HOLD, "the hold ran in full");
            assert!(
                listed.elapsed() < FORCED_RESCAN,
                "the hold ended before a forced rescan was due"
            );
        } else {
            expected.extend(lines_of_real);
            t.wait_for_all(&agent, &expected);
            assert!(
                listed.elapsed() < FORCED_RESCAN,
                "without cachePatternMatching {} must be found by an ordinary pass, but it took \
                 {:?} after the last listing: as long as a forced rescan",
                hidden.display(),
                listed.elapsed()
            );
        }
        agent.stop_cleanly();
        // With the cache, a forced rescan after the hold may still have found the hidden file
        // before the stop: its lines may be there, once; that is the other test's subject.
        let records: Vec<Record> = t
            .records(expected.len())
            .into_iter()
            .filter(|r| !(cache && r.value.starts_with(b"hid-")))
            .collect();
        assert_exactly_once(&records, &expected);
    }
}

/// The safety net where inotify is blind: with the default `cachePatternMatching` and back-off,
/// the hidden file is found by the forced rescan (every 10 s) and shipped.
#[test]
fn the_forced_rescan_finds_a_file_inotify_and_the_directory_mtime_missed() {
    let t = Taildir::new();
    let (hidden, real) = t.hidden_file();
    let mut agent = t.start(r".*\.log", &[FAST_POS_WRITES]);
    let (listed, barriers) = t.listing_pass(&agent, Duration::from_secs(3));
    let lines_of_real = lines("hid", 0..20);
    append_lines(&real, &lines_of_real);
    let mut expected = barriers;
    expected.extend(lines_of_real);
    t.wait_for_all(&agent, &expected);
    eprintln!(
        "{} found {:?} after the last listing pass",
        hidden.display(),
        listed.elapsed()
    );
    t.wait_until_delivered(&agent, &[&hidden]);
    agent.stop_cleanly();
    assert_exactly_once(&t.records(expected.len()), &expected);
}

// =============================================================================================
// The fixture
// =============================================================================================

/// A broker with topic [`TOPIC`], a directory of logs and a position file outside it.
struct Taildir {
    broker: Broker,
    logs: PathBuf,
    pos_file: PathBuf,
    _work: TempDir,
}

/// One entry of Flume's position file, fields in Flume's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlumePos {
    inode: u64,
    pos: u64,
    file: String,
}

impl Taildir {
    fn new() -> Taildir {
        let work = work_dir();
        let logs = work.path().join("logs");
        fs::create_dir(&logs).expect("create the logs dir");
        Taildir::with(work, logs)
    }

    /// With the logs in `logs` (a directory the caller owns).
    fn in_dir(logs: PathBuf) -> Taildir {
        Taildir::with(work_dir(), logs)
    }

    fn with(work: TempDir, logs: PathBuf) -> Taildir {
        let broker = Broker::start();
        broker.create_topic(TOPIC, 1);
        let state = work.path().join("state");
        fs::create_dir(&state).expect("create the state dir");
        Taildir {
            broker,
            logs,
            pos_file: state.join("taildir_position.json"),
            _work: work,
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.logs.join(name)
    }

    fn sidecar(&self) -> PathBuf {
        let mut s = self.pos_file.clone().into_os_string();
        s.push(".rflume");
        PathBuf::from(s)
    }

    /// Every regular file in the logs directory, sorted.
    fn log_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.logs)
            .expect("list logs")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    }

    /// TAILDIR on `<logs>/<pattern>` with `props`, memory channel, Kafka sink.
    fn config(&self, pattern: &str, props: &[(&str, &str)]) -> String {
        format!(
            "{}a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = {TOPIC}
a1.sinks.k1.flumeBatchSize = 100
",
            taildir_source(&self.logs, pattern, &self.pos_file, props),
            self.broker.bootstrap(),
        )
    }

    fn start(&self, pattern: &str, props: &[(&str, &str)]) -> Agent {
        Agent::start(&self.config(pattern, props), "a1")
    }

    /// The whole topic, once at least `expected` records are there (or after [`DELIVERY`]).
    fn records(&self, expected: usize) -> Vec<Record> {
        consume_all(&self.broker.bootstrap(), TOPIC, 1, expected, DELIVERY)
    }

    /// Waits until every line of `expected` is in the topic (duplicates or not); panics with the
    /// tally and the agent's log otherwise.
    #[track_caller]
    fn wait_for_all(&self, agent: &Agent, expected: &[String]) -> Vec<Record> {
        let end = Instant::now() + DELIVERY;
        let wanted: HashSet<&[u8]> = expected.iter().map(|s| s.as_bytes()).collect();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let records = consume_all(
                &self.broker.bootstrap(),
                TOPIC,
                1,
                expected.len(),
                left.max(Duration::from_millis(100)),
            );
            let present: HashSet<&[u8]> = records
                .iter()
                .map(|r| r.value.as_slice())
                .filter(|v| wanted.contains(v))
                .collect();
            if present.len() == wanted.len() {
                return records;
            }
            if Instant::now() >= end {
                panic!(
                    "timed out after {DELIVERY:?} waiting for {} lines: {}\n{}",
                    expected.len(),
                    Tally::of(&records, expected),
                    tail(&agent.log(), 60)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes `path` (deleted by the caller, and closed by every process) a new file holding
    /// `lines` that got inode `ino` back, and checks it is at least `old_pos` bytes long: a file
    /// Flume's inode rule would resume in the middle of.
    #[track_caller]
    fn replace_with_a_file_reusing(&self, path: &Path, ino: u64, lines: &[String], old_pos: u64) {
        let reused = reuse_inode(&self.logs, ino, Duration::from_secs(20), |probe| {
            append_lines(probe, lines);
        })
        .unwrap_or_else(|| {
            panic!(
                "no new file in {} got inode {ino} back within 20 s",
                self.logs.display()
            )
        });
        fs::rename(&reused, path).expect("rename the new file into place");
        let m = fs::metadata(path).expect("stat");
        assert_eq!(m.ino(), ino);
        assert!(
            m.len() >= old_pos,
            "the new file ({} bytes) is at least as long as the old position {old_pos}",
            m.len()
        );
    }

    /// A dangling symlink `app.log` in the logs directory to `real.log` in a directory nobody
    /// watches: (the symlink, its target). Creating the target leaves the logs directory as it
    /// was, so neither inotify nor the directory's mtime can reveal it.
    fn hidden_file(&self) -> (PathBuf, PathBuf) {
        let elsewhere = self._work.path().join("elsewhere");
        fs::create_dir(&elsewhere).expect("create the unwatched dir");
        let real = elsewhere.join("real.log");
        let link = self.log_path("app.log");
        std::os::unix::fs::symlink(&real, &link).expect("symlink app.log");
        (link, real)
    }

    /// Makes the agent list the logs directory now: creates `barrier-K.log` with one line and
    /// waits for it in Kafka. Returns when that took less than `budget` (retrying with a new
    /// barrier otherwise, so that a slow round on a loaded machine cannot eat a later hold), with
    /// the time the barrier was created — the listing pass came after it — and the barrier lines
    /// written.
    fn listing_pass(&self, agent: &Agent, budget: Duration) -> (Instant, Vec<String>) {
        let mut written = Vec::new();
        for k in 0..5 {
            let line = line("bar", k);
            written.push(line.clone());
            let created = Instant::now();
            append_lines(self.log_path(&format!("barrier-{k}.log")), [&line]);
            self.wait_for_all(agent, &written);
            if created.elapsed() < budget {
                return (created, written);
            }
        }
        panic!("five barrier files each took longer than {budget:?} to reach Kafka");
    }

    /// The end of most tests: waits until every line of `expected` is in the topic and the
    /// position file shows each of `files` delivered to its end, stops the agent (exit 0), reads
    /// the whole topic and asserts every expected line is there exactly once, and nothing else.
    #[track_caller]
    fn deliver_exactly_once(
        &self,
        agent: &mut Agent,
        expected: &[String],
        files: &[impl AsRef<Path>],
    ) -> Vec<Record> {
        self.wait_for_all(agent, expected);
        self.wait_until_delivered(agent, files);
        agent.stop_cleanly();
        let records = self.records(expected.len());
        assert_exactly_once(&records, expected);
        records
    }

    /// The position file's entries (none while it does not exist).
    fn positions(&self) -> Vec<FlumePos> {
        match fs::read_to_string(&self.pos_file) {
            Ok(text) if text.trim().is_empty() => Vec::new(),
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("position file is not Flume's layout ({e}): {text}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("cannot read {}: {e}", self.pos_file.display()),
        }
    }

    /// The saved position of the file now at `path` (found by its inode).
    fn delivered_offset(&self, path: &Path) -> Option<u64> {
        let ino = fs::metadata(path).ok()?.ino();
        self.positions()
            .into_iter()
            .find(|p| p.inode == ino)
            .map(|p| p.pos)
    }

    #[track_caller]
    fn wait_position(&self, agent: &Agent, what: &str, mut cond: impl FnMut(&[FlumePos]) -> bool) {
        agent.wait_until(DELIVERY, what, || cond(&self.positions()));
    }

    /// Waits until the position file has an entry for the file now at `path`.
    #[track_caller]
    fn wait_until_tracked(&self, agent: &Agent, path: &Path) {
        let ino = fs::metadata(path).expect("stat").ino();
        self.wait_position(
            agent,
            &format!("the position file lists {} (inode {ino})", path.display()),
            |ps| ps.iter().any(|p| p.inode == ino),
        );
    }

    /// Waits until the position file shows every file of `paths` delivered to its end.
    #[track_caller]
    fn wait_until_delivered(&self, agent: &Agent, paths: &[impl AsRef<Path>]) {
        let mut last = String::new();
        let ok = poll_until(DELIVERY, || {
            let saved: HashMap<u64, u64> = self
                .positions()
                .into_iter()
                .map(|p| (p.inode, p.pos))
                .collect();
            let behind: Vec<String> = paths
                .iter()
                .filter_map(|p| {
                    let p = p.as_ref();
                    let m = fs::metadata(p).expect("stat");
                    match saved.get(&m.ino()) {
                        Some(&pos) if pos == m.len() => None,
                        found => Some(format!(
                            "{} (inode {}, {} bytes): {found:?}",
                            p.display(),
                            m.ino(),
                            m.len()
                        )),
                    }
                })
                .collect();
            last = behind.join("; ");
            behind.is_empty()
        });
        if !ok {
            panic!(
                "timed out after {DELIVERY:?} waiting until the position file shows every file \
                 delivered; behind: {last}\nposition file: {}\n{}",
                fs::read_to_string(&self.pos_file).unwrap_or_default(),
                tail(&agent.log(), 60)
            );
        }
    }
}

/// Agent a1's TAILDIR source r1 on `<dir>/<pattern>` (a regex on names; escaped here for the
/// properties file) with `props` and position file `pos`, feeding memory channel c1, read by
/// sink k1: the caller adds the channel's sizes and the sink's type and settings.
fn taildir_source(dir: &Path, pattern: &str, pos: &Path, props: &[(&str, &str)]) -> String {
    let mut source = String::new();
    for (k, v) in props {
        source.push_str(&format!("a1.sources.r1.{k} = {v}\n"));
    }
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {dir}/{pattern}
a1.sources.r1.positionFile = {pos}
{source}a1.channels.c1.type = memory
a1.sinks.k1.channel = c1
",
        dir = dir.display(),
        pattern = pattern.replace('\\', "\\\\"),
        pos = pos.display(),
    )
}

fn work_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("rflume-taildir-")
        .tempdir()
        .expect("create a temp dir")
}

// =============================================================================================
// Lines and counting
// =============================================================================================

/// Line `n` of a test: a tag, a unique sequence number, and padding; all lines of a tag have the
/// same length, so byte offsets are `n * line_len(tag)`.
fn line(tag: &str, n: usize) -> String {
    format!("{tag}-{n:07} the quick brown fox jumps over the lazy dog")
}

/// Bytes per line of `tag`, newline included.
fn line_len(tag: &str) -> u64 {
    line(tag, 0).len() as u64 + 1
}

fn lines(tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| line(tag, n)).collect()
}

/// The distinct sequence numbers of `tag` in `records`.
fn distinct_seqs(records: &[Record], tag: &str) -> HashSet<usize> {
    let prefix = format!("{tag}-");
    records
        .iter()
        .filter_map(|r| {
            let v = std::str::from_utf8(&r.value).ok()?;
            v.strip_prefix(&prefix)?.get(..7)?.parse().ok()
        })
        .collect()
}

/// The sequence number of a line made by [`line`].
fn seq_of(value: &[u8]) -> Option<usize> {
    let v = std::str::from_utf8(value).ok()?;
    let (_, rest) = v.split_once('-')?;
    rest.get(..7)?.parse().ok()
}

/// Sequence numbers as sorted runs: `0..3012, 5000..5100` (at most 12 runs shown).
fn runs(seqs: impl Iterator<Item = usize>) -> String {
    let mut v: Vec<usize> = seqs.collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for n in v {
        match out.last_mut() {
            Some((_, end)) if *end == n => *end = n + 1,
            _ => out.push((n, n + 1)),
        }
    }
    let shown: Vec<String> = out
        .iter()
        .take(12)
        .map(|(a, b)| format!("{a}..{b}"))
        .collect();
    let more = if out.len() > 12 {
        format!(" and {} more runs", out.len() - 12)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// Missing, duplicated and unexpected records against the expected lines.
struct Tally {
    records: usize,
    expected: usize,
    missing: usize,
    duplicates: usize,
    unexpected: usize,
    samples: Vec<String>,
}

impl Tally {
    fn of(records: &[Record], expected: &[String]) -> Tally {
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        for r in records {
            *seen.entry(r.value.as_slice()).or_default() += 1;
        }
        let wanted: HashSet<&[u8]> = expected.iter().map(|s| s.as_bytes()).collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|e| !seen.contains_key(e.as_bytes()))
            .collect();
        let mut dups: Vec<(&[u8], usize)> = seen
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(v, &n)| (*v, n))
            .collect();
        dups.sort();
        let unexpected: Vec<&[u8]> = records
            .iter()
            .map(|r| r.value.as_slice())
            .filter(|v| !wanted.contains(v))
            .collect();
        // Which lines (sequence-number runs, for lines made by `line`) and a couple of examples.
        let describe = |what: &str, values: &[&[u8]]| {
            let seqs = runs(values.iter().filter_map(|v| seq_of(v)));
            let first: Vec<String> = values
                .iter()
                .take(2)
                .map(|v| format!("{:?}", String::from_utf8_lossy(v)))
                .collect();
            format!("{what} lines [{seqs}] e.g. {}", first.join(", "))
        };
        let mut samples = Vec::new();
        if !missing.is_empty() {
            let v: Vec<&[u8]> = missing.iter().map(|s| s.as_bytes()).collect();
            samples.push(describe("missing", &v));
        }
        if !dups.is_empty() {
            let v: Vec<&[u8]> = dups.iter().map(|(v, _)| *v).collect();
            samples.push(describe("duplicated", &v));
        }
        if !unexpected.is_empty() {
            samples.push(describe("unexpected", &unexpected));
        }
        Tally {
            records: records.len(),
            expected: expected.len(),
            missing: missing.len(),
            duplicates: dups.iter().map(|(_, n)| n - 1).sum(),
            unexpected: unexpected.len(),
            samples,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records for {} expected lines: {} missing, {} duplicates, {} unexpected",
            self.records, self.expected, self.missing, self.duplicates, self.unexpected
        )?;
        for s in &self.samples {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

#[track_caller]
fn assert_exactly_once(records: &[Record], expected: &[String]) {
    let tally = Tally::of(records, expected);
    assert!(
        tally.missing == 0 && tally.duplicates == 0 && tally.unexpected == 0,
        "every line exactly once: {tally}"
    );
}

/// How many descriptors of process `pid` point at `path`, deleted or not (a deleted file's
/// link reads `PATH (deleted)`).
fn open_fds_to(pid: u32, path: &Path) -> usize {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let deleted = format!("{} (deleted)", path.display());
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter(|target| target == path || target.as_os_str() == deleted.as_str())
        .count()
}

/// Writes `lines` through `out` (an application's own handle), one `write` for all.
fn write_lines(out: &mut File, lines: &[String]) {
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    out.write_all(text.as_bytes()).expect("write the log");
}

/// The sequence number of the first line of `path`.
fn first_seq(path: &Path) -> usize {
    let text = fs::read(path).expect("read");
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    seq_of(first).unwrap_or(usize::MAX)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn append_raw(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
}

// =============================================================================================
// The application writing the log
// =============================================================================================

/// How an [`AppWriter`] writes: `chunk` lines per write, then a pause (the pace of a busy
/// service, which leaves the 2-core machine to the agent), until `limit` lines.
#[derive(Clone, Copy)]
struct Pace {
    chunk: usize,
    pause: Duration,
    limit: usize,
}

impl Pace {
    /// ~10,000 lines/s, until stopped.
    fn steady() -> Pace {
        Pace {
            chunk: 20,
            pause: Duration::from_millis(2),
            limit: usize::MAX,
        }
    }
}

/// Lines an application still writes to its old handle after logrotate renamed the file, before
/// it handles the reopen signal.
const TRAILING: usize = 5;

/// An application appending numbered lines to its log through an `O_APPEND` handle on a thread:
/// it reopens the log when asked (logrotate's postrotate SIGHUP), first writing [`TRAILING`]
/// lines through the old handle, and can be held still (around a copytruncate).
struct AppWriter {
    state: Arc<WriterState>,
    thread: Option<JoinHandle<usize>>,
}

#[derive(Default)]
struct WriterState {
    written: AtomicUsize,
    stop: AtomicBool,
    reopen_asked: AtomicUsize,
    reopened: AtomicUsize,
    hold: AtomicBool,
    held: AtomicBool,
}

const WRITER_DEADLINE: Duration = Duration::from_secs(30);

impl AppWriter {
    fn start(path: &Path, tag: &'static str, pace: Pace) -> AppWriter {
        let state = Arc::new(WriterState::default());
        let s = state.clone();
        let path = path.to_path_buf();
        let thread = thread::spawn(move || {
            let open = || {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
            };
            let write = |out: &mut File, range: std::ops::Range<usize>| {
                let mut text = String::new();
                for n in range {
                    text.push_str(&line(tag, n));
                    text.push('\n');
                }
                out.write_all(text.as_bytes()).expect("write the log");
            };
            let mut out = open();
            let mut n = 0;
            let mut reopened = 0;
            while n < pace.limit && !s.stop.load(Ordering::SeqCst) {
                if s.hold.load(Ordering::SeqCst) {
                    s.held.store(true, Ordering::SeqCst);
                    while s.hold.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(1));
                    }
                    s.held.store(false, Ordering::SeqCst);
                    continue;
                }
                let end = (n + pace.chunk).min(pace.limit);
                write(&mut out, n..end);
                n = end;
                s.written.store(n, Ordering::SeqCst);
                let asked = s.reopen_asked.load(Ordering::SeqCst);
                if asked != reopened {
                    write(&mut out, n..n + TRAILING);
                    n += TRAILING;
                    s.written.store(n, Ordering::SeqCst);
                    out = open();
                    reopened = asked;
                    s.reopened.store(asked, Ordering::SeqCst);
                }
                thread::sleep(pace.pause);
            }
            n
        });
        AppWriter {
            state,
            thread: Some(thread),
        }
    }

    fn written(&self) -> usize {
        self.state.written.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn wait_written(&self, n: usize) {
        wait_until(
            WRITER_DEADLINE,
            &format!("the writer wrote {n} lines"),
            || self.written() >= n,
        );
    }

    /// Asks the application to reopen its log and waits until it did.
    #[track_caller]
    fn reopen(&self) {
        let asked = self.state.reopen_asked.fetch_add(1, Ordering::SeqCst) + 1;
        wait_until(WRITER_DEADLINE, "the writer reopened its log", || {
            self.state.reopened.load(Ordering::SeqCst) == asked
        });
    }

    /// Holds the application still (its last write completed) until [`AppWriter::release`].
    #[track_caller]
    fn hold(&self) {
        self.state.hold.store(true, Ordering::SeqCst);
        wait_until(WRITER_DEADLINE, "the writer is held", || {
            self.state.held.load(Ordering::SeqCst)
        });
    }

    fn release(&self) {
        self.state.hold.store(false, Ordering::SeqCst);
    }

    /// Stops the application; returns how many lines it wrote (lines `0..n`).
    fn finish(mut self) -> usize {
        self.state.stop.store(true, Ordering::SeqCst);
        self.take_thread()
    }

    /// Waits until the application wrote its `limit` lines; returns how many it wrote.
    fn join(mut self) -> usize {
        self.take_thread()
    }

    fn take_thread(&mut self) -> usize {
        self.thread
            .take()
            .expect("joined once")
            .join()
            .expect("the writer thread panicked")
    }
}

impl Drop for AppWriter {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.hold.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// =============================================================================================
// Inode reuse
// =============================================================================================

/// Creates files in `dir` until one gets inode `ino` (calling `fill` on it, then returning its
/// path), or `deadline` passes. Other candidates are kept until the end, so that the allocator
/// moves past inodes that are not the one wanted, then deleted.
fn reuse_inode(
    dir: &Path,
    ino: u64,
    deadline: Duration,
    fill: impl FnOnce(&Path),
) -> Option<PathBuf> {
    let end = Instant::now() + deadline;
    let mut others = Vec::new();
    let mut found = None;
    // ext4 hands out a freed inode only once the deletion is committed to its journal (every
    // 5 s, or at an fsync on the filesystem, such as the agent's position writes): commit it
    // now, and again while probing, rather than depend on the agent's timing.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    for i in 0.. {
        if i > 0 && i % 2_000 == 0 {
            // SAFETY: as above.
            unsafe { libc::sync() };
        }
        if Instant::now() >= end || i >= 20_000 {
            break;
        }
        let probe = dir.join(format!("probe-{i}"));
        File::create(&probe).expect("create a probe file");
        if fs::metadata(&probe).expect("stat").ino() == ino {
            found = Some(probe);
            break;
        }
        others.push(probe);
    }
    for p in others {
        let _ = fs::remove_file(p);
    }
    let found = found?;
    fill(&found);
    Some(found)
}

/// A logs directory on a filesystem that hands a deleted file's inode to the next new file:
/// a small ext4 image mounted for the test where it can be (needs root and loop devices), else
/// the test's temp dir when its filesystem does (ext4 does, once the deletion is committed).
/// tmpfs is no help: it never reuses inode numbers. Panics, saying why, when neither works.
struct InodeReusingDir {
    logs: PathBuf,
    mount: Option<PathBuf>,
    _work: TempDir,
}

impl InodeReusingDir {
    fn new() -> InodeReusingDir {
        let work = work_dir();
        let logs = work.path().join("logs");
        fs::create_dir(&logs).expect("create the logs dir");
        // A private filesystem first: on the shared /tmp every other test's agent writes its
        // position file by create-and-rename, and any of them can take the freed inode first
        // (seen on CI: no probe got it back within 20 s).
        let mounted = match mount_small_ext4(work.path(), &logs) {
            Ok(()) if reuses_inodes(&logs) => {
                return InodeReusingDir {
                    mount: Some(logs.clone()),
                    logs,
                    _work: work,
                }
            }
            Ok(()) => {
                let _ = Command::new("umount").arg(&logs).status();
                "a freshly made ext4 filesystem did not reuse an inode".to_string()
            }
            Err(e) => e,
        };
        if reuses_inodes(&logs) {
            return InodeReusingDir {
                logs,
                mount: None,
                _work: work,
            };
        }
        panic!(
            "cannot test inode reuse: mounting a small ext4 image failed ({mounted}), and the \
             filesystem of {} does not hand a deleted file's inode to a new file within the \
             deadline",
            work.path().display()
        );
    }
}

impl Drop for InodeReusingDir {
    fn drop(&mut self) {
        if let Some(m) = &self.mount {
            let _ = Command::new("umount").arg(m).status();
        }
    }
}

fn reuses_inodes(dir: &Path) -> bool {
    let probe = dir.join("inode-probe");
    File::create(&probe).expect("create a probe file");
    let ino = fs::metadata(&probe).expect("stat").ino();
    fs::remove_file(&probe).expect("delete the probe");
    match reuse_inode(dir, ino, Duration::from_secs(5), |_| {}) {
        Some(p) => {
            fs::remove_file(p).expect("delete the probe");
            true
        }
        None => false,
    }
}

fn mount_small_ext4(work: &Path, at: &Path) -> Result<(), String> {
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let image = work.join("ext4.img");
    File::create(&image)
        .and_then(|f| f.set_len(16 << 20))
        .map_err(|e| format!("create {}: {e}", image.display()))?;
    let run = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(Command::new("mkfs.ext4").arg("-q").arg("-F").arg(&image))?;
    run(Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(&image)
        .arg(at))
}
