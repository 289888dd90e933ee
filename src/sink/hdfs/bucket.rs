//! One bucket (Flume's `BucketWriter`): the file currently written for one rendered
//! `path/filePrefix`, when it rolls and how it is named.
//!
//! - A file is named `<inUsePrefix><filePrefix>.<counter><fileSuffix or codec extension><inUseSuffix>`
//!   while written and renamed to `<filePrefix>.<counter><suffix>` when closed; the counter starts
//!   at the bucket's creation time in milliseconds and each new file takes the next number.
//! - Before an event is written, the file rolls when `rollCount` events or `rollSize` bytes of
//!   bodies are in it already (0 disables either), exactly where Flume checks.
//! - `rollInterval` seconds after opening, or `idleTimeout` seconds after the last write, the
//!   file is closed; the sink checks these deadlines between takes.
//! - A close that fails leaves an [`Unfinished`] file the sink retries every `retryInterval`
//!   seconds, up to `closeTries` times (Flume's `CloseHandler` and `ScheduledRenameCallable`); the
//!   same machinery finishes the in-use files an earlier run left behind ([`orphan_name`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{error, info, warn};

use super::format::{Format, FormatError};
use super::fs::{FileSystem, FsError, OutFile};
use super::settings::HdfsSettings;
use crate::event::Event;
use crate::shutdown::later;

#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// What every bucket of one sink shares.
#[derive(Clone, Debug)]
pub struct Naming {
    pub in_use_prefix: String,
    pub in_use_suffix: String,
    /// `fileSuffix`, else the codec's extension.
    pub suffix: String,
    pub roll_count: u64,
    pub roll_size: u64,
    pub roll_interval: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// `closeTries`: attempts to close, and to rename, one file (`i32::MAX` for "until it works").
    pub close_tries: u64,
}

impl Naming {
    pub fn of(s: &HdfsSettings) -> Naming {
        let suffix = if s.file_suffix.is_empty() {
            Format::default_extension(s.file_type).to_string()
        } else {
            s.file_suffix.clone()
        };
        let secs = |n: u64| (n > 0).then(|| Duration::from_secs(n));
        Naming {
            in_use_prefix: s.in_use_prefix.clone(),
            in_use_suffix: s.in_use_suffix.clone(),
            suffix,
            roll_count: s.roll_count,
            roll_size: s.roll_size,
            roll_interval: secs(s.roll_interval),
            idle_timeout: secs(s.idle_timeout),
            close_tries: s.close_tries.max(1),
        }
    }

    /// Whether in-use files carry a name of their own (an in-use prefix or suffix).
    pub fn marks_in_use(&self) -> bool {
        !self.in_use_prefix.is_empty() || !self.in_use_suffix.is_empty()
    }
}

/// If `name` is an in-use file of the bucket whose rendered file prefix is `prefix`
/// (`<inUsePrefix><prefix>.<counter><suffix><inUseSuffix>`, as [`Bucket`] names them), its final
/// name. Only this sink's own naming matches, so files of other prefixes are never touched.
pub fn orphan_name(naming: &Naming, prefix: &str, name: &str) -> Option<String> {
    if !naming.marks_in_use() {
        return None;
    }
    let inner = name
        .strip_prefix(naming.in_use_prefix.as_str())?
        .strip_suffix(naming.in_use_suffix.as_str())?;
    let counter = inner
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .strip_suffix(naming.suffix.as_str())?;
    if counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(inner.to_string())
}

/// A file whose close or rename has not succeeded yet, or an in-use file an earlier run left:
/// the sink retries it every `retryInterval` seconds until it is closed and renamed, or
/// `closeTries` attempts of each were spent.
#[derive(Debug)]
pub struct Unfinished {
    pub in_use_path: String,
    pub final_path: String,
    /// Whether HDFS has the file closed (its length final, its lease released).
    pub closed: bool,
    pub close_tries: u64,
    pub rename_tries: u64,
    /// Asked-and-pending lease recoveries since the last counted try.
    pub recovery_polls: u32,
}

