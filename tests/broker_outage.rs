//! Broker outages: the exec → memory → Kafka pipeline must never lose a line it read.
//!
//! The agent talks to the broker through a `tansu proxy` (killing it is a "connection refused"
//! outage; the broker keeps what it acknowledged) or to a broker frozen with SIGSTOP. Every line
//! appended to the tailed file is numbered, so the topic can be checked line by line: present,
//! in order of first appearance, and duplicated only by at-least-once re-sends.
//!
//! The topic is always read straight from the broker, never through the proxy, and judged after
//! the agent stopped (SIGTERM, exit 0): everything it will ever deliver is there. What rflume
//! itself did is read from its log and from the totals it logs at stop (`SINK.k1: …
//! RollbackCount=N`): the tests assert the sink's behaviour, not only the fault injected.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// librdkafka's `message.timeout.ms` in the outage tests: a record not acknowledged within it
/// fails with `MessageTimedOut`, and the sink must roll its batch back, not count it as sent.
const MESSAGE_TIMEOUT_MS: u64 = 2000;
/// How long the proxy stays down: three message timeouts, so every record queued during the
/// outage times out at least once (some twice).
const OUTAGE: Duration = Duration::from_millis(3 * MESSAGE_TIMEOUT_MS);
/// How long the topic must not grow once the sink has reported a timed-out batch: two more
/// message timeouts, so its retries run (and time out) within the hold.
const HOLD_AFTER_FAILURE: Duration = Duration::from_millis(2 * MESSAGE_TIMEOUT_MS);
/// Generous bound for anything that should take seconds (agent start, recovery, draining).
const DEADLINE: Duration = Duration::from_secs(60);

/// The outage tests' pipeline: lines are stored within 100 ms, batches of 100 events,
/// [`MESSAGE_TIMEOUT_MS`] and prompt reconnects.
fn outage_config(log: &Path, bootstrap: &str, topic: &str) -> String {
    let timeout = MESSAGE_TIMEOUT_MS.to_string();
    exec_tail_to_kafka(
        log,
        bootstrap,
        topic,
        &[
            ("sources.r1.batchTimeout", "100"),
            ("channels.c1.transactionCapacity", "100"),
            ("sinks.k1.kafka.producer.message.timeout.ms", &timeout),
            ("sinks.k1.kafka.producer.reconnect.backoff.ms", "100"),
            ("sinks.k1.kafka.producer.reconnect.backoff.max.ms", "500"),
        ],
    )
}

fn line(n: usize) -> String {
    format!("line-{n:06}")
}

fn line_number(record: &Record) -> usize {
    let v = record.value_str();
    v.strip_prefix("line-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected record in the topic: {v:?}"))
}

/// Appends numbered lines to a file at a steady pace from a background thread, as an
/// application writing its log would, until stopped.
struct Appender {
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Appender {
    /// `per_tick` lines every 10 ms.
    fn start(path: PathBuf, per_tick: usize) -> Appender {
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (count, stop) = (count.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let first = count.load(Ordering::SeqCst);
                    append_lines(&path, (first..first + per_tick).map(line));
                    count.store(first + per_tick, Ordering::SeqCst);
                    // A pacing clock, not a wait for a condition: the writer's rate is the input.
                    next += Duration::from_millis(10);
                    if let Some(pause) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(pause);
                    }
                }
            })
        };
        Appender {
            count,
            stop,
            handle: Some(handle),
        }
    }

    /// Lines appended so far (all of them flushed to the file).
    fn appended(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Stops appending; returns the number of lines appended in total.
    fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("appender thread panicked");
        }
        self.appended()
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Everything in the topic right now (at least `expected` records, if they come within 20 s),
/// read from the broker itself.
fn topic_now(broker: &Broker, topic: &str, expected: usize) -> Vec<Record> {
    consume_all(
        &broker.bootstrap(),
        topic,
        1,
        expected,
        Duration::from_secs(20),
    )
}

