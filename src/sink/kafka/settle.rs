//! When a batch ends: the batches at the head commit in take order once fully acknowledged, the
//! records Kafka refused for good are diverted just before their take commits, and after a
//! failure every batch in flight is settled (the acknowledged committed, the others rolled back
//! last-first) and the failure reported.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::producer::Producer;
use tracing::error;

use crate::sink::{SinkError, Status};

use super::dead_letter::Rejection;
use super::delivery::Batch;
use super::errors::BatchError;
use super::sink::{Diversion, KafkaSink};

/// Poll step while failed batches wait for the others to resolve (up to `message.timeout.ms`).
const FAILURE_WAIT: Duration = Duration::from_millis(10);

impl KafkaSink {
    /// All of the batch's records are enqueued and acknowledged, or it cannot succeed any more
    /// and nothing of it is still pending.
    pub(super) fn resolved(&self, b: &Batch) -> bool {
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
    pub(super) fn check_failures(&mut self) {
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
    pub(super) fn commit_acknowledged(&mut self) {
        while self.in_flight.front().is_some_and(|b| self.succeeded(b)) {
            let Some(b) = self.in_flight.pop_front() else {
                break;
            };
            if let Some(b) = self.commit(b) {
                // Its rejected records could not be diverted: it fails like any other batch.
                self.in_flight.push_front(b);
                self.failing = true;
                return;
            }
        }
    }

    /// Diverts the batch's rejected records, then commits its take. A batch whose rejected
    /// records cannot be written to the dead-letter file is handed back with that error, not
    /// committed.
    #[must_use]
    fn commit(&mut self, mut b: Batch) -> Option<Batch> {
        let diverted = match self.divert(&mut b) {
            Ok(n) => n,
            Err(e) => {
                b.error = Some(e);
                return Some(b);
            }
        };
        let events = b.txn.len() as u64;
        let elapsed = b.started.elapsed().as_millis() as u64;
        b.txn.commit();
        self.core
            .counter
            .event_drain_success
            .add(events.saturating_sub(diverted));
        self.core.counter.kafka_event_send_timer_ms.add(elapsed);
        self.free_slots.push(b.slot);
        if self.watch.in_trouble() {
            let waiting = events as usize + self.in_flight_events();
            self.watch
                .delivered(self.producer.context(), &b.topics, waiting);
        }
        None
    }

    /// Writes the records of `b` that Kafka refused for good to the dead-letter file (or drops
    /// them), each logged once. Returns how many there were.
    fn divert(&mut self, b: &mut Batch) -> Result<u64, BatchError> {
        let mut rejected = std::mem::take(&mut b.rejected);
        rejected.append(
            &mut self.context().slots[b.slot]
                .rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if rejected.is_empty() {
            return Ok(0);
        }
        rejected.sort_by_key(|r| r.index);
        let events = b.txn.events();
        let sink = self.core.name.as_str();
        let size = |r: &Rejection| events.get(r.index).map_or(0, |e| e.body.len());
        let n = rejected.len() as u64;
        match &mut self.diversion {
            Diversion::DeadLetter(file) => {
                let path = file.write(events, &rejected).map_err(|e| {
                    BatchError::retriable(format!(
                        "{} event(s) that Kafka refused for good could not be diverted: {e}; the \
                         batch is rolled back and retried until the dead-letter file can be written",
                        rejected.len()
                    ))
                })?;
                for r in &rejected {
                    error!(
                        sink,
                        "Kafka refused an event of {} bytes for topic {} for good ({}: {}); \
                         written to the dead-letter file {} and the rest of its batch committed",
                        size(r),
                        r.topic,
                        r.code,
                        r.message,
                        path.display()
                    );
                }
                self.core.counter.event_dead_lettered.add(n);
            }
            Diversion::Drop => {
                for r in &rejected {
                    error!(
                        sink,
                        "Kafka refused an event of {} bytes for topic {} for good ({}: {}); \
                         DROPPED (rflume.onRejected = drop) and the rest of its batch committed",
                        size(r),
                        r.topic,
                        r.code,
                        r.message
                    );
                }
                self.core.counter.event_rejected_dropped.add(n);
            }
            Diversion::Retry => {
                // Under `retry` a rejection fails its batch and nothing is noted for diversion;
                // should anything be, the batch is retried rather than committed without it.
                b.rejected = rejected;
                return Err(BatchError::retriable(
                    "internal: records noted for diversion under rflume.onRejected = retry",
                ));
            }
        }
        Ok(n)
    }

    /// Commits the successful batches and rolls back the others, last first, so the channel head
    /// keeps the failed events in their original order. Returns (committed, rolled back) event
    /// counts and the first failure message.
    pub(super) fn settle_all(&mut self) -> (u64, u64, u64, Option<BatchError>) {
        let mut failed: Vec<Batch> = Vec::new();
        let mut committed = 0u64;
        let mut first_error: Option<BatchError> = None;
        while let Some(b) = self.in_flight.pop_front() {
            let b = if self.succeeded(&b) {
                let events = b.txn.len() as u64;
                match self.commit(b) {
                    None => {
                        committed += events;
                        continue;
                    }
                    Some(b) => b,
                }
            } else {
                b
            };
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
    pub(super) fn finish_failure(&mut self) -> Result<Status, SinkError> {
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
}
