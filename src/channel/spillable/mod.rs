//! Spillable memory channel — replaces Flume's `SPILLABLEMEMORY`
//! (`org.apache.flume.channel.SpillableMemoryChannel`).
//!
//! Events are held in memory until `memoryCapacity` events (or `byteCapacity` bytes) are there;
//! then whole put transactions overflow into a file channel (the one in `file/`, configured by the
//! same component's file-channel properties, `capacity = overflowCapacity`). As in Flume:
//! * a put transaction goes wholly to memory or wholly to the overflow. A put that finds memory
//!   full waits up to `overflowTimeout` seconds for room before it spills; once spilling has begun
//!   ("overflow activated") puts no longer wait, they take memory if it has room and spill
//!   otherwise; spilling ends once a take leaves `overflowDeactivationThreshold` percent of memory
//!   free;
//! * takes keep the order of the puts across both stores: a *drain order* records runs of
//!   "n events in memory" and "n events in the overflow", and a take transaction takes from the
//!   run at the head only (so it may return fewer events than asked at a switch);
//! * `memoryCapacity = 0` sends everything to the overflow; `overflowCapacity = 0` disables it
//!   (a full memory is then a full channel, as Flume's "overflow is disabled").
//!
//! Guarantee: what went to the overflow has the file channel's guarantee (a committed put
//! survives `kill -9` and power loss, and is delivered after the restart, before anything new);
//! what is in memory has the memory channel's (lost on a crash). Beyond Flume: a graceful stop
//! moves what is still in memory into the overflow files instead of dropping it, so a stop and a
//! start lose nothing (those events then come after the older overflow ones).
//!
//! Differences from Flume on purpose: `byteCapacity` unset means no byte limit (Flume's default is
//! 80% of its JVM heap); an `avgEventSize` below 1 falls back to 500 with a warning (Flume divides
//! by it); a put larger than the overflow's `transactionCapacity` fails only when it has to spill
//! (Flume's too).
//!
//! Layout:
//! * `settings.rs` — which properties it reads, with Flume's defaults and warnings, and the spec;
//! * `channel.rs` — the channel's start (the overflow's events first), its stop, and its
//!   `Channel` calls, which go to the two files below;
//! * `put.rs` — where a put goes: memory (waiting up to `overflowTimeout`) or the overflow, and
//!   the stop's move of memory into the overflow;
//! * `take.rs` — the take transaction: from the store at the head of the drain order, commit
//!   (and when spilling ends), rollback to the head of its store;
//! * `drain_order.rs` — which store the next events are in;
//! * this file — the channel's state, shared by put and take.

mod channel;
mod drain_order;
mod put;
mod settings;
mod take;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::file::FileChannel;
use crate::event::Event;
use crate::metrics::ChannelCounter;
use drain_order::DrainOrder;
pub use settings::{
    SpillableSettings, DEFAULT_AVG_EVENT_SIZE, DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
    DEFAULT_MEMORY_CAPACITY, DEFAULT_OVERFLOW_CAPACITY, DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD,
    DEFAULT_OVERFLOW_TIMEOUT_SECS,
};

#[derive(Debug, Default)]
struct State {
    /// Bumped by `wake_takers`: a waiting take that sees it change returns empty.
    wake_generation: u64,
    memory: VecDeque<Event>,
    /// Taken from memory by open take transactions: still count against `memoryCapacity`.
    memory_in_flight: usize,
    /// Byte units used by events in memory and in flight from it.
    units_used: u64,
    drain: DrainOrder,
    /// Overflow events the drain order accounts for and no take holds.
    overflow_stored: usize,
    overflow_in_flight: usize,
    overflow_activated: bool,
    /// Open takes from the overflow, by their event buffer (see `take_key`).
    overflow_takes: HashSet<usize>,
    /// Puts waiting for memory right now (what a test waits for before it makes room).
    waiting_puts: usize,
}

pub struct SpillableMemoryChannel {
    name: String,
    s: SpillableSettings,
    byte_units: Option<u64>,
    state: Mutex<State>,
    not_empty: Condvar,
    room: Condvar,
    overflow: FileChannel,
    counter: Arc<ChannelCounter>,
}

impl SpillableMemoryChannel {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation leaves the state consistent, so a panic elsewhere cannot leave it
        // half-updated: recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn units_of(&self, events: &[Event]) -> u64 {
        if self.byte_units.is_none() {
            return 0;
        }
        // Flume: `ceil(max(body, 1) / avgEventSize)` per event.
        events
            .iter()
            .map(|e| (e.body.len().max(1) as u64).div_ceil(self.s.avg_event_size))
            .sum()
    }

    fn set_size(&self, s: &State) {
        self.counter
            .channel_size
            .set((s.memory.len() + s.overflow_stored) as i64);
    }
}

fn deadline_after(d: Duration) -> Instant {
    crate::shutdown::later(Instant::now(), d)
}
