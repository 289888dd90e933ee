//! Delivery bookkeeping shared with librdkafka's callbacks: which in-flight batch a delivery
//! report belongs to, and how many of its records are still pending or failed.
//!
//! Each in-flight take transaction owns a *slot* in the producer context; a record's delivery
//! opaque is a plain integer naming its slot (plus a generation, so a late report for an abandoned
//! batch cannot touch the slot's next batch). The callback only decrements the slot's pending count
//! and counts failures — atomics, no allocation per record, no lock held across I/O (the only lock
//! is taken on the error path to keep the first error message). The callbacks run inside `poll`,
//! on the sink's own thread: [`wait_for_events`] and [`pump`] are how the sink serves them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message, Statistics};
use tracing::{debug, error, info, warn};

use super::brokers::BrokerHealth;
use super::errors::BatchError;
use super::ratelimit::KeyedRateLimit;
use crate::channel::TakeTransaction;
use crate::metrics::{BrokerStats, SinkCounter};

/// Sleep step of `wait_for_events`: the latency it adds to a delivery report.
const EVENT_WAIT_STEP: Duration = Duration::from_micros(200);
/// Repeated librdkafka errors/log lines of one kind are logged at most this often.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Delivery opaque layout: low 16 bits slot, next 16 bits generation.
const SLOT_BITS: u32 = 16;
const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
const GENERATION_MASK: u32 = 0xffff;

/// Delivery bookkeeping of one in-flight batch, shared with the delivery callback.
#[derive(Default)]
pub(super) struct Slot {
    generation: AtomicU32,
    /// Records enqueued and not yet reported.
    pub(super) pending: AtomicU32,
    /// Records reported as failed.
    pub(super) failed: AtomicU32,
    pub(super) first_error: Mutex<Option<BatchError>>,
}

impl Slot {
    /// Readies the slot for a new batch: the next generation (so reports for the batch it held
    /// before are ignored) and nothing pending, failed or remembered. Returns the generation.
    pub(super) fn next_generation(&self) -> u32 {
        let generation = (self.generation.load(Ordering::Relaxed) + 1) & GENERATION_MASK;
        self.generation.store(generation, Ordering::Relaxed);
        self.pending.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        *self.first_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        generation
    }
}

/// The producer's context: delivery reports, errors and librdkafka's log lines.
pub(super) struct SinkContext {
    sink: String,
    pub(super) slots: Box<[Slot]>,
    /// Bumped on every callback: lets `pump` tell whether a `poll` served anything.
    activity: AtomicU64,
    /// Total delivery failures ever reported (current generations only).
    pub(super) failures: AtomicU64,
    errors: KeyedRateLimit,
    logs: KeyedRateLimit,
    /// Where librdkafka's statistics go (`/metrics/prometheus`, `rflume top`).
    counter: std::sync::Arc<SinkCounter>,
    /// What each broker last reported, for messages that name them all.
    pub(super) brokers: BrokerHealth,
    /// librdkafka's "all broker connections are down" reports so far.
    pub(super) all_brokers_down: AtomicU64,
}

impl SinkContext {
    pub(super) fn new(
        sink: &str,
        slots: usize,
        brokers: &[String],
        counter: std::sync::Arc<SinkCounter>,
    ) -> Self {
        SinkContext {
            counter,
            sink: sink.to_string(),
            slots: (0..slots).map(|_| Slot::default()).collect(),
            activity: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            errors: KeyedRateLimit::new(LOG_INTERVAL),
            logs: KeyedRateLimit::new(LOG_INTERVAL),
            brokers: BrokerHealth::new(brokers),
            all_brokers_down: AtomicU64::new(0),
        }
    }
}

