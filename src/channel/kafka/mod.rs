//! Kafka channel: Flume's `org.apache.flume.channel.kafka.KafkaChannel` (class name only, as in
//! Flume), on librdkafka instead of Java's `KafkaProducer`/`KafkaConsumer`. The events live in a
//! Kafka topic (`kafka.topic`, default `flume-channel`), so they survive the agent, and other
//! agents (Flume's or rflume's) reading the same topic in the same group share them.
//!
//! # Design
//!
//! **Put** (a source's transaction): every event is serialized (`parseAsFlumeEvent = true`: the
//! `AvroFlumeEvent` datum with its headers, as Flume writes it; `false`: the bare body) and
//! produced with the event's `key` header as the record key, to `partitionIdHeader`'s partition,
//! else `defaultPartitionId`, else the producer's partitioner. The put returns only when Kafka
//! acknowledged every record of the batch (Flume sends the batch and waits for every future at
//! commit); any failed record fails the whole put, and the source keeps and retries its batch
//! (records of it that did reach Kafka are then duplicated, as in Flume). A put that committed is
//! safe in Kafka: delivery receipts (TAILDIR positions) are acknowledged then, as the file
//! channel does.
//!
//! **Take** (a sink's transaction): one consumer per channel, created at the first take — so a
//! channel with no sink never joins the consumer group and takes no partition away from the
//! agents that do read it — subscribed to the topic in `kafka.consumer.group.id` with
//! `enable.auto.commit = false`. The [`Channel`] trait's plain take could not tell two open takes
//! apart, but offsets are per take: the channel implements the *identified* take calls, so each
//! commit and rollback names the take it ends ([`TakeId`]), and the channel keeps, per open take,
//! where each of its events came from ([`ledger::Pos`]). Several takes may be open at once (two
//! sinks on one channel, the Kafka sink's pipelined batches) and end in any order, so the offset
//! committed for a partition is the one after the longest prefix of delivered records
//! ([`ledger::Ledger`]); a commit waits for Kafka's answer (`commitSync`, as Flume), outside the
//! channel's locks.
//!
//! **Rollback** re-delivers the same records: the events go back to the head of the channel in
//! their order, in memory, and the next take hands them out again before anything new (Flume
//! keeps them in its consumer's `failedEvents` the same way). Their offsets stay uncommitted,
//! so a crash in between reads them again from Kafka. When a partition is revoked (a rebalance),
//! its rolled-back events are dropped from memory: the partition's new owner reads them again
//! from the committed offset, which is never past them.
//!
//! **Guarantee**: at least once, as Flume. A crash loses nothing that a put committed; what a
//! sink delivered but whose take had not committed is delivered again after the restart (at most
//! the open takes' events per sink).
//!
//! # Where rflume differs from Flume, on purpose
//! * A record that is not an `AvroFlumeEvent` with `parseAsFlumeEvent = true`: Flume throws at
//!   every take of it ("Error while getting events from Kafka") and the record is skipped
//!   silently once a later record of its partition commits; rflume skips it at once, logs it at
//!   ERROR with its partition and offset (it is still in Kafka there) and counts it
//!   (`EventTakeErrorCount`).
//! * `parseAsFlumeEvent = false` loses the events' headers (except `key`, which is the record
//!   key): Flume says nothing, rflume warns at load.
//! * `pollTimeout` (the user guide's name) is not read by Flume, which reads `kafka.pollTimeout`:
//!   rflume reads the latter too and warns that the former is ignored.
//! * `zookeeperConnect` with `migrateZookeeperOffsets = true`: Flume 1.9–1.11 copies consumer
//!   offsets kept in ZooKeeper (Flume ≤ 1.6) into Kafka when the group has none; rflume reads only
//!   Kafka's offsets and says so (without offsets, the group starts at `auto.offset.reset`).
//! * A take waits up to the sink's wait (at most `kafka.pollTimeout`) for the first record and
//!   then takes only what the consumer already fetched; Flume polls again for each record once a
//!   poll's records are used up, so its batches wait up to `pollTimeout` more to fill.
//! * `len()` counts only events held in memory (rolled back, or taken and open); the topic's lag is
//!   Kafka's to report. A reload that replaces the channel moves nothing: the events stay in the
//!   topic, and the successor reads them if it reads the same topic and group.
//!
//! # Layout
//! * `settings.rs` — what the properties say: names, defaults, deprecated names, `check`'s rows.
//! * `channel.rs` — the channel's life: the producer made at start, the consumer left at close,
//!   and the [`Channel`](crate::channel::Channel) calls, which go to the two files below.
//! * `put.rs` — how a put reaches Kafka: one record per event, and the wait for every
//!   acknowledgement.
//! * `take.rs` — how a take reads and ends: the consumer, the batch gathered from it, the
//!   offsets committed, the events rolled back, and the rebalance callback.
//! * `ledger.rs` — which offset a partition may commit, with several takes open at once.
//! * This file — the runtime type and what put and take share (its state, the librdkafka log).

mod channel;
mod ledger;
mod put;
mod settings;
mod take;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::ThreadedProducer;
use tracing::{debug, error, warn};

use crate::config::secret::Scrubber;
use crate::event::Event;
use crate::metrics::ChannelCounter;
use ledger::{Ledger, Pos};
use put::PutContext;
pub use settings::KafkaChannelSettings;
use take::TakeContext;

/// The record key travels in this header both ways.
pub(crate) const KEY_HEADER: &str = "key";
/// Flume's channel has no capacity of its own: a transaction is as large as the batch.
const UNBOUNDED: usize = usize::MAX;

/// The Kafka channel at run time: puts produce and wait for every acknowledgement; takes read
/// from the channel's one consumer and commit offsets through the [`Ledger`].
///
/// Locks, and why none is held across a wait on the network: `poll_lock` serializes the readers
/// of the consumer (one take gathers its batch at a time, so the records of a partition enter the
/// ledger in offset order); `state` (the ledger, the open takes, the rolled-back events) is held
/// only for bookkeeping, never across a poll or a commit; `commit_lock` orders offset commits so
/// that a partition's committed offset never moves backwards. librdkafka calls the rebalance
/// callback inside `poll`, under `poll_lock` only, and the callback takes `state` briefly.
struct KafkaChannel {
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
    fn state(&self) -> MutexGuard<'_, TakeState> {
        lock(&self.state)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
mod settings_tests;

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use rdkafka::error::KafkaError;
    use rdkafka::ClientContext;

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
