//! The keeper thread: checkpoints (periodic, and as soon as whole segments were delivered, so
//! their space returns), the deletion of delivered segments, and the syncs of take records and,
//! with `fsyncPerTransaction = false`, of commits.

use std::time::Instant;

use tracing::{error, warn};

use super::channel::{lock, Core};
use super::checkpoint::{self, Checkpoint};

impl Core {
    /// Writes a checkpoint and deletes the segments before its read position.
    pub(super) fn checkpoint(&self, why: &str) {
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
    pub(super) fn keep(&self) {
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