impl ClientContext for SinkContext {
    /// librdkafka's statistics (every `statistics.interval.ms`, on the sink's thread inside
    /// `poll`): the few figures that explain slow or stuck delivery.
    fn stats(&self, statistics: Statistics) {
        let c = &self.counter.client;
        c.queue_messages.set(statistics.msg_cnt as i64);
        c.queue_bytes.set(statistics.msg_size as i64);
        let (mut requests, mut messages, mut retries, mut errors) = (0, 0, 0, 0);
        let mut brokers: Vec<BrokerStats> = statistics
            .brokers
            .values()
            .map(|b| {
                requests += b.waitresp_cnt;
                messages += b.waitresp_msg_cnt;
                retries += b.txretries as i64;
                errors += b.txerrs as i64;
                BrokerStats {
                    name: b.name.clone(),
                    state: b.state.clone(),
                    rtt_avg_us: b.rtt.as_ref().map_or(0, |w| w.avg),
                    rtt_p99_us: b.rtt.as_ref().map_or(0, |w| w.p99),
                }
            })
            .collect();
        brokers.sort_by(|a, b| a.name.cmp(&b.name));
        c.in_flight_requests.set(requests);
        c.in_flight_messages.set(messages);
        c.retries.set(retries);
        c.errors.set(errors);
        c.set_brokers(brokers);
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        let sink = self.sink.as_str();
        if fac == "FAIL" {
            // A broker connection failed: the same text reaches `error` below as a transport
            // error, which is where it is logged (once, as a warning).
            debug!(sink, "librdkafka {fac}: {message}");
            return;
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                if let Some(suppressed) = self.logs.allow(fac) {
                    error!(sink, suppressed, "librdkafka {fac}: {message}");
                }
            }
            RDKafkaLogLevel::Warning => {
                if let Some(suppressed) = self.logs.allow(fac) {
                    warn!(sink, suppressed, "librdkafka {fac}: {message}");
                }
            }
            RDKafkaLogLevel::Notice => info!(sink, "librdkafka {fac}: {message}"),
            RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                debug!(sink, "librdkafka {fac}: {message}")
            }
        }
    }

    /// Client-wide errors (all brokers down, a broker refusing connections, authentication,
    /// TLS). Records are not failed by these — librdkafka keeps retrying other brokers until
    /// `message.timeout.ms` — so they are logged and never fail a batch by themselves.
    ///
    /// A broker's problem is logged per broker (at most every [`LOG_INTERVAL`] each), so that
    /// two failing brokers are both named, and every such line lists all configured brokers with
    /// what is wrong with each; "all broker connections are down" is counted for the sink's watch,
    /// which turns it into one ERROR that does the same (librdkafka's own text, "1/1 brokers are
    /// down", counts only the brokers it knows at that moment).
    fn error(&self, error: KafkaError, reason: &str) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        let code = error.rdkafka_error_code();
        let sink = self.sink.as_str();
        if code == Some(RDKafkaErrorCode::AllBrokersDown) {
            // Reported by the sink's watch a moment later (`health.rs`), once the brokers'
            // own errors, which librdkafka sends after this one, have arrived.
            self.all_brokers_down.fetch_add(1, Ordering::Relaxed);
            debug!(sink, "librdkafka: {reason}");
            return;
        }
        let transient = matches!(
            code,
            Some(
                RDKafkaErrorCode::BrokerTransportFailure
                    | RDKafkaErrorCode::Resolve
                    | RDKafkaErrorCode::OperationTimedOut
                    | RDKafkaErrorCode::RequestTimedOut
            )
        );
        if let Some((address, problem)) = self.brokers.record(reason) {
            let Some(suppressed) = self.errors.allow(&address) else {
                return;
            };
            let brokers = self.brokers.describe();
            if transient {
                warn!(
                    sink,
                    suppressed,
                    "{sink}: Kafka broker {address}: {problem}; retrying (brokers: {brokers})"
                );
            } else {
                error!(
                    sink,
                    suppressed,
                    "{sink}: Kafka broker {address}: {problem} ({error}; brokers: {brokers})"
                );
            }
            return;
        }
        let key = format!("{code:?}");
        let Some(suppressed) = self.errors.allow(&key) else {
            return;
        };
        if transient {
            warn!(sink, suppressed, "Kafka: {reason} ({error}); retrying");
        } else {
            error!(sink, suppressed, "Kafka: {reason} ({error})");
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = self.slots.get(opaque & SLOT_MASK) else {
            return;
        };
        let generation = (opaque >> SLOT_BITS) as u32 & GENERATION_MASK;
        if slot.generation.load(Ordering::Relaxed) != generation {
            // A report for a batch abandoned at a stop deadline; its slot has moved on.
            return;
        }
        if let Err((err, message)) = result {
            slot.failed.fetch_add(1, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
            let mut first = slot.first_error.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(BatchError::from_code(
                    err.rdkafka_error_code(),
                    format!("{err} (topic {})", message.topic()),
                ));
            }
        }
        // Saturating: a report can never outnumber the enqueued records of a generation, but an
        // underflow here would wedge the batch forever.
        let _ = slot
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| p.checked_sub(1));
    }
}

