//! The write-ahead log: segment files written with group commit.
//!
//! Appending a record assigns it its place (segment and offset) and, for a put, its sequence
//! numbers, under a short lock that does no I/O. Whoever then finds nobody writing becomes the
//! *writer* and writes everything appended so far in one go; whoever needs durability and finds
//! nobody syncing becomes the *syncer* and runs one `fdatasync` for everything written so far. So
//! N commits arriving together cost one write and one fsync, and a take commit (which needs its
//! record written, not synced) never waits for a disk flush. The lock is never held across I/O.
//!
//! Puts become visible to takers in log order: each put waits for its turn after the puts
//! appended before it ([`Wal::wait`] calls its `publish` under the lock, in that order), so what
//! a restart replays is what the channel held, in the same order.
//!
//! A failed write or sync voids everything after the last durable byte: those commits fail (their
//! callers still hold their events and retry), the segment is cut back to its durable length and
//! writing continues in a new segment — nothing a caller was told is committed is ever cut.
//!
//! Layout:
//! * this file — the log's state, its segments and their names, and what the channel reads of it;
//! * `commit.rs` — how a commit enters the log ([`Wal::append`]) and waits until it is written
//!   or durable ([`Wal::wait`], [`Wal::sync`]);
//! * `write.rs` — the writer's and the syncer's parts: the writes and fsyncs, done without the
//!   lock, and what they make written or durable;
//! * `failure.rs` — what a failed write or sync voids, and cutting the log back after it.

mod commit;
mod failure;
mod write;

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tracing::error;

use super::dirs;
use super::format::{Pos, SegmentHeader};

/// File name of segment `id`: zero-padded so that a directory listing is in log order.
pub fn segment_file_name(id: u64) -> String {
    format!("rflume-wal-{id:020}")
}

/// The segment id a file name stands for.
pub fn segment_id(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("rflume-wal-")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Why a commit did not reach the log. The caller still owns its events.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WalError(pub String);

/// What the channel learns about the log's work, for its counters and the benchmark.
#[derive(Debug, Default)]
pub struct WalStats {
    pub fsyncs: AtomicU64,
    pub writes: AtomicU64,
    pub bytes: AtomicU64,
}

/// A record appended to the log, to wait for with [`Wal::wait`].
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    /// Where the record starts.
    pub pos: Pos,
    /// The put's first sequence number (a take's is 0).
    pub seq: u64,
    /// Log sequence number (bytes appended so far) of the record's end.
    end_lsn: u64,
    /// Turn among puts, in log order; `None` for a take.
    put_turn: Option<u64>,
}

/// Bytes for one segment, written by one writer in one go.
struct Chunk {
    segment: u64,
    offset: u64,
    /// Set for the first chunk of a new segment: create the file with this header first.
    create: Option<SegmentHeader>,
    bytes: Vec<u8>,
    end_lsn: u64,
}

struct State {
    /// Live segments by id, with their files' paths (a reader looks them up here).
    segments: BTreeMap<u64, PathBuf>,
    /// Appended, not yet taken by a writer.
    pending: VecDeque<Chunk>,
    /// Where the next record goes (offset 0: the segment is still to be created).
    append: Pos,
    /// The next put's first sequence number.
    next_seq: u64,
    /// Bytes appended / written to the kernel / synced to disk, counted over all segments.
    appended: u64,
    written: u64,
    durable: u64,
    /// Where the written and the durable bytes end.
    written_pos: Pos,
    durable_pos: Pos,
    /// The sequence number after the last written and after the last durable put.
    written_seq: u64,
    durable_seq: u64,
    /// Puts appended and not yet durable: (end lsn, sequence number after it).
    unsynced_puts: VecDeque<(u64, u64)>,
    writing: bool,
    syncing: bool,
    /// The segment file being written, for the syncer.
    file: Option<(u64, Arc<File>)>,
    /// Log ranges `(after, up to]` that a failure voided: commits ending there failed.
    void: Vec<(u64, u64)>,
    last_error: String,
    /// A failure is to be cleaned up: cut segment `.0` back to `.0`'s offset and delete the
    /// segments after it up to id `.1`, which hold only voided records.
    recover: Option<(Pos, u64)>,
    /// The log could not be cut back after a failure: nothing more is accepted.
    broken: Option<String>,
    /// Next turn to hand out, and the turn whose put may publish now.
    next_turn: u64,
    turn: u64,
    /// Puts appended and not yet published (or failed): (turn, where the record starts).
    unpublished: VecDeque<(u64, Pos)>,
}

pub struct Wal {
    data_dirs: Vec<PathBuf>,
    roll_size: u64,
    /// `fsyncPerTransaction`: a put is committed once synced (else once written).
    durable_puts: bool,
    state: Mutex<State>,
    cv: Condvar,
    pub stats: WalStats,
    /// Test-only: the syncer holds its fsync until this many puts were appended (and all of
    /// them written), as a slow disk would hold it, so that a test of group commit does not
    /// depend on the scheduler (see `concurrent_put_commits_share_one_fsync`).
    #[cfg(test)]
    pub hold_syncs_until_puts: AtomicU64,
}

