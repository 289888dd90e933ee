//! The read loop: one thread for all files. Each turn takes the change notifications, rescans
//! what changed, reads every file with new data (oldest first, at most `maxBatchCount` batches'
//! worth of lines each, so a busy file does not starve quiet ones), puts the lines into the
//! channel in batches of up to `batchSize` (the lines of several files share one: each file's
//! lines carry their own headers and their file's delivery receipt), then does the housekeeping: idle and deleted files are closed, fully read
//! files that are gone are forgotten, and the delivered positions are written. With nothing to
//! read it waits for a notification, or polls with Flume's growing back-off. On stop it waits (up
//! to the drain deadline) for the sinks to deliver what was read, and writes the final positions;
//! when they are written is in `saving.rs`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, error, info, warn};

use super::acks::DeliveryNotice;
use super::names::NameIndex;
use super::position;
use super::rate::ReadRate;
use super::settings::{self, TaildirSettings};
use super::tailfile::{self, Extent, FileId, Line, Lineage, Stat, TailFile};
use super::unsaved::SaveReport;
use super::watch::Watch;
use crate::event::{Event, Headers};
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;
use crate::source::{ChannelProcessor, PutOutcome};

/// A full rescan happens at least this often, whatever inotify says (NFS, overflow).
const FORCED_RESCAN: Duration = Duration::from_secs(10);
/// Flume checks for idle files every 5 s.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// A deleted file is closed this long after its last growth (its space is freed), instead of
/// after `idleTimeout` (Flume keeps deleted files open: FLUME-3341).
const DELETED_GRACE: Duration = Duration::from_secs(1);
/// How long the reader waits after a change notification before reading, so that lines
/// written one `write(2)` at a time are read (and put, taken and produced) in batches rather
/// than one by one: every pass costs a put, a sink wake-up and a produce request, ~300 µs of
/// CPU in all on these machines, whether it carries one line or a hundred. The wait is the
/// time the recent rate needs to fill a batch (10 ms at 10,000 lines/s with batches of 100;
/// measured: 4.4 CPU-s per million lines there, against 6.8 with half that wait and 7.3 with
/// 2 ms), between these bounds: the lower one for high rates, the upper one is the most a line
/// waits for company at a trickle (Flume's TAILDIR polls every 1 to 5 s instead). The upper
/// bound sets the cost of a trickle: at 100 lines/s, 50 ms gave ~20 passes a second and 0.65 %
/// of a core (source, sink and librdkafka's broker thread about a third each); 200 ms gives
/// ~5 passes, for at most 200 ms more before a line of a trickle is on its way.
const GATHER_MIN: Duration = Duration::from_millis(2);
const GATHER_MAX: Duration = Duration::from_millis(200);
/// A longer gather looks once, after this long, whether the files named by notifications
/// already hold a batch's worth of unread bytes, and reads at once if so: the first lines of a
/// fast stream after a pause (when the measured rate still says "trickle") then wait this long
/// rather than [`GATHER_MAX`]. One fstat per named file, on the source thread alone.
const GATHER_PEEK: Duration = Duration::from_millis(20);
/// Size of the buffer reads go to first: the lines a quiet file has are far fewer bytes, and a
/// busy file is read on in reads sized by its size (see `read_file`).
const SCRATCH_LEN: usize = 64 * 1024;
/// Events reserved for the next put; a larger `batchSize` grows the batch as lines come.
const PENDING_RESERVE: usize = 1024;

/// The reader of one TAILDIR source. One struct, because every question about a file (is it
/// new, renamed, a copy, idle, delivered?) needs the others' answers; its methods are split by
/// question across this folder (scan.rs, lineage.rs, restore.rs, and the loop here).
pub(super) struct Tailer {
    /// The source's name, on every log line.
    pub(super) name: String,
    pub(super) s: TaildirSettings,
    pub(super) counter: Arc<SourceCounter>,
    /// The followed files, by identity: a rename changes a file's path, not its key.
    pub(super) files: HashMap<FileId, TailFile>,
    /// Files whose inode was taken by a new file while they were still being drained.
    pub(super) ghosts: Vec<TailFile>,
    /// Content of files recently truncated or gone, for their copies to continue from.
    pub(super) history: Vec<Lineage>,
    /// Per file group: its directory's modification time at the last listing.
    pub(super) dir_mtimes: Vec<Option<SystemTime>>,
    pub(super) last_scan: Instant,
    pub(super) last_pos_write: Instant,
    last_idle_check: Instant,
    pub(super) watch: Watch,
    /// How position-file failures have been reported (unsaved.rs).
    pub(super) saves: SaveReport,
    /// Set by deliveries that moved a position since the last position write.
    pub(super) notice: Arc<DeliveryNotice>,
    pub(super) rate: ReadRate,
    /// Bytes and lines read since start: the mean line length that sizes a batch in bytes
    /// (see `batch_waiting`).
    bytes_read: u64,
    lines_read: u64,
    /// Files whose last read stopped at `maxBatchCount` batches with more to read: the next
    /// pass reads them whether or not a notification names them.
    unfinished: HashSet<FileId>,
    /// The followed files by name, for the passes that read only the files notifications
    /// named: looking those few names up, instead of every followed file's name in the set of
    /// names, is what keeps a pass over 1,000 quiet files from costing 1,000 lookups.
    pub(super) names: NameIndex,
    /// What the last successful position write wrote; a write of the same bytes is skipped.
    pub(super) last_saved: Option<position::Encoded>,
    /// Lines read in this pass and not yet put: the lines of several files share a put (up
    /// to `batchSize`), so 1,000 files with a line each cost 10 puts, not 1,000 (and the sink
    /// as many batches). Empty between passes.
    pending: Vec<Event>,
    /// What reads go to before their bytes are copied into a buffer sized to them (see
    /// [`Extent::Scratch`]).
    scratch: Vec<u8>,
}