/// One take transaction waiting for its acknowledgements.
pub(super) struct Batch {
    pub(super) slot: usize,
    pub(super) generation: u32,
    pub(super) txn: TakeTransaction,
    /// Records handed to librdkafka so far (a full queue can interrupt a batch).
    pub(super) enqueued: usize,
    /// Enqueueing stopped for good (a failure somewhere); the batch will be rolled back.
    pub(super) abandoned: bool,
    /// A failure found before librdkafka had the record (bad partition header, enqueue error).
    pub(super) error: Option<BatchError>,
    pub(super) started: Instant,
    /// The topics its records go to (a few: for the messages about a stalled delivery).
    pub(super) topics: Vec<Box<str>>,
}

/// Topics a batch remembers; a batch spread over more topics names only the first ones.
const MAX_BATCH_TOPICS: usize = 8;

/// Remembers in a batch's `topics` that a record goes to `topic`: a string comparison per
/// record, an allocation per new topic. (A function of the field, not of the batch: the record
/// being enqueued borrows the batch's events.)
pub(super) fn note_topic(topics: &mut Vec<Box<str>>, topic: &str) {
    if topics.last().is_some_and(|t| &**t == topic)
        || topics.len() >= MAX_BATCH_TOPICS
        || topics.iter().any(|t| &**t == topic)
    {
        return;
    }
    topics.push(topic.into());
}

impl Batch {
    /// The delivery opaque of the batch's records: its slot and generation.
    pub(super) fn opaque(&self) -> usize {
        self.slot | ((self.generation as usize) << SLOT_BITS)
    }
}

/// Waits up to `max` for librdkafka to report something, serving it. Not `poll(max)`: rdkafka's
/// `BaseProducer::poll` always runs to its deadline and busy-loops through the last
/// sub-millisecond (a `poll(1 ms)` is a 1 ms spin), which cost a whole core while batches were in
/// flight. Serving what is ready and sleeping in short steps costs almost nothing.
pub(super) fn wait_for_events(producer: &BaseProducer<SinkContext>, max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        let before = producer.context().activity.load(Ordering::Relaxed);
        pump(producer);
        let now = Instant::now();
        if producer.context().activity.load(Ordering::Relaxed) != before || now >= deadline {
            return;
        }
        std::thread::sleep(EVENT_WAIT_STEP.min(deadline - now));
    }
}

/// As [`wait_for_events`], sleeping on librdkafka's queue signal when there is one.
pub(super) fn wait_for_events_on(
    producer: &BaseProducer<SinkContext>,
    wakeup: Option<&super::wakeup::QueueWakeup>,
    max: Duration,
) {
    let Some(w) = wakeup else {
        return wait_for_events(producer, max);
    };
    let deadline = Instant::now() + max;
    loop {
        let before = producer.context().activity.load(Ordering::Relaxed);
        // Cleared before serving: librdkafka signals when its queue turns non-empty, so an
        // event that comes after the queue was emptied always leaves a signal to wake on.
        w.clear();
        pump(producer);
        let now = Instant::now();
        if producer.context().activity.load(Ordering::Relaxed) != before || now >= deadline {
            return;
        }
        w.wait(deadline - now);
    }
}

/// Serves every event librdkafka has ready, without blocking (`poll(0)` serves at most one).
pub(super) fn pump(producer: &BaseProducer<SinkContext>) {
    for _ in 0..100_000 {
        let before = producer.context().activity.load(Ordering::Relaxed);
        producer.poll(Duration::ZERO);
        if producer.context().activity.load(Ordering::Relaxed) == before {
            break;
        }
    }
}
