//! Memory channel — replaces Flume's `memory` (`org.apache.flume.channel.MemoryChannel`).
//!
//! A bounded in-memory queue with Flume's capacity rules: `capacity` events in total (stored plus
//! taken-but-uncommitted, so a rollback always fits), at most `transactionCapacity` events per put
//! or take transaction, and optionally `byteCapacity` bytes of bodies (accounted in Flume's slots of
//! 100 bytes, minus `byteCapacityBufferPercentage` for headers). A put that does not fit waits up to
//! `keep-alive` seconds for room and then fails with Flume's "Space for commit to queue couldn't be
//! acquired"; the source keeps the batch and retries (backpressure).
//!
//! Guarantee: events survive a sink failure (rollback returns them to the head, in order), not a
//! crash or `kill -9` of the agent — exactly Flume's memory channel guarantee.
//!
//! One mutex guards the queue; every operation holds it for one batch, never across I/O.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Channel, ChannelError, ChannelSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::metrics::ChannelCounter;

/// Flume's `capacity` default.
pub const DEFAULT_CAPACITY: u64 = 100;
/// Flume's `transactionCapacity` default.
pub const DEFAULT_TRANSACTION_CAPACITY: u64 = 100;
/// Flume's `keep-alive` default, seconds.
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 3;
/// Flume's `byteCapacityBufferPercentage` default.
pub const DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE: u64 = 20;
/// Flume accounts bodies in slots of this many bytes.
const BYTE_SLOT_SIZE: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemorySettings {
    pub capacity: usize,
    pub transaction_capacity: usize,
    pub keep_alive: Duration,
    /// `None`: no limit on body bytes (Flume's default, 80% of the JVM heap, has no meaning here).
    pub byte_capacity: Option<u64>,
    pub byte_capacity_buffer_percentage: u64,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            capacity: DEFAULT_CAPACITY as usize,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY as usize,
            keep_alive: Duration::from_secs(DEFAULT_KEEP_ALIVE_SECS),
            byte_capacity: None,
            byte_capacity_buffer_percentage: DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
        }
    }
}

impl MemorySettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let capacity = lenient_positive(r, "capacity", DEFAULT_CAPACITY);
        let transaction_capacity =
            lenient_positive(r, "transactionCapacity", DEFAULT_TRANSACTION_CAPACITY);
        let keep_alive = r.non_negative("keep-alive", DEFAULT_KEEP_ALIVE_SECS);
        let pct = r.non_negative(
            "byteCapacityBufferPercentage",
            DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
        );
        if pct > 100 {
            r.error(
                "byteCapacityBufferPercentage",
                None,
                format!("must be between 0 and 100, got {pct}"),
                Some("Flume's default is 20".to_string()),
            );
        }
        // Flume: byteCapacity 0 means "effectively unlimited".
        let byte_capacity = match r.parse::<i64>("byteCapacity", "an integer (bytes)") {
            Some(v) if v < 0 => {
                r.error(
                    "byteCapacity",
                    None,
                    format!("must not be negative, got {v}"),
                    Some("0 means no byte limit".to_string()),
                );
                None
            }
            Some(0) | None => None,
            Some(v) => Some(v as u64),
        };
        if transaction_capacity > capacity {
            let line = r.line("transactionCapacity").or_else(|| r.line("capacity"));
            r.error(
                "transactionCapacity",
                line,
                format!("Transaction Capacity of Memory Channel cannot be higher than the capacity ({transaction_capacity} > {capacity})"),
                Some(format!("set transactionCapacity <= {capacity} or raise capacity")),
            );
        }
        if r.failed() {
            return None;
        }
        Some(MemorySettings {
            capacity: capacity as usize,
            transaction_capacity: transaction_capacity as usize,
            keep_alive: Duration::from_secs(keep_alive),
            byte_capacity,
            byte_capacity_buffer_percentage: pct,
        })
    }

    /// Usable body-byte slots (Flume's `byteCapacity × (1 − pct/100) / 100`).
    fn byte_slots(&self) -> Option<u64> {
        self.byte_capacity.map(|b| {
            (b * (100 - self.byte_capacity_buffer_percentage.min(100)) / 100) / BYTE_SLOT_SIZE
        })
    }
}

impl Describe for MemorySettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("capacity".into(), self.capacity.to_string()),
            (
                "transactionCapacity".into(),
                self.transaction_capacity.to_string(),
            ),
            ("keep-alive".into(), self.keep_alive.as_secs().to_string()),
            (
                "byteCapacity".into(),
                self.byte_capacity
                    .map_or("unlimited".to_string(), |b| b.to_string()),
            ),
            (
                "byteCapacityBufferPercentage".into(),
                self.byte_capacity_buffer_percentage.to_string(),
            ),
        ]
    }
}

