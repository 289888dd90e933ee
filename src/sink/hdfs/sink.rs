//! The sink's take loop (Flume's `HDFSEventSink.process`): take up to `hdfs.batchSize` events,
//! append each to the bucket its rendered path and prefix name, flush every bucket the batch
//! touched, and only then commit. Any failure rolls the whole take back; the buckets that failed
//! are abandoned (closed and renamed as far as possible), so the retry writes into new files and
//! the events are written again — at least once, never lost.
//!
//! Open buckets are kept in least-recently-used order; beyond `hdfs.maxOpenFiles` the oldest is
//! closed (Flume's `sfWriters` LRU map). Roll-interval and idle deadlines are checked between
//! takes: the take waits at most until the nearest one.
//!
//! Files whose close failed are retried every `hdfs.retryInterval` seconds, up to
//! `hdfs.closeTries` times (Flume's timed close and rename retries), between takes as well. The
//! first time the sink writes into a folder under a file prefix, it looks there for in-use files
//! of that prefix an earlier run left open (a crash, `kill -9`, a lost machine): each is reported
//! at WARN, closed by HDFS lease recovery and renamed to its final name — Flume leaves them to
//! the NameNode's hard lease limit (an hour) and never renames them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

use super::bucket::{orphan_name, Bucket, Naming, Retry, Unfinished};
use super::format::Format;
use super::fs::{self, FileSystem, FsError, HdfsFs, LocalFs, Target};
use super::path::{BucketPath, HostNames};
use super::settings::HdfsSettings;
use crate::shutdown::later;
use crate::sink::{Failure, Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};

struct Entry {
    target: Target,
    bucket: Bucket,
    last_used: u64,
}

/// A file to finish (close by lease recovery, rename) at `next`.
struct Pending {
    target: Target,
    file: Unfinished,
    next: Instant,
}

/// Folders already searched for orphans, kept up to this many (time-bucketed paths make new
/// ones every hour); past it the set starts again, and a folder is searched once more.
const MAX_SEARCHED: usize = 10_000;
/// How long a stopping sink waits for lease recoveries it started.
const STOP_RECOVERY_WAIT: Duration = Duration::from_secs(10);

pub struct HdfsSink {
    core: SinkCore,
    settings: HdfsSettings,
    path: BucketPath,
    prefix: BucketPath,
    naming: Naming,
    default_fs: Option<(String, PathBuf)>,
    file_systems: HashMap<Target, Box<dyn FileSystem>>,
    buckets: HashMap<String, Entry>,
    uses: u64,
    pending: Vec<Pending>,
    /// `folder/prefix` keys already searched for orphaned in-use files.
    searched: HashSet<String>,
    /// Reused per event: the rendered folder, file prefix and their lookup key.
    dir_buf: String,
    prefix_buf: String,
    key_buf: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The file system `target` names, connected on first use.
fn file_system<'a>(
    file_systems: &'a mut HashMap<Target, Box<dyn FileSystem>>,
    target: &Target,
    default_fs: &Option<(String, PathBuf)>,
    call_timeout: Duration,
) -> Result<&'a mut dyn FileSystem, FsError> {
    if !file_systems.contains_key(target) {
        let fs: Box<dyn FileSystem> = match target {
            Target::Local => Box::new(LocalFs),
            Target::Hdfs { url } => {
                let conf = default_fs.as_ref().map(|(_, d)| d.as_path());
                Box::new(HdfsFs::connect(url, conf, call_timeout)?)
            }
        };
        file_systems.insert(target.clone(), fs);
    }
    match file_systems.get_mut(target) {
        Some(fs) => Ok(fs.as_mut()),
        None => unreachable!("inserted just above"),
    }
}

fn failed(sink: &str, message: String) -> SinkError {
    SinkError::Delivery {
        sink: sink.to_string(),
        failure: Failure::Retriable,
        message,
    }
}

impl HdfsSink {
    pub fn new(core: SinkCore, settings: HdfsSettings) -> Result<HdfsSink, SinkError> {
        let (mut path, mut prefix) = settings.templates();
        let hosts = HostNames::of_this_machine();
        for t in [&mut path, &mut prefix] {
            t.resolve_statics(&hosts).map_err(|e| SinkError::Start {
                sink: core.name.clone(),
                message: e.to_string(),
            })?;
        }
        let default_fs = fs::default_fs();
        if let Some((fs, dir)) = &default_fs {
            info!(sink = %core.name, "fs.defaultFS = {fs} (from {}/core-site.xml)", dir.display());
        }
        Ok(HdfsSink {
            naming: Naming::of(&settings),
            core,
            settings,
            path,
            prefix,
            default_fs,
            file_systems: HashMap::new(),
            buckets: HashMap::new(),
            uses: 0,
            pending: Vec::new(),
            searched: HashSet::new(),
            dir_buf: String::new(),
            prefix_buf: String::new(),
            key_buf: String::new(),
        })
    }

    /// Closes the buckets whose roll interval or idle timeout passed.
    fn close_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .buckets
            .iter()
            .filter(|(_, e)| e.bucket.due(&self.naming, now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.close_bucket(&key, "its roll interval or idle timeout passed");
        }
    }

