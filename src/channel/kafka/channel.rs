//! The Kafka channel at run time: puts produce and wait for every acknowledgement; takes read
//! from the channel's one consumer and commit offsets through the [`Ledger`].
//!
//! Locks, and why none is held across a wait on the network: `poll_lock` serializes the readers
//! of the consumer (one take gathers its batch at a time, so the records of a partition enter the
//! ledger in offset order); `state` (the ledger, the open takes, the rolled-back events) is held
//! only for bookkeeping, never across a poll or a commit; `commit_lock` orders offset commits so
//! that a partition's committed offset never moves backwards. librdkafka calls the rebalance
//! callback inside `poll`, under `poll_lock` only, and the callback takes `state` briefly.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use super::ledger::{Ledger, Pos};
use super::{KafkaChannelSettings, KEY_HEADER};
use crate::channel::{strip_receipts, Channel, ChannelError, TakeId};
use crate::config::secret::Scrubber;
use crate::event::{Event, Headers};
use crate::kafka::avro::{decode_flume_event, encode_flume_event};
use crate::metrics::ChannelCounter;

/// How long a put waits for acknowledgements beyond librdkafka's `message.timeout.ms`, by which
/// librdkafka promises a delivery report for every record.
const ACK_GRACE: Duration = Duration::from_secs(10);
/// A full producer queue: how long to wait for one of our acknowledgements before sending again.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(10);
/// librdkafka's default `message.timeout.ms`, for a file that sets none.
const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;
/// How often the same consumer error is logged at most.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

pub(super) struct KafkaChannel {
    name: String,
    settings: KafkaChannelSettings,
    counter: Arc<ChannelCounter>,
    producer: ThreadedProducer<PutContext>,
    ack_deadline: Duration,
    /// Created at the first take (a channel without sinks never joins the group).
    consumer: Mutex<Option<Arc<BaseConsumer<TakeContext>>>>,
    poll_lock: Mutex<()>,
    state: Arc<Mutex<TakeState>>,
    commit_lock: Mutex<()>,
    next_take: AtomicU64,
    last_error_log: Mutex<Option<Instant>>,
}

/// What takes share.
#[derive(Default)]
struct TakeState {
    ledger: Ledger,
    /// Rolled-back events, handed out again before anything new, in their order.
    redeliver: VecDeque<(Event, Pos)>,
    /// The positions of each open take's events, in event order.
    open: HashMap<u64, Vec<Pos>>,
    /// Emptied position lists, reused (no allocation per take in the steady state).
    spare: Vec<Vec<Pos>>,
    in_flight: usize,
}

