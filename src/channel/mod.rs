//! Channels: the buffer between sources and sinks, and the two transactions that make Flume safe.
//!
//! * A **put transaction** ([`Channel::put`]) commits a whole batch or nothing. It takes the batch by
//!   `&mut Vec` and empties it only on success, so a source that meets a full channel still owns
//!   its events and simply retries (backpressure) — there is no path on which a rejected batch is
//!   dropped.
//! * A **take transaction** ([`TakeTransaction`]) removes up to N events from the head; the sink
//!   commits it only after the downstream acknowledged every event. A rollback — explicit, or
//!   implicit when the transaction is dropped (an error path or a panic) — puts the events back at
//!   the head, in their original order. Taken-but-uncommitted events keep their capacity reserved,
//!   so a rollback can never overflow the channel.
//!
//! A channel that must know *which* take ends (the Kafka channel commits the consumer offsets of
//! exactly the records a take read) overrides the identified forms of the three calls
//! ([`Channel::take_identified`], [`Channel::commit_identified`], [`Channel::rollback_identified`]);
//! [`TakeTransaction`] always uses them, and their default bodies call the plain ones, so the
//! memory, file and spillable channels pay one integer per transaction and nothing else.
//!
//! The trait is object-safe so that the agent can hold `Arc<dyn Channel>` for memory and file
//! channels alike. A durable channel (file) also acknowledges the events' delivery receipts when
//! their put is on disk, rather than at the take's commit: the events are safe from then on, so a
//! TAILDIR source may move its position past them.
//!
//! This file is also the channel registry: [`TYPES`] maps Flume's type names to a parser, and
//! [`ChannelSettings`] holds one variant per channel type. Adding a channel = its file, a `pub mod`
//! line, one row in [`TYPES`] and one variant; the compiler points at the rest.

pub mod file;
pub mod kafka;
pub mod memory;
pub mod spillable;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::config::registry::{Describe, TypeEntry, NOT_PLANNED};
use crate::event::Event;
use crate::metrics::ChannelCounter;
use file::FileSettings;
use kafka::KafkaChannelSettings;
use memory::MemorySettings;
use spillable::SpillableSettings;

/// Every channel type Flume knows, by alias and class name.
pub const TYPES: &[TypeEntry<ChannelSettings>] = &[
    TypeEntry::yes("memory", "org.apache.flume.channel.MemoryChannel", |r| {
        MemorySettings::parse(r).map(ChannelSettings::Memory)
    }),
    TypeEntry::yes("file", "org.apache.flume.channel.file.FileChannel", |r| {
        FileSettings::parse(r).map(ChannelSettings::File)
    }),
    TypeEntry::yes(
        "spillablememory",
        "org.apache.flume.channel.SpillableMemoryChannel",
        |r| SpillableSettings::parse(r).map(ChannelSettings::Spillable),
    ),
    TypeEntry::no(
        "jdbc",
        "org.apache.flume.channel.jdbc.JdbcChannel",
        NOT_PLANNED,
    ),
    TypeEntry::yes(
        "kafka",
        "org.apache.flume.channel.kafka.KafkaChannel",
        |r| KafkaChannelSettings::parse(r).map(ChannelSettings::Kafka),
    )
    .class_only(),
];

/// A configured channel's settings, one variant per supported type.
#[derive(Clone, Debug, PartialEq)]
pub enum ChannelSettings {
    Memory(MemorySettings),
    File(FileSettings),
    Spillable(SpillableSettings),
    Kafka(KafkaChannelSettings),
}

impl ChannelSettings {
    pub fn spec(&self) -> &dyn ChannelSpec {
        match self {
            ChannelSettings::Memory(s) => s,
            ChannelSettings::File(s) => s,
            ChannelSettings::Spillable(s) => s,
            ChannelSettings::Kafka(s) => s,
        }
    }
}

