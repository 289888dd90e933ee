//! The sink's take loop (Flume's `HDFSEventSink.process`): take up to `hdfs.batchSize` events,
//! append each to the bucket its rendered path and prefix name, flush every bucket the batch
//! touched, and only then commit. Any failure rolls the whole take back; the buckets that failed
//! are abandoned (closed and renamed as far as possible), so the retry writes into new files and
//! the events are written again — at least once, never lost.
//!
//! Open buckets are kept in least-recently-used order; beyond `hdfs.maxOpenFiles` the oldest is
//! closed (Flume's `sfWriters` LRU map). Roll-interval and idle deadlines are checked between
//! takes: the take waits at most until the nearest one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

use super::bucket::{Bucket, Naming};
use super::format::Format;
use super::fs::{self, FileSystem, FsError, HdfsFs, LocalFs, Target};
use super::path::{BucketPath, HostNames};
use super::settings::HdfsSettings;
use crate::sink::{Failure, Sink, SinkCore, SinkError, Status, EMPTY_CHANNEL_WAIT};

struct Entry {
    target: Target,
    bucket: Bucket,
    last_used: u64,
}

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
                if let Err(e) = entry.bucket.close(fs) {
                    warn!(sink = %self.core.name, "closing {key} ({why}): {e}");
                }
            }
            Err(e) => warn!(sink = %self.core.name, "closing {key} ({why}): {e}"),
        }
    }

    fn nearest_deadline(&self) -> Option<Instant> {
        self.buckets
            .values()
            .filter_map(|e| e.bucket.next_deadline(&self.naming))
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
            entry
                .bucket
                .append(fs, &self.naming, e, now)
                .map_err(|err| err.to_string())?;
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
                entry.bucket.abandon(fs);
            }
        }
    }

    fn close_all(&mut self) {
        let keys: Vec<String> = self.buckets.keys().cloned().collect();
        for key in keys {
            self.close_bucket(&key, "the sink stops");
        }
    }
}

impl Sink for HdfsSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        self.close_due();
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
