//! The Kafka sink at run time: take transactions in, librdkafka records out, commits after acks.
//!
//! One `BaseProducer` per sink, driven from the sink's own runner thread: `process` enqueues
//! records and calls `poll`, which runs the delivery-report callback on this same thread. Each
//! in-flight take transaction owns a slot of the delivery bookkeeping (`delivery.rs`) that the
//! callback updates and this file reads to tell which batches are acknowledged.
//!
//! Batches are committed strictly in take order as they become fully acknowledged. The first
//! failure stops new takes until every in-flight batch has resolved; then the acknowledged ones
//! are committed and the failed ones rolled back last-first (see the module doc of `kafka`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};
use thiserror::Error;
use tracing::info;

use crate::sink::{Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};

use super::delivery::{note_topic, pump, wait_for_events_on, Batch, SinkContext, Slot};
use super::errors::BatchError;
use super::health::{Oldest, Watch};
use super::record::{RecordBuilder, Scratch};
use super::settings::KafkaSettings;
use super::wakeup::QueueWakeup;

/// Longest wait for acknowledgements with nothing else to do; `wait_for_events` returns as soon
/// as librdkafka reports something, so this only bounds how long new channel events wait.
/// It is only reached when the channel was empty and a batch is in flight, whose
/// acknowledgement (linger.ms plus a round trip) ends the wait sooner; 10 ms rather than 2 ms
/// saves several wake-ups per batch at low rates.
const ACK_WAIT: Duration = Duration::from_millis(10);
/// Poll step while failed batches wait for the others to resolve (up to `message.timeout.ms`).
const FAILURE_WAIT: Duration = Duration::from_millis(10);
/// Poll step when librdkafka's queue is full: lets delivery reports free space.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);
/// Longest a single `process` call keeps retrying a full queue before returning to the runner
/// (which checks for shutdown between calls).
const ENQUEUE_BUDGET: Duration = Duration::from_millis(100);
/// Poll step during `stop`.
const STOP_WAIT: Duration = Duration::from_millis(10);
/// After a purge at the stop deadline, how long to collect the resulting delivery reports.
const PURGE_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Error)]
pub enum KafkaSinkError {
    #[error("sink {sink}: cannot create the Kafka producer: {source}")]
    Producer {
        sink: String,
        #[source]
        source: KafkaError,
    },
}

/// Flume's Kafka sink on librdkafka. See the `kafka` module doc for the guarantees.
pub struct KafkaSink {
    core: SinkCore,
    batch_size: usize,
    max_in_flight: usize,
    description: String,
    records: RecordBuilder,
    scratch: Scratch,
    in_flight: VecDeque<Batch>,
    free_slots: Vec<usize>,
    /// A failure was seen: take nothing new until the in-flight batches resolve.
    failing: bool,
    /// `SinkContext::failures` already accounted for.
    failures_seen: u64,
    /// Declared before `producer`, so it is dropped (and librdkafka's signalling to its pipe
    /// turned off) before the sink's reference to the producer goes.
    wakeup: Option<QueueWakeup>,
    /// Shared with the short-lived threads that ask the cluster why delivery is stuck.
    producer: Arc<BaseProducer<SinkContext>>,
    watch: Watch,
}

