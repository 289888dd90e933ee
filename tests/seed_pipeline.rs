//! The issue's acceptance, as users run it: the seed `flume_kafka.conf` — exec `tail -F` on a log
//! file → memory channel (capacity 10000, transactionCapacity 100) → Kafka sink configured with the
//! deprecated names `topic`, `brokerList`, `requiredAcks`, `batchSize` — against a real broker, with
//! the real `rflume` binary, real files and real signals.
//!
//! The configuration is the shipped `conf/flume_kafka.conf` with only the tailed path and the broker
//! list substituted, so the file users copy is the file under test.
//!
//! "Exactly once" is judged on the topic's final content: a test waits until everything it wrote
//! is in Kafka, stops the agent (SIGTERM; it must exit 0) and then reads the whole topic to its
//! end, so that a duplicate sent late would still be counted. No delivery here can time out
//! (the broker is healthy or frozen for less than any Kafka timeout), so duplicates are errors.
//!
//! How a test knows `tail -F` is following the file: it appends one line and waits until that line
//! is in Kafka. One line is always within the ten lines `tail` prints when it starts, so it arrives
//! exactly once whether `tail` opened the file before or after it was written; everything appended
//! afterwards is followed.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use common::agent::STOP_DEADLINE;
use common::*;

/// The topic the seed config names; every test has its own broker, so it is every test's own.
const TOPIC: &str = "HelloKafka";
/// What the shipped file tails and where it sends, replaced by each test.
const SEED_PATH: &str = "/root/hadoop-3.2.1/testdata/testflume.log";
const SEED_BROKERS: &str = "Slave001:9092,Slave002:9092,Slave003:9092";
/// Generous on a loaded 2-core machine; a passing run takes a fraction of it.
const DELIVERY: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------------

/// Bursts of thousands of lines plus a slow `echo >> file; sleep` writer like the users' one:
/// the topic holds every line once, in the order written.
#[test]
fn every_appended_line_arrives_exactly_once_and_in_order() {
    let seed = Seed::new();
    let mut agent = seed.start_agent(&seed.broker.bootstrap());

    let mut written = vec![line(0)];
    for burst in [1..1250, 1250..2500, 2500..3750, 3750..4900] {
        let lines: Vec<String> = burst.map(line).collect();
        append_lines(&seed.file, &lines);
        written.extend(lines);
        // Bursts stay bursts: the next one is written after `tail` has passed this one on.
        seed.wait_until_tail_has_passed_everything_on(&agent);
    }
    written.extend(echo_slowly(&seed.file, 4900..5000));
    assert_eq!(written.len(), 5000);

    let records = seed.stop_and_read_all(&mut agent, written.len());
    assert_exactly_in_order(&records, &written);
}

/// Brokers that are down or do not resolve, listed before the live one, do not stop delivery.
/// The dead broker's port is held closed for the whole test (bound, never listening), so it
/// refuses connections and no other test's broker can appear on it.
#[test]
fn dead_and_unresolvable_brokers_in_the_broker_list_do_not_stop_delivery() {
    let seed = Seed::new();
    let closed = ClosedPort::new();
    let broker_list = format!(
        "{},no-such-broker.invalid:9092,{}",
        closed.address(),
        seed.broker.bootstrap()
    );
    let mut agent = seed.start_agent(&broker_list);

    let mut written = vec![line(0)];
    for burst in [1..500, 500..1000] {
        let lines: Vec<String> = burst.map(line).collect();
        append_lines(&seed.file, &lines);
        written.extend(lines);
    }

    let records = seed.stop_and_read_all(&mut agent, written.len());
    assert_exactly_in_order(&records, &written);
}