    fn close_bucket(&mut self, key: &str, why: &str) {
        let Some(mut entry) = self.buckets.remove(key) else {
            return;
        };
        match file_system(
            &mut self.file_systems,
            &entry.target,
            &self.default_fs,
            self.settings.call_timeout,
        ) {
            Ok(fs) => {
                if let Err(e) = entry.bucket.close(fs, &self.naming) {
                    warn!(sink = %self.core.name, "closing {key} ({why}): {e}");
                }
            }
            Err(e) => warn!(sink = %self.core.name, "closing {key} ({why}): {e}"),
        }
        self.keep_unfinished(&mut entry);
    }

    fn keep_unfinished(&mut self, entry: &mut Entry) {
        take_over(
            &mut self.pending,
            entry,
            &self.settings,
            &self.naming,
            &self.core.name,
        );
    }

    fn retry_interval(&self) -> Duration {
        Duration::from_secs(self.settings.retry_interval)
    }

    /// Retries the unfinished files whose time came (all of them with `all`).
    fn retry_pending(&mut self, all: bool) {
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        let interval = self.retry_interval();
        let mut i = 0;
        while i < self.pending.len() {
            if !all && self.pending[i].next > now {
                i += 1;
                continue;
            }
            let p = &mut self.pending[i];
            let outcome = match file_system(
                &mut self.file_systems,
                &p.target,
                &self.default_fs,
                self.settings.call_timeout,
            ) {
                Ok(fs) => p
                    .file
                    .retry(fs, self.naming.close_tries, self.settings.retry_interval),
                Err(e) => {
                    warn!(sink = %self.core.name, "retrying {}: {e}", p.file.in_use_path);
                    Retry::Later
                }
            };
            match outcome {
                Retry::Finished => {
                    self.pending.swap_remove(i);
                }
                Retry::Later => {
                    p_next(&mut self.pending[i], later(now, interval));
                    i += 1;
                }
                Retry::Soon(wait) => {
                    p_next(&mut self.pending[i], now + wait);
                    i += 1;
                }
            }
        }
    }

    /// The first time a bucket opens in `dir` under `prefix`: the in-use files of that prefix an
    /// earlier run left, taken over for lease recovery and renaming.
    fn adopt_orphans(&mut self, target: &Target, dir: &str) {
        if !self.naming.marks_in_use() || self.searched.contains(self.key_buf.as_str()) {
            return;
        }
        let fs = match file_system(
            &mut self.file_systems,
            target,
            &self.default_fs,
            self.settings.call_timeout,
        ) {
            Ok(fs) => fs,
            Err(_) => return, // the create that follows reports it
        };
        let names = match fs.list(dir) {
            Ok(names) => names,
            Err(e) => {
                warn!(sink = %self.core.name, "cannot look for in-use files left in {dir}: {e}");
                return;
            }
        };
        if self.searched.len() >= MAX_SEARCHED {
            self.searched.clear();
        }
        self.searched.insert(self.key_buf.clone());
        let dir = dir.trim_end_matches('/');
        for name in names {
            let Some(final_name) = orphan_name(&self.naming, &self.prefix_buf, &name) else {
                continue;
            };
            let in_use = format!("{dir}/{name}");
            if self.pending.iter().any(|p| p.file.in_use_path == in_use) {
                continue;
            }
            warn!(
                sink = %self.core.name,
                "{in_use} was left in use by an earlier run (a crash or kill -9?): recovering its \
                 lease and renaming it to {final_name}; Flume would leave it in use"
            );
            self.pending.push(Pending {
                target: target.clone(),
                file: Unfinished::orphan(in_use, format!("{dir}/{final_name}")),
                next: Instant::now(),
            });
        }
        self.retry_pending(false);
    }

    fn nearest_deadline(&self) -> Option<Instant> {
        self.buckets
            .values()
            .filter_map(|e| e.bucket.next_deadline(&self.naming))
            .chain(self.pending.iter().map(|p| p.next))
            .min()
    }