impl ChannelSpec for MemorySettings {
    fn transaction_capacity(&self) -> usize {
        self.transaction_capacity
    }
    fn build(&self, name: &str, counter: Arc<ChannelCounter>) -> Arc<dyn Channel> {
        Arc::new(MemoryChannel::new(name, self.clone(), counter))
    }
}

/// Flume's memory channel replaces an invalid capacity by the default with a warning instead of
/// dropping the channel; rflume keeps that (it is harmless) but says so.
fn lenient_positive(r: &mut PropReader, key: &str, default: u64) -> u64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.parse::<i64>() {
        Ok(n) if n > 0 => n as u64,
        _ => {
            r.warn(
                key,
                Some(line),
                format!("invalid {key} '{v}'; using Flume's default of {default}"),
                Some("use a positive integer".to_string()),
            );
            default
        }
    }
}

fn slots_of(event: &Event) -> u64 {
    // Flume counts an empty body as one byte.
    (event.body.len().max(1) as u64).div_ceil(BYTE_SLOT_SIZE)
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Event>,
    /// Events taken by open take transactions: still count against `capacity`.
    in_flight: usize,
    /// Byte slots used by stored and in-flight events.
    slots_used: u64,
}

#[derive(Debug)]
pub struct MemoryChannel {
    name: String,
    settings: MemorySettings,
    byte_slots: Option<u64>,
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    counter: Arc<ChannelCounter>,
}

impl MemoryChannel {
    pub fn new(name: &str, settings: MemorySettings, counter: Arc<ChannelCounter>) -> Self {
        counter.channel_capacity.set(settings.capacity as i64);
        counter.lifecycle.started();
        MemoryChannel {
            name: name.to_string(),
            byte_slots: settings.byte_slots(),
            settings,
            state: Mutex::new(State::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            counter,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that mutates it, so a panic elsewhere
        // cannot leave it half-updated: recover from poisoning instead of propagating it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fits(&self, s: &State, n: usize, slots: u64) -> Result<(), ChannelError> {
        if s.queue.len() + s.in_flight + n > self.settings.capacity {
            return Err(ChannelError::Full {
                channel: self.name.clone(),
                capacity: self.settings.capacity,
            });
        }
        if let Some(max) = self.byte_slots {
            if s.slots_used + slots > max {
                return Err(ChannelError::ByteCapacity {
                    channel: self.name.clone(),
                    byte_capacity: self.settings.byte_capacity.unwrap_or(0),
                });
            }
        }
        Ok(())
    }
}

impl Channel for MemoryChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        self.counter.event_put_attempt.add(n as u64);
        if n > self.settings.transaction_capacity {
            return Err(ChannelError::TransactionCapacity {
                channel: self.name.clone(),
                transaction_capacity: self.settings.transaction_capacity,
                batch: n,
            });
        }
        let slots: u64 = if self.byte_slots.is_some() {
            events.iter().map(slots_of).sum()
        } else {
            0
        };
        let deadline = Instant::now() + self.settings.keep_alive;
        let mut s = self.lock();
        loop {
            match self.fits(&s, n, slots) {
                Ok(()) => break,
                Err(e) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(e);
                    }
                    s = self
                        .not_full
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        s.slots_used += slots;
        s.queue.extend(events.drain(..));
        self.counter.channel_size.set(s.queue.len() as i64);
        drop(s);
        self.counter.event_put_success.add(n as u64);
        self.not_empty.notify_all();
        Ok(())
    }

    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event> {
        let max = max.min(self.settings.transaction_capacity);
        let deadline = Instant::now() + wait;
        let mut s = self.lock();
        while s.queue.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return Vec::new();
            }
            s = self
                .not_empty
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let n = max.min(s.queue.len());
        let taken: Vec<Event> = s.queue.drain(..n).collect();
        s.in_flight += n;
        self.counter.channel_size.set(s.queue.len() as i64);
        drop(s);
        self.counter.event_take_attempt.add(n as u64);
        taken
    }

    fn commit_take(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let slots: u64 = if self.byte_slots.is_some() {
            events.iter().map(slots_of).sum()
        } else {
            0
        };
        let mut s = self.lock();
        s.in_flight -= events.len();
        s.slots_used -= slots;
        drop(s);
        self.counter.event_take_success.add(events.len() as u64);
        self.not_full.notify_all();
    }