/// SIGTERM while a writer keeps appending: the agent exits 0, every line `tail` had passed to the
/// agent before the signal is in Kafka exactly once, what arrived is the written sequence without
/// gaps, and the agent's `tail` is gone.
#[test]
fn sigterm_while_lines_flow_exits_0_and_loses_nothing_tail_had_passed_on() {
    let seed = Seed::new();
    let mut agent = seed.start_agent(&seed.broker.bootstrap());
    let tail = the_tail_of(&agent);

    let writer = Writer::start(&seed.file, 1);
    wait_until(DELIVERY, "the writer has appended 3000 lines", || {
        writer.lines() >= 3000
    });
    let appended = fs::metadata(&seed.file).unwrap().len();
    agent.wait_until(
        DELIVERY,
        &format!("tail has passed on the first {appended} bytes"),
        || bytes_written_by(tail).is_some_and(|w| w >= appended),
    );
    let passed_on = bytes_written_by(tail).unwrap();

    let stop = stop_agent(&mut agent, || {});
    writer.stop();
    stop.assert_clean_exit(&agent, tail);
    // A line `tail` was writing at the signal may arrive cut short: see
    // `a_line_cut_off_by_the_stop_is_not_published_torn`.
    seed.assert_delivered_prefix_covering(passed_on);
}

/// The same stop under backpressure: the broker hangs, the channel (10000) fills, the source stops
/// reading, `tail`'s pipe fills up. SIGTERM then (the broker recovering at once): what `tail` had
/// already written into the pipe is read, stored and delivered before the agent exits 0.
#[test]
fn sigterm_with_a_full_channel_and_pipe_delivers_what_tail_had_written() {
    let mut seed = Seed::new();
    let mut agent = seed.start_agent(&seed.broker.bootstrap());
    let tail = the_tail_of(&agent);

    let writer = Writer::start(&seed.file, 1);
    wait_until(DELIVERY, "the writer has appended 2000 lines", || {
        writer.lines() >= 2000
    });
    seed.broker.pause();
    // The pipe holds 64 KiB and tail buffers a few KiB more: a larger backlog means the agent
    // stopped reading the pipe.
    agent.wait_until(DELIVERY, "tail lags the file by 512 KiB", || {
        let len = fs::metadata(&seed.file).unwrap().len();
        bytes_written_by(tail).is_some_and(|w| len > w + 512 * 1024)
    });
    let passed_on = bytes_written_by(tail).unwrap();

    let stop = stop_agent(&mut agent, || seed.broker.resume());
    writer.stop();
    stop.assert_clean_exit(&agent, tail);
    // tail is killed while blocked writing into the full pipe, usually in the middle of a line:
    // whether that piece may be published is `a_line_cut_off_by_the_stop_is_not_published_torn`'s
    // subject; this test is about the complete lines in the pipe.
    seed.assert_delivered_prefix_covering(passed_on);
}

/// A line whose end the agent has not seen when it stops (`tail` killed in the middle of writing
/// it, or the application still writing it) is not published as a torn record: consumers of the
/// seed's topic expect whole lines. The complete lines before it are all delivered.
#[test]
fn a_line_cut_off_by_the_stop_is_not_published_torn() {
    let seed = Seed::new();
    let mut agent = seed.start_agent(&seed.broker.bootstrap());
    let tail = the_tail_of(&agent);

    let lines: Vec<String> = (1..100).map(line).collect();
    append_lines(&seed.file, &lines);
    append_bytes(&seed.file, b"00100 a line still being writ");
    seed.wait_until_tail_has_passed_everything_on(&agent);

    let stop = stop_agent(&mut agent, || {});
    stop.assert_clean_exit(&agent, tail);
    let records = seed.records(100);
    let whole_lines: Vec<String> = (0..100).map(line).collect();
    assert_exactly_in_order(&records, &whole_lines);
}

/// The seed config's four deprecated Kafka sink names are each reported, with the file and line.
#[test]
fn deprecated_kafka_sink_names_are_warned_with_file_and_line() {
    let seed = Seed::new();
    let config = seed.config(&seed.broker.bootstrap());
    let agent = Agent::start(&config, "a1");

    for (old, new) in [
        ("topic", "kafka.topic"),
        ("brokerList", "kafka.bootstrap.servers"),
        ("requiredAcks", "kafka.producer.acks"),
        ("batchSize", "flumeBatchSize"),
    ] {
        let key = format!("a1.sinks.k1.{old}");
        let line_no = line_number_of(&config, &key);
        let place = format!("{}:{line_no}:", common::agent::CONF_FILE);
        let deprecated = format!("{old} is deprecated");
        agent.wait_until(
            DELIVERY,
            &format!("a WARN line with {place:?}, {key:?}, {deprecated:?} and {new:?}"),
            || {
                agent.log().lines().any(|l| {
                    l.contains("WARN")
                        && l.contains(&place)
                        && l.contains(&key)
                        && l.contains(&deprecated)
                        && l.contains(new)
                })
            },
        );
    }
    // Warnings, not errors: the agent runs the seed config.
    seed.wait_until_tailing(&agent);
}

