//! Streams of numbered lines for the durability tests (file channel, crash safety): a writer
//! appending them at a steady pace, a tally of what reached Kafka (missing, duplicated, unknown),
//! a small filesystem to fill, and the memory an agent uses.
//!
//! Every line has the same length, `line-NNNNNNNN ` plus padding, so that a line's number is
//! also its byte offset divided by [`LINE_LEN`].

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::kafka::Record;

/// Bytes per line, newline included.
pub const LINE_LEN: usize = 100;

/// Line `n`: its number, then padding to [`LINE_LEN`] bytes with the newline.
pub fn numbered(n: usize) -> String {
    let head = format!("line-{n:08} ");
    format!("{head}{}", "x".repeat(LINE_LEN - 1 - head.len()))
}

/// The number of a line made by [`numbered`].
pub fn number_of(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value)
        .ok()?
        .strip_prefix("line-")?
        .get(..8)?
        .parse()
        .ok()
}

/// Appends numbered lines to a file from a thread, `per_tick` lines every 10 ms (what a busy
/// service writes), until stopped.
pub struct Appender {
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Appender {
    pub fn start(path: &Path, per_tick: usize) -> Appender {
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (count, stop, path) = (count.clone(), stop.clone(), path.to_path_buf());
            std::thread::spawn(move || {
                let mut out = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
                let mut next = Instant::now();
                let mut text = String::with_capacity(per_tick * LINE_LEN);
                while !stop.load(Ordering::SeqCst) {
                    let first = count.load(Ordering::SeqCst);
                    text.clear();
                    for n in first..first + per_tick {
                        text.push_str(&numbered(n));
                        text.push('\n');
                    }
                    out.write_all(text.as_bytes())
                        .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
                    count.store(first + per_tick, Ordering::SeqCst);
                    // A pacing clock, not a wait for a condition: the writer's rate is the input.
                    next += Duration::from_millis(10);
                    match next.checked_duration_since(Instant::now()) {
                        Some(pause) => std::thread::sleep(pause),
                        None => next = Instant::now(),
                    }
                }
            })
        };
        Appender {
            count,
            stop,
            handle: Some(handle),
        }
    }

    /// Lines appended so far (all of them written to the file).
    pub fn appended(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Stops appending; returns the number of lines appended in total.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("appender thread panicked");
        }
        self.appended()
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What reached Kafka of lines `0..expected`.
pub struct Tally {
    pub records: usize,
    pub expected: usize,
    /// Line numbers that never arrived, ascending.
    pub missing: Vec<usize>,
    pub duplicates: usize,
    pub unexpected: usize,
}

impl Tally {
    pub fn of(records: &[Record], expected: usize) -> Tally {
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let mut unexpected = 0;
        for r in records {
            match number_of(&r.value) {
                Some(n) if n < expected && r.value.len() == LINE_LEN - 1 => {
                    *seen.entry(n).or_default() += 1
                }
                _ => unexpected += 1,
            }
        }
        let missing = (0..expected).filter(|n| !seen.contains_key(n)).collect();
        Tally {
            records: records.len(),
            expected,
            missing,
            duplicates: seen.values().map(|c| c - 1).sum(),
            unexpected,
        }
    }

    /// Everything arrived, nothing unknown (duplicates allowed).
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected == 0
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records for {} lines: {} missing, {} duplicates, {} unexpected",
            self.records,
            self.expected,
            self.missing.len(),
            self.duplicates,
            self.unexpected
        )?;
        if !self.missing.is_empty() {
            let shown: Vec<String> = self.missing.iter().take(8).map(|n| n.to_string()).collect();
            write!(f, " (missing e.g. {})", shown.join(", "))?;
        }
        Ok(())
    }
}

/// Resident memory of process `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Samples a process's resident memory every 100 ms on a thread and keeps the peak.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(kib, Ordering::SeqCst);
                    }
                    // A sampling clock: memory is measured, not waited for.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        RssSampler {
            peak,
            stop,
            handle: Some(handle),
        }
    }

    /// The peak so far, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.peak_kib()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A tmpfs of a few MiB mounted for one test (needs root, as the TAILDIR inode-reuse test's ext4
