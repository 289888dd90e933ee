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

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{error, info};

use super::file::{FileChannel, FileSettings, Tuning};
use super::{Channel, ChannelError, ChannelSpec, OpenError};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::metrics::ChannelCounter;

/// Flume's `defaultMemoryCapacity`.
pub const DEFAULT_MEMORY_CAPACITY: i64 = 10_000;
/// Flume's `defaultOverflowCapacity`.
pub const DEFAULT_OVERFLOW_CAPACITY: i64 = 100_000_000;
/// Flume's `defaultOverflowTimeout`, seconds.
pub const DEFAULT_OVERFLOW_TIMEOUT_SECS: i64 = 3;
/// Flume's `defaultOverflowDeactivationThreshold`, percent of memory free.
pub const DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD: i64 = 5;
/// Flume's `defaultAvgEventSize`, bytes: the unit `byteCapacity` is counted in.
pub const DEFAULT_AVG_EVENT_SIZE: i64 = 500;
/// Flume's `defaultByteCapacityBufferPercentage`.
pub const DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE: i64 = 20;

/// How long a take waits for the overflow to hand over events the drain order says it holds
/// (another take may be reading them from disk at that moment).
const OVERFLOW_TAKE_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq)]
pub struct SpillableSettings {
    pub memory_capacity: usize,
    /// 0: the overflow is disabled.
    pub overflow_capacity: usize,
    pub overflow_timeout: Duration,
    /// Percent of memory free at which spilling stops.
    pub overflow_deactivation_threshold: i64,
    /// `None`: no byte limit.
    pub byte_capacity: Option<i64>,
    pub byte_capacity_buffer_percentage: i64,
    pub avg_event_size: u64,
    /// The overflow file channel, as Flume configures it (`capacity = overflowCapacity`).
    pub overflow: FileSettings,
}

impl SpillableSettings {
    /// Flume's `SpillableMemoryChannel.configure`, then the file channel's own for the overflow.
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let mut memory_capacity = lenient_int(r, "memoryCapacity", DEFAULT_MEMORY_CAPACITY);
        if memory_capacity < 0 {
            warn_default(
                r,
                "memoryCapacity",
                memory_capacity,
                DEFAULT_MEMORY_CAPACITY,
            );
            memory_capacity = DEFAULT_MEMORY_CAPACITY;
        }
        let mut overflow_timeout = lenient_int(r, "overflowTimeout", DEFAULT_OVERFLOW_TIMEOUT_SECS);
        if overflow_timeout < 0 {
            let line = r.line("overflowTimeout");
            r.warn(
                "overflowTimeout",
                line,
                format!("a negative overflowTimeout ({overflow_timeout}) means no wait before spilling, as in Flume"),
                Some("use 0 to say so".to_string()),
            );
            overflow_timeout = 0;
        }
        let threshold = lenient_int(
            r,
            "overflowDeactivationThreshold",
            DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD,
        );
        let pct = lenient_int(
            r,
            "byteCapacityBufferPercentage",
            DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
        );
        let mut avg_event_size = lenient_int(r, "avgEventSize", DEFAULT_AVG_EVENT_SIZE);
        if avg_event_size < 1 {
            let line = r.line("avgEventSize");
            r.warn(
                "avgEventSize",
                line,
                format!("avgEventSize {avg_event_size} cannot be a unit of bytes (Flume divides by it); {DEFAULT_AVG_EVENT_SIZE} is used"),
                Some("use a positive number of bytes".to_string()),
            );
            avg_event_size = DEFAULT_AVG_EVENT_SIZE;
        }
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
        // Flume: `getInteger` throwing leaves the default, without a word; rflume says so.
        let mut overflow_capacity = lenient_int(r, "overflowCapacity", DEFAULT_OVERFLOW_CAPACITY);
        if memory_capacity < 1 && overflow_capacity < 1 {
            let line = r.line("overflowCapacity");
            r.warn(
                "overflowCapacity",
                line,
                format!("overflowCapacity cannot be 0 when memoryCapacity is 0 too; Flume's default {DEFAULT_OVERFLOW_CAPACITY} is used, as Flume does"),
                Some("give memory or the overflow some room".to_string()),
            );
            overflow_capacity = DEFAULT_OVERFLOW_CAPACITY;
        }
        for key in ["capacity", "keep-alive"] {
            if let Some((_, line)) = r.ignored(key) {
                r.warn(
                    key,
                    Some(line),
                    format!("the spillable memory channel sets its overflow's {key} itself (capacity = overflowCapacity, keep-alive = 0), as Flume does; ignored"),
                    Some(match key {
                        "capacity" => "use memoryCapacity and overflowCapacity".to_string(),
                        _ => "use overflowTimeout".to_string(),
                    }),
                );
            }
        }
        let mut overflow = FileSettings::parse_overflow(r, overflow_capacity)?;
        // Flume's overflow put retries once after sleeping `overflowTimeout` when the file
        // channel is full; waiting that long for room does the same and wakes up sooner.
        overflow.keep_alive = Duration::from_secs(overflow_timeout as u64);
        if r.failed() {
            return None;
        }
        Some(SpillableSettings {
            memory_capacity: memory_capacity as usize,
            overflow_capacity: overflow_capacity.max(0) as usize,
            overflow_timeout: Duration::from_secs(overflow_timeout as u64),
            overflow_deactivation_threshold: threshold,
            byte_capacity,
            byte_capacity_buffer_percentage: pct,
            avg_event_size: avg_event_size as u64,
            overflow,
        })
    }

    /// Flume's byte budget in `avgEventSize` units,
    /// `(int) (byteCapacity * (1 - pct * .01)) / avgEventSize`, where less than one unit means no
    /// limit (`Integer.MAX_VALUE` permits). `None`: no limit.
    fn byte_units(&self) -> Option<u64> {
        let b = self.byte_capacity?;
        let units = (b as f64 * (1.0 - self.byte_capacity_buffer_percentage as f64 * 0.01))
            / self.avg_event_size as f64;
        // Java's double-to-int cast saturates; NaN becomes 0.
        let units = if units.is_nan() {
            0
        } else {
            units.min(i32::MAX as f64) as i64
        };
        (units >= 1 && units < i32::MAX as i64).then_some(units as u64)
    }
}