/// Existing start scripts keep working: `flume-ng agent --conf conf/ … -Xmx20m` through a symlink
/// named `flume-ng`.
#[test]
fn flume_ng_symlink_runs_the_start_script_command_line() {
    let seed = Seed::new();
    let home = tempfile::Builder::new()
        .prefix("rflume-flume-home-")
        .tempdir()
        .unwrap();
    fs::create_dir_all(home.path().join("bin")).unwrap();
    fs::create_dir_all(home.path().join("conf")).unwrap();
    let flume_ng = home.path().join("bin/flume-ng");
    std::os::unix::fs::symlink(rflume_bin(), &flume_ng).unwrap();
    fs::write(
        home.path().join("conf/flume_kafka.conf"),
        seed.config(&seed.broker.bootstrap()),
    )
    .unwrap();

    let mut cmd = Command::new(&flume_ng);
    cmd.args([
        "agent",
        "--conf",
        "conf/",
        "--name",
        "a1",
        "--conf-file",
        "conf/flume_kafka.conf",
        "-Dflume.root.logger=INFO,console",
        "-Xmx20m",
    ]);
    let mut agent = Agent::spawn(home, cmd);
    seed.wait_until_tailing(&agent);
    assert!(
        agent
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("-Xmx20m")),
        "the JVM option is reported as ignored:\n{}",
        agent.log()
    );

    let mut written = vec![line(0)];
    let lines: Vec<String> = (1..300).map(line).collect();
    append_lines(&seed.file, &lines);
    written.extend(lines);
    // Stopping cleanly (exit 0) is part of the claim: flume-ng mode handles SIGTERM too.
    let records = seed.stop_and_read_all(&mut agent, written.len());
    assert_exactly_in_order(&records, &written);
}

/// Bytes pass through untouched (no U+FFFD), `\r\n` and a lone `\r` end lines and are removed, as
/// Java's `BufferedReader.readLine()` does in Flume's exec source; a `\r\n` split across two
/// writes is one terminator.
#[test]
fn non_utf8_bytes_and_cr_line_endings_arrive_byte_exact() {
    let seed = Seed::new();
    let mut agent = seed.start_agent(&seed.broker.bootstrap());

    let blob: Vec<u8> = (0..=255u8)
        .cycle()
        .take(4096)
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let mut bytes: Vec<u8> = Vec::new();
    bytes.extend_from_slice(b"crlf line\r\n");
    bytes.extend_from_slice(b"latin-1 caf\xe9\n");
    bytes.extend_from_slice(b"invalid utf-8 \xff\xfe\xc3\x28 \xed\xa0\x80\n");
    bytes.extend_from_slice("utf-8 日志 ✓\r\n".as_bytes());
    bytes.extend_from_slice(b"nul \x00 byte\n");
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(b"lone cr\rends a line\n");
    bytes.extend_from_slice(b"cr then crlf\r\r\n");
    bytes.extend_from_slice(&blob);
    bytes.extend_from_slice(b"\r\n");
    append_bytes(&seed.file, &bytes);
    append_bytes(&seed.file, b"cr at the end of a write\r");

    let mut expected: Vec<Vec<u8>> = vec![line(0).into_bytes()];
    expected.extend([
        b"crlf line".to_vec(),
        b"latin-1 caf\xe9".to_vec(),
        b"invalid utf-8 \xff\xfe\xc3\x28 \xed\xa0\x80".to_vec(),
        "utf-8 日志 ✓".as_bytes().to_vec(),
        b"nul \x00 byte".to_vec(),
        b"".to_vec(),
        b"lone cr".to_vec(),
        b"ends a line".to_vec(),
        b"cr then crlf".to_vec(),
        b"".to_vec(),
        blob,
        b"cr at the end of a write".to_vec(),
    ]);
    // A lone `\r` ends its line at once, without waiting for the next byte.
    let records = seed.records(expected.len());
    assert_bytes_exactly(&records, &expected);

    // The `\n` that completes that `\r\n` comes in the next write: no empty line for it.
    append_bytes(&seed.file, b"\nafter the split crlf\n");
    expected.push(b"after the split crlf".to_vec());
    let records = seed.stop_and_read_all(&mut agent, expected.len());
    assert_bytes_exactly(&records, &expected);
}

