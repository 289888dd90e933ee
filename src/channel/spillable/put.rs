//! Where a put goes: wholly to memory, when memory has room for its events and their bytes
//! (waiting up to `overflowTimeout` until overflow is activated), else wholly to the overflow;
//! and, at a graceful stop, the move of what is left in memory into the overflow.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use tracing::{error, info};

use super::{deadline_after, SpillableMemoryChannel, State};
use crate::channel::{Channel, ChannelError};
use crate::event::Event;

impl SpillableMemoryChannel {
    /// The put transaction ([`Channel::put`]).
    pub(super) fn put_batch(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        self.counter.event_put_attempt.add(n as u64);
        if !self.put_memory(events)? {
            // The file channel writes and fsyncs without our lock held; the drain order learns
            // of the batch once it is there (concurrent puts have no order among themselves).
            self.overflow.put(events)?;
            let mut s = self.lock();
            s.drain.push_back(-(n as i64));
            s.overflow_stored += n;
            self.set_size(&s);
        }
        self.counter.event_put_success.add(n as u64);
        self.not_empty.notify_all();
        Ok(())
    }

    /// Waits (up to `deadline`) until `fits` holds; false when it did not.
    fn wait_for<'a>(
        &self,
        mut s: MutexGuard<'a, State>,
        deadline: Instant,
        fits: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if fits(&s) {
                return (s, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (s, false);
            }
            s.waiting_puts += 1;
            s = self
                .room
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            s.waiting_puts -= 1;
        }
    }

    /// Flume's `putCommit` for memory: room for the events, then for their bytes. `Ok(true)`:
    /// stored in memory; `Ok(false)`: the batch spills.
    fn put_memory(&self, events: &mut Vec<Event>) -> Result<bool, ChannelError> {
        let n = events.len();
        let cap = self.s.memory_capacity;
        if cap == 0 {
            return Ok(false);
        }
        let units = self.units_of(events);
        let s = self.lock();
        let wait = if s.overflow_activated {
            Duration::ZERO
        } else {
            self.s.overflow_timeout
        };
        let (s, room) = self.wait_for(s, deadline_after(wait), |s| {
            s.memory.len() + s.memory_in_flight + n <= cap
        });
        let (mut s, bytes) = if room {
            let max = self.byte_units;
            self.wait_for(s, deadline_after(self.s.overflow_timeout), |s| {
                max.is_none_or(|max| s.units_used + units <= max)
            })
        } else {
            (s, false)
        };
        if room && bytes {
            s.units_used += units;
            s.memory.extend(events.drain(..));
            s.drain.push_back(n as i64);
            self.set_size(&s);
            return Ok(true);
        }
        if self.s.overflow_capacity == 0 {
            return Err(if room {
                ChannelError::ByteCapacity {
                    channel: self.name.clone(),
                    byte_capacity: self.s.byte_capacity.unwrap_or(0).max(0) as u64,
                }
            } else {
                ChannelError::Full {
                    channel: self.name.clone(),
                    capacity: cap,
                }
            });
        }
        if !s.overflow_activated {
            s.overflow_activated = true;
            info!(channel = %self.name, "spillable memory channel {}: memory is full ({} events); puts overflow to disk", self.name, s.memory.len() + s.memory_in_flight);
        }
        Ok(false)
    }

    /// Moves what is left in memory into the overflow (a graceful stop).
    pub(super) fn spill_memory(&self) {
        if self.s.overflow_capacity == 0 {
            return;
        }
        let batch = self.s.overflow.transaction_capacity.max(1);
        let mut moved = 0usize;
        loop {
            let mut events: Vec<Event> = {
                let mut s = self.lock();
                let n = batch.min(s.memory.len());
                if n == 0 {
                    break;
                }
                s.drain.take_front(n as i64);
                s.memory.drain(..n).collect()
            };
            let n = events.len();
            if let Err(e) = self.overflow.put(&mut events) {
                let mut s = self.lock();
                for e in events.into_iter().rev() {
                    s.memory.push_front(e);
                }
                s.drain.push_front(n as i64);
                drop(s);
                error!(channel = %self.name, "spillable memory channel {}: cannot move the events left in memory to the overflow ({e}); they are lost with the stop", self.name);
                break;
            }
            moved += n;
        }
        if moved > 0 {
            info!(channel = %self.name, "spillable memory channel {}: moved the {moved} events left in memory to the overflow; they are delivered after the restart", self.name);
        }
    }
}
