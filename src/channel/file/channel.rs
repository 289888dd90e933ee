//! The file channel at run time: put and take transactions over the log, and the keeper thread
//! that checkpoints, deletes delivered segments and syncs take records.
//!
//! * **put**: room is reserved (waiting up to `keep-alive`, as Flume), free space is checked
//!   against `minimumRequiredSpace`, the batch becomes one record, and the put returns once the
//!   record is synced (group commit: concurrent puts share the fsync). The events' delivery
//!   receipts are acknowledged then — the events are safe on disk, so a TAILDIR source may move
//!   its position past them.
//! * **take**: events come from memory, or are read back from disk when the backlog outgrew the
//!   memory budget. Commit appends a take record and returns once it is written (not synced:
//!   a take commit never waits for the disk, and a crash of the agent cannot lose the record; the
//!   keeper syncs it within a second, which bounds what a power loss would deliver again).
//!   Rollback puts the events back at the head, in order, without touching the disk.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::checkpoint::{self, Checkpoint};
use super::dirs::{self, DirLock};
use super::format::{decode_events, Kind, Pos, Record, SEGMENT_HEADER_LEN};
use super::queue::{mem_size, take_key, DiskPart, Promotion, Queue, Run};
use super::reader::{Next, SegmentReader};
use super::replay;
use super::settings::FileSettings;
use super::wal::Wal;
use super::FileChannelError;
use crate::channel::{strip_receipts, Channel, ChannelError};
use crate::event::Event;
use crate::metrics::ChannelCounter;

/// Knobs that are not Flume properties; the defaults are what the agent runs with.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Bytes of committed events held in memory for takes; the rest waits on disk only.
    pub mem_budget: usize,
    /// How often the keeper looks for delivered segments and unsynced take records.
    pub keeper_tick: Duration,
    /// How long a free-space reading is trusted while there is plenty.
    pub space_refresh: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            mem_budget: 8 << 20,
            keeper_tick: Duration::from_secs(1),
            space_refresh: Duration::from_secs(1),
        }
    }
}

/// Events read from disk at once when a take finds memory empty.
const READ_AHEAD: usize = 1000;

/// Free space of the directory being written, re-read when stale or when low.
struct Space {
    dir: std::path::PathBuf,
    usable: u64,
    read_at: Option<Instant>,
}

struct Keeper {
    stop: bool,
}

pub(super) struct Core {
    name: String,
    s: FileSettings,
    tuning: Tuning,
    wal: Wal,
    queue: Mutex<Queue>,
    not_empty: Condvar,
    not_full: Condvar,
    space: Mutex<Space>,
    keeper: Mutex<Keeper>,
    keeper_cv: Condvar,
    /// The read position of the last checkpoint written, and when.
    last_checkpoint: Mutex<(Option<Checkpoint>, Instant)>,
    counter: Arc<ChannelCounter>,
    _locks: Vec<DirLock>,
}

/// Flume's `FileChannel`, on rflume's own log format.
pub struct FileChannel {
    core: Arc<Core>,
    keeper: Mutex<Option<JoinHandle<()>>>,
}

