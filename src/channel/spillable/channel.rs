//! The spillable memory channel's start (what the overflow kept from before comes first), its
//! stop (memory moved into the overflow) and its [`Channel`] calls: puts go to `put.rs`, takes
//! and their ends to `take.rs`.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing::info;

use super::{SpillableMemoryChannel, SpillableSettings, State};
use crate::channel::file::FileChannel;
use crate::channel::{Channel, ChannelError};
use crate::event::Event;
use crate::metrics::ChannelCounter;

impl SpillableMemoryChannel {
    pub fn new(
        name: &str,
        s: SpillableSettings,
        overflow: FileChannel,
        counter: Arc<ChannelCounter>,
    ) -> Self {
        // Flume's `start()`: what the overflow kept from before comes first.
        let kept = overflow.len();
        let mut state = State {
            overflow_stored: kept,
            ..State::default()
        };
        if kept > 0 {
            state.drain.push_back(-(kept as i64));
            info!(channel = name, "spillable memory channel {name}: {kept} events kept in the overflow are delivered first");
        }
        counter
            .channel_capacity
            .set((s.memory_capacity + s.overflow_capacity) as i64);
        counter.channel_size.set(kept as i64);
        counter.lifecycle.started();
        SpillableMemoryChannel {
            name: name.to_string(),
            byte_units: s.byte_units(),
            s,
            state: Mutex::new(state),
            not_empty: Condvar::new(),
            room: Condvar::new(),
            overflow,
            counter,
        }
    }

    /// Puts waiting for memory at this moment.
    pub fn waiting_puts(&self) -> usize {
        self.lock().waiting_puts
    }

    /// Events in the overflow right now.
    pub fn overflow_len(&self) -> usize {
        self.overflow.len()
    }

    /// Stops without closing (a test's crash): the overflow keeps only what its puts committed.
    #[cfg(test)]
    pub fn crash(self) {
        self.overflow.crash();
    }
}

impl Channel for SpillableMemoryChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "spillablememory"
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        self.put_batch(events)
    }

    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event> {
        self.take_batch(max, wait)
    }

    fn wake_takers(&self) {
        self.lock().wake_generation += 1;
        self.not_empty.notify_all();
    }
    fn commit_take(&self, events: &[Event]) {
        self.commit_batch(events)
    }

    fn rollback_take(&self, events: Vec<Event>) {
        self.rollback_batch(events)
    }

    fn len(&self) -> usize {
        let s = self.lock();
        s.memory.len() + s.overflow_stored
    }

    fn len_including_in_flight(&self) -> usize {
        let s = self.lock();
        s.memory.len() + s.memory_in_flight + s.overflow_stored + s.overflow_in_flight
    }

    fn capacity(&self) -> usize {
        self.s.memory_capacity + self.s.overflow_capacity
    }

    fn transaction_capacity(&self) -> usize {
        self.s.overflow.transaction_capacity
    }

    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.counter
    }

    /// Durable once memory is empty: after [`Channel::close`] moved it to the overflow, what is
    /// left is on disk.
    fn is_durable(&self) -> bool {
        let s = self.lock();
        s.memory.is_empty() && s.memory_in_flight == 0
    }

    fn close(&self) {
        self.spill_memory();
        self.overflow.close();
    }
}