// ---------------------------------------------------------------------------------------------
// Fixture: a broker with the seed's topic, a log file to tail, the seed config
// ---------------------------------------------------------------------------------------------

struct Seed {
    broker: Broker,
    /// The file the seed's `tail -F` follows (exists, empty, when the agent starts).
    file: PathBuf,
    _dir: TempDir,
}

impl Seed {
    fn new() -> Seed {
        let broker = Broker::start();
        broker.create_topic(TOPIC, 1);
        let dir = tempfile::Builder::new()
            .prefix("rflume-seed-")
            .tempdir()
            .unwrap();
        let file = dir.path().join("testflume.log");
        fs::write(&file, b"").unwrap();
        Seed {
            broker,
            file,
            _dir: dir,
        }
    }

    /// The shipped `conf/flume_kafka.conf`, tailing this test's file and sending to `broker_list`.
    fn config(&self, broker_list: &str) -> String {
        for seed_value in [SEED_PATH, SEED_BROKERS] {
            assert!(
                SEED_CONF.contains(seed_value),
                "conf/flume_kafka.conf no longer contains {seed_value:?}: update this test's \
                 substitutions"
            );
        }
        let file = self.file.to_str().unwrap();
        assert!(!file.contains(char::is_whitespace), "exec splits on blanks");
        SEED_CONF
            .replace(SEED_PATH, file)
            .replace(SEED_BROKERS, broker_list)
    }

    /// Starts the agent on the seed config and returns once `tail` follows the file (its first
    /// line, `line(0)`, is in Kafka).
    fn start_agent(&self, broker_list: &str) -> Agent {
        let agent = Agent::start(&self.config(broker_list), "a1");
        self.wait_until_tailing(&agent);
        agent
    }

    fn wait_until_tailing(&self, agent: &Agent) {
        append_lines(&self.file, [line(0)]);
        agent.wait_until(DELIVERY, "the first appended line is in Kafka", || {
            !consume_all(
                &self.broker.bootstrap(),
                TOPIC,
                1,
                0,
                Duration::from_secs(5),
            )
            .is_empty()
        });
    }

    /// Waits until `tail` has written everything in the file into the agent's pipe.
    fn wait_until_tail_has_passed_everything_on(&self, agent: &Agent) {
        let len = fs::metadata(&self.file).unwrap().len();
        let tail = the_tail_of(agent);
        agent.wait_until(
            DELIVERY,
            &format!("tail has passed all {len} bytes to the agent"),
            || bytes_written_by(tail).is_some_and(|w| w >= len),
        );
    }

    /// Everything in the topic, once at least `expected` records are there (or at the deadline).
    fn records(&self, expected: usize) -> Vec<Record> {
        consume_all(&self.broker.bootstrap(), TOPIC, 1, expected, DELIVERY)
    }

    /// Waits until the topic holds `expected` records (so the stop does not race `tail`, which
    /// drops what it has not passed on when it is killed), stops the agent cleanly and returns
    /// the topic's final content, read to its end.
    fn stop_and_read_all(&self, agent: &mut Agent, expected: usize) -> Vec<Record> {
        self.records(expected);
        agent.stop_cleanly();
        self.records(expected)
    }
}

/// Test line `i`: numbered, of varying length, some with UTF-8 text, a few 20 kB long.
fn line(i: usize) -> String {
    let pad = "x".repeat(i % 61);
    match i {
        _ if i % 1000 == 999 => format!("{i:05} long {}", "0123456789".repeat(2000)),
        _ if i % 7 == 3 => format!("{i:05} 访问日志 GET /index.html 200 {pad}"),
        _ => format!("{i:05} INFO request served {pad}"),
    }
}

