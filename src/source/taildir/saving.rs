//! When and what the TAILDIR read loop saves: each file's delivered position, written to
//! Flume's position file and rflume's sidecar (`position.rs` has their format).
//!
//! Positions are written every `writePosInterval` (Flume's rule), and also shortly after a
//! delivery moved one: at most every [`POSITION_COALESCE`] while lines flow, and not at all while
//! nothing moves. What a `kill -9` ships twice is then the lines delivered in the last fraction of
//! a second, not the last `writePosInterval` (3 s) worth. A write that would leave both files as
//! they are is skipped (Flume rewrites the same content every interval); the fingerprints come
//! from the bytes already read, so a write of 1,000 files' positions reads none of them.

use std::time::{Duration, Instant};

use super::position::{self, PosEntry};
use super::rate::ReadRate;
use super::tailer::Tailer;
use super::tailfile::{FileId, TailFile};

/// After a delivery moved a position, the position file is written again once this much time
/// passed since the last write: often enough that a crash ships little twice, rarely enough that
/// a busy source spends next to nothing on it (a write is two fsynced files).
pub(super) const POSITION_COALESCE: Duration = Duration::from_millis(250);
/// At low rates the coalescing wait is longer: as long as this many lines take to arrive (up to
/// `writePosInterval`). A `kill -9` then ships about as many lines twice at 100 lines/s as at
/// 1,000, and a trickle does not pay for four position writes (two fsyncs each) a second.
const COALESCE_LINES: usize = 250;

/// How long [`COALESCE_LINES`] take to arrive at the recent rate, at least
/// [`POSITION_COALESCE`], at most `limit` (`writePosInterval`). Nothing read lately (or not
/// measured yet): the last lines are worth saving soon, and a single write costs nothing that
/// matters.
fn coalesce(rate: &ReadRate, limit: Duration) -> Duration {
    if rate.per_second() <= 0.0 {
        return POSITION_COALESCE.min(limit);
    }
    rate.time_for(COALESCE_LINES, POSITION_COALESCE.min(limit), limit)
}

impl Tailer {
    /// When the positions are written next: `writePosInterval` after the last write, or sooner
    /// once a delivery moved a position: [`POSITION_COALESCE`] at high rates, the time
    /// [`COALESCE_LINES`] take at low ones.
    pub(super) fn next_position_write(&self) -> Instant {
        let after = if self.notice.is_set() {
            coalesce(&self.rate, self.s.write_pos_interval)
        } else {
            self.s.write_pos_interval
        };
        // checked: writePosInterval may be as large as a Java long of milliseconds.
        self.last_pos_write
            .checked_add(after)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }

    /// Writes each file's delivered position (not how far it was read: a `kill -9` must not
    /// skip lines still in a memory channel), in a stable order, with its fingerprint. Returns
    /// whether they were saved.
    pub(super) fn write_positions(&mut self) -> bool {
        self.write_positions_with(None)
    }

    /// The same, in the middle of reading `current`, which is out of `files` meanwhile.
    pub(super) fn write_positions_with(&mut self, mut current: Option<&mut TailFile>) -> bool {
        self.last_pos_write = Instant::now();
        // Before the positions are read: a delivery from now on is for the next write.
        self.notice.take();
        let mut entries = Vec::with_capacity(self.files.len() + 1);
        let mut fps = Vec::with_capacity(self.files.len() + 1);
        let mut keys: Vec<FileId> = self.files.keys().copied().collect();
        keys.extend(current.as_ref().map(|t| t.id));
        keys.sort();
        for key in keys {
            let t = match current.as_deref_mut() {
                Some(c) if c.id == key => c,
                _ => match self.files.get_mut(&key) {
                    Some(t) => t,
                    None => continue,
                },
            };
            let pos = t.acks.delivered();
            entries.push(PosEntry {
                inode: t.id.ino,
                pos,
                file: t.path.display().to_string(),
            });
            if let Some(fp) = t.refresh_fingerprint() {
                fps.push(fp);
            }
        }
        let written = position::encode(&self.s.position_file, &entries, &fps).and_then(|enc| {
            // The files already say this (a pass in which no position moved, every
            // writePosInterval while idle): two fsynced writes saved. Only while the file is
            // still there: one removed or moved away (its directory too) is written again, so
            // the saved state comes back and a failure to write it is reported.
            if self.last_saved.as_ref() == Some(&enc) && self.s.position_file.is_file() {
                return Ok(());
            }
            self.last_saved = None;
            position::write(&self.s.position_file, &enc)?;
            self.last_saved = Some(enc);
            Ok(())
        });
        match written {
            Ok(()) => {
                self.saves
                    .saved(&self.name, &self.s.position_file, &self.counter);
                true
            }
            Err(e) => {
                self.saves.failed(&self.name, &e, &self.counter);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Position writes after a delivery: every 250 ms at high rates, once ~250 lines arrived at
    /// low ones, never later than `writePosInterval`, soon when nothing is being read.
    #[test]
    fn positions_are_coalesced_by_lines_at_low_rates_and_by_time_at_high_ones() {
        let at = |per_second: f64, limit| coalesce(&ReadRate::at(per_second), limit);
        let interval = Duration::from_secs(3);
        assert_eq!(at(20_000.0, interval), POSITION_COALESCE);
        assert_eq!(at(100.0, interval), Duration::from_millis(2500));
        assert_eq!(at(10.0, interval), interval);
        assert_eq!(at(0.0, interval), POSITION_COALESCE);
        // A writePosInterval below the coalescing wait bounds it.
        let short = Duration::from_millis(100);
        assert_eq!(at(20_000.0, short), short);
        assert_eq!(at(0.0, short), short);
        assert_eq!(at(1e-300, Duration::MAX), Duration::from_secs(86_400));
    }
}
