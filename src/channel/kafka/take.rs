//! How a take reads and ends: the channel's one consumer (created at the first take), the batch
//! gathered from the rolled-back events and then from the consumer, the offsets committed when a
//! take commits, the events handed back when it rolls back, and the rebalance callback that
//! drops what a revoked partition's new owner reads again (see the module doc of `mod.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use super::ledger::Pos;
use super::{lock, log_librdkafka, KafkaChannel, TakeState, KEY_HEADER};
use crate::channel::TakeId;
use crate::config::secret::Scrubber;
use crate::event::{Event, Headers};
use crate::kafka::avro::decode_flume_event;

/// How often the same consumer error is logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

impl KafkaChannel {
    /// The take ([`Channel::take_identified`](crate::channel::Channel::take_identified)).
    pub(super) fn take_batch(&self, max: usize, wait: Duration) -> (Vec<Event>, TakeId) {
        let max = max.max(1);
        let _readers = lock(&self.poll_lock);
        let mut batch = TakeBatch {
            events: Vec::new(),
            positions: {
                let mut state = self.state();
                state.spare.pop().unwrap_or_default()
            },
        };
        {
            let mut state = self.state();
            self.take_state_events(&mut state, max, &mut batch);
            self.counter.channel_size.set(state.redeliver.len() as i64);
        }
        // Flume counts a take attempt for a record read from Kafka, not for a rolled-back event
        // handed out again (its failedEvents), so EventTakeAttemptCount is the records read.
        let redelivered = batch.events.len();
        if batch.events.len() < max {
            if let Some(consumer) = self.consumer() {
                self.poll_into(&consumer, max, wait, &mut batch);
            }
        }
        if batch.events.is_empty() {
            self.state().spare.push(batch.positions);
            return (Vec::new(), TakeId::NONE);
        }
        let id = self.next_take.fetch_add(1, Ordering::Relaxed);
        let n = batch.events.len();
        {
            let mut state = self.state();
            state.in_flight += n;
            state.open.insert(id, batch.positions);
        }
        self.counter
            .event_take_attempt
            .add((n - redelivered) as u64);
        (batch.events, TakeId(id))
    }

    /// A take's commit
    /// ([`Channel::commit_identified`](crate::channel::Channel::commit_identified)).
    pub(super) fn commit_batch(&self, events: &[Event], id: TakeId) {
        {
            let mut state = self.state();
            let Some(mut positions) = state.open.remove(&id.0) else {
                return;
            };
            state.in_flight -= positions.len();
            state.ledger.delivered(&positions);
            positions.clear();
            state.spare.push(positions);
        }
        self.counter.event_take_success.add(events.len() as u64);
        self.commit_offsets();
    }

    /// A take's rollback
    /// ([`Channel::rollback_identified`](crate::channel::Channel::rollback_identified)).
    pub(super) fn rollback_batch(&self, events: Vec<Event>, id: TakeId) {
        let mut state = self.state();
        let Some(mut positions) = state.open.remove(&id.0) else {
            return;
        };
        state.in_flight -= positions.len();
        // Flume's RollbackCount: the take's events, kept or not.
        self.counter.rollback.add(positions.len() as u64);
        // Back to the head, in order; events of partitions revoked meanwhile are read again from
        // Kafka by their new owner and are not kept.
        let mut kept = 0usize;
        for (e, pos) in events.into_iter().zip(positions.iter()).rev() {
            if state.ledger.is_current(pos) {
                state.redeliver.push_front((e, *pos));
                kept += 1;
            }
        }
        positions.clear();
        state.spare.push(positions);
        self.counter.channel_size.set(state.redeliver.len() as i64);
        drop(state);
        debug!(channel = %self.name, "rolled back a take: {kept} events are handed out again");
    }

    fn consumer(&self) -> Option<Arc<BaseConsumer<TakeContext>>> {
        let mut slot = lock(&self.consumer);
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        let context = TakeContext {
            channel: self.name.clone(),
            state: self.state.clone(),
            revoked: AtomicBool::new(false),
            scrubber: self.settings.consumer.scrubber(),
        };
        let created: Result<BaseConsumer<TakeContext>, KafkaError> = self
            .settings
            .consumer
            .client_config()
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(context);
        let consumer = match created {
            Ok(c) => c,
            Err(e) => {
                self.log_error(format!("Unable to connect to Kafka: {e}"));
                return None;
            }
        };
        if let Err(e) = consumer.subscribe(&[self.settings.topic.as_str()]) {
            self.log_error(format!("cannot subscribe to {}: {e}", self.settings.topic));
            return None;
        }
        info!(channel = %self.name, "Created new consumer to connect to Kafka (topic {}, group {})", self.settings.topic, self.settings.group_id);
        let consumer = Arc::new(consumer);
        *slot = Some(consumer.clone());
        Some(consumer)
    }

    /// `message` may carry librdkafka's text (a consumer's creation or subscription error), so
    /// it is scrubbed of both clients' secrets.
    fn log_error(&self, message: String) {
        let message = self
            .settings
            .consumer
            .scrubber()
            .scrub(&message)
            .into_owned();
        let message = self
            .settings
            .producer
            .scrubber()
            .scrub(&message)
            .into_owned();
        let now = Instant::now();
        let mut last = lock(&self.last_error_log);
        if last.is_none_or(|t| now.duration_since(t) >= ERROR_LOG_EVERY) {
            *last = Some(now);
            warn!(channel = %self.name, "{message}");
        } else {
            debug!(channel = %self.name, "{message}");
        }
    }

    fn take_state_events(&self, state: &mut TakeState, max: usize, into: &mut TakeBatch) {
        while into.events.len() < max {
            let Some((e, pos)) = state.redeliver.pop_front() else {
                break;
            };
            into.events.push(e);
            into.positions.push(pos);
        }
    }

