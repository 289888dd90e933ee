//! How a take's records reach librdkafka: a batch is taken from the channel into a free slot of
//! the delivery bookkeeping, and its records are built and enqueued, a full queue waited out for
//! a bounded time. A record librdkafka or the record builder refuses before sending is noted for
//! diversion (or fails its batch under `rflume.onRejected = retry`); nothing is dropped here.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};

use crate::sink::Failure;

use super::dead_letter::Rejection;
use super::delivery::{note_topic, wait_for_events_on, Batch};
use super::errors::BatchError;
use super::sink::{Diversion, KafkaSink};

/// Poll step when librdkafka's queue is full: lets delivery reports free space.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);
/// Longest a single `process` call keeps retrying a full queue before returning to the runner
/// (which checks for shutdown between calls).
const ENQUEUE_BUDGET: Duration = Duration::from_millis(100);

impl KafkaSink {
    /// Takes a batch from the channel into a free slot. `None` when the channel had nothing.
    pub(super) fn take_batch(&mut self, wait: Duration) -> Option<()> {
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
            rejected: Vec::new(),
            started: Instant::now(),
            topics: Vec::new(),
        });
        Some(())
    }

    /// Hands the newest batch's remaining records to librdkafka. A full librdkafka queue is
    /// waited out (serving delivery reports) for at most [`ENQUEUE_BUDGET`]; the rest of the batch
    /// is then enqueued by the next `process` call. Records are never dropped.
    pub(super) fn enqueue_tail(&mut self) {
        let deadline = Instant::now() + ENQUEUE_BUDGET;
        let Some(batch) = self.in_flight.back_mut() else {
            return;
        };
        if batch.abandoned {
            return;
        }
        let divert = !matches!(self.diversion, Diversion::Retry);
        let context = self.producer.context();
        let slot = &context.slots[batch.slot];
        while batch.enqueued < batch.txn.len() {
            let index = batch.enqueued;
            let event = &batch.txn.events()[index];
            let record = match self
                .records
                .build(&self.core.name, event, &mut self.scratch)
            {
                Ok(r) => r,
                Err(e) if divert => {
                    // Retrying cannot fix the event's headers: divert it like a rejection.
                    let mut topic = String::new();
                    let topic = self.records.topic(event, &mut topic).to_string();
                    batch.rejected.push(Rejection {
                        index,
                        topic,
                        partition: None,
                        code: "InvalidPartition".into(),
                        message: e.to_string(),
                    });
                    batch.enqueued += 1;
                    continue;
                }
                Err(e) => {
                    batch.error = Some(BatchError::rejected("InvalidPartition", e.to_string()));
                    batch.abandoned = true;
                    return;
                }
            };
            let opaque = batch.opaque(index);
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
                            let error = BatchError::from_code(
                                e.rdkafka_error_code(),
                                format!("{e} (topic {})", record.topic),
                            );
                            if let (true, Failure::Rejected { code }) = (divert, &error.failure) {
                                // librdkafka refused it before sending (larger than
                                // message.max.bytes, a partition the topic does not have).
                                batch.rejected.push(Rejection {
                                    index,
                                    topic: record.topic.to_string(),
                                    partition: record.partition,
                                    code: code.clone(),
                                    message: e.to_string(),
                                });
                                break;
                            }
                            batch.error = Some(error);
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

    pub(super) fn tail_partial(&self) -> bool {
        self.in_flight
            .back()
            .is_some_and(|b| !b.abandoned && b.enqueued < b.txn.len())
    }
}