impl KafkaSink {
    /// Creates the producer (no connection is made until records are sent, so an unreachable
    /// broker in the list never fails this).
    pub fn new(core: SinkCore, settings: &KafkaSettings) -> Result<Self, KafkaSinkError> {
        let name = core.name.as_str();
        let mut config = settings.producer.client_config();
        core.counter.client.mark_kafka();
        // Statistics only when someone reads them (the metrics server), and never over the
        // user's own `kafka.producer.statistics.interval.ms`.
        let stats_ms = core.counter.client.interval_ms();
        if stats_ms > 0 && settings.producer.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", stats_ms.to_string());
        }
        // librdkafka's debug contexts log at debug level; otherwise warnings and errors only.
        config.set_log_level(if settings.producer.get("debug").is_some() {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        });
        let slots = settings.max_in_flight_batches.max(1);
        let watch = Watch::new(name);
        let producer: BaseProducer<SinkContext> = config
            .create_with_context(SinkContext::new(
                name,
                slots,
                &settings.bootstrap_servers,
                core.counter.clone(),
            ))
            .map_err(|source| KafkaSinkError::Producer {
                sink: name.to_string(),
                source,
            })?;
        Ok(KafkaSink {
            core,
            batch_size: settings.batch_size().max(1),
            max_in_flight: slots,
            description: format!(
                "brokers {}, topic {}",
                settings.bootstrap_servers.join(","),
                settings.topic
            ),
            records: RecordBuilder::new(settings),
            scratch: Scratch::default(),
            in_flight: VecDeque::with_capacity(slots),
            free_slots: (0..slots).rev().collect(),
            failing: false,
            failures_seen: 0,
            wakeup: QueueWakeup::enable(&producer),
            producer: Arc::new(producer),
            watch,
        })
    }

    fn context(&self) -> &SinkContext {
        self.producer.context()
    }

    fn wait_for_events(&self, max: Duration) {
        wait_for_events_on(&self.producer, self.wakeup.as_ref(), max);
    }

    fn pump(&self) {
        pump(&self.producer);
    }

    fn slot(&self, batch: &Batch) -> &Slot {
        &self.context().slots[batch.slot]
    }

    /// All of the batch's records are enqueued and acknowledged, or it cannot succeed any more
    /// and nothing of it is still pending.
    fn resolved(&self, b: &Batch) -> bool {
        self.slot(b).pending.load(Ordering::Relaxed) == 0
            && (b.abandoned || b.enqueued == b.txn.len())
    }

    fn succeeded(&self, b: &Batch) -> bool {
        self.resolved(b)
            && !b.abandoned
            && b.error.is_none()
            && self.slot(b).failed.load(Ordering::Relaxed) == 0
    }

    /// Enters failure mode when any batch failed; a partly enqueued batch is then abandoned.
    fn check_failures(&mut self) {
        let reported = self.context().failures.load(Ordering::Relaxed);
        if reported != self.failures_seen || self.in_flight.iter().any(|b| b.error.is_some()) {
            self.failing = true;
        }
        if self.failing {
            if let Some(tail) = self.in_flight.back_mut() {
                if tail.enqueued < tail.txn.len() {
                    tail.abandoned = true;
                }
            }
        }
    }

    /// Commits fully acknowledged batches at the head, in take order.
    fn commit_acknowledged(&mut self) {
        while self.in_flight.front().is_some_and(|b| self.succeeded(b)) {
            if let Some(b) = self.in_flight.pop_front() {
                self.commit(b);
            }
        }
    }

    fn commit(&mut self, b: Batch) {
        let events = b.txn.len() as u64;
        let elapsed = b.started.elapsed().as_millis() as u64;
        b.txn.commit();
        self.core.counter.event_drain_success.add(events);
        self.core.counter.kafka_event_send_timer_ms.add(elapsed);
        self.free_slots.push(b.slot);
        if self.watch.in_trouble() {
            let waiting = events as usize + self.in_flight_events();
            self.watch
                .delivered(self.producer.context(), &b.topics, waiting);
        }
    }

    /// Lets the watch look at the oldest unacknowledged batch (see `health.rs`).
    fn watch_delivery(&mut self) {
        let batches = &self.in_flight;
        let oldest = batches.front().map(|b| Oldest {
            started: b.started,
            topics: &b.topics,
        });
        let in_flight = || batches.iter().map(|b| b.txn.len()).sum();
        self.watch
            .tick(&self.producer, oldest, self.failing, in_flight);
    }

    /// Commits the successful batches and rolls back the others, last first, so the channel head
    /// keeps the failed events in their original order. Returns (committed, rolled back) event
    /// counts and the first failure message.
    fn settle_all(&mut self) -> (u64, u64, u64, Option<BatchError>) {
        let mut failed: Vec<Batch> = Vec::new();
        let mut committed = 0u64;
        let mut first_error: Option<BatchError> = None;
        while let Some(b) = self.in_flight.pop_front() {
            if self.succeeded(&b) {
                committed += b.txn.len() as u64;
                self.commit(b);
                continue;
            }
            if first_error.is_none() {
                first_error = b.error.clone().or_else(|| {
                    self.slot(&b)
                        .first_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone()
                });
            }
            failed.push(b);
        }
        let batches = failed.len() as u64;
        let mut rolled_back = 0u64;
        for b in failed.into_iter().rev() {
            rolled_back += b.txn.len() as u64;
            b.txn.rollback();
            self.core.counter.rollback.inc();
            self.core.counter.event_write_fail.inc();
            self.free_slots.push(b.slot);
        }
        self.failures_seen = self.context().failures.load(Ordering::Relaxed);
        self.failing = false;
        (committed, batches, rolled_back, first_error)
    }

    /// Failure mode: once everything in flight resolved, settle and report the failure.
    fn finish_failure(&mut self) -> Result<Status, SinkError> {
        if !self.in_flight.iter().all(|b| self.resolved(b)) {
            self.wait_for_events(FAILURE_WAIT);
            return Ok(Status::Ready);
        }
        let (committed, batches, rolled_back, first_error) = self.settle_all();
        let BatchError {
            mut message,
            failure,
        } = first_error.unwrap_or_else(|| BatchError::retriable("delivery failed"));
        message.push_str(&format!(
            "; {rolled_back} events of {batches} batch(es) rolled back to the channel"
        ));
        if committed > 0 {
            message.push_str(&format!(
                ", {committed} acknowledged events of other batches committed"
            ));
        }
        Err(SinkError::Delivery {
            sink: self.core.name.clone(),
            failure,
            message,
        })
    }

    /// Takes a batch from the channel into a free slot. `None` when the channel had nothing.
    fn take_batch(&mut self, wait: Duration) -> Option<()> {
        let txn = self.core.take(self.batch_size, wait)?;
        let Some(slot_index) = self.free_slots.pop() else {
            // Cannot happen (callers check the window); give the events back rather than lose them.
            txn.rollback();
            return None;
        };
        let generation = self.context().slots[slot_index].next_generation();
        self.in_flight.push_back(Batch {
            slot: slot_index,
            generation,
            txn,
            enqueued: 0,
            abandoned: false,
            error: None,
            started: Instant::now(),
            topics: Vec::new(),
        });
        Some(())
    }

    /// Hands the newest batch's remaining records to librdkafka. A full librdkafka queue is
    /// waited out (serving delivery reports) for at most [`ENQUEUE_BUDGET`]; the rest of the batch
    /// is then enqueued by the next `process` call. Records are never dropped.
    fn enqueue_tail(&mut self) {
        let deadline = Instant::now() + ENQUEUE_BUDGET;
        let Some(batch) = self.in_flight.back_mut() else {
            return;
        };
        if batch.abandoned {
            return;
        }
        let opaque = batch.opaque();
        let context = self.producer.context();
        let slot = &context.slots[batch.slot];
        while batch.enqueued < batch.txn.len() {
            let event = &batch.txn.events()[batch.enqueued];
            let record = match self
                .records
                .build(&self.core.name, event, &mut self.scratch)
            {
                Ok(r) => r,
                Err(e) => {
                    batch.error = Some(BatchError::rejected("InvalidPartition", e.to_string()));
                    batch.abandoned = true;
                    return;
                }
            };
            note_topic(&mut batch.topics, record.topic);
            let mut headers = record.headers;
            loop {
                let mut r = BaseRecord::<[u8], [u8], usize>::with_opaque_to(record.topic, opaque)
                    .payload(record.payload);
                if let Some(k) = record.key {
                    r = r.key(k);
                }
                if let Some(p) = record.partition {
                    r = r.partition(p);
                }
                if let Some(ts) = record.timestamp {
                    r = r.timestamp(ts);
                }
                if let Some(h) = headers.take() {
                    r = r.headers(h);
                }
                // Counted before the send: the report can only arrive in a later poll, but the
                // count must never be behind it.
                slot.pending.fetch_add(1, Ordering::Relaxed);
                match self.producer.send(r) {
                    Ok(()) => break,
                    Err((e, returned)) => {
                        slot.pending.fetch_sub(1, Ordering::Relaxed);
                        headers = returned.headers;
                        let queue_full = matches!(
                            e,
                            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                        );
                        if !queue_full {
                            batch.error = Some(BatchError::from_code(
                                e.rdkafka_error_code(),
                                format!("{e} (topic {})", record.topic),
                            ));
                            batch.abandoned = true;
                            return;
                        }
                        if Instant::now() >= deadline {
                            return;
                        }
                        wait_for_events_on(&self.producer, self.wakeup.as_ref(), QUEUE_FULL_WAIT);
                        if context.failures.load(Ordering::Relaxed) != self.failures_seen {
                            // Another batch failed: this one will be rolled back anyway.
                            batch.abandoned = true;
                            return;
                        }
                    }
                }
            }
            batch.enqueued += 1;
        }
    }

    /// Serves delivery reports, goes on enqueueing a partly sent batch unless a failure was
    /// seen, and commits the acknowledged head: what every round starts with.
    fn advance(&mut self) {
        self.pump();
        self.check_failures();
        self.watch_delivery();
        if !self.failing {
            self.enqueue_tail();
            self.check_failures();
        }
        self.commit_acknowledged();
    }

    fn tail_partial(&self) -> bool {
        self.in_flight
            .back()
            .is_some_and(|b| !b.abandoned && b.enqueued < b.txn.len())
    }

    /// Events of the in-flight batches (for logs).
    fn in_flight_events(&self) -> usize {
        self.in_flight.iter().map(|b| b.txn.len()).sum()
    }
}

