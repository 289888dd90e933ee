//! The spooling directory source at run time: one thread that picks the next file, reads it in
//! batches of lines, puts each batch into the channel with a delivery receipt, and retires a file
//! (rename, delete or tracker marker) once the sinks delivered all of it.
//!
//! Reading runs ahead of delivery: while the last batches of a file are still in the channel the
//! next file is already being read. Each file's delivered offset ([`FileAcks`]) is what
//! [`Tracker`] persists — at most [`SAVE_EVERY`] after it moved, and at once when a file is
//! retired — so `kill -9` loses nothing and re-ships at most that much. The thread sleeps when
//! there is nothing to read and wakes on a delivery (to retire a file), on a stop, or after
//! `pollDelay` to look for new files. Retiring a delivered file is `retire.rs`'s.

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use tracing::{error, info, warn};

use super::lines::{Decoding, LineError, LineReader};
use super::scan::{self, Candidate};
use super::tracker::{Entry, Tracker};
use super::{DeletePolicy, SpoolDirSettings, TrackingPolicy};
use crate::event::{Event, Headers, Receipt};
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;
use crate::source::taildir::acks::{DeliveryNotice, FileAcks};
use crate::source::{ChannelProcessor, PutOutcome};

/// How long delivered progress may wait before it is written.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How often a missing or unusable spooling directory is tried again (Flume's supervisor
/// restarts a source that failed to start every few seconds too).
const RETRY_START: Duration = Duration::from_secs(10);
/// How often a repeated warning (truncated lines) is logged.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// What a file looked like when it was picked up (Flume's `FileInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: Option<SystemTime>,
}

impl Identity {
    fn of(path: &Path) -> std::io::Result<Identity> {
        let m = std::fs::metadata(path)?;
        Ok(Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime: m.modified().ok(),
        })
    }
}

/// A file picked up and not yet retired.
pub(super) struct InFlight {
    pub(super) path: PathBuf,
    id: Identity,
    pub(super) acks: Arc<FileAcks>,
    /// Set once every line was read: the offset all of it is delivered at.
    pub(super) end: Option<u64>,
    /// Reported and left alone until a restart (changed, name clash, undecodable).
    pub(super) stuck: bool,
}

struct Reading {
    lines: LineReader,
    /// Flume's empty-file rule: an empty file gives one event with an empty body.
    empty_event: bool,
    file_header: Option<String>,
    basename_header: Option<String>,
}

pub struct Spooler {
    pub(super) name: String,
    pub(super) s: SpoolDirSettings,
    counter: Arc<SourceCounter>,
    tracker: Option<Tracker>,
    pub(super) files: Vec<InFlight>,
    reading: Option<Reading>,
    /// Files left from the last run, resumed before anything new.
    resume: VecDeque<Entry>,
    queue: VecDeque<Candidate>,
    last_scan: Option<Instant>,
    pub(super) set_aside: HashSet<PathBuf>,
    saved: Vec<Entry>,
    last_save: Instant,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    /// TAILDIR's notice of a moved position; unused here (each receipt wakes the loop itself,
    /// on every delivery, to retire finished files).
    notice: Arc<DeliveryNotice>,
    last_truncation_warning: Option<Instant>,
}

impl Spooler {
    pub fn new(name: &str, s: SpoolDirSettings, counter: Arc<SourceCounter>) -> Self {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Spooler {
            name: name.to_string(),
            s,
            counter,
            tracker: None,
            files: Vec::new(),
            reading: None,
            resume: VecDeque::new(),
            queue: VecDeque::new(),
            last_scan: None,
            set_aside: HashSet::new(),
            saved: Vec::new(),
            last_save: Instant::now(),
            wake_tx,
            wake_rx,
            notice: DeliveryNotice::new(|| {}),
            last_truncation_warning: None,
        }
    }