/// What [`Unfinished::retry`] left to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Retry {
    /// Closed and renamed (or given up on, loudly): nothing more to do.
    Finished,
    /// Try again after `retryInterval`.
    Later,
    /// The NameNode is recovering the file's lease: ask again after this long.
    Soon(Duration),
}

/// Asked-and-pending lease recoveries counted as one try of `closeTries`: with the waits of
/// [`recovery_wait`] that is about two minutes (Flume's default `retryInterval` is three).
pub const RECOVERY_POLLS_PER_TRY: u32 = 6;

/// How long to wait before asking again about a lease recovery in progress, after `polls`
/// answers "in progress": 2, 4, 8, 16, 32, 60, 60 … seconds. Never sooner: each `recoverLease`
/// call on a file still under recovery makes Hadoop's NameNode start the block recovery over
/// with a new recovery id (`internalReleaseLease`, seen in its log as `RecoveryId = N` rising
/// by one per call), and the recovery running is then refused when it commits. A recovery
/// whose replicas include a dead DataNode takes longer than 8 s (the primary DataNode retries
/// the dead one) until the NameNode deems that node stale (30 s by default): asked every half
/// second, as rflume once did, such a recovery could only end once the node was stale.
pub fn recovery_wait(polls: u32) -> Duration {
    Duration::from_secs((2u64 << polls.saturating_sub(1).min(5)).min(60))
}

impl Unfinished {
    /// An in-use file left by an earlier run (closed only by lease recovery).
    pub fn orphan(in_use_path: String, final_path: String) -> Unfinished {
        Unfinished {
            in_use_path,
            final_path,
            closed: false,
            close_tries: 0,
            rename_tries: 0,
            recovery_polls: 0,
        }
    }

    /// One more attempt: close the file by recovering its lease (the writer that failed to close
    /// it cannot be asked again: hdfs-native's writer is spent after a failed close, and a dead
    /// agent's writer is gone), then rename it to its final name.
    pub fn retry(&mut self, fs: &mut dyn FileSystem, max_tries: u64, interval: u64) -> Retry {
        if !self.closed && self.close_tries < max_tries {
            match fs.recover_lease(&self.in_use_path) {
                Ok(true) => {
                    self.closed = true;
                    info!("Closed {} (its lease was recovered)", self.in_use_path);
                }
                Ok(false) if self.recovery_polls < RECOVERY_POLLS_PER_TRY => {
                    self.recovery_polls += 1;
                    return Retry::Soon(recovery_wait(self.recovery_polls));
                }
                Ok(false) => {
                    self.close_tries += 1;
                    self.recovery_polls = 0;
                    warn!(
                        "Closing file: {} is still under lease recovery. Will retry again in {interval} seconds.",
                        self.in_use_path
                    );
                }
                Err(e) => {
                    self.close_tries += 1;
                    warn!(
                        "Closing file: {} failed: {e}. Will retry again in {interval} seconds.",
                        self.in_use_path
                    );
                }
            }
            if !self.closed {
                if self.close_tries < max_tries {
                    return Retry::Later;
                }
                warn!(
                    "Unsuccessfully attempted to close {} {max_tries} times: renaming it anyway, \
                     as Flume does (HDFS closes it when its lease expires)",
                    self.in_use_path
                );
            }
        }
        self.rename_tries += 1;
        match rename_if_there(fs, &self.in_use_path, &self.final_path) {
            Ok(()) => Retry::Finished,
            Err(e) if self.rename_tries < max_tries => {
                warn!(
                    "Renaming file: {} failed: {e}. Will retry again in {interval} seconds.",
                    self.in_use_path
                );
                Retry::Later
            }
            Err(e) => {
                error!(
                    "Unsuccessfully attempted to rename {} {max_tries} times ({e}): it keeps its \
                     in-use name; the next start of this sink renames it",
                    self.in_use_path
                );
                Retry::Finished
            }
        }
    }
}

