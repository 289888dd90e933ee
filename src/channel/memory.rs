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
pub const DEFAULT_CAPACITY: i64 = 100;
/// Flume's `transactionCapacity` default.
pub const DEFAULT_TRANSACTION_CAPACITY: i64 = 100;
/// Flume's `keep-alive` default, seconds.
pub const DEFAULT_KEEP_ALIVE_SECS: i64 = 3;
/// Flume's `byteCapacityBufferPercentage` default.
pub const DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE: i64 = 20;
/// Flume accounts bodies in slots of this many bytes.
const BYTE_SLOT_SIZE: u64 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemorySettings {
    pub capacity: usize,
    pub transaction_capacity: usize,
    pub keep_alive: Duration,
    /// `None`: no limit on body bytes (Flume's default, 80% of the JVM heap, has no meaning here).
    pub byte_capacity: Option<u64>,
    pub byte_capacity_buffer_percentage: i64,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            capacity: DEFAULT_CAPACITY as usize,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY as usize,
            keep_alive: Duration::from_secs(DEFAULT_KEEP_ALIVE_SECS as u64),
            byte_capacity: None,
            byte_capacity_buffer_percentage: DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
        }
    }
}

impl MemorySettings {
    /// Flume's `MemoryChannel.configure`: an invalid capacity, transactionCapacity, keep-alive,
    /// byteCapacity or byteCapacityBufferPercentage falls back to its default (Flume logs a
    /// warning for some and nothing for others; rflume warns for all). Only a transactionCapacity
    /// above the capacity drops the channel, as Flume's `Preconditions.checkState` does.
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let capacity = lenient_int(r, "capacity", DEFAULT_CAPACITY, |v| v > 0);
        let transaction_capacity = lenient_int(
            r,
            "transactionCapacity",
            DEFAULT_TRANSACTION_CAPACITY,
            |v| v > 0,
        );
        let keep_alive = lenient_int(r, "keep-alive", DEFAULT_KEEP_ALIVE_SECS, |_| true);
        super::warn_negative_keep_alive(r, keep_alive);
        let pct = lenient_int(
            r,
            "byteCapacityBufferPercentage",
            DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
            |_| true,
        );
        // Flume: a value that is not a long falls back to 80% of the JVM heap, which has no
        // meaning here: no byte limit.
        let byte_capacity = match r.raw("byteCapacity") {
            None => None,
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(b) => Some(b),
                Err(_) => {
                    r.warn(
                        "byteCapacity",
                        Some(line),
                        format!("invalid byteCapacity '{v}'; Flume falls back to 80% of its JVM heap, rflume to no byte limit"),
                        Some("use a number of bytes".to_string()),
                    );
                    None
                }
            },
        };
        let byte_slots = byte_capacity.and_then(|b| flume_byte_slots(b, pct));
        if byte_capacity.is_some_and(|b| b != 0) && byte_slots.is_none() {
            let line = r.line("byteCapacity");
            r.warn(
                "byteCapacity",
                line,
                format!(
                    "byteCapacity {} with byteCapacityBufferPercentage {pct} leaves less than one \
                     100-byte slot, which Flume treats as no byte limit; so does rflume",
                    byte_capacity.unwrap_or(0)
                ),
                Some("use a positive byteCapacity and a percentage from 0 to 99".to_string()),
            );
        }
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
            keep_alive: Duration::from_secs(keep_alive.max(0) as u64),
            byte_capacity: byte_capacity
                .filter(|_| byte_slots.is_some())
                .map(|b| b as u64),
            byte_capacity_buffer_percentage: pct,
        })
    }

    /// Usable body-byte slots: `None` is no limit.
    fn byte_slots(&self) -> Option<u64> {
        self.byte_capacity
            .and_then(|b| flume_byte_slots(b as i64, self.byte_capacity_buffer_percentage))
    }
}

/// Flume's slot arithmetic, `(int) (byteCapacity * (1 - pct * .01)) / 100`, where a result below
/// one slot means no limit (`Integer.MAX_VALUE` permits).
fn flume_byte_slots(byte_capacity: i64, pct: i64) -> Option<u64> {
    let slots = (byte_capacity as f64 * (1.0 - pct as f64 * 0.01)) / BYTE_SLOT_SIZE as f64;
    // Java's double-to-int cast saturates at Integer.MAX_VALUE, which is Flume's "unlimited".
    let slots = slots.min(i32::MAX as f64) as i64;
    (slots >= 1 && slots < i32::MAX as i64).then_some(slots as u64)
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
    fn capacity(&self) -> Option<usize> {
        Some(self.capacity)
    }
    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, super::OpenError> {
        Ok(Arc::new(MemoryChannel::new(name, self.clone(), counter)))
    }
}

