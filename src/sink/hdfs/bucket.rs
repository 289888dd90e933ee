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

use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{info, warn};

use super::format::{Format, FormatError};
use super::fs::{FileSystem, FsError, OutFile};
use super::settings::HdfsSettings;
use crate::event::Event;

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
        }
    }
}

struct OpenFile {
    out: Box<dyn OutFile>,
    in_use_path: String,
    final_path: String,
    opened_at: Instant,
    events: u64,
    body_bytes: u64,
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
        }
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
            self.close(fs)?;
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
        f.out.write_and_flush(Bytes::from(bytes))?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// Flushes, closes and renames the open file. The rename is tried also when the close
    /// failed, as Flume does: HDFS moves a file that is still open with its lease.
    pub fn close(&mut self, fs: &mut dyn FileSystem) -> Result<(), BucketError> {
        let flushed = self.flush();
        let Some(mut f) = self.file.take() else {
            return flushed;
        };
        let closed = f.out.close();
        if let Err(e) = &closed {
            warn!("failed to close {}: {e}; renaming it anyway", f.in_use_path);
        }
        if f.in_use_path != f.final_path && fs.exists(&f.in_use_path)? {
            fs.rename(&f.in_use_path, &f.final_path)?;
            info!("Renaming {} to {}", f.in_use_path, f.final_path);
        }
        flushed?;
        closed?;
        Ok(())
    }

    /// Forgets the open file after a failed write: its unflushed bytes are dropped (their
    /// events are rolled back and written again), and the file is closed and renamed as far as
    /// the file system still lets us. The next event opens a new file.
    pub fn abandon(&mut self, fs: &mut dyn FileSystem) {
        self.format.discard_batch();
        if let Err(e) = self.close(fs) {
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
        let roll = naming.roll_interval.map(|d| f.opened_at + d);
        let idle = naming.idle_timeout.map(|d| self.last_write + d);
        match (roll, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