/// Flume's `renameBucket`: rename if the in-use file is still there; never over a file.
fn rename_if_there(fs: &mut dyn FileSystem, from: &str, to: &str) -> Result<(), FsError> {
    if from == to || !fs.exists(from)? {
        return Ok(());
    }
    if fs.exists(to)? {
        return Err(FsError::Io {
            op: "rename",
            path: from.to_string(),
            message: format!("{to} exists already"),
        });
    }
    fs.rename(from, to)?;
    info!("Renaming {from} to {to}");
    Ok(())
}

struct OpenFile {
    out: Box<dyn OutFile>,
    in_use_path: String,
    final_path: String,
    opened_at: Instant,
    events: u64,
    body_bytes: u64,
    /// Bytes of this file made durable by a successful `write_and_flush`: the committed batches.
    synced: u64,
}

pub struct Bucket {
    /// The rendered folder, within its file system.
    dir: String,
    /// The rendered `filePrefix`.
    prefix: String,
    counter: i64,
    file: Option<OpenFile>,
    format: Format,
    last_write: Instant,
    /// Files of this bucket whose close failed, for the sink to retry.
    unfinished: Vec<Unfinished>,
}

impl Bucket {
    pub fn new(dir: &str, prefix: &str, now_ms: i64, format: Format) -> Bucket {
        Bucket {
            dir: dir.trim_end_matches('/').to_string(),
            prefix: prefix.to_string(),
            counter: now_ms,
            file: None,
            format,
            last_write: Instant::now(),
            unfinished: Vec::new(),
        }
    }

    /// The files whose close failed since the last call, for the sink to retry.
    pub fn take_unfinished(&mut self) -> std::vec::Drain<'_, Unfinished> {
        self.unfinished.drain(..)
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// The in-use path of the open file.
    pub fn in_use_path(&self) -> Option<&str> {
        self.file.as_ref().map(|f| f.in_use_path.as_str())
    }

    fn open(&mut self, fs: &mut dyn FileSystem, naming: &Naming) -> Result<(), BucketError> {
        self.counter = self.counter.saturating_add(1);
        let name = format!("{}.{}{}", self.prefix, self.counter, naming.suffix);
        let in_use_path = format!(
            "{}/{}{name}{}",
            self.dir, naming.in_use_prefix, naming.in_use_suffix
        );
        let final_path = format!("{}/{name}", self.dir);
        let out = fs.create(&in_use_path)?;
        info!("Creating {in_use_path}");
        self.format.begin_file();
        self.file = Some(OpenFile {
            out,
            in_use_path,
            final_path,
            opened_at: Instant::now(),
            events: 0,
            body_bytes: 0,
            synced: 0,
        });
        Ok(())
    }

    /// Adds `e` to the file's current batch, rolling first if the file is full.
    pub fn append(
        &mut self,
        fs: &mut dyn FileSystem,
        naming: &Naming,
        e: &Event,
        now_ms: i64,
    ) -> Result<(), BucketError> {
        if self.file.is_none() {
            self.open(fs, naming)?;
        }
        let full = self.file.as_ref().is_some_and(|f| {
            (naming.roll_count > 0 && f.events >= naming.roll_count)
                || (naming.roll_size > 0 && f.body_bytes >= naming.roll_size)
        });
        if full {
            self.close(fs, naming)?;
            self.open(fs, naming)?;
        }
        self.format.append(e, now_ms)?;
        if let Some(f) = self.file.as_mut() {
            f.events += 1;
            f.body_bytes += e.body.len() as u64;
        }
        Ok(())
    }

    /// Writes and flushes what the current batch appended (Flume's `BucketWriter.flush`).
    pub fn flush(&mut self) -> Result<(), BucketError> {
        if !self.format.has_pending() {
            return Ok(());
        }
        let bytes = self.format.finish_batch()?;
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let len = bytes.len() as u64;
        f.out.write_and_flush(Bytes::from(bytes))?;
        f.synced += len;
        self.last_write = Instant::now();
        Ok(())
    }

