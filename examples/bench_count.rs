//! The finish line for `scripts/bench.sh`: reads a topic from offset 0 until it has seen N records,
//! prints when that happened, then checks that no more arrive.
//!
//! ```text
//! bench_count BOOTSTRAP TOPIC N [--verify FILE | --latency] [--settle-ms MS] [--timeout-s S] [-X key=value]...
//! ```
//!
//! * An `assign`-based consumer of partition 0 from offset 0 (no consumer group: a join can take
//!   ~23 s on tansu), `fetch.wait.max.ms=10` (with the default 500 ms, tansu delays every fetch
//!   and the benchmark would time the consumer), `fetch.queue.backoff.ms=5` (the default 1000 ms
//!   pause after the local queue filled up showed as 1 s stalls), `enable.partition.eof=true`.
//! * Prints `ready epoch_ns=…` once it has reached the end of the (possibly empty) partition, so a
//!   caller can start the producer only after the consumer is connected and caught up, and
//!   `done epoch_ns=… elapsed_s=…` the moment the N-th record arrives.
//! * After the N-th record it keeps reading until the end of the partition and then for
//!   `--settle-ms` (default 500) more: a record beyond N is a duplicate and fails the run, since
//!   duplicates would inflate the throughput.
//! * `-X key=value`: any librdkafka consumer property, applied last (for experiments).
//! * `--verify FILE`: each record must be byte-identical to line `seq` of FILE (without the
//!   newline), where `seq` is the decimal number the record starts with (the benchmark's
//!   generator puts the line's index there); every line must be seen exactly once.
//! * `--latency`: each record starts with the wall-clock time its line was written, in
//!   nanoseconds since the epoch (the steady benchmark's writer puts it there); the end-to-end
//!   latency of a record is its receive time minus that. Adds `lat_p50_ms`, `lat_p99_ms`,
//!   `lat_p999_ms`, `lat_max_ms` (over every record up to the N-th) to the summary. Writer and
//!   consumer run on the same machine, so one clock serves both.
//!
//! Prints one `key=value …` line on stdout (`count`, `expected`, `duplicates`, `missing`,
//! `mismatched`, `out_of_order`, `ready_epoch_ns`, `first_epoch_ns`, `done_epoch_ns`,
//! `max_gap_s`/`max_gap_after` (longest pause between two records and how many came before it),
//! `elapsed_s` from consumer creation (after loading `--verify`) to the N-th record, `ready_to_done_s`) and exits 0 only when exactly N
//! records arrived, each line once (with `--verify`), within `--timeout-s` (default 300).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

/// If the empty partition never reports its end, announce readiness after this anyway.
const READY_FALLBACK: Duration = Duration::from_secs(3);
const POLL_STEP: Duration = Duration::from_millis(100);

/// librdkafka's log lines to stderr (with `-X debug=…` they say what the consumer waits for).
struct Ctx;

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("bench_count: librdkafka {level:?} {fac}: {message}");
    }
}

impl ConsumerContext for Ctx {}

struct Args {
    bootstrap: String,
    topic: String,
    expected: u64,
    verify: Option<String>,
    latency: bool,
    settle: Duration,
    timeout: Duration,
    /// Extra consumer properties (`-X key=value`), applied last.
    extra: Vec<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut verify = None;
    let mut latency = false;
    let mut settle = Duration::from_millis(500);
    let mut timeout = Duration::from_secs(300);
    let mut extra = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--verify" => verify = Some(value("--verify")?),
            "--latency" => latency = true,
            "-X" => {
                let v = value("-X")?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("-X {v}: expected key=value"))?;
                extra.push((k.to_string(), val.to_string()));
            }
            "--settle-ms" => {
                let v = value("--settle-ms")?;
                settle =
                    Duration::from_millis(v.parse().map_err(|e| format!("--settle-ms {v}: {e}"))?);
            }
            "--timeout-s" => {
                let v = value("--timeout-s")?;
                timeout =
                    Duration::from_secs(v.parse().map_err(|e| format!("--timeout-s {v}: {e}"))?);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => positional.push(a),
        }
    }
    let [bootstrap, topic, n] = <[String; 3]>::try_from(positional)
        .map_err(|_| "expected BOOTSTRAP TOPIC N".to_string())?;
    let expected = n.parse().map_err(|e| format!("N {n}: {e}"))?;
    if latency && verify.is_some() {
        return Err("--latency and --verify read different things at a record's start".into());
    }
    Ok(Args {
        bootstrap,
        topic,
        expected,
        verify,
        latency,
        settle,
        timeout,
        extra,
    })
}