/// How long `batch_size` lines take to arrive at the recent rate, within the gather bounds.
fn gather(rate: &ReadRate, batch_size: usize) -> Duration {
    rate.soonest_time_for(batch_size, GATHER_MIN, GATHER_MAX)
}

impl Tailer {
    pub(super) fn new(name: String, s: TaildirSettings, counter: Arc<SourceCounter>) -> Self {
        let groups = s.groups.len();
        let watch = Watch::new(&name, &s);
        let notice = DeliveryNotice::new(watch.waker());
        Tailer {
            name,
            s,
            counter,
            files: HashMap::new(),
            ghosts: Vec::new(),
            history: Vec::new(),
            dir_mtimes: vec![None; groups],
            last_scan: Instant::now(),
            last_pos_write: Instant::now(),
            last_idle_check: Instant::now(),
            watch,
            saves: SaveReport::default(),
            notice,
            rate: ReadRate::new(),
            bytes_read: 0,
            lines_read: 0,
            unfinished: HashSet::new(),
            names: NameIndex::new(),
            last_saved: None,
            pending: Vec::new(),
            scratch: vec![0; SCRATCH_LEN],
        }
    }

    pub(super) fn run(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        shutdown.on_stop(self.watch.waker());
        self.scan(true);
        // Written once at start, so that a position file that cannot be written is an error
        // now, before any line is read, not a surprise at the first interval.
        self.write_positions();
        let mut backoff = Duration::ZERO;
        // Whether this pass follows a notification or a pass that read, rather than a wait
        // that timed out.
        let mut notified = false;
        while !shutdown.is_stopping() {
            // A pass: the watchdog's round (once per wake-up, not per line or file).
            processor.working();
            let wake = self.watch.drain_events(&self.s.groups);
            let force = self.last_scan.elapsed() >= FORCED_RESCAN;
            // With every directory watched, inotify reports what a listing would find, so a
            // pass it woke skips the directories' modification-time checks; a pass after a
            // timed-out wait does them (inotify may be blind there: NFS).
            let full = force || wake.rescan || !notified || !self.watch.watches_all();
            if full {
                self.scan(force || wake.rescan);
            }
            // Likewise a pass that inotify woke reads the files it named (and those left
            // unfinished), not all of them: with 1,000 files each written now and then, a pass
            // otherwise costs 1,000 fstat calls to find the few that grew.
            let changed = self.watch.take_changed();
            let only = if full { None } else { changed };
            let read = match self.read_pass(only.as_ref(), processor, shutdown) {
                Some(n) => n,
                None => break,
            };
            self.rate.add(read);
            self.housekeeping(processor, shutdown);
            if read > 0 || wake.any {
                backoff = Duration::ZERO;
                notified = true;
                continue;
            }
            // Nothing to read: wait for inotify (or a delivery), or poll with Flume's growing
            // back-off — but not past the next position write.
            backoff = (backoff + self.s.backoff_sleep_increment).min(self.s.max_backoff_sleep);
            let until_write = self
                .next_position_write()
                .saturating_duration_since(Instant::now());
            // maxBackoffSleep and writePosInterval are the user's: the wait may be long.
            processor.waiting();
            notified = self
                .watch
                .wait(backoff.min(until_write), shutdown, &self.s.groups);
            processor.working();
            if notified {
                // Woken by a write: let the writer add more lines before reading, about as long
                // as the recent rate takes to fill a batch (GATHER_MIN..GATHER_MAX), unless a
                // batch is already there by GATHER_PEEK.
                let wait = gather(&self.rate, self.s.batch_size);
                let peek = wait.min(GATHER_PEEK);
                shutdown.sleep(peek);
                if wait > peek && !self.batch_waiting() {
                    shutdown.sleep(wait - peek);
                }
            }
        }
        self.finish(shutdown);
    }