/// A Java `int` as Flume's spillable channel reads its own settings: a value that is not one
/// falls back to `default` with Flume's warning.
fn lenient_int(r: &mut PropReader, key: &str, default: i64) -> i64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i32>() {
        Ok(n) => n as i64,
        Err(_) => {
            r.warn(
                key,
                Some(line),
                format!("invalid {key} '{v}'; using Flume's default of {default}, as Flume does"),
                Some("use an integer below 2147483648".to_string()),
            );
            default
        }
    }
}

fn warn_default(r: &mut PropReader, key: &str, got: i64, default: i64) {
    let line = r.line(key);
    r.warn(
        key,
        line,
        format!("{key} must be >= 0, got {got}; using Flume's default of {default}, as Flume does"),
        None,
    );
}

impl Describe for SpillableSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("memoryCapacity".into(), self.memory_capacity.to_string()),
            (
                "overflowCapacity".into(),
                match self.overflow_capacity {
                    0 => "0 (overflow disabled)".to_string(),
                    n => n.to_string(),
                },
            ),
            (
                "overflowTimeout".into(),
                self.overflow_timeout.as_secs().to_string(),
            ),
            (
                "overflowDeactivationThreshold".into(),
                self.overflow_deactivation_threshold.to_string(),
            ),
            (
                "byteCapacity".into(),
                self.byte_capacity
                    .map_or("unlimited".to_string(), |b| b.to_string()),
            ),
            (
                "byteCapacityBufferPercentage".into(),
                self.byte_capacity_buffer_percentage.to_string(),
            ),
            ("avgEventSize".into(), self.avg_event_size.to_string()),
        ];
        // The overflow's own properties, but for the two this channel sets itself.
        out.extend(
            self.overflow
                .describe()
                .into_iter()
                .filter(|(k, _)| k != "capacity" && k != "keep-alive"),
        );
        out
    }
}

impl ChannelSpec for SpillableSettings {
    fn transaction_capacity(&self) -> usize {
        self.overflow.transaction_capacity
    }
    fn capacity(&self) -> Option<usize> {
        Some(self.memory_capacity + self.overflow_capacity)
    }
    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, OpenError> {
        let overflow = FileChannel::open(
            name,
            self.overflow.clone(),
            Tuning::default(),
            Arc::new(ChannelCounter::default()),
        )
        .map_err(|e| OpenError::File {
            channel: name.to_string(),
            source: e,
        })?;
        Ok(Arc::new(SpillableMemoryChannel::new(
            name,
            self.clone(),
            overflow,
            counter,
        )))
    }
}