/// What every channel type's settings provide to the agent graph and the agent.
pub trait ChannelSpec: Describe {
    /// Flume's `transactionCapacity`: the largest batch a put or take may carry.
    fn transaction_capacity(&self) -> usize;
    /// The most events the channel will hold, when the settings say so: a reload checks that a
    /// replaced channel's events fit into its successor before building it.
    fn capacity(&self) -> Option<usize> {
        None
    }
    /// Makes the running channel. A channel with state on disk can fail to open (its
    /// directories are locked by another agent, hold a Flume channel, cannot be read).
    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, OpenError>;
}

/// Flume waits `tryAcquire(keepAlive, SECONDS)` for room; a negative timeout does not wait at
/// all, which Flume does without a word: rflume runs it the same way and says so.
pub(crate) fn warn_negative_keep_alive(r: &mut crate::config::reader::PropReader, keep_alive: i64) {
    if keep_alive < 0 {
        let line = r.line("keep-alive");
        r.warn(
            "keep-alive",
            line,
            format!("a negative keep-alive ({keep_alive}) means no wait for room, as in Flume"),
            Some("use 0 to say so".to_string()),
        );
    }
}

/// Takes the delivery receipts off a batch a durable channel (file, Kafka) has made safe, one
/// acknowledgement per event copy for receipts shared by a batch: (receipt, copies).
pub(crate) fn strip_receipts(events: &mut [Event]) -> Vec<(crate::event::Receipt, usize)> {
    let mut out: Vec<(crate::event::Receipt, usize)> = Vec::new();
    for e in events.iter_mut() {
        if let Some(r) = e.receipt.take() {
            match out.last_mut() {
                Some((last, n)) if last.ptr_eq(&r) => *n += 1,
                _ => out.push((r, 1)),
            }
        }
    }
    out
}

/// Why a channel could not be made; the agent does not start without it.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("channel {channel}: {source}")]
    File {
        channel: String,
        #[source]
        source: file::FileChannelError,
    },
    #[error("channel {channel}: cannot create the Kafka producer: {message}")]
    Kafka { channel: String, message: String },
}

/// Why a channel operation did not happen. The caller still owns its events in every case.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// Flume's ChannelFullException text, so operators' grep patterns keep working.
    #[error("channel {channel}: Space for commit to queue couldn't be acquired. Sinks are likely not keeping up with sources, or the buffer size is too tight (capacity {capacity})")]
    Full { channel: String, capacity: usize },
    #[error("channel {channel}: Cannot commit transaction. Byte capacity allocated to store event body {byte_capacity} reached")]
    ByteCapacity { channel: String, byte_capacity: u64 },
    #[error("channel {channel}: Put queue for MemoryTransaction of capacity {transaction_capacity} full, batch of {batch} events is larger than transactionCapacity")]
    TransactionCapacity {
        channel: String,
        transaction_capacity: usize,
        batch: usize,
    },
    /// Flume's file channel ChannelFullException text.
    #[error("The channel has reached it's capacity. This might be the result of a sink on the channel having too low of batch size, a downstream system running slower than normal, or that the channel capacity is just too low. [channel={channel}]")]
    FileFull { channel: String },
    #[error("Put queue for FileBackedTransaction of capacity {transaction_capacity} full, consider committing more frequently, increasing capacity or increasing thread count. [channel={channel}]")]
    FileTransactionCapacity {
        channel: String,
        transaction_capacity: usize,
    },
    /// Flume's text, with the directory: below `minimumRequiredSpace` puts are refused until
    /// space returns.
    #[error("channel {channel}: Usable space exhausted, only {usable} bytes remaining, required {required} bytes (in {dir}; minimumRequiredSpace keeps that much free; puts resume by themselves once space is freed)")]
    DiskSpace {
        channel: String,
        dir: String,
        usable: u64,
        required: u64,
    },
    #[error("Put failed due to IO error [channel={channel}]: {message}")]
    Io { channel: String, message: String },
}