    pub fn run(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        // A stop must wake the thread wherever it waits.
        let tx = self.wake_tx.clone();
        let stop = shutdown.clone();
        std::thread::spawn(move || {
            stop.sleep(Duration::MAX);
            let _ = tx.try_send(());
        });
        if !self.start(shutdown) {
            return;
        }
        info!(source = %self.name, "SpoolDirectorySource source starting with directory: {}", self.s.spool_dir.display());
        while !shutdown.is_stopping() {
            self.retire_delivered();
            self.save(false);
            if self.reading.is_none() {
                self.open_next();
            }
            if self.reading.is_some() {
                if !self.read_batch(processor, shutdown) {
                    break;
                }
            } else {
                let _ = self.wake_rx.recv_timeout(self.s.poll_delay);
            }
        }
        self.finish(shutdown);
    }

    /// Checks the directory as Flume's reader does at start, and loads what was in flight;
    /// retried until it works or the agent stops.
    fn start(&mut self, shutdown: &Shutdown) -> bool {
        loop {
            match self.try_start() {
                Ok(()) => return true,
                Err(e) => {
                    error!(source = %self.name, "Unable to start the spooling directory source: {e}; retrying every {}s", RETRY_START.as_secs());
                    if shutdown.sleep(RETRY_START) {
                        return false;
                    }
                }
            }
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let dir = &self.s.spool_dir;
        if !dir.is_dir() {
            return Err(format!(
                "Directory does not exist or is not a directory: {} (create it)",
                dir.display()
            ));
        }
        if self.s.tracking_policy == TrackingPolicy::Rename
            || self.s.delete_policy == DeletePolicy::Immediate
        {
            // Flume's canary: finished files are renamed or deleted in this directory.
            let canary = dir.join(format!(
                ".rflume-spooldir-perm-check-{}",
                std::process::id()
            ));
            std::fs::write(&canary, b"testing rflume file permissions\n")
                .and_then(|()| std::fs::remove_file(&canary))
                .map_err(|e| {
                    format!(
                        "Unable to read and modify files in the spooling directory {}: {e}",
                        dir.display()
                    )
                })?;
        }
        let tracker = Tracker::open(&self.s.tracker_path()).map_err(|e| e.to_string())?;
        let (entries, from_flume) = tracker.load().map_err(|e| e.to_string())?;
        if from_flume {
            for e in &entries {
                info!(source = %self.name, "resuming {} at byte {} from Flume's {}", e.path, e.delivered, super::tracker::FLUME_META_FILE);
            }
        }
        // What was loaded counts as saved: any change to it (even its end) is written.
        self.saved = entries.clone();
        self.resume = entries.into();
        self.tracker = Some(tracker);
        Ok(())
    }

    fn decoding(&self) -> Decoding {
        Decoding {
            input: self.s.input_charset,
            output: self.s.output_charset,
            policy: self.s.decode_error_policy,
            max_chars: self.s.max_line_length,
        }
    }

    /// Opens the next file: one left in flight by the last run, else the next candidate.
    fn open_next(&mut self) {
        while let Some(e) = self.resume.pop_front() {
            let path = PathBuf::from(&e.path);
            let Ok(id) = Identity::of(&path) else {
                // Retired (renamed or deleted) before the last run could record it.
                continue;
            };
            if id.dev != e.dev || id.ino != e.ino {
                // The name now belongs to another file: that one is new, found by the scan.
                continue;
            }
            if self.is_retired(&path) {
                continue;
            }
            if id.size < e.delivered {
                error!(source = %self.name, "File has changed size since being read: {} is {} bytes, {} were delivered; left untouched (move it away or restart once it is complete)", path.display(), id.size, e.delivered);
                self.set_aside.insert(path);
                continue;
            }
            if self.open(path, id, e.delivered) {
                return;
            }
        }
        loop {
            let stale = self
                .last_scan
                .is_none_or(|t| t.elapsed() >= self.s.poll_delay);
            if self.queue.is_empty() && stale {
                let tracker = self.s.tracker_path();
                let (found, errors) = scan::scan(&self.s, &tracker);
                for e in errors {
                    self.counter.generic_processing_fail.inc();
                    error!(source = %self.name, "I/O exception occurred while listing directories. Files already matched will be returned. {e}");
                }
                self.queue = found;
                self.last_scan = Some(Instant::now());
            }
            let Some(c) = self.queue.pop_front() else {
                return;
            };
            if self.set_aside.contains(&c.path) || self.files.iter().any(|f| f.path == c.path) {
                continue;
            }
            let Ok(id) = Identity::of(&c.path) else {
                continue;
            };
            if self.open(c.path, id, 0) {
                return;
            }
        }
    }

    /// Whether `path` was already finished by a tracker marker (tracker_dir policy).
    fn is_retired(&self, path: &Path) -> bool {
        self.s.tracking_policy == TrackingPolicy::TrackerDir
            && scan::marker(&self.s, &self.s.tracker_path(), path).is_some_and(|m| m.exists())
    }

    fn open(&mut self, path: PathBuf, id: Identity, offset: u64) -> bool {
        let lines = match LineReader::open(&path, offset, id.size, self.decoding()) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warn!(source = %self.name, "Could not find file: {}", path.display());
                return false;
            }
            Err(e) => {
                self.counter.generic_processing_fail.inc();
                error!(source = %self.name, "Exception opening file: {}: {e}; left untouched until a restart", path.display());
                self.set_aside.insert(path);
                return false;
            }
        };
        let file_header = self.s.file_header.then(|| {
            std::path::absolute(&path)
                .unwrap_or_else(|_| path.clone())
                .display()
                .to_string()
        });
        let basename_header = self.s.basename_header.then(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        self.files.push(InFlight {
            path,
            id,
            acks: FileAcks::new(offset),
            end: None,
            stuck: false,
        });
        self.reading = Some(Reading {
            lines,
            empty_event: offset == 0 && id.size == 0,
            file_header,
            basename_header,
        });
        true
    }