/// Flume's `DrainOrderQueue`: runs of puts in commit order, positive for memory, negative for
/// the overflow; never a zero.
#[derive(Debug, Default)]
struct DrainOrder(VecDeque<i64>);

impl DrainOrder {
    fn front(&self) -> Option<i64> {
        self.0.front().copied()
    }

    fn push_back(&mut self, n: i64) {
        match self.0.back_mut() {
            Some(last) if last.signum() == n.signum() => *last += n,
            _ => self.0.push_back(n),
        }
    }

    fn push_front(&mut self, n: i64) {
        match self.0.front_mut() {
            Some(first) if first.signum() == n.signum() => *first += n,
            _ => self.0.push_front(n),
        }
    }

    /// Takes `n` events off the head run (which must hold them, with the sign of `n`).
    fn take_front(&mut self, n: i64) {
        if let Some(first) = self.0.front_mut() {
            *first -= n;
            if *first == 0 {
                self.0.pop_front();
            }
        }
    }
}

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

/// A take is named by its event vector's buffer, which the caller gives back untouched on
/// commit or rollback ([`crate::channel::TakeTransaction`]); the file channel names its takes
/// the same way.
fn take_key(events: &[Event]) -> usize {
    events.as_ptr() as usize
}

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
    fn spill_memory(&self) {
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

fn deadline_after(d: Duration) -> Instant {
    crate::shutdown::later(Instant::now(), d)
}

impl Channel for SpillableMemoryChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "spillablememory"
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
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

    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event> {
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

    fn wake_takers(&self) {
        self.lock().wake_generation += 1;
        self.not_empty.notify_all();
    }

    fn commit_take(&self, events: &[Event]) {
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

    fn rollback_take(&self, events: Vec<Event>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::TakeTransaction;
    use crate::config::reader::ComponentProps;
    use crate::config::Diagnostics;
    use std::path::Path;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("temp dir");
            Fixture {
                root: dir.path().to_path_buf(),
                _dir: dir,
            }
        }

        fn settings(&self, memory: usize, overflow: usize, timeout: Duration) -> SpillableSettings {
            let mut file = FileSettings::in_dirs(&self.root.join("cp"), &self.root.join("data"));
            file.minimum_required_space = 1 << 20;
            file.capacity = overflow.max(1);
            file.keep_alive = Duration::ZERO;
            SpillableSettings {
                memory_capacity: memory,
                overflow_capacity: overflow,
                overflow_timeout: timeout,
                overflow_deactivation_threshold: DEFAULT_OVERFLOW_DEACTIVATION_THRESHOLD,
                byte_capacity: None,
                byte_capacity_buffer_percentage: DEFAULT_BYTE_CAPACITY_BUFFER_PERCENTAGE,
                avg_event_size: DEFAULT_AVG_EVENT_SIZE as u64,
                overflow: file,
            }
        }

        fn open(&self, s: SpillableSettings) -> SpillableMemoryChannel {
            let overflow = FileChannel::open(
                "c1",
                s.overflow.clone(),
                Tuning::default(),
                Arc::new(ChannelCounter::default()),
            )
            .expect("the overflow opens");
            SpillableMemoryChannel::new("c1", s, overflow, Arc::new(ChannelCounter::default()))
        }
    }

    fn events(range: std::ops::Range<u32>) -> Vec<Event> {
        range.map(|i| Event::new(i.to_string())).collect()
    }

    fn bodies(evs: &[Event]) -> Vec<u32> {
        evs.iter()
            .filter_map(|e| std::str::from_utf8(&e.body).ok()?.parse().ok())
            .collect()
    }

    /// Takes everything, committing each take; the bodies in take order and the batch sizes.
    fn drain_all(c: &Arc<dyn Channel>, max: usize) -> (Vec<u32>, Vec<usize>) {
        let (mut all, mut sizes) = (Vec::new(), Vec::new());
        loop {
            let t = TakeTransaction::begin(c, max, Duration::ZERO);
            if t.is_empty() {
                return (all, sizes);
            }
            all.extend(bodies(t.events()));
            sizes.push(t.len());
            t.commit();
        }
    }

    #[test]
    fn memory_first_then_whole_puts_spill_and_takes_keep_the_order() {
        let f = Fixture::new();
        let c = f.open(f.settings(10, 1000, Duration::ZERO));
        c.put(&mut events(0..6)).expect("memory");
        c.put(&mut events(6..12))
            .expect("does not fit in memory: spills whole");
        assert_eq!((c.lock().memory.len(), c.overflow_len()), (6, 6));
        assert!(c.lock().overflow_activated);
        c.put(&mut events(12..16))
            .expect("memory still has room for 4");
        assert_eq!((c.lock().memory.len(), c.overflow_len()), (10, 6));
        c.put(&mut events(16..17)).expect("spills");
        let c: Arc<dyn Channel> = Arc::new(c);
        let (order, sizes) = drain_all(&c, 100);
        assert_eq!(
            order,
            (0..17).collect::<Vec<_>>(),
            "put order across both stores"
        );
        assert_eq!(sizes, [6, 6, 4, 1], "a take stops where the store changes");
        assert_eq!(c.len_including_in_flight(), 0);
    }

    #[test]
    fn a_full_memory_waits_overflow_timeout_before_spilling() {
        let f = Fixture::new();
        let c = Arc::new(f.open(f.settings(2, 100, Duration::from_secs(30))));
        c.put(&mut events(0..2)).expect("memory");
        let c2 = c.clone();
        let taker = std::thread::spawn(move || {
            // Room is made only once the put below waits: the put went to memory because it
            // waited, not because it spilled.
            crate::testing::wait_for("the put waits", || c2.waiting_puts() == 1);
            let dynamic: Arc<dyn Channel> = c2;
            TakeTransaction::begin(&dynamic, 2, Duration::ZERO).commit();
        });
        c.put(&mut events(2..4))
            .expect("room appears while waiting");
        taker.join().expect("taker");
        assert_eq!((c.lock().memory.len(), c.overflow_len()), (2, 0));
        assert!(!c.lock().overflow_activated);
    }

    #[test]
    fn rollbacks_return_events_to_the_head_of_their_store() {
        let f = Fixture::new();
        let c = f.open(f.settings(3, 100, Duration::ZERO));
        c.put(&mut events(0..3)).expect("memory");
        c.put(&mut events(3..6)).expect("overflow");
        let c: Arc<dyn Channel> = Arc::new(c);
        let t = TakeTransaction::begin(&c, 2, Duration::ZERO);
        assert_eq!(bodies(t.events()), [0, 1]);
        t.rollback();
        let t = TakeTransaction::begin(&c, 10, Duration::ZERO);
        assert_eq!(bodies(t.events()), [0, 1, 2]);
        t.commit();
        let t = TakeTransaction::begin(&c, 2, Duration::ZERO);
        assert_eq!(bodies(t.events()), [3, 4]);
        drop(t);
        let (rest, _) = drain_all(&c, 10);
        assert_eq!(rest, [3, 4, 5]);
    }

    #[test]
    fn without_overflow_a_full_memory_is_a_full_channel() {
        let f = Fixture::new();
        let c = f.open(f.settings(2, 0, Duration::ZERO));
        c.put(&mut events(0..2)).expect("memory");
        let mut more = events(2..3);
        assert!(matches!(c.put(&mut more), Err(ChannelError::Full { .. })));
        assert_eq!(more.len(), 1, "the caller keeps a refused batch");
        assert_eq!(c.overflow_len(), 0);
    }

    #[test]
    fn memory_capacity_zero_sends_everything_to_disk() {
        let f = Fixture::new();
        let c = f.open(f.settings(0, 100, Duration::from_secs(30)));
        c.put(&mut events(0..5)).expect("overflow, without waiting");
        assert_eq!(c.overflow_len(), 5);
    }

    #[test]
    fn spilling_stops_once_a_take_frees_the_threshold() {
        let f = Fixture::new();
        let mut s = f.settings(100, 1000, Duration::from_secs(30));
        s.overflow_deactivation_threshold = 25;
        let c = Arc::new(f.open(s));
        c.put(&mut events(0..100)).expect("memory");
        // Memory full, overflow not yet active: a put waits overflowTimeout (30 s) for room,
        // so that the test does not wait, activate the overflow as a spill would.
        c.lock().overflow_activated = true;
        c.put(&mut events(100..101))
            .expect("spills at once while active");
        assert_eq!(c.overflow_len(), 1);
        let d: Arc<dyn Channel> = c.clone();
        TakeTransaction::begin(&d, 10, Duration::ZERO).commit();
        // Flume's (100 - 90 + 10) / 100 = 20% < 25%: still spilling.
        assert!(c.lock().overflow_activated);
        TakeTransaction::begin(&d, 40, Duration::ZERO).commit();
        // (100 - 50 + 40) / 100 = 90% >= 25%.
        assert!(!c.lock().overflow_activated, "deactivated");
        let (rest, _) = drain_all(&d, 1000);
        assert_eq!(rest, (50..101).collect::<Vec<_>>());
    }

    #[test]
    fn the_overflow_survives_a_crash_and_a_stop_keeps_memory_too() {
        let f = Fixture::new();
        let c = f.open(f.settings(3, 100, Duration::ZERO));
        c.put(&mut events(0..3)).expect("memory");
        c.put(&mut events(3..6)).expect("overflow");
        c.crash();
        let c: Arc<dyn Channel> = Arc::new(f.open(f.settings(3, 100, Duration::ZERO)));
        assert_eq!(c.len(), 3, "only what spilled survives a crash");
        c.put(&mut events(6..8)).expect("memory");
        c.close();
        assert!(c.is_durable(), "memory was moved to disk at close");
        drop(c);
        let c: Arc<dyn Channel> = Arc::new(f.open(f.settings(3, 100, Duration::ZERO)));
        let (all, _) = drain_all(&c, 100);
        assert_eq!(
            all,
            [3, 4, 5, 6, 7],
            "the kept overflow first, then what memory held"
        );
    }

    #[test]
    fn byte_capacity_counts_avg_event_size_units() {
        let f = Fixture::new();
        let mut s = f.settings(100, 100, Duration::ZERO);
        // 1000 bytes minus 20% = 800 bytes = 8 units of 100 bytes.
        s.byte_capacity = Some(1000);
        s.avg_event_size = 100;
        let c = f.open(s);
        c.put(&mut vec![Event::new(vec![b'x'; 750])])
            .expect("8 units");
        c.put(&mut vec![Event::new(vec![b'x'; 1])]).expect("spills");
        assert_eq!(c.overflow_len(), 1);
    }

    fn parse(pairs: &[(&str, &str)]) -> (Option<SpillableSettings>, Vec<String>) {
        let c = ComponentProps::sink_for_test(pairs);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        let s = SpillableSettings::parse(&mut r);
        (s, d.items.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn settings_as_flume_reads_them() {
        let (s, diags) = parse(&[("checkpointDir", "/c"), ("dataDirs", "/d")]);
        let s = s.expect("defaults");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            (
                s.memory_capacity,
                s.overflow_capacity,
                s.overflow_timeout.as_secs()
            ),
            (10_000, 100_000_000, 3)
        );
        assert_eq!(s.overflow.capacity, 100_000_000, "the overflow's capacity");
        assert_eq!(s.overflow.transaction_capacity, 10_000);

        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("capacity", "5"),
            ("keep-alive", "9"),
            ("overflowCapacity", "2000"),
            ("transactionCapacity", "100"),
        ]);
        let s = s.expect("parses");
        assert_eq!((s.overflow.capacity, s.overflow_capacity), (2000, 2000));
        assert_eq!(
            diags.len(),
            2,
            "capacity and keep-alive are ignored, said: {diags:?}"
        );

        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("memoryCapacity", "0"),
            ("overflowCapacity", "0"),
        ]);
        assert_eq!(
            s.map(|s| s.overflow_capacity),
            Some(100_000_000),
            "{diags:?}"
        );

        // Flume's file channel refuses a transactionCapacity above its capacity, which is
        // overflowCapacity here (10,000 > 1,000): the channel is dropped.
        let (s, diags) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("overflowCapacity", "1000"),
        ]);
        assert!(s.is_none(), "{diags:?}");
        assert!(
            diags.iter().any(|d| d.contains("overflowCapacity")),
            "{diags:?}"
        );

        let (s, _) = parse(&[
            ("checkpointDir", "/c"),
            ("dataDirs", "/d"),
            ("memoryCapacity", "lots"),
            ("byteCapacity", "1000000"),
        ]);
        let s = s.expect("falls back");
        assert_eq!(s.memory_capacity, 10_000);
        assert_eq!(
            s.byte_units(),
            Some(1600),
            "800,000 bytes in 500-byte units"
        );
    }
}
