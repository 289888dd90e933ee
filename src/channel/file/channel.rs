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
//!
//! This file holds the channel's state ([`Core`]), its opening and closing, and the [`Channel`]
//! calls; `put.rs`, `take.rs` and `keeper.rs` hold what the transactions and the keeper do.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::checkpoint::Checkpoint;
use super::dirs::{self, DirLock};
use super::queue::Queue;
use super::replay;
use super::settings::FileSettings;
use super::wal::Wal;
use super::FileChannelError;
use crate::channel::{Channel, ChannelError};
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

/// Free space of the directory being written, re-read when stale or when low.
pub(super) struct Space {
    pub(super) dir: std::path::PathBuf,
    pub(super) usable: u64,
    pub(super) read_at: Option<Instant>,
}

pub(super) struct Keeper {
    pub(super) stop: bool,
}

pub(super) struct Core {
    pub(super) name: String,
    pub(super) s: FileSettings,
    pub(super) tuning: Tuning,
    pub(super) wal: Wal,
    pub(super) queue: Mutex<Queue>,
    pub(super) not_empty: Condvar,
    pub(super) not_full: Condvar,
    pub(super) space: Mutex<Space>,
    pub(super) keeper: Mutex<Keeper>,
    pub(super) keeper_cv: Condvar,
    /// The read position of the last checkpoint written, and when.
    pub(super) last_checkpoint: Mutex<(Option<Checkpoint>, Instant)>,
    pub(super) counter: Arc<ChannelCounter>,
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

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent, so a panic elsewhere cannot leave it
    // half-updated: recover instead of propagating the poison.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn wait_until<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    deadline: Instant,
) -> MutexGuard<'a, T> {
    let left = deadline.saturating_duration_since(Instant::now());
    cv.wait_timeout(g, left)
        .unwrap_or_else(|e| e.into_inner())
        .0
}

pub(super) fn deadline_after(d: Duration) -> Instant {
    crate::shutdown::later(Instant::now(), d)
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
