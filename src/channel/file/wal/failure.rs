//! A failed write or sync: everything after what callers were told is committed is void (those
//! commits fail, their callers retry), writing goes on in a new segment, and the failed segment
//! is cut back to its committed length, so that a restart cannot replay a voided commit.

use std::path::PathBuf;
use std::sync::MutexGuard;

use tracing::error;

use super::super::dirs;
use super::super::format::{Pos, SEGMENT_HEADER_LEN};
use super::{State, Wal};

impl Wal {
    pub(super) fn recover_as_writer<'a>(
        &'a self,
        mut s: MutexGuard<'a, State>,
    ) -> MutexGuard<'a, State> {
        s.writing = true;
        s = self.recover(s);
        s.writing = false;
        s
    }

    /// A write or sync failed: everything after what callers were told is committed is void.
    /// New records go to a new segment at once; [`Wal::recover`] cuts the old one back.
    pub(super) fn fail(&self, s: &mut State, why: String) {
        error!("file channel: {why}; the commits not yet on disk are rolled back (their sources retry them)");
        s.last_error = why;
        let (lo, lo_pos, seq) = if self.durable_puts {
            (s.durable, s.durable_pos, s.durable_seq)
        } else {
            (s.written, s.written_pos, s.written_seq)
        };
        let hi = s.appended;
        if hi > lo {
            s.void.push((lo, hi));
        }
        s.pending.clear();
        s.unsynced_puts.clear();
        s.written = hi;
        s.durable = hi;
        s.written_pos = lo_pos;
        s.durable_pos = lo_pos;
        s.next_seq = seq;
        s.written_seq = seq;
        s.durable_seq = seq;
        let last = s
            .segments
            .keys()
            .next_back()
            .copied()
            .unwrap_or(lo_pos.segment);
        let keep_to = match s.recover {
            // An earlier cleanup is still due: it cuts further back, and deletes up to here.
            Some((cut, _)) => (cut, last),
            None => (lo_pos, last),
        };
        s.recover = Some(keep_to);
        s.append = Pos {
            segment: last + 1,
            offset: 0,
        };
    }

    /// Cuts the failed segment back to its committed length and deletes the segments after it
    /// that hold only voided records, so that a restart cannot replay a commit whose caller
    /// was told it failed. Called with the writer's part held; does its I/O without the lock.
    pub(super) fn recover<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let Some((cut, last)) = s.recover.take() else {
            return s;
        };
        let path = s.segments.get(&cut.segment).cloned();
        let doomed: Vec<(u64, PathBuf)> = s
            .segments
            .range(cut.segment + 1..=last)
            .map(|(id, p)| (*id, p.clone()))
            .collect();
        for (id, _) in &doomed {
            s.segments.remove(id);
        }
        s.file = None;
        drop(s);
        let mut result: std::io::Result<()> = Ok(());
        if let Some(path) = path {
            if cut.offset >= SEGMENT_HEADER_LEN {
                result = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| dirs::truncate_synced(&f, cut.offset));
            } else if let Err(e) = std::fs::remove_file(&path) {
                // Never created, or created but holding nothing committed.
                if e.kind() != std::io::ErrorKind::NotFound {
                    result = Err(e);
                }
            }
        }
        for (_, p) in &doomed {
            if let Err(e) = std::fs::remove_file(p) {
                if e.kind() != std::io::ErrorKind::NotFound && result.is_ok() {
                    result = Err(e);
                }
            }
        }
        for dir in &self.data_dirs {
            let _ = dirs::sync_dir(dir);
        }
        let mut s = self.lock();
        if cut.offset < SEGMENT_HEADER_LEN {
            s.segments.remove(&cut.segment);
        }
        if let Err(e) = result {
            let why = format!(
                "the log could not be cut back after a failed write ({e}); the channel accepts nothing more until the agent is restarted (a restart replays only what was committed)"
            );
            error!("file channel: {why}");
            s.broken = Some(why);
        }
        s
    }
}