/// What the topic holds, line by line.
#[derive(Debug)]
struct Delivery {
    records: usize,
    /// Line numbers in topic order.
    sequence: Vec<usize>,
    missing: Vec<usize>,
    duplicates: usize,
    /// Maximal runs of records that repeat an earlier line: (first line, length).
    duplicate_runs: Vec<(usize, usize)>,
}

impl Delivery {
    fn of(records: &[Record], expected_lines: usize) -> Delivery {
        let sequence: Vec<usize> = records.iter().map(line_number).collect();
        let mut seen = HashSet::new();
        let mut duplicate_runs: Vec<(usize, usize)> = Vec::new();
        let mut in_run = false;
        for &n in &sequence {
            if seen.insert(n) {
                in_run = false;
            } else {
                match duplicate_runs.last_mut() {
                    Some((_, len)) if in_run => *len += 1,
                    _ => duplicate_runs.push((n, 1)),
                }
                in_run = true;
            }
        }
        let missing = (0..expected_lines).filter(|n| !seen.contains(n)).collect();
        Delivery {
            records: records.len(),
            duplicates: records.len() - seen.len(),
            sequence,
            missing,
            duplicate_runs,
        }
    }

    fn all_present(&self) -> bool {
        self.missing.is_empty()
    }

    /// Line numbers in the order they first appear in the topic.
    fn first_appearances(&self) -> Vec<usize> {
        let mut seen = HashSet::new();
        self.sequence
            .iter()
            .copied()
            .filter(|n| seen.insert(*n))
            .collect()
    }

    /// Each run of repeated records must re-send consecutive lines, as a rolled-back batch
    /// (or a retried produce request) does; anything else is not an at-least-once re-send.
    fn runs_are_consecutive(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        let mut previous_duplicate: Option<usize> = None;
        for &n in &self.sequence {
            if seen.insert(n) {
                previous_duplicate = None;
                continue;
            }
            if let Some(p) = previous_duplicate {
                if n != p + 1 {
                    return Err(format!(
                        "a repeated run jumps from line {p} to line {n}: not a re-sent batch"
                    ));
                }
            }
            previous_duplicate = Some(n);
        }
        Ok(())
    }

    fn summary(&self) -> String {
        let runs: Vec<String> = self
            .duplicate_runs
            .iter()
            .take(20)
            .map(|(first, len)| format!("{}..={}", line(*first), line(first + len - 1)))
            .collect();
        format!(
            "{} records, {} distinct lines, {} missing{}, {} duplicates in {} re-sent run(s) {:?}",
            self.records,
            self.records - self.duplicates,
            self.missing.len(),
            if self.missing.is_empty() {
                String::new()
            } else {
                format!(
                    " (first: {:?})",
                    &self.missing[..self.missing.len().min(10)]
                )
            },
            self.duplicates,
            self.duplicate_runs.len(),
            runs
        )
    }
}

/// Waits until every line `0..lines` is in the topic; returns what the topic then holds.
fn wait_for_all_lines(
    agent: &Agent,
    broker: &Broker,
    topic: &str,
    lines: usize,
    deadline: Duration,
) -> Delivery {
    let mut last = Delivery::of(&[], lines);
    let complete = poll_until(deadline, || {
        last = Delivery::of(&topic_now(broker, topic, 0), lines);
        last.all_present()
    });
    if !complete {
        panic!(
            "not every line reached Kafka within {deadline:?}: {}\n{}",
            last.summary(),
            agent_log_tail(agent)
        );
    }
    last
}

/// The at-least-once contract, checked on the final content of the topic.
fn assert_at_least_once_in_order(delivery: &Delivery, lines: usize) {
    assert!(delivery.all_present(), "lines lost: {}", delivery.summary());
    let firsts = delivery.first_appearances();
    let expected: Vec<usize> = (0..lines).collect();
    if firsts != expected {
        let i = firsts
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "lines are not in order of first appearance: at position {i} the topic has {} where {} was expected ({})",
            line(firsts[i]),
            line(expected[i]),
            delivery.summary()
        );
    }
    if let Err(e) = delivery.runs_are_consecutive() {
        panic!("{e}: {}", delivery.summary());
    }
}