/// The users' writer: `echo "trickle N" >> file; sleep 0.01`, one process per line, for `range`.
/// Returns the lines it wrote.
fn echo_slowly(file: &Path, range: std::ops::Range<usize>) -> Vec<String> {
    let script = r#"i=$1; while [ "$i" -lt "$2" ]; do echo "trickle $i" >> "$3"; sleep 0.01; i=$((i+1)); done"#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(range.start.to_string())
        .arg(range.end.to_string())
        .arg(file)
        .spawn()
        .unwrap();
    let mut status = None;
    poll_until(DELIVERY, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "the echo writer failed or hung: {status:?}"
    );
    range.map(|i| format!("trickle {i}")).collect()
}

fn append_bytes(file: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(file).unwrap();
    f.write_all(bytes).unwrap();
}

/// 1-based line number of `key = …` in `config`.
fn line_number_of(config: &str, key: &str) -> usize {
    config
        .lines()
        .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        .unwrap_or_else(|| panic!("{key} is not in the config:\n{config}"))
        + 1
}

// ---------------------------------------------------------------------------------------------
// A writer that keeps lines flowing during a signal
// ---------------------------------------------------------------------------------------------

/// Appends `line(i)` for i = first, first+1, … in chunks of 20 lines (one `write` each), about
/// 10,000 lines a second, until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    lines: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(file: &Path, first: usize) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(AtomicUsize::new(first));
        let mut f = OpenOptions::new().append(true).open(file).unwrap();
        let thread = {
            let (stop, lines) = (stop.clone(), lines.clone());
            thread::spawn(move || {
                let mut next = first;
                while !stop.load(Ordering::SeqCst) {
                    let mut chunk = Vec::new();
                    for i in next..next + 20 {
                        chunk.extend_from_slice(line(i).as_bytes());
                        chunk.push(b'\n');
                    }
                    f.write_all(&chunk).unwrap();
                    next += 20;
                    lines.store(next, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(2));
                }
            })
        };
        Writer {
            stop,
            lines,
            thread: Some(thread),
        }
    }

    /// Lines in the file so far.
    fn lines(&self) -> usize {
        self.lines.load(Ordering::SeqCst)
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("writer thread panicked");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The agent's `tail`, seen through /proc
// ---------------------------------------------------------------------------------------------

/// Pids of the agent's descendants that run `tail`.
fn tail_pids(agent: &Agent) -> Vec<u32> {
    agent
        .descendant_pids()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "tail")
        })
        .collect()
}

/// The agent's one `tail` process.
fn the_tail_of(agent: &Agent) -> u32 {
    let tails = tail_pids(agent);
    assert_eq!(
        tails.len(),
        1,
        "the exec source runs one `tail`; descendants: {:?}\n{}",
        agent.descendant_pids(),
        agent.log()
    );
    tails[0]
}