/// image does), unmounted on drop: a disk that really fills up.
pub struct SmallFs {
    pub dir: PathBuf,
    _work: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `mib` MiB; panics, saying why, when it cannot.
    pub fn mount(mib: u64) -> SmallFs {
        let work = tempfile::Builder::new()
            .prefix("rflume-smallfs-")
            .tempdir()
            .expect("create a temp dir");
        let dir = work.path().join("fs");
        std::fs::create_dir(&dir).expect("create the mount point");
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("cannot test a full disk: mounting a small tmpfs needs root, and this test runs as another user");
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={mib}m,mode=0755"))
            .arg("tmpfs")
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a {mib} MiB tmpfs on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        SmallFs { dir, _work: work }
    }

    /// Bytes free on it.
    pub fn free(&self) -> u64 {
        // SAFETY: statvfs(3) writes into the struct passed; the path is a valid C string.
        unsafe {
            let path = std::ffi::CString::new(self.dir.as_os_str().as_encoded_bytes())
                .expect("no NUL in a temp path");
            let mut st: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(path.as_ptr(), &mut st) != 0 {
                return 0;
            }
            st.f_bavail as u64 * st.f_frsize as u64
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// An agent's file channel c1 with its directories under `root` and `extra` properties
/// (`key = value` after `a1.channels.c1.`).
pub fn file_channel(root: &Path, extra: &[(&str, &str)]) -> String {
    let mut text = format!(
        "a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {root}/checkpoint
a1.channels.c1.dataDirs = {root}/data
",
        root = root.display()
    );
    for (k, v) in extra {
        text.push_str(&format!("a1.channels.c1.{k} = {v}\n"));
    }
    text
}

/// Kafka sink k1 on channel c1 with prompt reconnects after an outage.
pub fn kafka_sink(bootstrap: &str, topic: &str, extra: &[(&str, &str)]) -> String {
    let mut text = format!(
        "a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 1000
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {topic}
a1.sinks.k1.kafka.producer.reconnect.backoff.ms = 100
a1.sinks.k1.kafka.producer.reconnect.backoff.max.ms = 500
"
    );
    for (k, v) in extra {
        text.push_str(&format!("a1.sinks.k1.{k} = {v}\n"));
    }
    text
}

/// TAILDIR source r1 on one file into c1, batches of 1000.
pub fn taildir_source(log: &Path, position_file: &Path, extra: &[(&str, &str)]) -> String {
    let dir = log.parent().expect("a log in a directory");
    let name = log
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let mut text = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {dir}/{pattern}
a1.sources.r1.positionFile = {pos}
a1.sources.r1.batchSize = 1000
",
        dir = dir.display(),
        pattern = regex_escape(name).replace('\\', "\\\\"),
        pos = position_file.display(),
    );
    for (k, v) in extra {
        text.push_str(&format!("a1.sources.r1.{k} = {v}\n"));
    }
    text
}

/// Exec source r1 running `command` into c1, batches of 1000 stored within 100 ms.
pub fn exec_source(command: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = {command}
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 1000
a1.sources.r1.batchTimeout = 100
"
    )
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// One test's files: the log a TAILDIR source follows, its position file, and the directory of
/// the file channel's directories.
pub struct Work {
    _tmp: tempfile::TempDir,
    pub log: PathBuf,
    pub positions: PathBuf,
    pub channel: PathBuf,
}

impl Work {
    pub fn new() -> Work {
        let tmp = tempfile::Builder::new()
            .prefix("rflume-durable-")
            .tempdir()
            .expect("temp dir");
        let logs = tmp.path().join("logs");
        std::fs::create_dir(&logs).expect("logs dir");
        Work {
            log: logs.join("app.log"),
            positions: tmp.path().join("taildir_position.json"),
            channel: tmp.path().join("channel"),
            _tmp: tmp,
        }
    }

    /// TAILDIR → file channel (with `channel` properties) → Kafka at `bootstrap`.
    pub fn taildir_pipeline(
        &self,
        bootstrap: &str,
        topic: &str,
        channel: &[(&str, &str)],
    ) -> String {
        format!(
            "{}{}{}",
            taildir_source(&self.log, &self.positions, &[]),
            file_channel(&self.channel, channel),
            kafka_sink(bootstrap, topic, &[])
        )
    }
}

/// The delivered position of `log` in a TAILDIR position file (Flume's format), if any.
pub fn saved_position(position_file: &Path, log: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(position_file).ok()?;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
    entries
        .iter()
        .find(|e| e["file"].as_str() == log.to_str())
        .and_then(|e| e["pos"].as_u64())
}