fn agent_log_tail(agent: &Agent) -> String {
    let log = agent.log();
    let lines: Vec<&str> = log.lines().collect();
    format!(
        "--- agent log (last 60 lines) ---\n{}\n--- end ---",
        lines[lines.len().saturating_sub(60)..].join("\n")
    )
}

/// The source's WARN line saying it holds a batch because the channel is full.
fn backpressure_warning(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("WARN") && l.contains("backpressure"))
        .map(str::to_string)
}

/// How far the agent's `tail` has read `path`: the offset of the open file description
/// (`/proc/PID/fdinfo`) of the descendant that has the file open.
fn read_offset(agent: &Agent, path: &Path) -> Option<u64> {
    agent
        .descendant_pids()
        .into_iter()
        .filter_map(|pid| process_read_offset(pid, path))
        .max()
}

/// The agent's log without its first `lines` lines.
fn log_after(agent: &Agent, lines: usize) -> String {
    agent
        .log()
        .lines()
        .skip(lines)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The agent's ERROR lines for a failed take: "Unable to deliver event … rolled back".
fn delivery_failures(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("ERROR")
                && l.contains("Unable to deliver event")
                && l.contains("rolled back")
        })
        .collect()
}

fn has_delivery_failure(log: &str) -> bool {
    !delivery_failures(log).is_empty()
}

/// Stops the agent cleanly and checks rflume's own account of the outage: its failed takes were
/// records that timed out (`MessageTimedOut`, librdkafka's verdict after `message.timeout.ms`)
/// and were rolled back (`RollbackCount` ≥ 1); and each of the `lines` was counted as delivered
/// once (`EventDrainSuccessCount`), when its batch was acknowledged — none when it timed out.
/// Returns the topic's final content.
fn stop_and_check_the_sinks_account(
    agent: &mut Agent,
    broker: &Broker,
    topic: &str,
    lines: usize,
) -> Delivery {
    agent.stop_cleanly();
    let failures = delivery_failures(&agent.log())
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert!(
        !failures.is_empty() && failures.iter().all(|l| l.contains("MessageTimedOut")),
        "the sink's failures are records that timed out (MessageTimedOut): {failures:#?}\n{}",
        agent_log_tail(agent)
    );
    let sink = agent.stop_totals("SINK.k1");
    eprintln!("sink totals: {sink:?}");
    assert!(
        sink["RollbackCount"] >= 1,
        "the timed-out batches were rolled back: {sink:?}"
    );
    assert_eq!(
        sink["EventDrainSuccessCount"], lines as u64,
        "each line counted as delivered exactly once, on acknowledgement: {sink:?}"
    );
    Delivery::of(&topic_now(broker, topic, lines), lines)
}

/// Broker, topic, proxy, tailed file and an agent sending through the proxy. Fields drop in
/// order: the agent first, so the broker is not stopped while a client is still connected.
struct Pipeline {
    agent: Agent,
    proxy: Proxy,
    broker: Broker,
    topic: &'static str,
    log: PathBuf,
    _input: tempfile::TempDir,
}

impl Pipeline {
    fn start(topic: &'static str) -> Pipeline {
        let broker = Broker::start();
        broker.create_topic(topic, 1);
        let proxy = Proxy::start(&broker);
        let input = tempfile::tempdir().unwrap();
        let log = input.path().join("app.log");
        append_lines(&log, Vec::<String>::new());
        let config = outage_config(&log, &proxy.bootstrap(), topic);
        let agent = Agent::start(&config, "a1");
        Pipeline {
            agent,
            proxy,
            broker,
            topic,
            log,
            _input: input,
        }
    }

    /// Records in the topic now (read from the broker, not through the proxy).
    fn records_in_topic(&self) -> usize {
        topic_now(&self.broker, self.topic, 0).len()
    }
}