    /// The event a record carries, or `None` (logged) for one that is not an `AvroFlumeEvent`.
    fn event_of<M: Message>(&self, m: &M) -> Option<Event> {
        let payload = m.payload().unwrap_or_default();
        let (mut headers, body) = if self.settings.parse_as_flume_event {
            match decode_flume_event(payload) {
                Ok((h, range)) => (h, Bytes::copy_from_slice(&payload[range])),
                Err(e) => {
                    error!(channel = %self.name, "record at topic {} partition {} offset {} is not a Flume Avro event (parseAsFlumeEvent = true): {e}; skipped, it is still in Kafka at that offset (Flume fails its takes and then skips it too)", m.topic(), m.partition(), m.offset());
                    return None;
                }
            }
        } else {
            (Headers::new(), Bytes::copy_from_slice(payload))
        };
        if let Some(key) = m.key() {
            // Java's StringDeserializer: UTF-8, malformed bytes replaced.
            headers.insert(KEY_HEADER, String::from_utf8_lossy(key).into_owned());
        }
        Some(Event::with_headers(headers, body))
    }

    /// Polls the consumer into `batch`: up to `wait` for the first record, then only what is
    /// already fetched. Returns the records' positions entered into the ledger.
    fn poll_into(
        &self,
        consumer: &BaseConsumer<TakeContext>,
        max: usize,
        wait: Duration,
        batch: &mut TakeBatch,
    ) {
        // Flume's KafkaEventGetTimer: the time from the poll to the records read, for takes that
        // read any (Flume times each take of a record the same way and adds nothing for none).
        let start = Instant::now();
        let mut read: Vec<(i32, i64, Option<Event>)> = Vec::new();
        let mut first_wait = wait.min(Duration::from_millis(self.settings.poll_timeout_ms));
        if !batch.events.is_empty() {
            first_wait = Duration::ZERO;
        }
        let mut next_wait = first_wait;
        while batch.events.len() + read.len() < max {
            match consumer.poll(next_wait) {
                None => break,
                Some(Err(e)) => {
                    self.log_error(format!("Error while getting events from Kafka: {e}"));
                    break;
                }
                Some(Ok(m)) => {
                    let event = self.event_of(&m);
                    read.push((m.partition(), m.offset(), event));
                }
            }
            next_wait = Duration::ZERO;
            if consumer.context().revoked.swap(false, Ordering::AcqRel) {
                // As Flume after a rebalance: end the batch, so that it commits soon.
                break;
            }
        }
        if read.is_empty() {
            return;
        }
        self.counter
            .kafka_event_get_timer_ms
            .add_millis_since(start);
        let mut state = self.state();
        for (partition, offset, event) in read {
            let pos = state.ledger.read(partition, offset, event.is_none());
            match event {
                Some(e) => {
                    batch.events.push(e);
                    batch.positions.push(pos);
                }
                None => self.counter.event_take_error.inc(),
            }
        }
    }

    /// Commits to Kafka what the ledger allows now (synchronously, as Flume's `commitSync`).
    fn commit_offsets(&self) {
        let Some(consumer) = lock(&self.consumer).clone() else {
            return;
        };
        let _order = lock(&self.commit_lock);
        let mut offsets = Vec::new();
        self.state().ledger.take_committable(&mut offsets);
        if offsets.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for (partition, offset) in &offsets {
            if let Err(e) =
                tpl.add_partition_offset(&self.settings.topic, *partition, Offset::Offset(*offset))
            {
                self.log_error(format!("cannot commit partition {partition}@{offset}: {e}"));
            }
        }
        let start = Instant::now();
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            // Delivered but not committed: read again after a restart or a rebalance.
            self.log_error(format!(
                "Error committing offsets ({e}); the records delivered since the last commit \
                 will be delivered again (duplicates, nothing lost)"
            ));
        } else {
            // Flume's KafkaCommitTimer: a commit that throws adds nothing.
            self.counter.kafka_commit_timer_ms.add_millis_since(start);
        }
    }
}

/// A take being gathered.
struct TakeBatch {
    events: Vec<Event>,
    positions: Vec<Pos>,
}

/// The consumer's callbacks, inside `poll`.
pub(super) struct TakeContext {
    pub(super) channel: String,
    pub(super) state: Arc<Mutex<TakeState>>,
    /// Set when partitions are revoked: the take being gathered ends.
    pub(super) revoked: AtomicBool,
    /// Masks the consumer configuration's secrets in librdkafka's text (see [`log_librdkafka`]).
    pub(super) scrubber: Scrubber,
}

impl ClientContext for TakeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_librdkafka(&self.channel, &self.scrubber, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let error = self.scrubber.scrub(&error.to_string()).into_owned();
        let reason = self.scrubber.scrub(reason);
        warn!(channel = %self.channel, "Kafka consumer: {error}: {reason}");
    }
}

impl ConsumerContext for TakeContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.revoked.store(true, Ordering::Release);
                let mut state = lock(&self.state);
                for e in tpl.elements() {
                    info!(channel = %self.channel, "topic {} - partition {} revoked.", e.topic(), e.partition());
                    state.ledger.revoked(e.partition());
                }
                // Rolled-back events of those partitions: their new owner reads them again.
                let TakeState {
                    ledger, redeliver, ..
                } = &mut *state;
                redeliver.retain(|(_, pos)| ledger.is_current(pos));
            }
            Rebalance::Assign(tpl) => {
                for e in tpl.elements() {
                    info!(channel = %self.channel, "topic {} - partition {} assigned.", e.topic(), e.partition());
                }
            }
            Rebalance::Error(e) => warn!(channel = %self.channel, "rebalance failed: {e}"),
        }
    }
}