impl Wal {
    /// A log over `segments` (found by replay, in id order) whose next record goes into a new
    /// segment after the last one. `next_seq` is the first sequence number to hand out.
    pub fn open(
        data_dirs: Vec<PathBuf>,
        roll_size: u64,
        durable_puts: bool,
        segments: BTreeMap<u64, PathBuf>,
        next_seq: u64,
        first_new_segment: u64,
    ) -> Wal {
        // Never below where the checkpoint says reading starts: when every segment was
        // delivered and deleted, a new segment numbered from 1 would lie behind that position
        // and its puts would be skipped by the next replay.
        let next_id = segments
            .keys()
            .next_back()
            .map_or(1, |id| id + 1)
            .max(first_new_segment);
        // A fresh segment for this run: a segment another process wrote is only ever read.
        let append = Pos {
            segment: next_id,
            offset: 0,
        };
        Wal {
            data_dirs,
            roll_size: roll_size.max(1),
            durable_puts,
            state: Mutex::new(State {
                segments,
                pending: VecDeque::new(),
                append,
                next_seq,
                appended: 0,
                written: 0,
                durable: 0,
                written_pos: append,
                durable_pos: append,
                written_seq: next_seq,
                durable_seq: next_seq,
                unsynced_puts: VecDeque::new(),
                writing: false,
                syncing: false,
                file: None,
                void: Vec::new(),
                last_error: String::new(),
                recover: None,
                broken: None,
                next_turn: 0,
                turn: 0,
                unpublished: VecDeque::new(),
            }),
            cv: Condvar::new(),
            stats: WalStats::default(),
            #[cfg(test)]
            hold_syncs_until_puts: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is complete before the lock is released, so a panic in a
        // holder leaves it consistent: recover instead of propagating the poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_cv<'a>(&self, s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.cv.wait(s).unwrap_or_else(|e| e.into_inner())
    }

    /// The data directory segment `id` is created in: round robin over `dataDirs`, which
    /// spreads the channel's files (and their space) over every directory.
    fn dir_for(&self, id: u64) -> &Path {
        &self.data_dirs[(id % self.data_dirs.len() as u64) as usize]
    }

    /// The data directory the next record is written to (for the space check).
    pub fn current_dir(&self) -> PathBuf {
        let segment = self.lock().append.segment;
        self.dir_for(segment).to_path_buf()
    }

    /// Where segment `id` lives, if it is part of the log.
    pub fn segment_path(&self, id: u64) -> Option<PathBuf> {
        self.lock().segments.get(&id).cloned()
    }

    /// The first live segment after `id`.
    pub fn next_segment(&self, id: u64) -> Option<u64> {
        self.lock()
            .segments
            .range(id + 1..)
            .next()
            .map(|(id, _)| *id)
    }

    /// No put that is still to be published starts before this position (a checkpoint must not
    /// point past one). Read it before the queue's watermark: a put published in between then
    /// starts at or after it.
    pub fn floor(&self) -> Pos {
        let s = self.lock();
        s.unpublished.front().map_or(s.append, |(_, pos)| *pos)
    }

    /// The next sequence number a put would get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// Whether bytes were written that are not yet synced.
    pub fn has_unsynced(&self) -> bool {
        let s = self.lock();
        s.written > s.durable
    }

    /// Deletes every segment before `segment` (they hold nothing that is still needed: the
    /// caller made a checkpoint saying so durable) — never the one being written.
    pub fn delete_before(&self, segment: u64) -> Vec<PathBuf> {
        let mut s = self.lock();
        let current = s.append.segment;
        let open = s.file.as_ref().map(|(id, _)| *id);
        let ids: Vec<u64> = s
            .segments
            .range(..segment)
            .map(|(id, _)| *id)
            .filter(|id| *id != current && Some(*id) != open)
            .collect();
        let paths: Vec<PathBuf> = ids.iter().filter_map(|id| s.segments.remove(id)).collect();
        drop(s);
        let mut deleted = Vec::new();
        for p in paths {
            match std::fs::remove_file(&p) {
                Ok(()) => deleted.push(p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => deleted.push(p),
                Err(e) => error!("file channel: cannot delete {}: {e}", p.display()),
            }
        }
        let mut synced: Vec<&Path> = Vec::new();
        for p in &deleted {
            if let Some(dir) = p.parent() {
                if !synced.contains(&dir) {
                    let _ = dirs::sync_dir(dir);
                    synced.push(dir);
                }
            }
        }
        deleted
    }

    /// Live segments now, by id.
    pub fn segments(&self) -> BTreeMap<u64, PathBuf> {
        self.lock().segments.clone()
    }
}