/// An outage three times longer than `message.timeout.ms`: every record queued in librdkafka
/// times out, the sink rolls its batches back and sends them again once the proxy is back.
/// Nothing is lost; repeats are whole re-sent runs; first appearances keep the file's order.
#[test]
fn outage_longer_than_message_timeout_loses_no_line() {
    let mut p = Pipeline::start("outage-long");
    let appender = Appender::start(p.log.clone(), 2);

    p.agent
        .wait_until(DEADLINE, "lines flow to Kafka through the proxy", || {
            p.records_in_topic() >= 200
        });

    p.proxy.kill();
    let outage_started = Instant::now();
    let appended_at_kill = appender.appended();
    p.agent.wait_until(
        DEADLINE,
        "the agent logs ERROR \"Unable to deliver event … rolled back\"",
        || has_delivery_failure(&p.agent.log()),
    );
    let first_failure_after = outage_started.elapsed();
    // The outage itself: its length is the fault being injected, not a wait for a condition.
    wait_until(
        OUTAGE * 2,
        "the outage has lasted 3 x message.timeout.ms",
        || outage_started.elapsed() >= OUTAGE,
    );
    let appended_during_outage = appender.appended() - appended_at_kill;

    p.proxy.restart();
    let appended_at_restart = appender.appended();
    // Keep appending until lines written after the restart come through: delivery resumed.
    p.agent.wait_until(
        DEADLINE,
        "lines appended after the restart reach Kafka",
        || {
            topic_now(&p.broker, p.topic, 0)
                .iter()
                .any(|r| line_number(r) >= appended_at_restart + 100)
        },
    );
    let total = appender.stop();

    wait_for_all_lines(&p.agent, &p.broker, p.topic, total, DEADLINE);
    let delivery = stop_and_check_the_sinks_account(&mut p.agent, &p.broker, p.topic, total);
    eprintln!(
        "outage of {:?} (first delivery failure after {first_failure_after:?}); {total} lines \
         appended, {appended_during_outage} during the outage; topic: {}",
        OUTAGE,
        delivery.summary()
    );
    eprintln!("duplicates: {}", delivery.duplicates);
    assert_at_least_once_in_order(&delivery, total);
}