/// A Java `int` read the way Flume's memory channel reads its settings: a value that is not an
/// int (`Integer.parseInt` of the trimmed text, so also one beyond 2^31 − 1) or that `valid`
/// rejects falls back to `default`, with a warning (Flume warns for some keys, is silent for
/// others).
fn lenient_int(r: &mut PropReader, key: &str, default: i64, valid: impl Fn(i64) -> bool) -> i64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i32>() {
        Ok(n) if valid(n as i64) => n as i64,
        _ => {
            r.warn(
                key,
                Some(line),
                format!("invalid {key} '{v}'; using Flume's default of {default}, as Flume does"),
                Some("use a positive integer below 2147483648".to_string()),
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
    /// Puts waiting for room right now (what a test waits for before it makes room).
    waiting_puts: usize,
    /// Bumped by `wake_takers`: a waiting take that sees it change returns empty.
    wake_generation: u64,
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

    /// Puts blocked on a full channel at this moment.
    pub fn waiting_puts(&self) -> usize {
        self.lock().waiting_puts
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
        // keep-alive is a Java int of seconds (68 years at most): checked all the same.
        let deadline = Instant::now()
            .checked_add(self.settings.keep_alive)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let mut s = self.lock();
        loop {
            match self.fits(&s, n, slots) {
                Ok(()) => break,
                Err(e) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(e);
                    }
                    s.waiting_puts += 1;
                    s = self
                        .not_full
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    s.waiting_puts -= 1;
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
        let generation = s.wake_generation;
        while s.queue.is_empty() {
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
        let n = max.min(s.queue.len());
        let taken: Vec<Event> = s.queue.drain(..n).collect();
        s.in_flight += n;
        self.counter.channel_size.set(s.queue.len() as i64);
        drop(s);
        self.counter.event_take_attempt.add(n as u64);
        taken
    }

    fn wake_takers(&self) {
        self.lock().wake_generation += 1;
        self.not_empty.notify_all();
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
        let c = Arc::new(MemoryChannel::new(
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
            // Room is made only once the put below is blocked, so the test proves a waiting put
            // is woken (not merely that a put into a channel with room succeeds).
            crate::testing::wait_for("the put is blocked", || c2.waiting_puts() == 1);
            let dynamic: Arc<dyn Channel> = c2;
            TakeTransaction::begin(&dynamic, 2, Duration::ZERO).commit();
        });
        c.put(&mut events(2..4))
            .expect("room appears while waiting");
        taker.join().expect("taker");
        assert_eq!(c.len(), 2);
    }

    /// Parses a memory channel from `pairs`; returns the settings (None: dropped) and whether
    /// any warning was given.
    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<MemorySettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, None, MemorySettings::parse);
        (s, d.lines())
    }

    /// Flume's `MemoryChannel.configure` falls back to defaults instead of dropping the channel.
    #[test]
    fn invalid_values_fall_back_as_in_flume_with_a_warning() {
        let unlimited: Option<u64> = None;
        /// (properties, capacity, transactionCapacity, keep-alive s, byte capacity)
        type Case = (
            &'static [(&'static str, &'static str)],
            usize,
            usize,
            u64,
            Option<u64>,
        );
        let cases: &[Case] = &[
            (&[("capacity", "lots")], 100, 100, 3, unlimited),
            (&[("capacity", "0")], 100, 100, 3, unlimited),
            (&[("capacity", "3000000000")], 100, 100, 3, unlimited),
            (
                &[("capacity", " 500 "), ("transactionCapacity", "x")],
                500,
                100,
                3,
                unlimited,
            ),
            (&[("keep-alive", "soon")], 100, 100, 3, unlimited),
            (&[("keep-alive", "-5")], 100, 100, 0, unlimited),
            (&[("byteCapacity", "1g")], 100, 100, 3, unlimited),
            (&[("byteCapacity", "-1")], 100, 100, 3, unlimited),
            (
                &[
                    ("byteCapacity", "100000"),
                    ("byteCapacityBufferPercentage", "x"),
                ],
                100,
                100,
                3,
                Some(100_000),
            ),
            (
                &[
                    ("byteCapacity", "100000"),
                    ("byteCapacityBufferPercentage", "120"),
                ],
                100,
                100,
                3,
                unlimited,
            ),
        ];
        for (pairs, cap, tx, keep, bytes) in cases {
            let (s, diags) = parse(pairs);
            let s = s.unwrap_or_else(|| panic!("{pairs:?} dropped the channel: {diags:?}"));
            assert_eq!(
                (
                    s.capacity,
                    s.transaction_capacity,
                    s.keep_alive.as_secs(),
                    s.byte_capacity
                ),
                (*cap, *tx, *keep, *bytes),
                "{pairs:?}"
            );
            assert!(
                !diags.is_empty(),
                "{pairs:?}: rflume says what Flume silently did"
            );
            assert!(diags.iter().all(|d| !d.contains("error")), "{diags:?}");
        }
        // The one rule Flume enforces by dropping the channel.
        let (s, diags) = parse(&[("capacity", "10"), ("transactionCapacity", "20")]);
        assert!(s.is_none(), "{diags:?}");
        // A valid byte limit: Flume's slot arithmetic, 80% of 100,000 bytes in 100-byte slots.
        let (s, _) = parse(&[("byteCapacity", "100000")]);
        assert_eq!(s.map(|s| s.byte_slots()), Some(Some(800)));
    }
}
