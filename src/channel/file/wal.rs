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

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tracing::error;

use super::dirs;
use super::format::{Kind, Pos, Record, SegmentHeader, SEGMENT_HEADER_LEN};

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

    /// Adds `record` to the log (sealing it with its sequence number) and returns what to wait
    /// for. Nothing is written yet.
    pub fn append(&self, mut record: Record) -> Result<Appended, WalError> {
        let mut s = self.lock();
        if let Some(why) = &s.broken {
            return Err(WalError(why.clone()));
        }
        let len = record.len();
        // Roll when this record would pass the roll size (a record bigger than that gets a
        // segment of its own), and at the first record of a segment still to be created.
        let create = s.append.offset == 0;
        if create
            || (s.append.offset > SEGMENT_HEADER_LEN && s.append.offset + len > self.roll_size)
        {
            let id = if create {
                s.append.segment
            } else {
                s.append.segment + 1
            };
            let path = self.dir_for(id).join(segment_file_name(id));
            s.segments.insert(id, path);
            s.append = Pos::start_of(id);
            let header = SegmentHeader {
                id,
                first_seq: s.next_seq,
            };
            let lsn = s.appended;
            s.pending.push_back(Chunk {
                segment: id,
                offset: SEGMENT_HEADER_LEN,
                create: Some(header),
                bytes: Vec::new(),
                end_lsn: lsn,
            });
        }
        let (seq, put_turn) = match record.kind() {
            Kind::Put => {
                let seq = s.next_seq;
                s.next_seq += record.count() as u64;
                let turn = s.next_turn;
                s.next_turn += 1;
                (seq, Some(turn))
            }
            Kind::Take => (0, None),
        };
        record.seal(seq);
        let pos = s.append;
        if let Some(turn) = put_turn {
            s.unpublished.push_back((turn, pos));
        }
        s.append.offset += len;
        s.appended += len;
        let end_lsn = s.appended;
        if record.kind() == Kind::Put {
            let after = s.next_seq;
            s.unsynced_puts.push_back((end_lsn, after));
        }
        match s.pending.back_mut() {
            Some(c) if c.segment == pos.segment => {
                c.bytes.extend_from_slice(&record.bytes);
                c.end_lsn = end_lsn;
            }
            _ => s.pending.push_back(Chunk {
                segment: pos.segment,
                offset: pos.offset,
                create: None,
                bytes: record.bytes,
                end_lsn,
            }),
        }
        Ok(Appended {
            pos,
            seq,
            end_lsn,
            put_turn,
        })
    }

    /// Waits until `a` is written (and, with `durable`, synced), taking the writer's or the
    /// syncer's part when nobody else does. A put then waits for its turn and calls `publish`
    /// with the outcome, under the lock and in log order (so it must be quick and do no I/O);
    /// a take's `publish` is called at once.
    pub fn wait<R>(
        &self,
        a: &Appended,
        durable: bool,
        publish: impl FnOnce(Result<(), WalError>) -> R,
    ) -> R {
        let mut s = self.lock();
        let outcome = loop {
            if s.void
                .iter()
                .any(|(lo, hi)| a.end_lsn > *lo && a.end_lsn <= *hi)
            {
                break Err(WalError(s.last_error.clone()));
            }
            let done = if durable {
                s.durable >= a.end_lsn
            } else {
                s.written >= a.end_lsn
            };
            if done {
                break Ok(());
            }
            if !s.writing && (!s.pending.is_empty() || s.recover.is_some()) {
                s = self.write_pending(s);
                continue;
            }
            if durable && !s.syncing && s.written >= a.end_lsn {
                s = self.sync_written(s);
                continue;
            }
            s = self.wait_cv(s);
        };
        let Some(turn) = a.put_turn else {
            return publish(outcome);
        };
        while s.turn != turn {
            s = self.wait_cv(s);
        }
        let r = publish(outcome);
        s.turn += 1;
        s.unpublished.pop_front();
        drop(s);
        self.cv.notify_all();
        r
    }

    /// The writer's part: writes every pending chunk without the lock, then cleans up after a
    /// failure if one is due.
    fn write_pending<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
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
    fn sync_written<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
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

    fn recover_as_writer<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        s.writing = true;
        s = self.recover(s);
        s.writing = false;
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

    /// A write or sync failed: everything after what callers were told is committed is void.
    /// New records go to a new segment at once; [`Wal::recover`] cuts the old one back.
    fn fail(&self, s: &mut State, why: String) {
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
    fn recover<'a>(&'a self, mut s: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
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

    /// Syncs everything appended so far (the periodic sync with `fsyncPerTransaction = false`
    /// and for take records, and before a checkpoint).
    pub fn sync(&self) -> Result<(), WalError> {
        let mut s = self.lock();
        let target = s.appended;
        loop {
            if s.void.iter().any(|(lo, hi)| target > *lo && target <= *hi) {
                return Err(WalError(s.last_error.clone()));
            }
            if s.durable >= target {
                return Ok(());
            }
            if !s.writing && (!s.pending.is_empty() || s.recover.is_some()) {
                s = self.write_pending(s);
                continue;
            }
            if !s.syncing && s.written >= target {
                s = self.sync_written(s);
                if !self.durable_puts && s.durable < target {
                    // A failed sync without fsyncPerTransaction is not retried in a loop.
                    return Err(WalError("fsync failed".to_string()));
                }
                continue;
            }
            s = self.wait_cv(s);
        }
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