    /// Appends every event of the batch, then flushes the touched buckets; the keys touched.
    fn write_batch(
        &mut self,
        events: &[crate::event::Event],
        touched: &mut Vec<String>,
    ) -> Result<(), String> {
        for e in events {
            let now = now_ms();
            self.dir_buf.clear();
            self.prefix_buf.clear();
            self.path
                .render(&e.headers, now, &mut self.dir_buf)
                .map_err(|err| err.to_string())?;
            self.prefix
                .render(&e.headers, now, &mut self.prefix_buf)
                .map_err(|err| err.to_string())?;
            self.key_buf.clear();
            self.key_buf.push_str(&self.dir_buf);
            self.key_buf.push('/');
            self.key_buf.push_str(&self.prefix_buf);
            if !self.buckets.contains_key(self.key_buf.as_str()) {
                self.new_bucket(now)?;
            }
            self.uses += 1;
            let Some(entry) = self.buckets.get_mut(self.key_buf.as_str()) else {
                return Err(format!("bucket {} vanished", self.key_buf));
            };
            entry.last_used = self.uses;
            if !touched.contains(&self.key_buf) {
                touched.push(self.key_buf.clone());
            }
            let fs = file_system(
                &mut self.file_systems,
                &entry.target,
                &self.default_fs,
                self.settings.call_timeout,
            )
            .map_err(|e| e.to_string())?;
            // A roll whose close failed does not fail the batch: the file is retried.
            let appended = entry.bucket.append(fs, &self.naming, e, now);
            take_over(
                &mut self.pending,
                entry,
                &self.settings,
                &self.naming,
                &self.core.name,
            );
            appended.map_err(|err| err.to_string())?;
        }
        for key in touched.iter() {
            let Some(entry) = self.buckets.get_mut(key) else {
                continue;
            };
            entry.bucket.flush().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn new_bucket(&mut self, now: i64) -> Result<(), String> {
        let default = self.default_fs.as_ref().map(|(d, _)| d.as_str());
        let (target, dir) = fs::split(&self.dir_buf, default)?;
        self.adopt_orphans(&target, &dir);
        if self.buckets.len() as u64 >= self.settings.max_open_files {
            if let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            {
                self.close_bucket(&oldest, "hdfs.maxOpenFiles files are open");
            }
        }
        let format = Format::new(
            self.settings.file_type,
            self.settings.serializer,
            self.settings.append_newline,
            self.settings.write_format,
        );
        let bucket = Bucket::new(&dir, &self.prefix_buf, now, format);
        self.buckets.insert(
            self.key_buf.clone(),
            Entry {
                target,
                bucket,
                last_used: self.uses,
            },
        );
        Ok(())
    }

    /// After a failed batch: every bucket it touched drops its file, so that the retry starts
    /// clean files rather than appending after bytes whose fate is unknown.
    fn abandon(&mut self, touched: &[String]) {
        for key in touched {
            let Some(mut entry) = self.buckets.remove(key) else {
                continue;
            };
            if let Ok(fs) = file_system(
                &mut self.file_systems,
                &entry.target,
                &self.default_fs,
                self.settings.call_timeout,
            ) {
                entry.bucket.abandon(fs, &self.naming);
            }
            self.keep_unfinished(&mut entry);
        }
    }

    fn close_all(&mut self) {
        let keys: Vec<String> = self.buckets.keys().cloned().collect();
        for key in keys {
            self.close_bucket(&key, "the sink stops");
        }
        // Flume stops its retry timers here; rflume tries each unfinished file once more and
        // waits a little for the lease recoveries that started, then names what is left.
        let until = Instant::now() + STOP_RECOVERY_WAIT;
        self.retry_pending(true);
        while !self.pending.is_empty() && Instant::now() < until {
            let soon = self.pending.iter().map(|p| p.next).min().unwrap_or(until);
            if soon > until {
                break;
            }
            std::thread::sleep(soon.saturating_duration_since(Instant::now()));
            self.retry_pending(false);
        }
        for p in self.pending.drain(..) {
            warn!(
                sink = %self.core.name,
                "{} keeps its in-use name: it could not be closed and renamed before the sink \
                 stopped; the next start of this sink recovers and renames it",
                p.file.in_use_path
            );
        }
    }
}

fn p_next(p: &mut Pending, next: Instant) {
    p.next = next;
}

/// Takes over the files `entry`'s bucket could not close, for retries.
fn take_over(
    pending: &mut Vec<Pending>,
    entry: &mut Entry,
    settings: &HdfsSettings,
    naming: &Naming,
    sink: &str,
) {
    let next = later(Instant::now(), Duration::from_secs(settings.retry_interval));
    for file in entry.bucket.take_unfinished() {
        warn!(
            sink = %sink,
            "{} is not closed: retrying every {} s, {} times at most (hdfs.retryInterval, hdfs.closeTries)",
            file.in_use_path, settings.retry_interval, naming.close_tries
        );
        pending.push(Pending {
            target: entry.target.clone(),
            file,
            next,
        });
    }
}

impl Sink for HdfsSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        self.close_due();
        self.retry_pending(false);
        let wait = match self.nearest_deadline() {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(EMPTY_CHANNEL_WAIT),
            None => EMPTY_CHANNEL_WAIT,
        };
        let batch = self.settings.batch_size as usize;
        let Some(txn) = self.core.take(batch, wait.max(Duration::from_millis(1))) else {
            return self.core.empty();
        };
        let mut touched = Vec::new();
        match self.write_batch(txn.events(), &mut touched) {
            Ok(()) => {
                self.core.delivered(txn);
                Ok(Status::Ready)
            }
            Err(message) => {
                error!(sink = %self.core.name, "HDFS IO error: {message}; the batch is rolled back and retried");
                self.abandon(&touched);
                txn.rollback();
                self.core.counter.event_write_fail.inc();
                Err(failed(&self.core.name, message))
            }
        }
    }

    fn stop(&mut self, _deadline: Instant) {
        self.close_all();
    }
}