fn epoch_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The write time a `--latency` record starts with (decimal nanoseconds since the epoch).
fn written_ns(payload: &[u8]) -> Option<u128> {
    let digits = payload.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&payload[..digits]).ok()?.parse().ok()
}

/// The expected lines, indexed by sequence number, and which of them were seen.
struct Verifier {
    data: Vec<u8>,
    /// Start offset of each line; one extra entry (end of data + 1) closes the last line.
    starts: Vec<usize>,
    seen: Vec<bool>,
    distinct: u64,
    duplicates: u64,
    mismatched: u64,
    out_of_order: u64,
    next: Option<usize>,
}

impl Verifier {
    fn load(path: &str) -> std::io::Result<Self> {
        let data = std::fs::read(path)?;
        let mut starts = Vec::with_capacity(data.len() / 64 + 2);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', &data).map(|i| i + 1));
        if starts.last() != Some(&data.len()) {
            // An unterminated last line: close it as if it had a newline.
            starts.push(data.len() + 1);
        }
        let lines = starts.len() - 1;
        Ok(Verifier {
            data,
            starts,
            seen: vec![false; lines],
            distinct: 0,
            duplicates: 0,
            mismatched: 0,
            out_of_order: 0,
            next: None,
        })
    }

    fn lines(&self) -> usize {
        self.seen.len()
    }

    fn check(&mut self, payload: &[u8]) {
        let digits = payload.iter().take_while(|b| b.is_ascii_digit()).count();
        let seq = std::str::from_utf8(&payload[..digits])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&s| s < self.lines());
        let Some(seq) = seq else {
            self.mismatched += 1;
            return;
        };
        let line = &self.data[self.starts[seq]..self.starts[seq + 1] - 1];
        if line != payload {
            self.mismatched += 1;
            return;
        }
        if self.next.is_some_and(|n| n != seq) {
            self.out_of_order += 1;
        }
        self.next = Some(seq + 1);
        if std::mem::replace(&mut self.seen[seq], true) {
            self.duplicates += 1;
        } else {
            self.distinct += 1;
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_count: {e}\nusage: bench_count BOOTSTRAP TOPIC N [--verify FILE | --latency] [--settle-ms MS] [--timeout-s S] [-X key=value]...");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench_count: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let mut verifier = match &args.verify {
        Some(path) => {
            let v = Verifier::load(path).map_err(|e| format!("{path}: {e}"))?;
            if v.lines() as u64 != args.expected {
                return Err(
                    format!("{path} has {} lines but N is {}", v.lines(), args.expected).into(),
                );
            }
            Some(v)
        }
        None => None,
    };