impl Sink for KafkaSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }

    fn start(&mut self) -> Result<(), SinkError> {
        info!(
            sink = self.core.name.as_str(),
            "Kafka sink started ({}, {} events per batch, up to {} batches in flight)",
            self.description,
            self.batch_size,
            self.max_in_flight
        );
        Ok(())
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        let status = self.process_round();
        self.core
            .counter
            .batches_in_flight
            .set(self.in_flight.len() as i64);
        status
    }

    fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.advance();
        if self.failing && self.in_flight.iter().all(|b| self.resolved(b)) {
            return self.finish_failure().map(|_| ());
        }
        Ok(())
    }

    /// The watch writes "delivering again to …" itself (`health.rs`).
    fn reports_recovery(&self) -> bool {
        true
    }

    fn stop(&mut self, deadline: Instant) {
        self.stop_sending(deadline);
        self.core.counter.batches_in_flight.set(0);
    }
}

impl KafkaSink {
    fn process_round(&mut self) -> Result<Status, SinkError> {
        self.advance();
        if self.failing {
            return self.finish_failure();
        }
        if self.tail_partial() {
            // The queue was full for the whole budget; resume on the next call.
            return Ok(Status::Ready);
        }
        if self.in_flight.len() >= self.max_in_flight {
            self.wait_for_events(ACK_WAIT);
            self.commit_acknowledged();
            return Ok(Status::Ready);
        }
        // Wait for events only when there is nothing to acknowledge meanwhile.
        let wait = if self.in_flight.is_empty() {
            EMPTY_CHANNEL_WAIT
        } else {
            Duration::ZERO
        };
        if self.take_batch(wait).is_none() {
            if self.in_flight.is_empty() {
                return self.core.empty();
            }
            self.wait_for_events(ACK_WAIT);
            self.commit_acknowledged();
            return Ok(Status::Ready);
        }
        self.enqueue_tail();
        Ok(Status::Ready)
    }

