//! The Kafka sink at run time: take transactions in, librdkafka records out, commits after acks.
//!
//! One `BaseProducer` per sink, driven from the sink's own runner thread: `process` enqueues
//! records and calls `poll`, which runs the delivery-report callback on this same thread. Each
//! in-flight take transaction owns a slot of the delivery bookkeeping (`delivery.rs`) that the
//! callback updates and `settle.rs` reads to tell which batches are acknowledged.
//!
//! Batches are committed strictly in take order as they become fully acknowledged. The first
//! failure stops new takes until every in-flight batch has resolved; then the acknowledged ones
//! are committed and the failed ones rolled back last-first (see the module doc of `kafka`).
//!
//! This file holds the sink and its rounds (`process`, `flush`, `stop`); `send.rs` takes a batch
//! and hands its records to librdkafka; `settle.rs` commits or rolls back the batches.
//!
//! A record Kafka refuses for good (`errors::classify`) is not a failure of its batch unless
//! `rflume.onRejected = retry`: it is noted (by the delivery callback, or by `send.rs` when
//! librdkafka or the record builder refuses it before sending), and when the rest of its batch is
//! acknowledged it is written to the dead-letter file (or dropped) just before the take commits.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer, PurgeConfig};
use thiserror::Error;
use tracing::{error, info};

use crate::sink::{Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};

use super::dead_letter::{DeadLetterFile, OnRejected};
use super::delivery::{pump, wait_for_events_on, Batch, SinkContext, Slot};
use super::errors::BatchError;
use super::health::{Oldest, Watch};
use super::record::{RecordBuilder, Scratch};
use super::settings::KafkaSettings;
use super::tls_probe::TlsProbe;
use super::wakeup::QueueWakeup;

/// Longest wait for acknowledgements with nothing else to do; `wait_for_events` returns as soon
/// as librdkafka reports something, so this only bounds how long new channel events wait.
/// It is only reached when the channel was empty and a batch is in flight, whose
/// acknowledgement (linger.ms plus a round trip) ends the wait sooner; 10 ms rather than 2 ms
/// saves several wake-ups per batch at low rates.
const ACK_WAIT: Duration = Duration::from_millis(10);
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

/// Where records Kafka refuses for good go (`rflume.onRejected`).
pub(super) enum Diversion {
    DeadLetter(DeadLetterFile),
    Drop,
    /// Flume's behaviour: such a record fails its batch like any other error.
    Retry,
}

/// Flume's Kafka sink on librdkafka. See the `kafka` module doc for the guarantees.
pub struct KafkaSink {
    pub(super) core: SinkCore,
    pub(super) batch_size: usize,
    max_in_flight: usize,
    description: String,
    pub(super) records: RecordBuilder,
    pub(super) scratch: Scratch,
    pub(super) in_flight: VecDeque<Batch>,
    pub(super) free_slots: Vec<usize>,
    /// A failure was seen: take nothing new until the in-flight batches resolve.
    pub(super) failing: bool,
    /// `SinkContext::failures` already accounted for.
    pub(super) failures_seen: u64,
    pub(super) diversion: Diversion,
    /// Declared before `producer`, so it is dropped (and librdkafka's signalling to its pipe
    /// turned off) before the sink's reference to the producer goes.
    pub(super) wakeup: Option<QueueWakeup>,
    /// Shared with the short-lived threads that ask the cluster why delivery is stuck.
    pub(super) producer: Arc<BaseProducer<SinkContext>>,
    pub(super) watch: Watch,
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
        let diversion = match &settings.on_rejected {
            OnRejected::DeadLetter(d) => Diversion::DeadLetter(DeadLetterFile::new(d.clone())),
            OnRejected::Drop => Diversion::Drop,
            OnRejected::Retry => Diversion::Retry,
        };
        let divert = !matches!(diversion, Diversion::Retry);
        let watch = Watch::new(name);
        let producer: BaseProducer<SinkContext> = config
            .create_with_context(SinkContext::new(
                name,
                slots,
                divert,
                settings.producer.scrubber(),
                TlsProbe::new(name, &settings.producer),
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
            diversion,
            wakeup: QueueWakeup::enable(&producer),
            producer: Arc::new(producer),
            watch,
        })
    }

    pub(super) fn context(&self) -> &SinkContext {
        self.producer.context()
    }

    pub(super) fn wait_for_events(&self, max: Duration) {
        wait_for_events_on(&self.producer, self.wakeup.as_ref(), max);
    }

    fn pump(&self) {
        pump(&self.producer);
    }

    pub(super) fn slot(&self, batch: &Batch) -> &Slot {
        &self.context().slots[batch.slot]
    }

    /// Events of the in-flight batches (for logs).
    pub(super) fn in_flight_events(&self) -> usize {
        self.in_flight.iter().map(|b| b.txn.len()).sum()
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
        // Found now rather than at the first rejected record: the directory the dead letters
        // would go to cannot be created.
        if let Diversion::DeadLetter(file) = &self.diversion {
            if let Err(e) = file.prepare() {
                error!(
                    sink = self.core.name.as_str(),
                    "{e}: records Kafka refuses for good cannot be diverted; their batches will \
                     be rolled back and retried until the directory can be created \
                     (rflume.deadLetter.directory)"
                );
            }
        }
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