    // Timed from here: loading the verification copy is not the consumer's work.
    let started = Instant::now();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", format!("bench-count-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        // When the local queue is full (the application is behind the fetcher, e.g. while it
        // verifies records), librdkafka stops fetching for fetch.queue.backoff.ms, 1000 by
        // default: stalls of a whole second that would be charged to the producer under test.
        .set("fetch.queue.backoff.ms", "5")
        .set("allow.auto.create.topics", "false");
    for (k, v) in &args.extra {
        config.set(k, v);
    }
    config.set_log_level(if config.get("debug").is_some() {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Warning
    });
    let consumer: BaseConsumer<Ctx> = config.create_with_context(Ctx)?;
    // Offset 0 rather than Offset::Beginning: resolving "beginning" costs a ListOffsets round
    // with backoff against tansu.
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&args.topic, 0, Offset::Offset(0))?;
    consumer.assign(&assignment)?;

    let deadline = Instant::now() + args.timeout;
    let mut stdout = std::io::stdout();
    let mut ready_ns: Option<u128> = None;
    let mut first_ns: Option<u128> = None;
    let mut done: Option<(u128, Duration)> = None;
    let mut count = 0u64;
    let mut eof_after_done = false;
    let mut quiet_since: Option<Instant> = None;
    let mut last_error: Option<String> = None;
    // The longest pause between two records up to the N-th, and how many had arrived before it:
    // shows a pipeline that stalls (a batch waiting for a timeout) rather than one that is slow.
    let mut last_record: Option<Instant> = None;
    let mut max_gap = (Duration::ZERO, 0u64);
    // End-to-end latencies in nanoseconds (`--latency`), and records without a timestamp.
    let mut latencies: Vec<u64> = Vec::new();
    let mut untimed = 0u64;
    if args.latency {
        latencies.reserve(usize::try_from(args.expected).unwrap_or(0));
    }

    loop {
        let now = Instant::now();
        if now >= deadline {
            eprintln!(
                "bench_count: timed out after {:?} with {count} of {} records (last error: {})",
                args.timeout,
                args.expected,
                last_error.as_deref().unwrap_or("none")
            );
            break;
        }
        if ready_ns.is_none() && started.elapsed() >= READY_FALLBACK {
            ready_ns = Some(epoch_ns());
            writeln!(
                stdout,
                "ready epoch_ns={} (no end-of-partition seen)",
                ready_ns.unwrap_or(0)
            )?;
            stdout.flush()?;
        }
        if let Some(q) = quiet_since {
            if eof_after_done && q.elapsed() >= args.settle {
                break;
            }
        }
        match consumer.poll(POLL_STEP.min(deadline - now)) {
            None => {}
            Some(Ok(m)) => {
                if done.is_none() {
                    let now = Instant::now();
                    if let Some(gap) = last_record.map(|l| now - l) {
                        if gap > max_gap.0 {
                            max_gap = (gap, count);
                        }
                    }
                    last_record = Some(now);
                }
                count += 1;
                if first_ns.is_none() {
                    first_ns = Some(epoch_ns());
                }
                if let Some(v) = verifier.as_mut() {
                    v.check(m.payload().unwrap_or_default());
                }
                if args.latency && done.is_none() {
                    match written_ns(m.payload().unwrap_or_default()) {
                        Some(at) => latencies.push(epoch_ns().saturating_sub(at) as u64),
                        None => untimed += 1,
                    }
                }
                if count == args.expected {
                    let (ns, elapsed) = (epoch_ns(), started.elapsed());
                    done = Some((ns, elapsed));
                    // At once, so a caller can sample the producer's CPU at this moment.
                    writeln!(
                        stdout,
                        "done epoch_ns={ns} elapsed_s={:.3}",
                        elapsed.as_secs_f64()
                    )?;
                    stdout.flush()?;
                }
                if done.is_some() {
                    // More data after the end: restart the settle period.
                    eof_after_done = false;
                    quiet_since = None;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                if ready_ns.is_none() {
                    ready_ns = Some(epoch_ns());
                    writeln!(stdout, "ready epoch_ns={}", ready_ns.unwrap_or(0))?;
                    stdout.flush()?;
                }
                if done.is_some() && !eof_after_done {
                    eof_after_done = true;
                    quiet_since = Some(Instant::now());
                }
            }
            Some(Err(e)) => last_error = Some(e.to_string()),
        }
    }

    let (done_ns, elapsed) = done.map_or((0, None), |(ns, e)| (ns, Some(e)));
    let ready = ready_ns.unwrap_or(0);
    let mut line = format!(
        "count={count} expected={} ready_epoch_ns={ready} first_epoch_ns={} done_epoch_ns={done_ns} elapsed_s={} ready_to_done_s={} max_gap_s={:.3} max_gap_after={}",
        args.expected,
        first_ns.unwrap_or(0),
        elapsed.map_or("NA".into(), |e| format!("{:.3}", e.as_secs_f64())),
        if done_ns > 0 && ready > 0 {
            format!("{:.3}", (done_ns.saturating_sub(ready)) as f64 / 1e9)
        } else {
            "NA".into()
        },
        max_gap.0.as_secs_f64(),
        max_gap.1,
    );
    let mut problems = Vec::new();
    if args.latency {
        latencies.sort_unstable();
        let ms = |q: f64| -> String {
            if latencies.is_empty() {
                return "NA".into();
            }
            // Nearest rank: the smallest latency with at least q of all at or below it.
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            format!("{:.3}", latencies[rank - 1] as f64 / 1e6)
        };
        line.push_str(&format!(
            " lat_p50_ms={} lat_p99_ms={} lat_p999_ms={} lat_max_ms={}",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            ms(1.0)
        ));
        if untimed > 0 {
            problems.push(format!("{untimed} records without a leading timestamp"));
        }
    }
    if count != args.expected {
        problems.push(format!(
            "{count} records, expected exactly {}",
            args.expected
        ));
    }
    if let Some(v) = &verifier {
        let missing = args.expected - v.distinct.min(args.expected);
        line.push_str(&format!(
            " duplicates={} missing={missing} mismatched={} out_of_order={}",
            v.duplicates, v.mismatched, v.out_of_order
        ));
        for (n, what) in [
            (v.duplicates, "duplicated"),
            (missing, "missing"),
            (v.mismatched, "not matching their input line"),
        ] {
            if n > 0 {
                problems.push(format!("{n} lines {what}"));
            }
        }
    }
    writeln!(stdout, "{line}")?;
    let ok = problems.is_empty();
    if !ok {
        eprintln!(
            "bench_count: FAILED on {}: {}",
            args.topic,
            problems.join(", ")
        );
    }
    Ok(ok)
}