    /// Whether the files named by notifications hold at least a batch of unread lines (at the
    /// mean line length read so far), by their sizes.
    fn batch_waiting(&mut self) -> bool {
        let Some(names) = self.watch.changed(&self.s.groups) else {
            return false;
        };
        if self.names.is_stale() {
            self.names.rebuild(&self.files);
        }
        let line_len = match (self.bytes_read, self.lines_read) {
            (b, l) if l > 0 => (b / l).max(1),
            _ => 100,
        };
        let wanted = line_len.saturating_mul(self.s.batch_size as u64);
        let mut unread = 0u64;
        for id in names.iter().flat_map(|n| self.names.get(n)) {
            let Some(t) = self.files.get(id) else {
                continue;
            };
            // A file not open (empty at start, or closed while idle) by its path.
            let size = match t.stat() {
                Some(st) => Some(st.size),
                None => std::fs::metadata(&t.path).ok().map(|m| m.len()),
            };
            unread += size.unwrap_or(0).saturating_sub(t.next_offset);
            if unread >= wanted {
                return true;
            }
        }
        false
    }

    /// Reads every file with new data, oldest first, at most `maxBatchCount` batches each.
    /// Returns the number of lines stored, or None when stopping left a batch unstored.
    /// `only`: read just the files of these names (named by notifications) and the unfinished
    /// ones.
    fn read_pass(
        &mut self,
        only: Option<&HashSet<OsString>>,
        processor: &mut ChannelProcessor,
        shutdown: &Shutdown,
    ) -> Option<usize> {
        let mut order: Vec<(i64, FileId)> = match only {
            None => self.files.iter().map(|(k, t)| (t.mtime, *k)).collect(),
            Some(names) => {
                if self.names.is_stale() {
                    self.names.rebuild(&self.files);
                }
                let mut order = Vec::with_capacity(names.len() + self.unfinished.len());
                let ids = names.iter().flat_map(|n| self.names.get(n));
                for k in ids.chain(self.unfinished.iter()) {
                    if let Some(t) = self.files.get(k) {
                        order.push((t.mtime, *k));
                    }
                }
                order
            }
        };
        order.sort_unstable();
        // A file both named and unfinished, or named twice (one name in two directories):
        // read once.
        order.dedup();
        let mut total = 0;
        for key in order.into_iter().map(|(_, k)| k) {
            let Some(mut t) = self.files.remove(&key) else {
                continue;
            };
            let before = t.next_offset;
            let r = self.read_file(&mut t, true, processor, shutdown);
            self.bytes_read += t.next_offset.saturating_sub(before);
            self.files.insert(key, t);
            let n = r?;
            self.lines_read += n as u64;
            total += n;
        }
        let mut ghosts = std::mem::take(&mut self.ghosts);
        for t in &mut ghosts {
            total += self.read_file(t, false, processor, shutdown)?;
        }
        ghosts.retain(|t| t.is_open());
        self.ghosts = ghosts;
        if !self.put_pending(processor, shutdown) {
            return None;
        }
        Some(total)
    }