    /// Flushes, closes and renames the open file. A failed flush fails the batch (its events
    /// are not durable); a failed close or rename does not (every synced byte is in HDFS) and
    /// leaves the file [`Unfinished`], retried by the sink. Unlike Flume, a file whose close
    /// failed is renamed only once it is closed, so a downstream job never sees a final name
    /// whose length may still change.
    pub fn close(&mut self, fs: &mut dyn FileSystem, naming: &Naming) -> Result<(), BucketError> {
        let flushed = self.flush();
        let Some(mut f) = self.file.take() else {
            return flushed;
        };
        info!("Closing {}", f.in_use_path);
        let mut u = Unfinished::orphan(f.in_use_path, f.final_path);
        u.close_tries = 1;
        match f.out.close() {
            Ok(()) => u.closed = true,
            Err(e) => warn!("Closing file: {} failed: {e}", u.in_use_path),
        }
        if u.closed || naming.close_tries <= 1 {
            if !u.closed {
                // Flume's last resort after its last close attempt.
                if let Err(e) = fs.recover_lease(&u.in_use_path) {
                    warn!("Lease recovery failed for {}: {e}", u.in_use_path);
                }
            }
            u.rename_tries = 1;
            if let Err(e) = rename_if_there(fs, &u.in_use_path, &u.final_path) {
                warn!("failed to rename() file ({}): {e}", u.in_use_path);
                if naming.close_tries > 1 {
                    self.unfinished.push(u);
                }
            }
        } else {
            self.unfinished.push(u);
        }
        flushed
    }

    /// Forgets the open file after a failed write: its unflushed bytes are dropped (their
    /// events are rolled back and written again), and the file is closed and renamed as far as
    /// the file system still lets us. The next event opens a new file.
    ///
    /// A file into which no batch was ever synced holds no committed event: it is deleted
    /// rather than closed. Closing it could not succeed soon: when the first write's pipeline
    /// failed (a dead DataNode the NameNode still hands out), its block is allocated but on no
    /// DataNode, and the NameNode can neither complete the file nor recover its lease (the
    /// recovery of a block no replica holds goes on and on); renamed, it would be an empty file.
    pub fn abandon(&mut self, fs: &mut dyn FileSystem, naming: &Naming) {
        self.format.discard_batch();
        if let Some(f) = self.file.take_if(|f| f.synced == 0) {
            match fs.delete(&f.in_use_path) {
                Ok(()) => {
                    info!(
                        "Deleted {}: no batch was synced into it before its write failed",
                        f.in_use_path
                    );
                    return;
                }
                Err(e) => {
                    warn!(
                        "after a failed write, deleting the empty {}: {e}",
                        f.in_use_path
                    );
                    self.file = Some(f);
                }
            }
        }
        if let Err(e) = self.close(fs, naming) {
            warn!("after a failed write: {e}");
        }
    }

    /// Whether `rollInterval` or `idleTimeout` says the open file should be closed by `now`.
    pub fn due(&self, naming: &Naming, now: Instant) -> bool {
        let Some(f) = &self.file else {
            return false;
        };
        naming
            .roll_interval
            .is_some_and(|d| now.duration_since(f.opened_at) >= d)
            || naming
                .idle_timeout
                .is_some_and(|d| now.duration_since(self.last_write) >= d)
    }