    /// Reads and puts one batch of the current file; false when the agent stopped before the
    /// batch was stored (its lines are read again after a restart).
    fn read_batch(&mut self, processor: &mut ChannelProcessor, shutdown: &Shutdown) -> bool {
        let max = self.s.batch_size.min(processor.max_batch()).max(1);
        let Some(r) = self.reading.as_mut() else {
            return true;
        };
        // Reserved for a usual batch only: `batchSize` is a Java int (up to 2^31 - 1, 64 GiB of
        // `Bytes` reserved up front), and the batch grows as lines come.
        let mut bodies = Vec::with_capacity(max.min(1024));
        let mut end = r.lines.position();
        let mut done = false;
        let mut failure = None;
        let mut truncated = 0usize;
        if std::mem::take(&mut r.empty_event) {
            bodies.push(bytes::Bytes::new());
        }
        while bodies.len() < max {
            match r.lines.next_line() {
                Ok(Some(l)) => {
                    truncated += usize::from(l.truncated);
                    end = l.end;
                    bodies.push(l.body);
                }
                Ok(None) => {
                    done = true;
                    break;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut headers = Headers::new();
        if let Some(f) = &r.file_header {
            headers.insert(self.s.file_header_key.clone(), f.clone());
        }
        if let Some(b) = &r.basename_header {
            headers.insert(self.s.basename_header_key.clone(), b.clone());
        }
        if truncated > 0 {
            self.warn_truncated(truncated);
        }
        let Some(file) = self.files.last_mut() else {
            return true;
        };
        if !bodies.is_empty() {
            let inner = file.acks.register(end, &self.notice);
            inner.expect(1);
            let wake = self.wake_tx.clone();
            let receipt = Receipt::new(move || {
                inner.ack();
                let _ = wake.try_send(());
            });
            let events: Vec<Event> = bodies
                .into_iter()
                .map(|body| Event {
                    headers: headers.clone(),
                    body,
                    receipt: Some(receipt.clone()),
                })
                .collect();
            if let PutOutcome::Abandoned { lost } = processor.put_blocking(events, shutdown) {
                warn!(source = %self.name, "stopping with {lost} lines of {} not stored; they will be read again after restart", file.path.display());
                return false;
            }
        }
        if let Some(e) = failure {
            let path = file.path.display().to_string();
            file.stuck = true;
            self.set_aside.insert(file.path.clone());
            self.reading = None;
            match e {
                LineError::Malformed { .. } => {
                    self.counter.event_read_fail.inc();
                    error!(source = %self.name, "FATAL in Flume (the source stops): {path}: {e} (decodeErrorPolicy = FAIL). rflume left the file untouched after its last good line and goes on with the other files; fix the file or set decodeErrorPolicy = REPLACE or IGNORE, then restart");
                }
                LineError::Io(e) => {
                    self.counter.event_read_fail.inc();
                    error!(source = %self.name, "reading {path}: {e}; the file is left untouched until a restart");
                }
            }
            return true;
        }
        if done {
            self.reading = None;
            self.finished_reading(end);
        }
        true
    }

    fn warn_truncated(&mut self, n: usize) {
        let now = Instant::now();
        if self
            .last_truncation_warning
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last_truncation_warning = Some(now);
            warn!(source = %self.name, "Line length exceeds max ({}), truncating line! ({n} line(s) in the last batch; as in Flume, the rest of each such line is the next event)", self.s.max_line_length);
        }
    }

    /// The last file was read to its end: it must still be what it was when picked up (Flume's
    /// spooling assumptions), else it is reported and left alone.
    fn finished_reading(&mut self, end: u64) {
        let name = self.name.clone();
        let Some(file) = self.files.last_mut() else {
            return;
        };
        match Identity::of(&file.path) {
            Ok(now) if now == file.id => file.end = Some(end),
            Ok(now) => {
                let what = if now.size != file.id.size {
                    "File has changed size since being read"
                } else {
                    "File has been modified since being read"
                };
                error!(source = %name, "{what}: {} (Flume throws IllegalStateException and stops the source). Nothing was lost: the {end} bytes read so far are delivered, the file is left untouched and the other files go on; restart rflume once the file is complete to read the rest. Files must be complete and unchanging when they are placed in the spooling directory", file.path.display());
                file.stuck = true;
                self.set_aside.insert(file.path.clone());
            }
            Err(e) => {
                warn!(source = %name, "{} disappeared while being read ({e}); the {end} bytes read are delivered", file.path.display());
                file.end = Some(end);
                file.stuck = true;
            }
        }
    }

    /// Writes the delivered progress when it changed: at once with `now`, else at most every
    /// [`SAVE_EVERY`].
    pub(super) fn save(&mut self, now: bool) {
        let Some(tracker) = &self.tracker else {
            return;
        };
        if !now && self.last_save.elapsed() < SAVE_EVERY {
            return;
        }
        let entries: Vec<Entry> = self
            .files
            .iter()
            .map(|f| Entry {
                path: f.path.display().to_string(),
                dev: f.id.dev,
                ino: f.id.ino,
                delivered: f.acks.delivered(),
            })
            .collect();
        if entries == self.saved {
            return;
        }
        self.last_save = Instant::now();
        match tracker.save(&entries) {
            Ok(()) => self.saved = entries,
            Err(e) => {
                self.counter.position_write_fail.inc();
                error!(source = %self.name, "{e}; progress is kept in memory and written again");
            }
        }
    }

    /// On stop: wait (until the drain deadline) for the sinks to deliver what was read, retire
    /// what is done, and write the final progress.
    fn finish(&mut self, shutdown: &Shutdown) {
        loop {
            self.retire_delivered();
            let outstanding: usize = self.files.iter().map(|f| f.acks.outstanding()).sum();
            if outstanding == 0 {
                break;
            }
            let Some(left) = shutdown
                .deadline()
                .and_then(|d| d.checked_duration_since(Instant::now()))
            else {
                info!(source = %self.name, "{outstanding} batches were not delivered before the drain deadline; their lines will be read again after restart");
                break;
            };
            let _ = self.wake_rx.recv_timeout(left);
        }
        self.save(true);
    }
}