    fn stop_sending(&mut self, deadline: Instant) {
        // Nothing new is enqueued: a partly enqueued batch is rolled back.
        if let Some(tail) = self.in_flight.back_mut() {
            if tail.enqueued < tail.txn.len() {
                tail.abandoned = true;
            }
        }
        let waiting = self.in_flight_events();
        loop {
            self.pump();
            if self.in_flight.iter().all(|b| self.resolved(b)) {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                // Let librdkafka report everything still queued or in flight as failed.
                self.producer
                    .purge(PurgeConfig::default().queue().inflight());
                let grace = Instant::now() + PURGE_GRACE;
                while Instant::now() < grace && !self.in_flight.iter().all(|b| self.resolved(b)) {
                    self.wait_for_events(STOP_WAIT);
                }
                // Whatever is still unresolved is rolled back below (it may also be delivered:
                // at least once).
                let unresolved: Vec<bool> =
                    self.in_flight.iter().map(|b| !self.resolved(b)).collect();
                for (b, unresolved) in self.in_flight.iter_mut().zip(unresolved) {
                    if unresolved {
                        b.abandoned = true;
                        if b.error.is_none() {
                            b.error =
                                Some(BatchError::retriable("stopped before it was acknowledged"));
                        }
                    }
                }
                break;
            }
            self.wait_for_events(STOP_WAIT.min(deadline - now));
        }
        // Batches unresolved at the deadline carry an error now, so they are rolled back.
        let (committed, batches, rolled_back, first_error) = self.settle_all();
        if waiting > 0 || rolled_back > 0 {
            info!(
                sink = self.core.name.as_str(),
                "Kafka sink stopped: {committed} in-flight events acknowledged and committed, \
                 {rolled_back} events of {batches} batch(es) rolled back to the channel{}",
                first_error
                    .map(|e| format!(" ({})", e.message))
                    .unwrap_or_default()
            );
        } else {
            info!(sink = self.core.name.as_str(), "Kafka sink stopped");
        }
    }
}

impl Drop for KafkaSink {
    /// Without `stop`, in-flight batches go back to the channel last-first (their transactions
    /// would otherwise roll back front-first on drop and reverse the order between batches).
    fn drop(&mut self) {
        while let Some(b) = self.in_flight.pop_back() {
            b.txn.rollback();
        }
    }
}