    /// The next instant [`Bucket::due`] may become true.
    pub fn next_deadline(&self, naming: &Naming) -> Option<Instant> {
        let f = self.file.as_ref()?;
        // Saturating: hdfs.rollInterval / idleTimeout accept any Java long of seconds.
        let roll = naming.roll_interval.map(|d| later(f.opened_at, d));
        let idle = naming.idle_timeout.map(|d| later(self.last_write, d));
        match (roll, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::hdfs::fs::OutFile;
    use std::collections::BTreeSet;

    fn naming(in_use_prefix: &str, in_use_suffix: &str, suffix: &str) -> Naming {
        Naming {
            in_use_prefix: in_use_prefix.into(),
            in_use_suffix: in_use_suffix.into(),
            suffix: suffix.into(),
            roll_count: 0,
            roll_size: 0,
            roll_interval: None,
            idle_timeout: None,
            close_tries: 3,
        }
    }

    #[test]
    fn orphans_are_only_this_prefixs_in_use_files() {
        let n = naming("", ".tmp", "");
        let orphan = |prefix: &str, name: &str| orphan_name(&n, prefix, name);
        assert_eq!(
            orphan("FlumeData", "FlumeData.1614834367001.tmp").as_deref(),
            Some("FlumeData.1614834367001")
        );
        assert_eq!(orphan("FlumeData", "FlumeData.1614834367001"), None);
        assert_eq!(orphan("FlumeData", "Other.1614834367001.tmp"), None);
        assert_eq!(
            orphan("a", "a.b.1.tmp"),
            None,
            "prefix a.b is another bucket's"
        );
        assert_eq!(orphan("a", "a..tmp"), None);
        assert_eq!(orphan("a", "a.12x.tmp"), None);
        let n = naming(".tmp-", "", ".log");
        assert_eq!(
            orphan_name(&n, "web-21", ".tmp-web-21.7.log").as_deref(),
            Some("web-21.7.log")
        );
        assert_eq!(orphan_name(&n, "web-21", "web-21.7.log"), None);
        // No in-use name at all: nothing tells an orphan from a closed file.
        assert_eq!(orphan_name(&naming("", "", ""), "a", "a.1"), None);
    }

    /// A file system whose lease recoveries fail `failures` times, then report `recovering`
    /// polls in progress, then succeed; renames fail `rename_failures` times; writes fail once
    /// `writes_before_failing` of them (over all files) succeeded.
    #[derive(Default)]
    struct Flaky {
        files: BTreeSet<String>,
        failures: u32,
        recovering: u32,
        rename_failures: u32,
        recover_calls: u32,
        writes: std::sync::Arc<std::sync::atomic::AtomicU32>,
        writes_before_failing: u32,
    }

    impl FileSystem for Flaky {
        fn create(&mut self, path: &str) -> Result<Box<dyn OutFile>, FsError> {
            self.files.insert(path.to_string());
            Ok(Box::new(WriteOut(
                self.writes.clone(),
                self.writes_before_failing,
            )))
        }
        fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
            if self.rename_failures > 0 {
                self.rename_failures -= 1;
                return Err(FsError::Connect {
                    url: "nn".into(),
                    message: "refused".into(),
                });
            }
            self.files.remove(from);
            self.files.insert(to.to_string());
            Ok(())
        }
        fn exists(&mut self, path: &str) -> Result<bool, FsError> {
            Ok(self.files.contains(path))
        }
        fn list(&mut self, _: &str) -> Result<Vec<String>, FsError> {
            Ok(Vec::new())
        }
        fn delete(&mut self, path: &str) -> Result<(), FsError> {
            self.files.remove(path);
            Ok(())
        }
        fn recover_lease(&mut self, _: &str) -> Result<bool, FsError> {
            self.recover_calls += 1;
            if self.failures > 0 {
                self.failures -= 1;
                return Err(FsError::Connect {
                    url: "nn".into(),
                    message: "refused".into(),
                });
            }
            if self.recovering > 0 {
                self.recovering -= 1;
                return Ok(false);
            }
            Ok(true)
        }
    }

    fn flaky(failures: u32, recovering: u32, rename_failures: u32) -> Flaky {
        Flaky {
            files: ["/d/f.1.tmp".to_string()].into(),
            failures,
            recovering,
            rename_failures,
            ..Flaky::default()
        }
    }

    fn run(fs: &mut Flaky, max_tries: u64) -> (Vec<Retry>, Unfinished) {
        let mut u = Unfinished::orphan("/d/f.1.tmp".into(), "/d/f.1".into());
        let mut outcomes = Vec::new();
        for _ in 0..100 {
            let r = u.retry(fs, max_tries, 1);
            let done = r == Retry::Finished;
            outcomes.push(r);
            if done {
                break;
            }
        }
        (outcomes, u)
    }

    #[test]
    fn a_close_is_retried_until_the_lease_is_recovered_then_renamed() {
        let mut fs = flaky(2, 2, 0);
        let (outcomes, u) = run(&mut fs, i32::MAX as u64);
        use Retry::*;
        let (two, four) = (Duration::from_secs(2), Duration::from_secs(4));
        assert_eq!(outcomes, [Later, Later, Soon(two), Soon(four), Finished]);
        assert!(u.closed);
        assert_eq!(
            u.close_tries, 2,
            "polls of a recovery in progress are no tries"
        );
        assert_eq!(fs.files, ["/d/f.1".to_string()].into());
    }

    #[test]
    fn a_recovery_in_progress_is_asked_about_less_and_less_often() {
        let waits: Vec<u64> = (1..=8).map(|n| recovery_wait(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(recovery_wait(0).as_secs(), 2);
        assert_eq!(recovery_wait(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn close_tries_bound_the_attempts_then_the_file_is_renamed_anyway() {
        let mut fs = flaky(100, 0, 0);
        let (outcomes, u) = run(&mut fs, 3);
        assert_eq!(outcomes, [Retry::Later, Retry::Later, Retry::Finished]);
        assert!(!u.closed);
        assert_eq!(fs.recover_calls, 3);
        assert_eq!(fs.files, ["/d/f.1".to_string()].into());
    }

    /// A file of [`Flaky`]: its writes and its siblings' counted in `.0`, failing from the `.1`th.
    struct WriteOut(std::sync::Arc<std::sync::atomic::AtomicU32>, u32);

    impl OutFile for WriteOut {
        fn write_and_flush(&mut self, _: Bytes) -> Result<(), FsError> {
            use std::sync::atomic::Ordering;
            if self.0.fetch_add(1, Ordering::SeqCst) >= self.1 {
                return Err(FsError::Io {
                    op: "write",
                    path: "f".into(),
                    message: "pipeline failed".into(),
                });
            }
            Ok(())
        }
        fn close(&mut self) -> Result<(), FsError> {
            Ok(())
        }
    }

    /// One batch of one event into a bucket on `fs`, abandoned if its flush fails.
    fn batch(b: &mut Bucket, fs: &mut Flaky, n: &Naming) -> bool {
        b.append(fs, n, &Event::new("line"), 0).unwrap();
        match b.flush() {
            Ok(()) => true,
            Err(_) => {
                b.abandon(fs, n);
                false
            }
        }
    }

    fn text_bucket() -> Bucket {
        use crate::sink::hdfs::settings::{FileType, Serializer, WriteFormat};
        let format = Format::new(
            FileType::DataStream,
            Serializer::Text,
            true,
            WriteFormat::Writable,
        );
        Bucket::new("/d", "f", 0, format)
    }

    #[test]
    fn a_file_without_a_synced_batch_is_deleted_when_its_write_fails() {
        let n = naming("", ".tmp", "");
        let mut fs = Flaky::default();
        let mut b = text_bucket();
        assert!(!batch(&mut b, &mut fs, &n));
        assert!(!b.is_open());
        assert!(
            fs.files.is_empty(),
            "nothing committed, nothing kept: {:?}",
            fs.files
        );
    }

    #[test]
    fn a_file_with_synced_batches_is_closed_and_renamed_when_a_write_fails() {
        let n = naming("", ".tmp", "");
        let mut fs = Flaky {
            writes_before_failing: 1,
            ..Flaky::default()
        };
        let mut b = text_bucket();
        assert!(batch(&mut b, &mut fs, &n));
        assert!(!batch(&mut b, &mut fs, &n));
        assert!(!b.is_open());
        assert_eq!(
            fs.files,
            ["/d/f.1".to_string()].into(),
            "the committed batch is kept"
        );
    }

    #[test]
    fn a_failed_rename_is_retried_as_often_and_never_overwrites() {
        let mut fs = flaky(0, 0, 1);
        let (outcomes, _) = run(&mut fs, 3);
        assert_eq!(outcomes, [Retry::Later, Retry::Finished]);
        assert_eq!(fs.files, ["/d/f.1".to_string()].into());

        let mut fs = flaky(0, 0, 0);
        fs.files.insert("/d/f.1".into());
        let (outcomes, _) = run(&mut fs, 2);
        assert_eq!(outcomes, [Retry::Later, Retry::Finished], "gives up loudly");
        assert!(fs.files.contains("/d/f.1.tmp"), "the existing file is kept");
    }
}