    /// Reads one file's new lines, up to `maxBatchCount` batches: the number of lines stored,
    /// or None when stopping left a batch unstored (its lines are read again after restart).
    /// `tracked`: `t` is one of `files`, taken out of it while it is read (not a ghost, whose
    /// position is never written: its inode belongs to another file now).
    fn read_file(
        &mut self,
        t: &mut TailFile,
        tracked: bool,
        processor: &mut ChannelProcessor,
        shutdown: &Shutdown,
    ) -> Option<usize> {
        if !t.is_open() {
            // Closed (idle or new): reopen only when it has grown.
            let grown = tailfile::identity(&t.path)
                .map(|now| now.id == t.id && now.size > t.next_offset + t.partial_len() as u64)
                .unwrap_or(false);
            if !grown {
                return Some(0);
            }
            match t.open() {
                Ok(true) => self.counter.open_files.add(1),
                Ok(false) => return Some(0),
                Err(e) => {
                    self.counter.event_read_fail.inc();
                    warn!(source = %self.name, "cannot open {}: {e}", t.path.display());
                    return Some(0);
                }
            }
        }
        // A file that appeared while running is not read before it is told apart from a copy.
        // Any other is read without a stat first: the read says whether it grew, and only a
        // read that finds nothing new (or a long read) asks the file's size.
        let mut size = None;
        if !t.classified {
            let Some(Stat { size: now, .. }) = t.stat() else {
                return Some(0);
            };
            if !self.place_new_file(t, now) {
                return Some(0);
            }
            self.restart_if_truncated(t, now);
            size = Some(now);
        }
        let mut read_lines = 0u64;
        // maxBatchCount batches of batchSize lines: what one file may read in one pass. The
        // batches put are not this file's alone (see `pending`), so the bound is on lines.
        let limit = self
            .s
            .max_batch_count
            .saturating_mul(self.s.batch_size as u64);
        // Cleared when the read stops before that (at the end of the file).
        if tracked {
            self.unfinished.insert(t.id);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        while read_lines < limit {
            // What fills the batch being gathered, at most (never 0: a full batch is put).
            let room = self.s.batch_size.saturating_sub(self.pending.len()).max(1);
            let want = room.min(usize::try_from(limit - read_lines).unwrap_or(usize::MAX));
            let extent = match size {
                Some(size) => Extent::Size(size),
                None => Extent::Scratch(&mut scratch),
            };
            let read = t.read_lines_in(want, extent, &self.s.line_limit);
            self.report_long_lines(t);
            let read = match read {
                Ok(r) => r,
                Err(e) => {
                    self.counter.event_read_fail.inc();
                    warn!(source = %self.name, "error reading {}: {e}", t.path.display());
                    break;
                }
            };
            let n = read.lines.len();
            let done = read.at_eof || n < want;
            if size.is_none() && (read.bytes_read == 0 || !done) {
                // Nothing new: is the file shorter than what was read (truncated)? More to
                // read than one batch: the rest of this pass reads up to the size it has now,
                // as a pass always did, so a writer faster than the reader does not hold the
                // pass on this file for ever.
                let Some(Stat { size: now, .. }) = t.stat() else {
                    break;
                };
                size = Some(now);
                if n == 0 && self.restart_if_truncated(t, now) {
                    continue;
                }
            }
            if n > 0 {
                let batch = self.events(t, read.lines);
                self.pending.extend(batch);
                read_lines += n as u64;
                if self.pending.len() >= self.s.batch_size {
                    if !self.put_pending(processor, shutdown) {
                        self.scratch = scratch;
                        return None;
                    }
                    // A long pass over a busy file must not hold the position writes back:
                    // what a crash ships twice is what the position file does not say yet.
                    if Instant::now() >= self.next_position_write() {
                        self.write_positions_with(tracked.then_some(&mut *t));
                    }
                }
            }
            if done {
                self.unfinished.remove(&t.id);
                break;
            }
        }
        self.scratch = scratch;
        Some(read_lines as usize)
    }

    /// The file is shorter than what was read of it (copytruncate, `> file`): it restarts at
    /// 0, and what it held is remembered for a copy of it. Returns whether it was.
    fn restart_if_truncated(&mut self, t: &mut TailFile, size: u64) -> bool {
        if size >= t.next_offset + t.partial_len() as u64 {
            return false;
        }
        warn!(source = %self.name, "{}: file is shorter ({size} bytes) than the position {}: truncated, restarting from offset 0", t.path.display(), t.next_offset);
        let before = t.restart_from_zero();
        self.remember(before);
        true
    }

    /// Puts the lines gathered so far (of one file or several: each event carries its own
    /// file's headers and its file's receipt, so positions still move per file and only past
    /// committed lines); false when stopping abandoned them.
    fn put_pending(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        // Reserved for a usual batch only: `batchSize` is a Java int (up to 2^31 - 1, 128 GiB of
        // events reserved up front); the batch still grows to batchSize as lines come.
        let reserve = self.s.batch_size.min(PENDING_RESERVE);
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(reserve));
        self.store(batch, processor, shutdown)
    }

    /// Counts and logs, once each, the lines longer than `rflume.maxLineLength`.
    fn report_long_lines(&self, t: &mut TailFile) {
        for long in t.take_long_lines() {
            if long.dropped > 0 {
                self.counter.long_line_truncated.inc();
            } else {
                self.counter.long_line_split.inc();
            }
            warn!(source = %self.name, "{}: {}", t.path.display(), long.describe(&self.s.line_limit));
        }
    }

