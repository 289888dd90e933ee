//! The writer's and the syncer's parts: every pending chunk written in one go, one fdatasync
//! for everything written so far, both without the lock; and what they make written or durable.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use tracing::error;

use super::super::dirs;
use super::super::format::Pos;
use super::{segment_file_name, Chunk, State, Wal};

impl Wal {
    /// The writer's part: writes every pending chunk without the lock, then cleans up after a
    /// failure if one is due.
    pub(super) fn write_pending<'a>(
        &'a self,
        mut s: MutexGuard<'a, State>,
    ) -> MutexGuard<'a, State> {
        s.writing = true;
        let chunks: Vec<Chunk> = s.pending.drain(..).collect();
        let mut file = s.file.clone();
        drop(s);
        let mut rolled: Option<(u64, Pos)> = None;
        let mut written: Option<(u64, Pos)> = None;
        let mut failure = None;
        for c in &chunks {
            if let Err(e) = self.write_chunk(c, &mut file, &mut rolled) {
                failure = Some(e);
                break;
            }
            written = Some((
                c.end_lsn,
                Pos {
                    segment: c.segment,
                    offset: c.offset + c.bytes.len() as u64,
                },
            ));
        }
        let mut s = self.lock();
        s.file = file;
        if let Some((lsn, pos)) = rolled {
            // A roll synced the previous segment: all of it is durable.
            Self::mark_durable(&mut s, lsn, pos);
        }
        if let Some((lsn, pos)) = written {
            Self::mark_written(&mut s, lsn, pos);
        }
        if let Some(e) = failure {
            self.fail(&mut s, e);
        }
        if s.recover.is_some() {
            s = self.recover(s);
        }
        s.writing = false;
        self.cv.notify_all();
        s
    }

    /// Writes one chunk, creating (and syncing) its segment first when it starts one.
    fn write_chunk(
        &self,
        c: &Chunk,
        file: &mut Option<(u64, Arc<File>)>,
        rolled: &mut Option<(u64, Pos)>,
    ) -> Result<(), String> {
        if let Some(header) = c.create {
            if let Some((old_id, old)) = file.as_ref() {
                // Everything before the roll is made durable before anything after it, so that
                // the durable part of the log never has a hole.
                dirs::sync_data(old).map_err(|e| format!("fsync of segment {old_id}: {e}"))?;
                self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            }
            let dir = self.dir_for(header.id);
            let path = dir.join(segment_file_name(header.id));
            let f = dirs::create_private_file(&path)
                .and_then(|f| {
                    f.write_all_at(&header.encode(), 0)?;
                    dirs::sync_data(&f)?;
                    dirs::sync_dir(dir)?;
                    Ok(f)
                })
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            self.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
            *rolled = Some((c.end_lsn - c.bytes.len() as u64, Pos::start_of(header.id)));
            *file = Some((header.id, Arc::new(f)));
        }
        if c.bytes.is_empty() {
            return Ok(());
        }
        let Some((id, f)) = file.as_ref() else {
            return Err("internal error: no segment file to write to".to_string());
        };
        if *id != c.segment {
            return Err(format!(
                "internal error: a chunk for segment {} while segment {id} is open",
                c.segment
            ));
        }
        f.write_all_at(&c.bytes, c.offset)
            .map_err(|e| format!("write to segment {id} at offset {}: {e}", c.offset))?;
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(c.bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The syncer's part: one fdatasync for everything written so far, without the lock.
    pub(super) fn sync_written<'a>(
        &'a self,
        mut s: MutexGuard<'a, State>,
    ) -> MutexGuard<'a, State> {
        s.syncing = true;
        #[cfg(test)]
        let s = self.hold_sync(s);
        let (target, target_pos) = (s.written, s.written_pos);
        let file = s.file.clone();
        drop(s);
        let result = match &file {
            Some((_, f)) => dirs::sync_data(f),
            None => Ok(()),
        };
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        s.syncing = false;
        match result {
            Ok(()) => Self::mark_durable(&mut s, target, target_pos),
            Err(e) if self.durable_puts => {
                // What a failed fsync covered may be gone from the page cache without a trace:
                // void it and have the writer cut the log back to what is known durable.
                self.fail(&mut s, format!("fsync failed: {e}"));
                if !s.writing {
                    s = self.recover_as_writer(s);
                }
            }
            Err(e) => {
                // Without fsyncPerTransaction, written puts were already committed: they stay,
                // and are synced again next time (Flume's behaviour with fsync off).
                error!("file channel: fsync failed: {e}; committed events since the last fsync may be lost if the machine loses power");
            }
        }
        self.cv.notify_all();
        s
    }

    /// Test-only: waits (with the syncer's part held, the lock released while waiting, so that
    /// others append and write meanwhile) until `hold_syncs_until_puts` puts were appended and
    /// everything appended is written — or 30 s passed, so that a broken group commit fails its
    /// test instead of hanging it. Every write ends with a `notify_all`, which wakes this.
    #[cfg(test)]
    fn hold_sync<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let until = self.hold_syncs_until_puts.load(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !(s.next_turn >= until && s.pending.is_empty() && !s.writing) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s
    }

    fn mark_written(s: &mut State, lsn: u64, pos: Pos) {
        if lsn <= s.written {
            return;
        }
        s.written = lsn;
        s.written_pos = pos;
        if let Some(&(_, after)) = s.unsynced_puts.iter().rev().find(|(end, _)| *end <= lsn) {
            s.written_seq = after;
        }
    }

    fn mark_durable(s: &mut State, lsn: u64, pos: Pos) {
        if lsn > s.written {
            s.written = lsn;
            s.written_pos = pos;
        }
        if lsn <= s.durable {
            return;
        }
        s.durable = lsn;
        s.durable_pos = pos;
        while let Some(&(end, after)) = s.unsynced_puts.front() {
            if end > lsn {
                break;
            }
            s.durable_seq = after;
            s.unsynced_puts.pop_front();
        }
        if s.written_seq < s.durable_seq {
            s.written_seq = s.durable_seq;
        }
    }
}