impl FileChannel {
    /// Opens the channel: refuses a Flume channel's directories, locks them, replays the log
    /// and starts the keeper.
    pub fn open(
        name: &str,
        s: FileSettings,
        tuning: Tuning,
        counter: Arc<ChannelCounter>,
    ) -> Result<FileChannel, FileChannelError> {
        for dir in s.all_dirs() {
            dirs::refuse_flume_channel(dir)?;
        }
        let mut locks = Vec::new();
        for dir in s.all_dirs() {
            locks.push(dirs::lock(dir)?);
        }
        let mut checkpoint_dirs = vec![s.checkpoint_dir.as_path()];
        checkpoint_dirs.extend(s.backup_checkpoint_dir.as_deref());
        let rec = replay::replay(&checkpoint_dirs, &s.data_dirs)?;
        for (is_error, line) in &rec.report {
            if *is_error {
                error!(channel = name, "file channel {name}: {line}");
            } else {
                warn!(channel = name, "file channel {name}: {line}");
            }
        }
        let waiting = rec.disk.events;
        let segments = rec.segments.len();
        info!(
            channel = name,
            "file channel {name}: replayed {waiting} waiting events from {segments} segment(s), {} MB read, in {} ms{}",
            rec.bytes / 1_000_000,
            rec.started.elapsed().as_millis(),
            if rec.checkpoint.is_some() { " (from the checkpoint)" } else { "" }
        );
        if waiting > s.capacity as u64 {
            warn!(channel = name, "file channel {name} holds {waiting} events, more than its capacity of {}; nothing is dropped, puts wait until it is below the capacity", s.capacity);
        }
        let wal = Wal::open(
            s.data_dirs.clone(),
            s.segment_roll_size(),
            s.fsync_per_transaction,
            rec.segments,
            rec.next_seq,
            rec.first_new_segment,
        );
        counter.channel_capacity.set(s.capacity as i64);
        counter.channel_size.set(waiting as i64);
        // A channel that cannot open stops the agent's start, so a running one is never
        // Flume's "unhealthy" (a channel whose start threw).
        counter.open.set(1);
        counter.unhealthy.set(0);
        counter.lifecycle.started();
        let space_dir = wal.current_dir();
        let core = Arc::new(Core {
            name: name.to_string(),
            tuning,
            queue: Mutex::new(Queue::new(rec.disk, rec.next_seq, tuning.mem_budget)),
            wal,
            s,
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            space: Mutex::new(Space {
                dir: space_dir,
                usable: 0,
                read_at: None,
            }),
            keeper: Mutex::new(Keeper { stop: false }),
            keeper_cv: Condvar::new(),
            last_checkpoint: Mutex::new((rec.checkpoint, Instant::now())),
            counter,
            _locks: locks,
        });
        let k = core.clone();
        let keeper = std::thread::Builder::new()
            .name(format!("file-channel-{name}"))
            .spawn(move || k.keep())
            .map_err(FileChannelError::Thread)?;
        Ok(FileChannel {
            core,
            keeper: Mutex::new(Some(keeper)),
        })
    }

    /// Stops the keeper and lets the channel go without a checkpoint or a sync: what a crash
    /// leaves behind, for tests of replay.
    #[cfg(test)]
    pub fn crash(self) {
        self.stop_keeper();
    }

    /// The log, for tests of its work (fsyncs) and its test-only hooks.
    #[cfg(test)]
    pub(super) fn wal(&self) -> &Wal {
        &self.core.wal
    }

    fn stop_keeper(&self) {
        lock(&self.core.keeper).stop = true;
        self.core.keeper_cv.notify_all();
        if let Some(h) = lock(&self.keeper).take() {
            let _ = h.join();
        }
    }
}

