//! The read loop: one thread for all files. Each turn takes the change notifications, rescans
//! what changed, reads every file with new data (oldest first, at most `maxBatchCount` batches
//! each, so a busy file does not starve quiet ones), puts each batch into the channel with one
//! delivery receipt, then does the housekeeping: idle and deleted files are closed, fully read
//! files that are gone are forgotten, and the delivered positions are written every
//! `writePosInterval`. With nothing to read it waits for a notification, or polls with Flume's
//! growing back-off. On stop it waits (up to the drain deadline) for the sinks to deliver what
//! was read, and writes the final positions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, error, info, warn};

use super::position::{self, PosEntry};
use super::settings::{self, TaildirSettings};
use super::tailfile::{self, FileId, Line, Lineage, Stat, TailFile};
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
    last_pos_write: Instant,
    last_idle_check: Instant,
    pub(super) watch: Watch,
    /// How position-file failures have been reported (unsaved.rs).
    saves: SaveReport,
}

impl Tailer {
    pub(super) fn new(name: String, s: TaildirSettings, counter: Arc<SourceCounter>) -> Self {
        let groups = s.groups.len();
        let watch = Watch::new(&name, &s);
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
        }
    }

    pub(super) fn run(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        self.scan(true);
        // Written once at start, so that a position file that cannot be written is an error
        // now, before any line is read, not a surprise at the first interval.
        self.write_positions();
        let mut backoff = Duration::ZERO;
        while !shutdown.is_stopping() {
            let wake = self.watch.drain_events(&self.s.groups);
            let force = self.last_scan.elapsed() >= FORCED_RESCAN;
            self.scan(force || wake.rescan);
            let read = match self.read_pass(processor, shutdown) {
                Some(n) => n,
                None => break,
            };
            self.housekeeping(processor, shutdown);
            if read > 0 || wake.any {
                backoff = Duration::ZERO;
                continue;
            }
            // Nothing to read: wait for inotify, or poll with Flume's growing back-off.
            backoff = (backoff + self.s.backoff_sleep_increment).min(self.s.max_backoff_sleep);
            self.watch.wait(backoff, shutdown);
        }
        self.finish(shutdown);
    }

    /// Reads every file with new data, oldest first, at most `maxBatchCount` batches each.
    /// Returns the number of lines stored, or None when stopping left a batch unstored.
    fn read_pass(
        &mut self,
        processor: &mut ChannelProcessor,
        shutdown: &Shutdown,
    ) -> Option<usize> {
        let mut order: Vec<(i64, FileId)> = self.files.iter().map(|(k, t)| (t.mtime, *k)).collect();
        order.sort();
        let mut total = 0;
        for key in order.into_iter().map(|(_, k)| k) {
            let Some(mut t) = self.files.remove(&key) else {
                continue;
            };
            let r = self.read_file(&mut t, processor, shutdown);
            self.files.insert(key, t);
            total += r?;
        }
        let mut ghosts = std::mem::take(&mut self.ghosts);
        for t in &mut ghosts {
            total += self.read_file(t, processor, shutdown)?;
        }
        ghosts.retain(|t| t.is_open());
        self.ghosts = ghosts;
        Some(total)
    }

    /// Reads one file's new lines, up to `maxBatchCount` batches: the number of lines stored,
    /// or None when stopping left a batch unstored (its lines are read again after restart).
    fn read_file(
        &mut self,
        t: &mut TailFile,
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
        let Some(Stat { size, .. }) = t.stat() else {
            return Some(0);
        };
        // A file that appeared while running is not read before it is told apart from a copy.
        if !t.classified && !self.place_new_file(t, size) {
            return Some(0);
        }
        if size < t.next_offset + t.partial_len() as u64 {
            warn!(source = %self.name, "{}: file is shorter ({size} bytes) than the position {}: truncated, restarting from offset 0", t.path.display(), t.next_offset);
            let before = t.restart_from_zero();
            self.remember(before);
        }
        let mut stored = 0;
        for _ in 0..self.s.max_batch_count {
            let read = t.read_lines(self.s.batch_size, size, &self.s.line_limit);
            self.report_long_lines(t);
            let read = match read {
                Ok(r) => r,
                Err(e) => {
                    self.counter.event_read_fail.inc();
                    warn!(source = %self.name, "error reading {}: {e}", t.path.display());
                    return Some(stored);
                }
            };
            let n = read.lines.len();
            if n > 0 {
                let batch = self.events(t, read.lines);
                if !self.store(batch, processor, shutdown) {
                    return None;
                }
                stored += n;
            }
            if read.at_eof || n < self.s.batch_size {
                break;
            }
        }
        Some(stored)
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
        let receipt = t.acks.register(t.next_offset);
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
        }
        if self.last_pos_write.elapsed() >= self.s.write_pos_interval {
            self.write_positions();
        }
    }

    /// Writes each file's delivered position (not how far it was read: a `kill -9` must not
    /// skip lines still in a memory channel), in a stable order, with its fingerprint. Returns
    /// whether they were saved.
    fn write_positions(&mut self) -> bool {
        self.last_pos_write = Instant::now();
        let mut entries = Vec::with_capacity(self.files.len());
        let mut fps = Vec::with_capacity(self.files.len());
        let mut keys: Vec<&FileId> = self.files.keys().collect();
        keys.sort();
        let keys: Vec<FileId> = keys.into_iter().copied().collect();
        for key in keys {
            let Some(t) = self.files.get_mut(&key) else {
                continue;
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
        match position::save(&self.s.position_file, &entries, &fps) {
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
    use crate::channel::memory::{MemoryChannel, MemorySettings};
    use crate::channel::{Channel, TakeTransaction};
    use crate::metrics::ChannelCounter;
    use crate::source::processor::ReplicatingSelector;
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

    /// One read pass over a busy and a quiet file; returns the bodies stored, in order.
    fn one_pass(max_batch_count: u64) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy: String = (0..1000).map(|i| format!("busy {i}\n")).collect();
        std::fs::write(dir.path().join("a-busy.log"), busy).expect("write");
        std::fs::write(dir.path().join("b-quiet.log"), "quiet 0\n").expect("write");
        let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings {
                capacity: 10_000,
                transaction_capacity: 100,
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ));
        let counter = Arc::new(SourceCounter::default());
        let mut processor = ChannelProcessor::new(
            "r1",
            vec![],
            ReplicatingSelector {
                required: vec![channel.clone()],
                optional: vec![],
            },
            counter.clone(),
        );
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
        t.read_pass(&mut processor, &stop).expect("not stopping");
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