impl KafkaChannel {
    pub(super) fn new(
        name: &str,
        settings: KafkaChannelSettings,
        counter: Arc<ChannelCounter>,
    ) -> Result<Self, String> {
        let producer: ThreadedProducer<PutContext> = settings
            .producer
            .client_config()
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(PutContext {
                channel: name.to_string(),
                scrubber: settings.producer.scrubber(),
            })
            // librdkafka's reason may quote a setting.
            .map_err(|e| {
                settings
                    .producer
                    .scrubber()
                    .scrub(&e.to_string())
                    .into_owned()
            })?;
        let message_timeout = settings
            .producer
            .get("message.timeout.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DEFAULT_MESSAGE_TIMEOUT_MS);
        info!(channel = name, topic = %settings.topic, group = %settings.group_id, "Starting Kafka Channel: {name}");
        Ok(KafkaChannel {
            name: name.to_string(),
            ack_deadline: Duration::from_millis(message_timeout) + ACK_GRACE,
            settings,
            counter,
            producer,
            consumer: Mutex::new(None),
            poll_lock: Mutex::new(()),
            state: Arc::new(Mutex::new(TakeState::default())),
            commit_lock: Mutex::new(()),
            next_take: AtomicU64::new(1),
            last_error_log: Mutex::new(None),
        })
    }

    fn state(&self) -> MutexGuard<'_, TakeState> {
        lock(&self.state)
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

    /// The partition an event goes to: its `partitionIdHeader`, else `defaultPartitionId`, else
    /// the partitioner's choice (`None`).
    fn partition_of(&self, e: &Event) -> Result<Option<i32>, ChannelError> {
        if let Some(h) = &self.settings.partition_header {
            if let Some(v) = e.headers.get(h) {
                return match v.trim().parse::<i32>() {
                    Ok(p) => Ok(Some(p)),
                    Err(_) => Err(ChannelError::Io {
                        channel: self.name.clone(),
                        message: format!(
                            "Non integer partition id specified: header {h} = '{v}' (the put \
                             fails, as in Flume)"
                        ),
                    }),
                };
            }
        }
        Ok(self.settings.static_partition)
    }

    /// Sends the batch, one record per event, and waits for every acknowledgement. `avro`: the
    /// serialized events, one after the other, and where each ends; `None`: the bodies are the
    /// payloads (`parseAsFlumeEvent = false`).
    fn produce(&self, events: &[Event], avro: Option<(&[u8], &[usize])>) -> Result<(), String> {
        // Flume's KafkaEventSendTimer: from the first send to the last acknowledgement of a put
        // that succeeded (serializing is before it, as in Flume's doPut).
        let start = Instant::now();
        let wait = Arc::new(PutWait::default());
        for (i, e) in events.iter().enumerate() {
            let payload = match avro {
                Some((bytes, ends)) => {
                    let start = if i == 0 { 0 } else { ends[i - 1] };
                    &bytes[start..ends[i]]
                }
                None => &e.body[..],
            };
            let partition = self.partition_of(e).map_err(|e| e.to_string())?;
            let mut record = BaseRecord::<str, [u8], Arc<PutWait>>::with_opaque_to(
                &self.settings.topic,
                wait.clone(),
            )
            .payload(payload);
            if let Some(k) = e.headers.get(KEY_HEADER) {
                record = record.key(k);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            wait.sent();
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        wait.wait_some(QUEUE_FULL_WAIT);
                    }
                    Err((e, _)) => {
                        wait.delivered(Some(e.to_string()));
                        break;
                    }
                }
            }
            if wait.failed() {
                break;
            }
        }
        let acknowledged = wait.wait_all(self.ack_deadline);
        if acknowledged.is_ok() {
            self.counter
                .kafka_event_send_timer_ms
                .add_millis_since(start);
        }
        acknowledged
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

impl Channel for KafkaChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len();
        self.counter.event_put_attempt.add(n as u64);
        let result = if self.settings.parse_as_flume_event {
            // One buffer for the batch's datums (librdkafka copies each record at send).
            let size: usize = events.iter().map(|e| e.body.len() + 16).sum();
            let mut payloads: Vec<u8> = Vec::with_capacity(size);
            let mut ends: Vec<usize> = Vec::with_capacity(n);
            for e in events.iter() {
                encode_flume_event(&e.headers, &e.body, &mut payloads);
                ends.push(payloads.len());
            }
            self.produce(events, Some((&payloads, &ends)))
        } else {
            // The bodies are the payloads: no copy of ours.
            self.produce(events, None)
        };
        match result {
            Ok(()) => {
                let receipts = strip_receipts(events);
                events.clear();
                self.counter.event_put_success.add(n as u64);
                for (r, copies) in receipts {
                    for _ in 0..copies {
                        r.ack();
                    }
                }
                Ok(())
            }
            Err(message) => {
                self.counter.event_put_error.add(n as u64);
                Err(ChannelError::Io {
                    channel: self.name.clone(),
                    message: format!("Commit failed as send to Kafka failed: {message}"),
                })
            }
        }
    }

    fn take_raw(&self, _max: usize, _wait: Duration) -> Vec<Event> {
        // Only identified takes exist here (see the module doc): a take that could not say which
        // offsets it commits would lose or duplicate records. The agent's reload moves nothing
        // out of a Kafka channel this way; its events stay in the topic.
        Vec::new()
    }

    fn commit_take(&self, _events: &[Event]) {}

    fn rollback_take(&self, _events: Vec<Event>) {}

    fn take_identified(&self, max: usize, wait: Duration) -> (Vec<Event>, TakeId) {
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

    fn commit_identified(&self, events: &[Event], id: TakeId) {
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

    fn rollback_identified(&self, events: Vec<Event>, id: TakeId) {
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

    fn len(&self) -> usize {
        self.state().redeliver.len()
    }

    fn len_including_in_flight(&self) -> usize {
        let s = self.state();
        s.redeliver.len() + s.in_flight
    }

    fn capacity(&self) -> usize {
        super::UNBOUNDED
    }

    fn transaction_capacity(&self) -> usize {
        super::UNBOUNDED
    }

    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.counter
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn close(&self) {
        // Leaves the group at once (librdkafka's close), so that another member takes the
        // partitions over now rather than after session.timeout.ms.
        if let Some(consumer) = lock(&self.consumer).take() {
            drop(consumer);
        }
        info!(channel = %self.name, "Kafka channel {} stopped.", self.name);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The acknowledgements one put waits for.
#[derive(Default)]
struct PutWait {
    state: Mutex<PutProgress>,
    changed: Condvar,
}

#[derive(Default)]
struct PutProgress {
    outstanding: usize,
    first_error: Option<String>,
}

impl PutWait {
    fn sent(&self) {
        lock(&self.state).outstanding += 1;
    }

    fn delivered(&self, error: Option<String>) {
        let mut s = lock(&self.state);
        s.outstanding = s.outstanding.saturating_sub(1);
        if s.first_error.is_none() {
            s.first_error = error;
        }
        drop(s);
        self.changed.notify_all();
    }

    fn failed(&self) -> bool {
        lock(&self.state).first_error.is_some()
    }

    /// Waits up to `max` for any acknowledgement (a full producer queue drains).
    fn wait_some(&self, max: Duration) {
        let s = lock(&self.state);
        if s.outstanding > 0 {
            let _ = self.changed.wait_timeout(s, max);
        } else {
            drop(s);
            std::thread::sleep(max);
        }
    }

    /// Waits for every acknowledgement; the first error, if any record failed.
    fn wait_all(&self, deadline: Duration) -> Result<(), String> {
        let end = Instant::now() + deadline;
        let mut s = lock(&self.state);
        while s.outstanding > 0 {
            let now = Instant::now();
            if now >= end {
                return Err(format!(
                    "{} records unacknowledged after {} s",
                    s.outstanding,
                    deadline.as_secs()
                ));
            }
            s = self
                .changed
                .wait_timeout(s, end - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        match s.first_error.take() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// The producer's callbacks (librdkafka's thread of the `ThreadedProducer`).
struct PutContext {
    channel: String,
    /// Masks the producer configuration's secrets in librdkafka's text (see [`log_librdkafka`]).
    scrubber: Scrubber,
}

impl ClientContext for PutContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_librdkafka(&self.channel, &self.scrubber, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let error = self.scrubber.scrub(&error.to_string()).into_owned();
        let reason = self.scrubber.scrub(reason);
        warn!(channel = %self.channel, "Kafka producer: {error}: {reason}");
    }
}

impl ProducerContext for PutContext {
    type DeliveryOpaque = Arc<PutWait>;

    fn delivery(&self, result: &DeliveryResult<'_>, wait: Arc<PutWait>) {
        let error = match result {
            Ok(_) => None,
            Err((e, _)) => Some(e.to_string()),
        };
        wait.delivered(error);
    }
}

/// The consumer's callbacks, inside `poll`.
struct TakeContext {
    channel: String,
    state: Arc<Mutex<TakeState>>,
    /// Set when partitions are revoked: the take being gathered ends.
    revoked: AtomicBool,
    /// Masks the consumer configuration's secrets in librdkafka's text (see [`log_librdkafka`]).
    scrubber: Scrubber,
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

/// A librdkafka log line at its level, with the client's secrets masked first: with
/// `kafka.*.debug` librdkafka's lines may quote settings, and this is text rflume did not write
/// (the Kafka sink scrubs the same way).
fn log_librdkafka(
    channel: &str,
    scrubber: &Scrubber,
    level: RDKafkaLogLevel,
    fac: &str,
    message: &str,
) {
    let message = scrubber.scrub(message);
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => error!(channel, "librdkafka {fac}: {message}"),
        RDKafkaLogLevel::Warning => warn!(channel, "librdkafka {fac}: {message}"),
        _ => debug!(channel, "librdkafka {fac}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::{Secret, MASK};
    use crate::testing::logged;

    /// The producer's and the consumer's librdkafka log lines and errors reach the log with the
    /// configuration's secrets masked.
    #[test]
    fn librdkafka_text_is_scrubbed_of_the_clients_secrets() {
        const SECRET: &str = "channel-S3cret-pw";
        let scrubber = Scrubber::new(&[Secret::new(SECRET)]);
        let put = PutContext {
            channel: "c1".to_string(),
            scrubber: scrubber.clone(),
        };
        let take = TakeContext {
            channel: "c1".to_string(),
            state: Arc::default(),
            revoked: AtomicBool::new(false),
            scrubber,
        };
        let log = logged(|| {
            for level in [RDKafkaLogLevel::Error, RDKafkaLogLevel::Debug] {
                put.log(level, "CONF", &format!("ssl.key.password = {SECRET}"));
                take.log(level, "CONF", &format!("sasl.password = {SECRET}"));
            }
            let error = || KafkaError::ClientCreation(format!("bad value {SECRET}"));
            put.error(error(), &format!("{SECRET} refused"));
            take.error(error(), &format!("{SECRET} refused"));
        });
        assert!(!log.contains(SECRET), "{log}");
        // Every line was logged, with the mask where the secret was.
        assert_eq!(log.matches(MASK).count(), 8, "{log}");
    }
}