/// While the broker is unreachable nothing may be counted as sent: the topic does not grow,
/// records that time out are held (rolled back), and every line appended during the outage is
/// delivered after it — proof that timed-out records were not dropped.
#[test]
fn nothing_counts_as_sent_before_kafka_acknowledged_it() {
    let mut p = Pipeline::start("outage-held");
    let first_lines = 100;
    append_lines(&p.log, (0..first_lines).map(line));
    wait_for_all_lines(&p.agent, &p.broker, p.topic, first_lines, DEADLINE);
    let in_topic_before = p.records_in_topic();

    p.proxy.kill();
    let outage_started = Instant::now();
    let log_lines_at_kill = p.agent.log().lines().count();
    let outage_lines = 1000;
    append_lines(&p.log, (first_lines..first_lines + outage_lines).map(line));
    p.agent.wait_until(
        DEADLINE,
        "the agent logs that it rolled back an unacknowledged batch",
        || has_delivery_failure(&log_after(&p.agent, log_lines_at_kill)),
    );
    // Any produce request the proxy forwarded before it died has long been answered by now.
    let in_topic_at_failure = p.records_in_topic();
    assert_eq!(
        in_topic_at_failure, in_topic_before,
        "records reached the topic after the proxy was killed"
    );

    // Hold, from the first failure on and however long that took to come: for two more message
    // timeouts the topic must not grow, whatever the sink's retries and rollbacks do.
    let failed_at = Instant::now();
    let mut observed = in_topic_at_failure;
    let grew = poll_until(HOLD_AFTER_FAILURE, || {
        observed = topic_now(&p.broker, p.topic, 0).len();
        observed != in_topic_at_failure
    });
    assert!(
        !grew,
        "the topic grew from {in_topic_at_failure} to {observed} records while the broker was \
         unreachable ({:?} into the outage)",
        outage_started.elapsed()
    );
    assert!(
        failed_at.elapsed() >= HOLD_AFTER_FAILURE,
        "the hold ran in full"
    );
    let outage_log = log_after(&p.agent, log_lines_at_kill);

    p.proxy.restart();
    let total = first_lines + outage_lines;
    wait_for_all_lines(&p.agent, &p.broker, p.topic, total, DEADLINE);
    let delivery = stop_and_check_the_sinks_account(&mut p.agent, &p.broker, p.topic, total);
    eprintln!(
        "{outage_lines} lines appended during an outage of {OUTAGE:?}; topic: {}",
        delivery.summary()
    );
    eprintln!("duplicates: {}", delivery.duplicates);
    assert_at_least_once_in_order(&delivery, total);

    // Nor may the log claim otherwise: a rollback followed by a new take is not a recovery. (The
    // Kafka sink writes its own recovery line, "delivering again", instead of the runner's.)
    let false_recoveries: Vec<&str> = outage_log
        .lines()
        .filter(|l| l.contains("delivery recovered") || l.contains("delivering again"))
        .collect();
    assert!(
        false_recoveries.is_empty(),
        "while the broker was unreachable (nothing acknowledged) the agent claimed recovered \
         delivery {} time(s), e.g.:\n{}",
        false_recoveries.len(),
        false_recoveries
            .iter()
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A channel far smaller than the burst and a frozen broker: the exec source must stop reading
/// (backpressure) rather than drop lines. After the broker resumes, all 20,000 lines arrive
/// exactly once: the broker is frozen for seconds, far less than the request and message
/// timeouts (120 s here), so nothing can time out, be rolled back or be sent twice.
#[test]
fn full_channel_pushes_back_instead_of_dropping() {
    const LINES: usize = 20_000;
    let mut broker = Broker::start();
    let topic = "burst";
    broker.create_topic(topic, 1);
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, [line(0)]);
    let config = exec_tail_to_kafka(
        &log,
        &broker.bootstrap(),
        topic,
        &[
            ("sources.r1.batchTimeout", "100"),
            ("channels.c1.capacity", "200"),
            ("channels.c1.transactionCapacity", "100"),
            // Short keep-alive: a put into the full channel gives up (and is retried) after
            // 1 s, so the backpressure shows in the log quickly.
            ("channels.c1.keep-alive", "1"),
            // A frozen broker must not make records fail during the test: this is about the
            // source side.
            ("sinks.k1.kafka.producer.message.timeout.ms", "120000"),
            ("sinks.k1.kafka.producer.request.timeout.ms", "120000"),
        ],
    );
    let mut agent = Agent::start(&config, "a1");
    // The producer has connected and knows the topic before the broker freezes.
    wait_for_all_lines(&agent, &broker, topic, 1, DEADLINE);

    broker.pause();
    append_lines(&log, (1..LINES).map(line));
    agent.wait_until(
        DEADLINE,
        "the source logs a WARN that it holds its batch (backpressure)",
        || backpressure_warning(&agent.log()).is_some(),
    );
    let backpressure = backpressure_warning(&agent.log()).unwrap_or_default();
    // Black-box confirmation: the source stopped reading, so `tail` is blocked and most of the
    // burst still waits in the file instead of having been read (and dropped).
    let file_len = std::fs::metadata(&log).unwrap().len();
    let read = read_offset(&agent, &log).expect("tail has the log file open");
    assert!(
        read < file_len,
        "tail read the whole {file_len}-byte burst although the channel holds 200 events: \
         the source did not push back"
    );
    broker.resume();

    wait_for_all_lines(&agent, &broker, topic, LINES, DEADLINE);
    agent.stop_cleanly();
    let delivery = Delivery::of(&topic_now(&broker, topic, LINES), LINES);
    eprintln!("{LINES} lines through a 200-event channel; backpressure logged as: {backpressure}");
    eprintln!("topic: {}", delivery.summary());
    assert_at_least_once_in_order(&delivery, LINES);
    assert_eq!(delivery.duplicates, 0, "{}", delivery.summary());
    let sink = agent.stop_totals("SINK.k1");
    assert_eq!(sink["RollbackCount"], 0, "nothing failed: {sink:?}");
    assert_eq!(sink["EventDrainSuccessCount"], LINES as u64, "{sink:?}");
}