    fn rollback_take(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut s = self.lock();
        s.in_flight -= events.len();
        // Back to the head in the original order: the first taken event is next again.
        for e in events.into_iter().rev() {
            s.queue.push_front(e);
        }
        self.counter.channel_size.set(s.queue.len() as i64);
        drop(s);
        self.not_empty.notify_all();
    }

    fn len(&self) -> usize {
        self.lock().queue.len()
    }

    fn len_including_in_flight(&self) -> usize {
        let s = self.lock();
        s.queue.len() + s.in_flight
    }

    fn capacity(&self) -> usize {
        self.settings.capacity
    }

    fn transaction_capacity(&self) -> usize {
        self.settings.transaction_capacity
    }

    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::TakeTransaction;

    fn channel(capacity: usize, tx: usize) -> Arc<dyn Channel> {
        Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings {
                capacity,
                transaction_capacity: tx,
                keep_alive: Duration::from_millis(20),
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ))
    }

    fn events(range: std::ops::Range<u32>) -> Vec<Event> {
        range.map(|i| Event::new(i.to_string())).collect()
    }

    fn bodies(evs: &[Event]) -> Vec<String> {
        evs.iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect()
    }

    #[test]
    fn put_is_all_or_nothing_and_keeps_the_batch_on_failure() {
        let c = channel(5, 5);
        let mut a = events(0..4);
        c.put(&mut a).expect("fits");
        assert!(a.is_empty());
        let mut b = events(4..6);
        let err = c.put(&mut b).expect_err("does not fit");
        assert!(matches!(err, ChannelError::Full { .. }));
        assert!(err
            .to_string()
            .contains("Space for commit to queue couldn't be acquired"));
        assert_eq!(b.len(), 2, "a rejected batch stays with the caller");
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn rollback_returns_events_to_the_head_in_order() {
        let c = channel(10, 10);
        c.put(&mut events(0..6)).expect("put");
        let t = TakeTransaction::begin(&c, 3, Duration::ZERO);
        assert_eq!(bodies(t.events()), ["0", "1", "2"]);
        t.rollback();
        let t = TakeTransaction::begin(&c, 10, Duration::ZERO);
        assert_eq!(bodies(t.events()), ["0", "1", "2", "3", "4", "5"]);
        t.commit();
        assert_eq!(c.len_including_in_flight(), 0);
    }

    #[test]
    fn dropped_take_rolls_back_and_in_flight_events_hold_capacity() {
        let c = channel(4, 4);
        c.put(&mut events(0..4)).expect("put");
        {
            let t = TakeTransaction::begin(&c, 2, Duration::ZERO);
            assert_eq!(t.len(), 2);
            // Taken but uncommitted events still occupy capacity, so the rollback will fit.
            assert!(c.put(&mut events(9..10)).is_err());
        }
        let t = TakeTransaction::begin(&c, 4, Duration::ZERO);
        assert_eq!(bodies(t.events()), ["0", "1", "2", "3"]);
        t.commit();
        c.put(&mut events(0..4)).expect("room again after commit");
    }

    #[test]
    fn put_larger_than_transaction_capacity_is_rejected() {
        let c = channel(10, 2);
        let mut b = events(0..3);
        assert!(matches!(
            c.put(&mut b),
            Err(ChannelError::TransactionCapacity { .. })
        ));
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn byte_capacity_counts_body_slots() {
        let c: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings {
                capacity: 100,
                transaction_capacity: 100,
                keep_alive: Duration::from_millis(10),
                // 1000 bytes minus 20% = 800 bytes = 8 slots of 100 bytes.
                byte_capacity: Some(1000),
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ));
        let big = |n| vec![Event::new(vec![b'x'; n])];
        c.put(&mut big(750)).expect("8 slots fit");
        assert!(matches!(
            c.put(&mut big(1)),
            Err(ChannelError::ByteCapacity { .. })
        ));
        TakeTransaction::begin(&c, 1, Duration::ZERO).commit();
        c.put(&mut big(1))
            .expect("slots released by the take commit");
    }

    #[test]
    fn blocked_put_succeeds_when_a_take_commits_within_keep_alive() {
        let c: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings {
                capacity: 2,
                transaction_capacity: 2,
                keep_alive: Duration::from_secs(5),
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ));
        c.put(&mut events(0..2)).expect("put");
        let c2 = c.clone();
        let taker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            TakeTransaction::begin(&c2, 2, Duration::ZERO).commit();
        });
        c.put(&mut events(2..4))
            .expect("room appears while waiting");
        taker.join().expect("taker");
        assert_eq!(c.len(), 2);
    }
}
