//! The take transaction: events come from the store at the head of the drain order (so a take
//! may return fewer than asked at a switch); a commit ends spilling once enough memory is free;
//! a rollback returns the events to the head of their store.

use std::time::{Duration, Instant};

use tracing::info;

use super::{deadline_after, SpillableMemoryChannel};
use crate::channel::Channel;
use crate::event::Event;

/// How long a take waits for the overflow to hand over events the drain order says it holds
/// (another take may be reading them from disk at that moment).
const OVERFLOW_TAKE_WAIT: Duration = Duration::from_secs(1);

/// A take is named by its event vector's buffer, which the caller gives back untouched on
/// commit or rollback ([`crate::channel::TakeTransaction`]); the file channel names its takes
/// the same way.
fn take_key(events: &[Event]) -> usize {
    events.as_ptr() as usize
}

impl SpillableMemoryChannel {
    /// The take ([`Channel::take_raw`]).
    pub(super) fn take_batch(&self, max: usize, wait: Duration) -> Vec<Event> {
        let max = max.min(self.transaction_capacity());
        if max == 0 {
            return Vec::new();
        }
        let deadline = deadline_after(wait);
        let mut s = self.lock();
        let generation = s.wake_generation;
        loop {
            match s.drain.front() {
                Some(run) if run > 0 => {
                    let n = max.min(run as usize).min(s.memory.len());
                    let taken: Vec<Event> = s.memory.drain(..n).collect();
                    s.drain.take_front(n as i64);
                    s.memory_in_flight += n;
                    self.set_size(&s);
                    drop(s);
                    self.counter.event_take_attempt.add(n as u64);
                    return taken;
                }
                Some(run) => {
                    let want = max.min(run.unsigned_abs() as usize);
                    s.drain.take_front(-(want as i64));
                    s.overflow_stored -= want;
                    drop(s);
                    // May read from disk: without our lock.
                    let taken = self.overflow.take_raw(want, OVERFLOW_TAKE_WAIT);
                    let n = taken.len();
                    s = self.lock();
                    if n < want {
                        s.drain.push_front(-((want - n) as i64));
                        s.overflow_stored += want - n;
                    }
                    if n > 0 {
                        s.overflow_takes.insert(take_key(&taken));
                        s.overflow_in_flight += n;
                    }
                    self.set_size(&s);
                    drop(s);
                    self.counter.event_take_attempt.add(n as u64);
                    return taken;
                }
                None => {
                    let now = Instant::now();
                    if now >= deadline || s.wake_generation != generation {
                        return Vec::new();
                    }
                    s = self
                        .not_empty
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    /// A take's commit ([`Channel::commit_take`]).
    pub(super) fn commit_batch(&self, events: &[Event]) {
        let n = events.len();
        if n == 0 {
            return;
        }
        let mut s = self.lock();
        let from_overflow = s.overflow_takes.remove(&take_key(events));
        if from_overflow {
            s.overflow_in_flight -= n;
        } else {
            s.memory_in_flight = s.memory_in_flight.saturating_sub(n);
            s.units_used = s.units_used.saturating_sub(self.units_of(events));
        }
        // Flume's rule, formula and all: `(memoryCapacity - memQueue.size() + takeCount) /
        // memoryCapacity >= overflowDeactivationThreshold / 100`.
        let cap = self.s.memory_capacity;
        let free = if cap == 0 {
            0.0
        } else {
            (cap as f64 - s.memory.len() as f64 + n as f64) / cap as f64
        };
        if s.overflow_activated && free >= self.s.overflow_deactivation_threshold as f64 / 100.0 {
            s.overflow_activated = false;
            info!(channel = %self.name, "spillable memory channel {}: Overflow Deactivated", self.name);
        }
        drop(s);
        if from_overflow {
            // Appends the take record: without our lock.
            self.overflow.commit_take(events);
        }
        self.counter.event_take_success.add(n as u64);
        self.room.notify_all();
    }

    /// A take's rollback ([`Channel::rollback_take`]).
    pub(super) fn rollback_batch(&self, events: Vec<Event>) {
        let n = events.len();
        if n == 0 {
            return;
        }
        let mut s = self.lock();
        if s.overflow_takes.remove(&take_key(&events)) {
            s.overflow_in_flight -= n;
            // The file channel's rollback touches no disk; under our lock the drain order and
            // the overflow's head change together.
            self.overflow.rollback_take(events);
            s.drain.push_front(-(n as i64));
            s.overflow_stored += n;
        } else {
            s.memory_in_flight = s.memory_in_flight.saturating_sub(n);
            for e in events.into_iter().rev() {
                s.memory.push_front(e);
            }
            s.drain.push_front(n as i64);
        }
        self.set_size(&s);
        drop(s);
        self.not_empty.notify_all();
    }
}