    /// Turns lines into events with the group's headers and one receipt for the batch.
    fn events(&self, t: &TailFile, lines: Vec<Line>) -> Vec<Event> {
        let receipt = t.acks.register(t.next_offset, &self.notice);
        let group_headers = &self.s.groups[t.group].headers;
        let needs_headers =
            !group_headers.is_empty() || self.s.file_header || self.s.byte_offset_header;
        let path = needs_headers.then(|| t.path.display().to_string());
        lines
            .into_iter()
            .map(|Line { body, offset }| {
                let mut headers = Headers::new();
                if needs_headers {
                    for (k, v) in group_headers {
                        headers.insert(k.clone(), v.clone());
                    }
                    if self.s.file_header {
                        headers.insert(
                            self.s.file_header_key.clone(),
                            path.clone().unwrap_or_default(),
                        );
                    }
                    if self.s.byte_offset_header {
                        headers.insert(settings::BYTE_OFFSET_HEADER_KEY, offset.to_string());
                    }
                }
                Event {
                    headers,
                    body,
                    receipt: Some(receipt.clone()),
                }
            })
            .collect()
    }

    /// Puts a batch into the channel, waiting while the channel is full; false when stopping
    /// abandoned it.
    fn store(
        &self,
        batch: Vec<Event>,
        processor: &mut ChannelProcessor,
        shutdown: &Shutdown,
    ) -> bool {
        match processor.put_blocking(batch, shutdown) {
            PutOutcome::Committed => true,
            PutOutcome::Abandoned { lost } => {
                // Not lost for good: the position did not move past these lines.
                warn!(source = %self.name, "stopping with {lost} lines not stored; they will be read again after restart");
                false
            }
        }
    }

    /// Idle files, deleted files, forgotten files and the periodic position write.
    fn housekeeping(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        if self.last_idle_check.elapsed() >= IDLE_CHECK.min(self.s.idle_timeout) {
            self.last_idle_check = Instant::now();
            let mut forget = Vec::new();
            let keys: Vec<FileId> = self.files.keys().copied().collect();
            for key in keys {
                let Some(mut t) = self.files.remove(&key) else {
                    continue;
                };
                let deleted = t.stat().is_some_and(|s| s.nlink == 0);
                let idle_for = t.last_read.elapsed();
                if t.is_open()
                    && (idle_for >= self.s.idle_timeout || (deleted && idle_for >= DELETED_GRACE))
                {
                    let partial = t.take_partial(&self.s.line_limit);
                    self.report_long_lines(&mut t);
                    if !partial.is_empty() {
                        // Flume emits an unterminated last line when the file goes idle.
                        let batch = self.events(&t, partial);
                        if !self.store(batch, processor, shutdown) {
                            self.files.insert(key, t);
                            return;
                        }
                    }
                    t.close();
                    self.counter.open_files.add(-1);
                }
                if (deleted || !t.listed) && !t.is_open() && t.acks.outstanding() == 0 {
                    forget.push(key);
                }
                self.files.insert(key, t);
            }
            for key in forget {
                if let Some(t) = self.files.remove(&key) {
                    debug!(source = %self.name, "no longer tracking {} (deleted or renamed away, fully read)", t.path.display());
                    self.remember(t.lineage());
                }
            }
            self.forget_old_history();
            self.ghosts.retain(|t| t.is_open());
            let files = &self.files;
            self.unfinished.retain(|k| files.contains_key(k));
        }
        if Instant::now() >= self.next_position_write() {
            self.write_positions();
        }
    }

