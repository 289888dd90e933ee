//! The ceiling for `scripts/bench.sh`: a plain librdkafka producer that sends every line of a file
//! to one topic, as fast as it can, with the settings an agent would use.
//!
//! ```text
//! bench_raw_producer FILE BOOTSTRAP TOPIC
//! ```
//!
//! Reads FILE in large chunks, frames lines with `memchr` (the `\n` is not sent, as the exec
//! source strips it), and produces each line as one record (no key) with a `BaseProducer`:
//! `linger.ms=5`, `batch.num.messages=10000`, `acks=1` (Flume's default). A full librdkafka queue
//! is waited out by serving delivery reports. Exits 0 only when every record was acknowledged;
//! prints `lines=… acked=… failed=… bytes=… client_errors=… elapsed_s=…` on stdout.

use std::cell::Cell;
use std::fs::File;
use std::io::Read;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

/// Read size: large reads keep syscalls per line negligible.
const READ_CHUNK: usize = 1 << 20;
/// Serve delivery reports every this many sends, so the queue drains while we produce.
const POLL_EVERY: u64 = 1000;
/// A record not acknowledged within this fails (and the run with it): a benchmark must not hang
/// on a broker that is not there.
const MESSAGE_TIMEOUT_MS: &str = "60000";
/// Upper bound for the final flush (beyond `MESSAGE_TIMEOUT_MS`, every record has a report).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(90);
/// Client-level errors printed; the rest are only counted.
const MAX_ERRORS_SHOWN: u64 = 5;

#[derive(Default)]
struct Counts {
    errors: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Counts {
    fn error(&self, error: KafkaError, reason: &str) {
        // A benchmark against a local broker should see none; print the first few only.
        if self.errors.fetch_add(1, Ordering::Relaxed) < MAX_ERRORS_SHOWN {
            eprintln!("bench_raw_producer: client error: {error}: {reason}");
        }
    }
}

impl ProducerContext for Counts {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                if first.is_none() {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, bootstrap, topic] = args.as_slice() else {
        eprintln!("usage: bench_raw_producer FILE BOOTSTRAP TOPIC");
        return ExitCode::from(2);
    };
    match run(file, bootstrap, topic) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench_raw_producer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str, bootstrap: &str, topic: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let producer: BaseProducer<Counts> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("acks", "1")
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS)
        .create_with_context(Counts::default())?;

    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut buf = vec![0u8; READ_CHUNK];
    // Bytes of an unterminated line carried over to the next read are kept at the buffer's start.
    let mut filled = 0usize;
    let sent = Cell::new(0u64);
    let mut bytes = 0u64;

    let send = |line: &[u8]| -> Result<(), KafkaError> {
        let mut record = BaseRecord::<[u8], [u8], ()>::to(topic).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e),
            }
        }
        let n = sent.get() + 1;
        sent.set(n);
        if n % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
        }
        Ok(())
    };

    loop {
        if filled == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        let mut start = 0usize;
        for end in memchr::memchr_iter(b'\n', &buf[..filled]) {
            send(&buf[start..end])?;
            bytes += (end - start) as u64;
            start = end + 1;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
    if filled > 0 {
        // A last line without a terminator is still a line (as the exec source sees it).
        send(&buf[..filled])?;
        bytes += filled as u64;
    }

    let flushed = producer.flush(FLUSH_TIMEOUT);
    let elapsed = started.elapsed().as_secs_f64();
    let counts = producer.context();
    let acked = counts.acked.load(Ordering::Relaxed);
    let failed = counts.failed.load(Ordering::Relaxed);
    let sent = sent.get();
    let errors = counts.errors.load(Ordering::Relaxed);
    println!(
        "lines={sent} acked={acked} failed={failed} bytes={bytes} client_errors={errors} elapsed_s={elapsed:.3}"
    );
    if let Err(e) = flushed {
        eprintln!("bench_raw_producer: flush did not finish: {e}");
    }
    if acked != sent || failed != 0 {
        let first = counts
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        eprintln!(
            "bench_raw_producer: only {acked} of {sent} records acknowledged, {failed} failed (first error: {})",
            first.as_deref().unwrap_or("none")
        );
        return Ok(false);
    }
    Ok(true)
}