impl Drop for FileChannel {
    fn drop(&mut self) {
        let running = lock(&self.keeper).is_some();
        self.stop_keeper();
        if running && self.core.s.checkpoint_on_close {
            self.core.checkpoint("close");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent, so a panic elsewhere cannot leave it
    // half-updated: recover instead of propagating the poison.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_until<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>, deadline: Instant) -> MutexGuard<'a, T> {
    let left = deadline.saturating_duration_since(Instant::now());
    cv.wait_timeout(g, left)
        .unwrap_or_else(|e| e.into_inner())
        .0
}

fn deadline_after(d: Duration) -> Instant {
    crate::shutdown::later(Instant::now(), d)
}

impl Core {
    fn full(&self) -> ChannelError {
        ChannelError::FileFull {
            channel: self.name.clone(),
        }
    }

    /// A put that failed on the log (Flume's `EventPutErrorCount`).
    fn io(&self, message: String) -> ChannelError {
        self.counter.event_put_error.inc();
        ChannelError::Io {
            channel: self.name.clone(),
            message,
        }
    }

    /// Checks that writing `need` bytes leaves `minimumRequiredSpace` free (Flume's rule). The
    /// reading is cached while space is plentiful and re-read on every put once it is low, so
    /// that puts resume as soon as space returns.
    fn check_space(&self, need: u64) -> Result<(), ChannelError> {
        let dir = self.wal.current_dir();
        let (fresh, usable) = {
            let sp = lock(&self.space);
            let fresh = sp.dir == dir
                && sp
                    .read_at
                    .is_some_and(|t| t.elapsed() < self.tuning.space_refresh)
                && sp.usable > self.s.minimum_required_space.saturating_add(need);
            (fresh, sp.usable)
        };
        let usable = if fresh {
            usable
        } else {
            // Read without holding the lock: statvfs can be slow on a network filesystem.
            let now = dirs::usable_space(&dir).map_err(|e| {
                self.io(format!(
                    "cannot read the free space of {}: {e}",
                    dir.display()
                ))
            })?;
            let mut sp = lock(&self.space);
            sp.dir = dir.clone();
            sp.usable = now;
            sp.read_at = Some(Instant::now());
            now
        };
        let required = self.s.minimum_required_space.saturating_add(need);
        if usable <= required {
            return Err(ChannelError::DiskSpace {
                channel: self.name.clone(),
                dir: dir.display().to_string(),
                usable,
                required,
            });
        }
        let mut sp = lock(&self.space);
        sp.usable = sp.usable.saturating_sub(need);
        Ok(())
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        self.counter.event_put_attempt.add(n as u64);
        if n > self.s.transaction_capacity {
            return Err(ChannelError::FileTransactionCapacity {
                channel: self.name.clone(),
                transaction_capacity: self.s.transaction_capacity,
            });
        }
        if n > self.s.capacity {
            return Err(self.full());
        }
        // Room first (Flume's `queueRemaining.tryAcquire(keepAlive)`).
        let deadline = deadline_after(self.s.keep_alive);
        {
            let mut q = lock(&self.queue);
            while q.occupied() + n > self.s.capacity {
                if Instant::now() >= deadline {
                    return Err(self.full());
                }
                q = wait_until(&self.not_full, q, deadline);
            }
            q.reserved += n;
        }
        let unreserve = || {
            lock(&self.queue).reserved -= n;
            self.not_full.notify_all();
        };
        let Some(record) = Record::put(events) else {
            unreserve();
            return Err(self.io(format!(
                "a batch of {n} events is larger than one log record may be (1 GiB)"
            )));
        };
        if let Err(e) = self.check_space(record.len()) {
            unreserve();
            return Err(e);
        }
        let appended = match self.wal.append(record) {
            Ok(a) => a,
            Err(e) => {
                unreserve();
                return Err(self.io(e.0));
            }
        };
        let mut receipts = Vec::new();
        let published = self
            .wal
            .wait(&appended, self.s.fsync_per_transaction, |outcome| {
                let mut q = lock(&self.queue);
                q.reserved -= n;
                match outcome {
                    Ok(()) => {
                        receipts = strip_receipts(events);
                        let batch = std::mem::take(events);
                        q.publish(appended.seq, batch, appended.pos);
                        self.counter.channel_size.set(q.stored() as i64);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            });
        match published {
            Ok(()) => {
                self.not_empty.notify_all();
                self.counter.event_put_success.add(n as u64);
                for (r, copies) in receipts {
                    for _ in 0..copies {
                        r.ack();
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.not_full.notify_all();
                Err(self.io(e.0))
            }
        }
    }

    fn take(&self, max: usize, wait: Duration) -> Vec<Event> {
        let max = max.min(self.s.transaction_capacity);
        if max == 0 {
            return Vec::new();
        }
        let deadline = deadline_after(wait);
        let mut q = lock(&self.queue);
        let generation = q.wake_generation;
        loop {
            if let Some((events, pieces)) = q.take_from_memory(max) {
                let n = events.len();
                q.taken(take_key(&events), pieces, n);
                self.counter.channel_size.set(q.stored() as i64);
                drop(q);
                self.counter.event_take_attempt.add(n as u64);
                return events;
            }
            if q.disk.events > 0 && !q.promoting {
                q.promoting = true;
                let disk = q.disk.clone();
                drop(q);
                let p = self.read_disk(&disk, max.max(READ_AHEAD));
                q = lock(&self.queue);
                q.promoted(p);
                q.promoting = false;
                self.not_empty.notify_all();
                continue;
            }
            if Instant::now() >= deadline || q.wake_generation != generation {
                return Vec::new();
            }
            q = wait_until(&self.not_empty, q, deadline);
        }
    }

    /// Reads the next records of the disk part: at least one event's worth (unless the log
    /// ends), about `want` events. Damaged records are reported and their events counted as
    /// consumed, so that the channel carries on with the rest.
    fn read_disk(&self, disk: &DiskPart, want: usize) -> Promotion {
        let mut p = Promotion {
            cursor: disk.cursor,
            first_seq: disk.first_seq,
            ..Promotion::default()
        };
        let mut reader: Option<SegmentReader> = None;
        let mut read = 0usize;
        while p.consumed < disk.events && (read < want || p.runs.is_empty()) {
            let at = p.cursor;
            if reader.as_ref().is_none_or(|r| r.segment != at.segment) {
                let Some(path) = self.wal.segment_path(at.segment) else {
                    if !self.next_segment(&mut p, disk, "is no longer there") {
                        break;
                    }
                    continue;
                };
                match SegmentReader::open(at.segment, &path) {
                    Ok(r) => reader = Some(r),
                    Err(e) => {
                        self.counter.event_take_error.inc();
                        error!(channel = %self.name, "file channel {}: cannot read {}: {e}", self.name, path.display());
                        if !self.next_segment(&mut p, disk, "cannot be read") {
                            break;
                        }
                        continue;
                    }
                }
            }
            let Some(r) = reader.as_mut() else { break };
            let offset = at.offset.max(SEGMENT_HEADER_LEN);
            match r.read_at(offset) {
                Ok(Next::Record {
                    header,
                    payload,
                    next,
                }) => {
                    p.cursor = Pos {
                        segment: at.segment,
                        offset: next,
                    };
                    if header.kind != Kind::Put {
                        continue;
                    }
                    let (start, end) = (header.seq, header.seq + header.count as u64);
                    if end <= p.first_seq {
                        continue;
                    }
                    let events = match decode_events(&payload, header.count) {
                        Ok(e) => e,
                        Err(why) => {
                            self.counter.event_take_error.inc();
                            error!(channel = %self.name, "file channel {}: {} at offset {offset}: {why}; its {} events cannot be delivered", self.name, r.path.display(), header.count);
                            let gone = (start..end)
                                .filter(|s| !disk.delivered(*s) && *s >= p.first_seq)
                                .count();
                            p.consumed += gone as u64;
                            p.first_seq = end;
                            continue;
                        }
                    };
                    let mut run: Option<Run> = None;
                    for (i, e) in events.into_iter().enumerate() {
                        let seq = start + i as u64;
                        if seq < p.first_seq || disk.delivered(seq) {
                            if let Some(r) = run.take() {
                                p.runs.push(r);
                            }
                            continue;
                        }
                        p.bytes += mem_size(&e);
                        read += 1;
                        p.consumed += 1;
                        match run.as_mut() {
                            Some(r) => r.events.push_back(e),
                            None => {
                                run = Some(Run {
                                    first_seq: seq,
                                    pos: at,
                                    events: std::iter::once(e).collect(),
                                })
                            }
                        }
                    }
                    if let Some(r) = run.take() {
                        p.runs.push(r);
                    }
                    p.first_seq = end;
                }
                Ok(Next::End) => {
                    if !self.next_segment(&mut p, disk, "ended") {
                        break;
                    }
                }
                Ok(Next::Bad { why, .. }) => {
                    self.counter.event_take_error.inc();
                    error!(channel = %self.name, "file channel {}: {} at offset {offset}: damaged record ({why})", self.name, r.path.display());
                    if !self.next_segment(&mut p, disk, "is damaged") {
                        break;
                    }
                }
                Err(e) => {
                    self.counter.event_take_error.inc();
                    error!(channel = %self.name, "file channel {}: reading {}: {e}", self.name, r.path.display());
                    if !self.next_segment(&mut p, disk, "cannot be read") {
                        break;
                    }
                }
            }
        }
        p
    }

    /// Moves the read to the next segment. A segment that ended normally loses nothing; one
    /// that is damaged or gone loses the events between where reading stopped and where the
    /// next segment starts. Returns false when there is no next segment: then the events the
    /// channel still expected are gone.
    fn next_segment(&self, p: &mut Promotion, disk: &DiskPart, why: &str) -> bool {
        let Some(next) = self.wal.next_segment(p.cursor.segment) else {
            let lost = disk.events - p.consumed;
            if lost > 0 {
                error!(channel = %self.name, "file channel {}: segment {} {why} and no later segment exists: {lost} events the channel expected are lost", self.name, p.cursor.segment);
                p.consumed = disk.events;
            }
            return false;
        };
        if why != "ended" {
            let first_seq = self
                .wal
                .segment_path(next)
                .and_then(|path| SegmentReader::open(next, &path).ok())
                .and_then(|mut r| r.header().ok())
                .and_then(|h| h.ok())
                .map(|h| h.first_seq);
            if let Some(first) = first_seq {
                let lost = (p.first_seq..first).filter(|s| !disk.delivered(*s)).count() as u64;
                if lost > 0 {
                    error!(channel = %self.name, "file channel {}: segment {} {why}: {lost} events are lost", self.name, p.cursor.segment);
                }
                p.consumed = (p.consumed + lost).min(disk.events);
                p.first_seq = p.first_seq.max(first);
            }
        }
        p.cursor = Pos::start_of(next);
        true
    }

    fn commit(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let pieces = {
            let mut q = lock(&self.queue);
            q.finish(take_key(events), n)
        };
        let Some(pieces) = pieces else {
            error!(channel = %self.name, "file channel {}: commit of {n} events that were not taken from this channel (or were committed already); ignored", self.name);
            return;
        };
        self.counter.event_take_success.add(n as u64);
        self.not_full.notify_all();
        let ranges: Vec<(u64, u32)> = pieces.iter().map(|p| (p.first_seq, p.count)).collect();
        let written = self
            .wal
            .append(Record::take(&ranges))
            .and_then(|a| self.wal.wait(&a, false, |r| r));
        if let Err(e) = written {
            warn!(channel = %self.name, "file channel {}: the delivery of {n} events could not be recorded ({}); they are not taken again by this agent, but would be delivered again after a restart", self.name, e.0);
        }
    }

    fn rollback(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let mut q = lock(&self.queue);
        let Some(pieces) = q.finish(take_key(&events), n) else {
            drop(q);
            error!(channel = %self.name, "file channel {}: rollback of {n} events that were not taken from this channel; ignored", self.name);
            return;
        };
        q.roll_back(pieces, events);
        self.counter.channel_size.set(q.stored() as i64);
        drop(q);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Writes a checkpoint and deletes the segments before its read position.
    fn checkpoint(&self, why: &str) {
        let floor = self.wal.floor();
        let (watermark, read) = lock(&self.queue).watermark(floor);
        let next_seq = self.wal.next_seq();
        let cp = Checkpoint {
            read,
            watermark,
            next_seq,
        };
        if let Err(e) = self.wal.sync() {
            warn!(channel = %self.name, "file channel {}: sync before the {why} checkpoint failed: {}", self.name, e.0);
        }
        // The primary first, then the backup, each counted apart as Flume's counter does.
        if let Err(e) = checkpoint::save(&[self.s.checkpoint_dir.as_path()], &cp) {
            self.counter.checkpoint_write_error.inc();
            error!(channel = %self.name, "file channel {}: cannot write the checkpoint in {}: {e}; the next start reads more of the log, and delivered segments are kept until a checkpoint succeeds", self.name, self.s.checkpoint_dir.display());
            return;
        }
        if let Some(backup) = self.s.backup_checkpoint_dir.as_deref() {
            if let Err(e) = checkpoint::save(&[backup], &cp) {
                self.counter.checkpoint_backup_write_error.inc();
                error!(channel = %self.name, "file channel {}: cannot write the backup checkpoint in {}: {e}; delivered segments are kept until both checkpoints succeed", self.name, backup.display());
                return;
            }
        }
        *lock(&self.last_checkpoint) = (Some(cp), Instant::now());
        let deleted = self.wal.delete_before(read.segment);
        if !deleted.is_empty() {
            tracing::debug!(channel = %self.name, "file channel {}: deleted {} delivered segment(s)", self.name, deleted.len());
        }
    }

    /// The keeper: a checkpoint every `checkpointInterval`, and sooner when whole segments were
    /// delivered (their space is returned then); take records synced every tick, commits every
    /// `fsyncInterval` when `fsyncPerTransaction` is off.
    fn keep(&self) {
        let mut last_sync = Instant::now();
        loop {
            {
                let k = lock(&self.keeper);
                if k.stop {
                    return;
                }
                let k = self
                    .keeper_cv
                    .wait_timeout(k, self.tuning.keeper_tick)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if k.stop {
                    return;
                }
            }
            let (last, at) = *lock(&self.last_checkpoint);
            let floor = self.wal.floor();
            let read = lock(&self.queue).watermark(floor).1;
            let first = self.wal.segments().keys().next().copied();
            let delivered_segment = first.is_some_and(|f| f < read.segment);
            let moved = last.is_none_or(|cp| cp.read != read);
            if at.elapsed() >= self.s.checkpoint_interval || (delivered_segment && moved) {
                self.checkpoint(if delivered_segment {
                    "segment"
                } else {
                    "periodic"
                });
                last_sync = Instant::now();
                continue;
            }
            let sync_every = if self.s.fsync_per_transaction {
                self.tuning.keeper_tick
            } else {
                self.s.fsync_interval
            };
            if last_sync.elapsed() >= sync_every && self.wal.has_unsynced() {
                if let Err(e) = self.wal.sync() {
                    warn!(channel = %self.name, "file channel {}: periodic sync failed: {}", self.name, e.0);
                }
                last_sync = Instant::now();
            }
        }
    }
}

impl Channel for FileChannel {
    fn name(&self) -> &str {
        &self.core.name
    }

    fn kind(&self) -> &'static str {
        "file"
    }

    fn wake_takers(&self) {
        lock(&self.core.queue).wake_generation += 1;
        self.core.not_empty.notify_all();
    }

    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        self.core.put(events)
    }

    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event> {
        self.core.take(max, wait)
    }

    fn commit_take(&self, events: &[Event]) {
        self.core.commit(events)
    }

    fn rollback_take(&self, events: Vec<Event>) {
        self.core.rollback(events)
    }

    fn len(&self) -> usize {
        lock(&self.core.queue).stored()
    }

    fn len_including_in_flight(&self) -> usize {
        let q = lock(&self.core.queue);
        q.stored() + q.in_flight_events
    }

    fn capacity(&self) -> usize {
        self.core.s.capacity
    }

    fn transaction_capacity(&self) -> usize {
        self.core.s.transaction_capacity
    }

    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.core.counter
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn close(&self) {
        self.stop_keeper();
        let c = &self.core;
        c.counter.open.set(0);
        if c.s.checkpoint_on_close {
            c.checkpoint("close");
        } else if let Err(e) = c.wal.sync() {
            warn!(channel = %c.name, "file channel {}: sync at close failed: {}", c.name, e.0);
        }
        let st = &c.wal.stats;
        info!(
            channel = %c.name,
            "file channel {}: closed with {} events on disk; {} fsyncs, {} writes, {} MB written",
            c.name,
            self.len_including_in_flight(),
            st.fsyncs.load(Ordering::Relaxed),
            st.writes.load(Ordering::Relaxed),
            st.bytes.load(Ordering::Relaxed) / 1_000_000
        );
    }
}