    /// On stop: wait (until the drain deadline) for the sinks to deliver what was read, so the
    /// final positions are as far as possible, then write them.
    fn finish(&mut self, shutdown: &Shutdown) {
        loop {
            let outstanding: usize = self.files.values().map(|t| t.acks.outstanding()).sum();
            if outstanding == 0 || shutdown.deadline_passed() {
                if outstanding > 0 {
                    info!(source = %self.name, "{outstanding} batches were not delivered before the drain deadline; their lines will be read again after restart");
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !self.write_positions() {
            error!(source = %self.name, "stopping WITHOUT saving the positions to {}: the next start resumes from the positions last saved and ships the lines delivered since then again", self.s.position_file.display());
        }
        self.counter.open_files.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Channel, TakeTransaction};
    use crate::event::Event;
    use crate::metrics::ChannelCounter;
    use crate::source::processor::ReplicatingSelector;
    use crate::source::taildir::position;
    use regex::Regex;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use std::sync::Arc;

    fn settings(dir: &Path, batch_size: usize, max_batch_count: u64) -> TaildirSettings {
        TaildirSettings {
            groups: vec![settings::FileGroupSettings {
                name: "f1".into(),
                dir: dir.to_path_buf(),
                pattern: ".*\\.log".into(),
                regex: Regex::new("^(?:.*\\.log)$").expect("regex"),
                headers: vec![],
            }],
            position_file: dir.join("pos.json"),
            byte_offset_header: false,
            skip_to_end: false,
            idle_timeout: Duration::from_secs(120),
            write_pos_interval: Duration::from_secs(3),
            batch_size,
            max_batch_count,
            backoff_sleep_increment: Duration::from_millis(10),
            max_backoff_sleep: Duration::from_millis(50),
            cache_pattern_matching: true,
            file_header: false,
            file_header_key: "file".into(),
            line_limit: Default::default(),
        }
    }

    /// A memory channel (10,000 / 100) and a processor of source r1 feeding it.
    fn memory_pipeline() -> (Arc<dyn Channel>, ChannelProcessor, Arc<SourceCounter>) {
        crate::source::processor::memory_pipeline(10_000, 100)
    }

    /// One read pass over a busy and a quiet file; returns the bodies stored, in order.
    fn one_pass(max_batch_count: u64) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy: String = (0..1000).map(|i| format!("busy {i}\n")).collect();
        std::fs::write(dir.path().join("a-busy.log"), busy).expect("write");
        std::fs::write(dir.path().join("b-quiet.log"), "quiet 0\n").expect("write");
        let (channel, mut processor, counter) = memory_pipeline();
        let mut t = Tailer::new(
            "r1".into(),
            settings(dir.path(), 10, max_batch_count),
            counter,
        );
        t.restore();
        // Same mtime ordering whatever the filesystem's timestamp granularity: busy first.
        for f in t.files.values_mut() {
            f.mtime = if f.path.ends_with("a-busy.log") { 1 } else { 2 };
        }
        let stop = Shutdown::new();
        t.read_pass(None, &mut processor, &stop)
            .expect("not stopping");
        let mut bodies = Vec::new();
        loop {
            let txn = TakeTransaction::begin(&channel, 100, Duration::ZERO);
            if txn.is_empty() {
                return bodies;
            }
            bodies.extend(
                txn.events()
                    .iter()
                    .map(|e| String::from_utf8_lossy(&e.body).into_owned()),
            );
            txn.commit();
        }
    }

    #[test]
    fn max_batch_count_lets_a_quiet_file_in_between_batches_of_a_busy_one() {
        let fair = one_pass(1);
        assert_eq!(
            fair.len(),
            11,
            "one batch of the busy file, then the quiet file"
        );
        assert_eq!(fair.last().map(String::as_str), Some("quiet 0"));
        let greedy = one_pass(u64::MAX);
        assert_eq!(
            greedy.len(),
            1001,
            "without a limit the busy file is read to its end first"
        );
        assert_eq!(greedy.last().map(String::as_str), Some("quiet 0"));
    }

    /// A pass that reads only the files notifications named finds a file under its new name
    /// after a rename (the name index follows the listing), and not under the old one.
    #[test]
    fn a_renamed_file_is_read_under_its_new_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, "one\n").expect("write");
        let (channel, mut processor, counter) = memory_pipeline();
        let mut t = Tailer::new("r1".into(), settings(dir.path(), 10, u64::MAX), counter);
        t.restore();
        let stop = Shutdown::new();
        let named = |n: &str| HashSet::from([OsString::from(n)]);
        assert_eq!(
            t.read_pass(Some(&named("a.log")), &mut processor, &stop),
            Some(1)
        );
        std::fs::rename(&a, &b).expect("rename");
        t.scan(true);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&b)
            .expect("open");
        std::io::Write::write_all(&mut f, b"two\n").expect("append");
        assert_eq!(
            t.read_pass(Some(&named("a.log")), &mut processor, &stop),
            Some(0),
            "no file is called a.log any more"
        );
        assert_eq!(
            t.read_pass(Some(&named("b.log")), &mut processor, &stop),
            Some(1)
        );
        assert_eq!(channel.len(), 2);
    }

    /// The early end of a long gather: it comes once the files notifications named hold a
    /// batch of unread lines (at the mean length read so far), not before.
    #[test]
    fn a_batch_of_unread_lines_ends_the_gather_early() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("a.log");
        std::fs::write(&log, "one\n").expect("write");
        let (_channel, mut processor, counter) = memory_pipeline();
        let mut t = Tailer::new("r1".into(), settings(dir.path(), 10, u64::MAX), counter);
        t.restore();
        t.scan(true);
        let stop = Shutdown::new();
        assert_eq!(t.read_pass(None, &mut processor, &stop), Some(1));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        std::io::Write::write_all(&mut f, b"two\nsix\nten\n").expect("append");
        crate::testing::wait_for("a notification naming a.log", || {
            t.watch
                .changed(&t.s.groups)
                .is_some_and(|c| c.contains(OsString::from("a.log").as_os_str()))
        });
        assert!(!t.batch_waiting(), "3 unread lines of a batch of 10");
        std::io::Write::write_all(&mut f, b"1-4\n2-4\n3-4\n4-4\n5-4\n6-4\n7-4\n").expect("append");
        assert!(t.batch_waiting(), "10 unread lines of 4 bytes each");
    }

    /// A position write that would write what the files already say is skipped (each write
    /// is two fsynced files, renamed into place: a new inode each time); one that changes them
    /// is not.
    #[test]
    fn a_position_write_that_changes_nothing_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("app.log"), "one\ntwo\n").expect("write");
        let s = settings(dir.path(), 10, u64::MAX);
        let pos_file = s.position_file.clone();
        let mut t = Tailer::new("r1".into(), s, Arc::new(SourceCounter::default()));
        t.restore();
        let inode = || std::fs::metadata(&pos_file).expect("position file").ino();
        assert!(t.write_positions());
        let first = inode();
        assert!(t.write_positions());
        assert_eq!(inode(), first, "nothing moved: not written again");
        for f in t.files.values_mut() {
            f.acks = super::super::acks::FileAcks::new(4);
        }
        assert!(t.write_positions());
        assert_ne!(inode(), first, "a position moved: written");
        assert_eq!(position::load(&pos_file).expect("load")[0].pos, 4);
    }

    /// The lines of several files share a put, each event with its own file's header, and each
    /// file's position moves only once the put is committed.
    #[test]
    fn several_files_share_a_put_and_keep_their_own_headers_and_positions() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..5 {
            std::fs::write(
                dir.path().join(format!("f{i}.log")),
                format!("line of {i}\n"),
            )
            .expect("write");
        }
        let mut s = settings(dir.path(), 100, 1);
        s.file_header = true;
        let (channel, mut processor, counter) = memory_pipeline();
        processor.count_batches(crate::source::BatchCounts::ReceivedAndAccepted);
        let mut t = Tailer::new("r1".into(), s, counter.clone());
        t.restore();
        let stop = Shutdown::new();
        assert_eq!(t.read_pass(None, &mut processor, &stop), Some(5));
        assert_eq!(
            counter.append_batch_received.get(),
            1,
            "one put for five files"
        );
        let txn = TakeTransaction::begin(&channel, 100, Duration::ZERO);
        assert_eq!(txn.events().len(), 5);
        for e in txn.events() {
            let file = e.headers.get("file").expect("file header");
            let i = file
                .trim_end_matches(".log")
                .rsplit('f')
                .next()
                .expect("index");
            assert_eq!(&e.body[..], format!("line of {i}").as_bytes(), "{file}");
        }
        assert!(
            t.files.values().all(|f| f.acks.delivered() == 0),
            "not committed yet"
        );
        txn.commit();
        assert!(t.files.values().all(|f| f.acks.delivered() == 10));
    }

    /// The gather wait follows the rate: a batch's worth of time at high rates, the bounds
    /// beyond them, the longest wait when nothing has been measured.
    #[test]
    fn the_gather_wait_is_the_time_a_batch_takes_within_bounds() {
        let at = |per_second: f64| gather(&ReadRate::at(per_second), 100);
        assert_eq!(at(0.0), GATHER_MAX);
        assert_eq!(at(10_000.0), Duration::from_millis(10));
        assert_eq!(at(1_000_000.0), GATHER_MIN);
        assert_eq!(at(100.0), GATHER_MAX);
    }

    /// A delivery is in the position file long before `writePosInterval` (a minute here): the
    /// read loop writes it within `POSITION_COALESCE` (saving.rs) of the commit, woken by the delivery.
    #[test]
    fn a_delivered_position_is_written_soon_after_the_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("app.log");
        std::fs::write(&log, "one\ntwo\n").expect("write");
        let mut s = settings(dir.path(), 10, u64::MAX);
        s.write_pos_interval = Duration::from_secs(60);
        s.max_backoff_sleep = Duration::from_secs(60);
        s.backoff_sleep_increment = Duration::from_secs(60);
        let pos_file = s.position_file.clone();
        let (channel, mut processor, counter) = memory_pipeline();
        let stop = Shutdown::new();
        let stop2 = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut t = Tailer::new("r1".into(), s, counter);
            t.restore();
            t.run(&mut processor, &stop2);
        });
        let saved = || -> u64 {
            position::load(&pos_file)
                .ok()
                .and_then(|e| e.first().map(|p| p.pos))
                .unwrap_or(0)
        };
        crate::testing::wait_for("both lines are in the channel", || channel.len() == 2);
        // The loop is idle now, in a back-off of a minute; the commit must wake it.
        assert_eq!(saved(), 0, "nothing was delivered yet");
        TakeTransaction::begin(&channel, 10, Duration::ZERO).commit();
        crate::testing::wait_for("the delivered position is saved", || saved() == 8);
        stop.trigger(std::time::Instant::now());
        reader.join().expect("reader");
    }

    /// A durable channel as slow as a disk: every put takes 30 ms; it acknowledges the receipts
    /// at once (as the file channel does) and, at its 15th put, reads the position file.
    struct SlowDurable {
        puts: std::sync::atomic::AtomicUsize,
        seen_at_15th: std::sync::Mutex<Option<u64>>,
        position_file: std::path::PathBuf,
        counter: Arc<ChannelCounter>,
    }

    impl Channel for SlowDurable {
        fn name(&self) -> &str {
            "slow"
        }
        fn kind(&self) -> &'static str {
            "slow"
        }
        fn put(&self, events: &mut Vec<Event>) -> Result<(), crate::channel::ChannelError> {
            for e in events.iter_mut() {
                if let Some(r) = e.receipt.take() {
                    r.ack();
                }
            }
            events.clear();
            let n = self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 14 {
                let saved = position::load(&self.position_file)
                    .ok()
                    .and_then(|e| e.first().map(|p| p.pos));
                *self.seen_at_15th.lock().expect("lock") = saved;
            }
            // The disk's time for an fsync: what makes one pass over a busy file long.
            std::thread::sleep(Duration::from_millis(30));
            Ok(())
        }
        fn take_raw(&self, _: usize, _: Duration) -> Vec<Event> {
            Vec::new()
        }
        fn commit_take(&self, _: &[Event]) {}
        fn rollback_take(&self, _: Vec<Event>) {}
        fn len(&self) -> usize {
            0
        }
        fn len_including_in_flight(&self) -> usize {
            0
        }
        fn capacity(&self) -> usize {
            usize::MAX
        }
        fn transaction_capacity(&self) -> usize {
            10
        }
        fn counter(&self) -> &Arc<ChannelCounter> {
            &self.counter
        }
    }

    /// One pass over a busy file that takes longer than the coalescing interval (30 batches of
    /// 30 ms) writes positions on the way, not only when it ends: a crash in the middle of a
    /// long pass must not ship the whole pass twice.
    #[test]
    fn positions_are_written_during_a_long_pass_over_a_busy_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text: String = (0..300).map(|i| format!("line {i:03}\n")).collect();
        std::fs::write(dir.path().join("busy.log"), text).expect("write");
        let mut s = settings(dir.path(), 10, u64::MAX);
        s.write_pos_interval = Duration::from_secs(60);
        let slow = Arc::new(SlowDurable {
            puts: Default::default(),
            seen_at_15th: Default::default(),
            position_file: s.position_file.clone(),
            counter: Arc::new(ChannelCounter::default()),
        });
        let counter = Arc::new(SourceCounter::default());
        let mut processor = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![slow.clone() as Arc<dyn Channel>],
                optional: vec![],
            },
            counter.clone(),
        );
        let mut t = Tailer::new("r1".into(), s, counter);
        t.restore();
        let stop = Shutdown::new();
        assert_eq!(
            t.read_pass(None, &mut processor, &stop),
            Some(300),
            "one pass reads it all"
        );
        let seen = *slow.seen_at_15th.lock().expect("lock");
        let pos = seen.expect("the position file was written before the 15th batch");
        assert!(
            pos > 0 && pos < 300 * 9,
            "a position in the middle of the pass: {pos}"
        );
    }

    /// Resumes `app.log` from a position file Flume wrote (no rflume sidecar) whose entry has
    /// `app.log`'s inode and names `named`; returns where the file resumes.
    fn resume_from_flumes_position_file(named: &str) -> u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = dir.path().join("app.log");
        std::fs::write(&app, "line 1\nline 2\nline 3\n").expect("write");
        let ino = std::fs::metadata(&app).expect("stat").ino();
        let file = if named == "app.log" {
            app.display().to_string()
        } else {
            dir.path().join(named).display().to_string()
        };
        let s = settings(dir.path(), 10, u64::MAX);
        std::fs::write(
            &s.position_file,
            format!(r#"[{{"inode":{ino},"pos":7,"file":"{file}"}}]"#),
        )
        .expect("write position file");
        let mut t = Tailer::new("r1".into(), s, Arc::new(SourceCounter::default()));
        t.restore();
        let f = t
            .files
            .values()
            .find(|f| f.path == app)
            .expect("app.log is tracked");
        f.next_offset
    }

    /// Flume's `TailFile.updatePos` applies an entry only when inode and path both match.
    #[test]
    fn a_flume_position_entry_applies_only_to_the_same_inode_and_path() {
        assert_eq!(resume_from_flumes_position_file("app.log"), 7);
        assert_eq!(
            resume_from_flumes_position_file("old.log"),
            0,
            "a matching inode under another name may be a new file: read from its first line"
        );
    }
}