/// Bytes `pid` has written so far (`wchar` of /proc/PID/io): for `tail`, how much of the file it
/// has passed into the agent's pipe (a lower bound while a write is blocked on a full pipe).
/// `tail` started on an empty file (or one with a single line), so its output is the file from
/// offset 0.
fn bytes_written_by(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// How a stop went: exit status and time, and what ran under the agent before it.
struct Stopped {
    status: Option<std::process::ExitStatus>,
    took: Duration,
    descendants: Vec<u32>,
}

/// SIGTERM, then `after_signal`, then waits (up to [`STOP_DEADLINE`], beyond the drain timeout) for the agent to exit.
fn stop_agent(agent: &mut Agent, after_signal: impl FnOnce()) -> Stopped {
    let descendants = agent.descendant_pids();
    agent.sigterm();
    let signalled = Instant::now();
    after_signal();
    let status = agent.wait_exit(STOP_DEADLINE);
    Stopped {
        status,
        took: signalled.elapsed(),
        descendants,
    }
}

impl Stopped {
    fn assert_clean_exit(&self, agent: &Agent, tail: u32) {
        let Some(status) = self.status else {
            panic!(
                "the agent still runs {STOP_DEADLINE:?} after SIGTERM\n{}",
                agent.log()
            );
        };
        assert!(
            status.success(),
            "exit status after SIGTERM: {status} (after {:?})\n{}",
            self.took,
            agent.log()
        );
        let survivors: Vec<u32> = self
            .descendants
            .iter()
            .copied()
            .filter(|&p| pid_alive(p))
            .collect();
        assert!(
            survivors.is_empty(),
            "processes of the agent (its `tail` was {tail}) outlived it: {survivors:?}"
        );
    }
}

impl Seed {
    /// The topic holds the first N lines of the file, in order, each once, where N covers at
    /// least every complete line within the first `bytes` bytes. A last record that is only the
    /// beginning of line N+1 (`tail` killed while writing it) is tolerated here and reported;
    /// `a_line_cut_off_by_the_stop_is_not_published_torn` is the test about it.
    fn assert_delivered_prefix_covering(&self, bytes: u64) {
        let content = fs::read(&self.file).unwrap();
        let bytes = usize::try_from(bytes).unwrap().min(content.len());
        let required = content[..bytes].iter().filter(|&&b| b == b'\n').count();
        let mut written: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
        written.pop(); // after the last '\n'
                       // The agent has exited: what it delivered is all in the topic.
        let mut records = consume_all(
            &self.broker.bootstrap(),
            TOPIC,
            1,
            required,
            Duration::from_secs(15),
        );
        let n = records.len();
        if let (Some(last), Some(line)) = (records.last(), written.get(n.wrapping_sub(1))) {
            if last.value != *line && line.starts_with(&last.value) {
                eprintln!(
                    "tolerated: the last record is the first {} of the {} bytes of line #{}",
                    last.value.len(),
                    line.len(),
                    n - 1
                );
                records.pop();
            }
        }
        eprintln!(
            "{required} lines passed on by tail before SIGTERM; {} written in all; {} delivered",
            written.len(),
            records.len()
        );
        assert!(
            records.len() >= required,
            "{} records, but tail had passed {required} lines to the agent before SIGTERM",
            records.len()
        );
        assert!(
            records.len() <= written.len(),
            "{} records, more than the {} lines ever written",
            records.len(),
            written.len()
        );
        let expected: Vec<Vec<u8>> = written[..records.len()]
            .iter()
            .map(|l| l.to_vec())
            .collect();
        assert_bytes_exactly(&records, &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions that explain a mismatch of thousands of lines in a few lines
// ---------------------------------------------------------------------------------------------

fn assert_exactly_in_order(records: &[Record], expected: &[String]) {
    let expected: Vec<Vec<u8>> = expected.iter().map(|s| s.as_bytes().to_vec()).collect();
    assert_bytes_exactly(records, &expected);
}

/// The record values are `expected`, in order, each once; otherwise panics with counts of
/// missing, duplicated and unexpected values and the first difference.
fn assert_bytes_exactly(records: &[Record], expected: &[Vec<u8>]) {
    let got: Vec<&[u8]> = records.iter().map(|r| r.value.as_slice()).collect();
    if got.len() == expected.len() && got.iter().zip(expected).all(|(g, e)| *g == e.as_slice()) {
        return;
    }
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for g in &got {
        *seen.entry(g).or_default() += 1;
    }
    let wanted: HashSet<&[u8]> = expected.iter().map(Vec::as_slice).collect();
    let missing = expected
        .iter()
        .filter(|e| !seen.contains_key(e.as_slice()))
        .count();
    let duplicated: usize = seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum();
    let unexpected = got.iter().filter(|g| !wanted.contains(*g)).count();
    let first_diff = got
        .iter()
        .zip(expected)
        .position(|(g, e)| *g != e.as_slice())
        .unwrap_or(got.len().min(expected.len()));
    let show = |v: Option<&[u8]>| {
        v.map(|b| {
            let s = String::from_utf8_lossy(b);
            format!("{:?}", s.chars().take(80).collect::<String>())
        })
        .unwrap_or_else(|| "(none)".into())
    };
    panic!(
        "{} records, {} expected: {missing} missing, {duplicated} duplicated, {unexpected} \
         unexpected; first difference at #{first_diff}: got {} expected {}",
        got.len(),
        expected.len(),
        show(got.get(first_diff).copied()),
        show(expected.get(first_diff).map(Vec::as_slice)),
    );
}