/// A channel as seen by sources (put) and sinks (take).
pub trait Channel: Send + Sync {
    fn name(&self) -> &str;
    /// Flume type name for logs and `rflume check` (e.g. `memory`).
    fn kind(&self) -> &'static str;
    /// Put transaction: commits every event of `events` or none. On success `events` is left
    /// empty; on error it is untouched. May wait up to the channel's keep-alive for space.
    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError>;
    /// Starts a take: removes up to `max` events from the head, waiting up to `wait` for the
    /// first one. Prefer [`TakeTransaction::begin`], which guarantees commit or rollback.
    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event>;
    /// Ends a take successfully: the events are gone for good and their capacity is freed.
    fn commit_take(&self, events: &[Event]);
    /// Ends a take unsuccessfully: the events return to the head in their original order.
    fn rollback_take(&self, events: Vec<Event>);
    /// [`Channel::take_raw`] for a channel that tells its open takes apart: also returns the
    /// take's identity, handed back to [`Channel::commit_identified`] or
    /// [`Channel::rollback_identified`].
    fn take_identified(&self, max: usize, wait: Duration) -> (Vec<Event>, TakeId) {
        (self.take_raw(max, wait), TakeId::NONE)
    }
    /// [`Channel::commit_take`] of the take `id`.
    fn commit_identified(&self, events: &[Event], id: TakeId) {
        let _ = id;
        self.commit_take(events)
    }
    /// [`Channel::rollback_take`] of the take `id`.
    fn rollback_identified(&self, events: Vec<Event>, id: TakeId) {
        let _ = id;
        self.rollback_take(events)
    }
    /// Ends the waits of takes blocked on this channel right now (they return empty): a
    /// stopping sink notices its stop without a short polling wait. Later takes wait as usual.
    fn wake_takers(&self) {}
    /// Events stored and not taken.
    fn len(&self) -> usize;
    /// Events stored plus events taken by an open take transaction.
    fn len_including_in_flight(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn capacity(&self) -> usize;
    fn transaction_capacity(&self) -> usize;
    fn counter(&self) -> &Arc<ChannelCounter>;
    /// Whether what the channel holds survives the agent's death (a file channel): what is
    /// left in it at stop is delivered after the restart, not lost.
    fn is_durable(&self) -> bool {
        false
    }
    /// Called once by the agent after sources and sinks stopped: a durable channel syncs and
    /// writes its checkpoint (`checkpointOnClose`). The memory channel has nothing to do.
    fn close(&self) {}
}

/// Which open take a commit or rollback ends, for channels that tell takes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakeId(pub u64);

impl TakeId {
    /// The identity of takes of channels that do not tell them apart.
    pub const NONE: TakeId = TakeId(0);
}

/// An open take transaction. Dropping it without `commit` rolls it back.
pub struct TakeTransaction {
    channel: Arc<dyn Channel>,
    events: Vec<Event>,
    id: TakeId,
    open: bool,
}

impl TakeTransaction {
    /// Takes up to `max` events, waiting up to `wait` for the first one. The transaction may be
    /// empty; an empty transaction commits and rolls back as no-ops.
    pub fn begin(channel: &Arc<dyn Channel>, max: usize, wait: Duration) -> Self {
        let (events, id) = channel.take_identified(max, wait);
        TakeTransaction {
            channel: channel.clone(),
            open: !events.is_empty(),
            events,
            id,
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Commits the take: the events are delivered. Delivery receipts of the events (TAILDIR
    /// positions) are acknowledged here, so every sink reports delivery the same way.
    pub fn commit(mut self) {
        if self.open {
            self.channel.commit_identified(&self.events, self.id);
            self.open = false;
            for e in &self.events {
                if let Some(r) = &e.receipt {
                    r.ack();
                }
            }
        }
    }

    pub fn rollback(mut self) {
        self.do_rollback();
    }

    fn do_rollback(&mut self) {
        if self.open {
            self.open = false;
            self.channel
                .rollback_identified(std::mem::take(&mut self.events), self.id);
        }
    }
}

impl Drop for TakeTransaction {
    fn drop(&mut self) {
        self.do_rollback();
    }
}
