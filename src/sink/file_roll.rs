//! File roll sink — replaces Flume's `file_roll` (`org.apache.flume.sink.RollingFileSink`).
//!
//! Writes every event to a file in `sink.directory` with Flume's serializers (`TEXT`: the body,
//! then `\n` unless `sink.serializer.appendNewline = false`; `HEADER_AND_TEXT`: Java's
//! `headers.toString()`, a space, the body, the newline) and starts a new file every
//! `sink.rollInterval` seconds (30; 0 or less: never). Files are named as Flume names them:
//! `DEFAULT` → `<prefix><start millis>-<n>[.<extension>]`, `ROLLTIME` →
//! `<prefix><yyyyMMddHHmmss>-<n>[.<extension>]` (local time, `n` restarting at 1 each second). As
//! in Flume, the first file is created when the sink starts and a new one at every roll, whether
//! events arrive or not, so the directory looks the same.
//!
//! **Delivery guarantee**: a take is committed only after its events were written **and
//! fsynced** (`fdatasync`), and a file is fsynced before it is closed at a roll or a stop — Flume
//! only flushes to the page cache, so a power loss after its commit can lose a committed batch.
//! A batch that fails to write is rolled back and the file is cut back to where the batch began,
//! so the retry does not leave a partial copy behind (Flume leaves one: duplicates).
//!
//! Differences on purpose: the directory is not created (as Flume), but a missing one is named
//! with the fix; `AVRO_EVENT` and custom serializer or path manager classes are unsupported.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::{error, info, warn};

use super::{Failure, Sink, SinkCore, SinkError, SinkSpec, Status, EMPTY_CHANNEL_WAIT};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::java::java_hashmap_order;

/// Flume's `defaultRollInterval`, seconds.
pub const DEFAULT_ROLL_INTERVAL: i64 = 30;
/// Flume's `defaultBatchSize`.
pub const DEFAULT_BATCH_SIZE: u64 = 100;

/// How the events of a file are written (Flume's `EventSerializerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serializer {
    /// `TEXT` (`BodyTextEventSerializer`): the body.
    Text,
    /// `HEADER_AND_TEXT` (`HeaderAndBodyTextEventSerializer`): `{k=v, …} ` then the body.
    HeaderAndText,
}

impl Serializer {
    fn flume_name(self) -> &'static str {
        match self {
            Serializer::Text => "TEXT",
            Serializer::HeaderAndText => "HEADER_AND_TEXT",
        }
    }
}

/// How files are named (Flume's `PathManagerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathManager {
    /// `<prefix><millis at start>-<n>`.
    Default,
    /// `<prefix><yyyyMMddHHmmss>-<n>`.
    RollTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRollSettings {
    pub directory: PathBuf,
    /// `None`: never roll (Flume: `sink.rollInterval` ≤ 0).
    pub roll_interval: Option<Duration>,
    pub roll_interval_written: i64,
    pub path_manager: PathManager,
    pub prefix: String,
    pub extension: String,
    pub serializer: Serializer,
    pub append_newline: bool,
    pub batch_size: usize,
}

impl FileRollSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let directory = r.required("sink.directory", "e.g. sink.directory = /var/log/flume");
        let roll_interval_written = roll_interval(r);
        let path_manager = path_manager(r);
        let prefix = r.string("sink.pathManager.prefix", "");
        let extension = r.string("sink.pathManager.extension", "");
        let serializer = serializer(r);
        let append_newline = r.bool("sink.serializer.appendNewline", true);
        let batch_size = r.positive_int("sink.batchSize", DEFAULT_BATCH_SIZE) as usize;
        if r.failed() {
            return None;
        }
        Some(FileRollSettings {
            directory: PathBuf::from(directory?),
            roll_interval: (roll_interval_written > 0)
                .then(|| Duration::from_secs(roll_interval_written as u64)),
            roll_interval_written,
            path_manager: path_manager?,
            prefix,
            extension,
            serializer: serializer?,
            append_newline,
            batch_size,
        })
    }
}

/// Flume's `Long.parseLong(sink.rollInterval)`: an unparsable value fails the sink; zero or a
/// negative number means "never roll" (Flume says so at INFO only).
fn roll_interval(r: &mut PropReader) -> i64 {
    let Some((v, line)) = r.raw("sink.rollInterval") else {
        return DEFAULT_ROLL_INTERVAL;
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n > 0 => n,
        Ok(n) => {
            if n < 0 {
                r.warn(
                    "sink.rollInterval",
                    Some(line),
                    format!("{n} means the file is never rolled, as Flume reads it"),
                    Some("write 0 for never, or a number of seconds".to_string()),
                );
            }
            n
        }
        Err(_) => {
            r.error(
                "sink.rollInterval",
                Some(line),
                format!(
                    "'{v}' is not a whole number of seconds (Flume fails to configure the sink)"
                ),
                Some(format!(
                    "Flume's default is {DEFAULT_ROLL_INTERVAL}; 0 never rolls"
                )),
            );
            DEFAULT_ROLL_INTERVAL
        }
    }
}

fn path_manager(r: &mut PropReader) -> Option<PathManager> {
    let Some((v, line)) = r.raw("sink.pathManager") else {
        return Some(PathManager::Default);
    };
    match v.trim() {
        v if v.eq_ignore_ascii_case("DEFAULT")
            || v == "org.apache.flume.formatter.output.DefaultPathManager$Builder" =>
        {
            Some(PathManager::Default)
        }
        v if v.eq_ignore_ascii_case("ROLLTIME")
            || v == "org.apache.flume.formatter.output.RollTimePathManager$Builder" =>
        {
            Some(PathManager::RollTime)
        }
        other => {
            r.unsupported(
                "sink.pathManager",
                Some(line),
                format!("path manager class {other} is not supported by rflume"),
                Some("use DEFAULT or ROLLTIME".to_string()),
            );
            None
        }
    }
}

fn serializer(r: &mut PropReader) -> Option<Serializer> {
    let Some((v, line)) = r.raw("sink.serializer") else {
        return Some(Serializer::Text);
    };
    match v.trim() {
        v if v.eq_ignore_ascii_case("TEXT")
            || v == "org.apache.flume.serialization.BodyTextEventSerializer$Builder" =>
        {
            Some(Serializer::Text)
        }
        v if v.eq_ignore_ascii_case("HEADER_AND_TEXT")
            || v == "org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder" =>
        {
            Some(Serializer::HeaderAndText)
        }
        other => {
            r.unsupported(
                "sink.serializer",
                Some(line),
                format!("serializer {other} is not supported by rflume"),
                Some("use TEXT or HEADER_AND_TEXT".to_string()),
            );
            None
        }
    }
}

impl Describe for FileRollSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            (
                "sink.directory".into(),
                self.directory.display().to_string(),
            ),
            (
                "sink.rollInterval".into(),
                self.roll_interval_written.to_string(),
            ),
            (
                "sink.pathManager".into(),
                match self.path_manager {
                    PathManager::Default => "DEFAULT".into(),
                    PathManager::RollTime => "ROLLTIME".into(),
                },
            ),
            ("sink.pathManager.prefix".into(), self.prefix.clone()),
            ("sink.pathManager.extension".into(), self.extension.clone()),
            (
                "sink.serializer".into(),
                self.serializer.flume_name().into(),
            ),
            (
                "sink.serializer.appendNewline".into(),
                self.append_newline.to_string(),
            ),
            ("sink.batchSize".into(), self.batch_size.to_string()),
        ]
    }
}

impl SinkSpec for FileRollSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn batch_size_key(&self, _lines: &std::collections::BTreeMap<String, usize>) -> &'static str {
        "sink.batchSize"
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(FileRollSink::new(core, self.clone())))
    }
}

/// Flume's `DefaultPathManager` / `RollTimePathManager`: the name of the next file.
#[derive(Debug)]
struct Names {
    kind: PathManager,
    prefix: String,
    extension: String,
    /// `DEFAULT`: the millisecond the sink was configured.
    series: u128,
    index: u64,
    /// `ROLLTIME`: the second of the last name, whose index keeps counting.
    last_roll: String,
}

impl Names {
    fn new(s: &FileRollSettings) -> Self {
        Names {
            kind: s.path_manager,
            prefix: s.prefix.clone(),
            extension: s.extension.clone(),
            series: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            index: 0,
            last_roll: String::new(),
        }
    }

    fn next(&mut self) -> String {
        let stamp = match self.kind {
            PathManager::Default => self.series.to_string(),
            PathManager::RollTime => {
                let date = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
                if date != self.last_roll {
                    self.index = 0;
                    self.last_roll = date.clone();
                }
                date
            }
        };
        self.index += 1;
        let mut name = format!("{}{stamp}-{}", self.prefix, self.index);
        if !self.extension.is_empty() {
            name.push('.');
            name.push_str(&self.extension);
        }
        name
    }
}

/// The file being written.
struct Current {
    path: PathBuf,
    file: File,
    /// Bytes written and fsynced: where a failed batch is cut back to.
    len: u64,
}

pub struct FileRollSink {
    core: SinkCore,
    settings: FileRollSettings,
    names: Names,
    current: Option<Current>,
    next_roll: Option<Instant>,
    /// The batch being serialized (reused: no per-batch allocation once warm).
    buf: Vec<u8>,
}

impl FileRollSink {
    pub fn new(core: SinkCore, settings: FileRollSettings) -> Self {
        FileRollSink {
            names: Names::new(&settings),
            // An interval too long for a deadline never comes: no roll.
            next_roll: settings
                .roll_interval
                .and_then(|d| Instant::now().checked_add(d)),
            core,
            settings,
            current: None,
            buf: Vec::new(),
        }
    }

    fn failed(&self, message: String) -> SinkError {
        SinkError::Delivery {
            sink: self.core.name.clone(),
            failure: Failure::Retriable,
            message,
        }
    }

    /// Closes the current file when a roll is due (Flume's `shouldRotate`, set at a fixed rate).
    fn roll_if_due(&mut self) -> Result<(), SinkError> {
        let (Some(due), Some(every)) = (self.next_roll, self.settings.roll_interval) else {
            return Ok(());
        };
        let now = Instant::now();
        if now < due {
            return Ok(());
        }
        // Fixed rate, as Flume's scheduler: missed rolls do not pile up.
        let mut next = Some(due);
        while let Some(n) = next.filter(|n| *n <= now) {
            next = n.checked_add(every);
        }
        self.next_roll = next;
        if let Some(cur) = self.current.take() {
            if let Err(e) = cur.file.sync_all() {
                let path = cur.path.display().to_string();
                self.current = Some(cur);
                return Err(self.failed(format!("Unable to rotate file {path}: fsync: {e}")));
            }
            self.core.counter.connection_closed.inc();
        }
        Ok(())
    }

    fn open_if_needed(&mut self) -> Result<(), SinkError> {
        if self.current.is_some() {
            return Ok(());
        }
        let name = self.names.next();
        let path = self.settings.directory.join(name);
        match OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
        {
            Ok(file) => {
                // The new name must survive a crash as much as the data written into it.
                sync_dir(&self.settings.directory);
                self.core.counter.connection_created.inc();
                self.current = Some(Current { path, file, len: 0 });
                Ok(())
            }
            Err(e) => {
                self.core.counter.connection_failed.inc();
                let hint = if !self.settings.directory.is_dir() {
                    format!(
                        " (the directory {} does not exist: create it, Flume does not either)",
                        self.settings.directory.display()
                    )
                } else {
                    String::new()
                };
                Err(self.failed(format!(
                    "Failed to open file {} while delivering event: {e}{hint}",
                    path.display()
                )))
            }
        }
    }

    fn serialize(&mut self, events: &[Event]) {
        self.buf.clear();
        for e in events {
            if self.settings.serializer == Serializer::HeaderAndText {
                write_headers(&mut self.buf, e);
                self.buf.push(b' ');
            }
            self.buf.extend_from_slice(&e.body);
            if self.settings.append_newline {
                self.buf.push(b'\n');
            }
        }
    }

    /// Writes and fsyncs the serialized batch; on failure cuts the file back to where it was.
    fn write_batch(&mut self) -> Result<(), String> {
        let Some(cur) = self.current.as_mut() else {
            return Err("no open file".into());
        };
        let result = cur
            .file
            .write_all(&self.buf)
            .and_then(|()| cur.file.sync_data());
        match result {
            Ok(()) => {
                cur.len += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let cut = cur.file.set_len(cur.len).and_then(|()| {
                    use std::io::Seek;
                    cur.file.seek(std::io::SeekFrom::Start(cur.len)).map(|_| ())
                });
                if let Err(c) = cut {
                    warn!(sink = %self.core.name, "cannot cut {} back to {} bytes after a failed write ({c}); the retry may repeat part of the batch", cur.path.display(), cur.len);
                }
                Err(format!("writing {}: {e}", cur.path.display()))
            }
        }
    }
}

/// Java's `HashMap.toString()` of the headers: `{k=v, k2=v2}` in Flume's iteration order.
fn write_headers(out: &mut Vec<u8>, e: &Event) {
    let entries: Vec<(&str, &str)> = e.headers.iter().collect();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    out.push(b'{');
    for (n, i) in java_hashmap_order(&keys).into_iter().enumerate() {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        let (k, v) = entries[i];
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
}

/// Makes a created or renamed entry of `dir` durable; a failure only weakens crash safety.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Sink for FileRollSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }

    fn start(&mut self) -> Result<(), SinkError> {
        info!(sink = %self.core.name, "RollingFileSink {} started, writing to {}", self.core.name, self.settings.directory.display());
        if self.settings.roll_interval.is_none() {
            info!(sink = %self.core.name, "RollInterval is not valid, file rolling will not happen.");
        }
        Ok(())
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        self.roll_if_due()?;
        self.open_if_needed()?;
        let Some(txn) = self.core.take(self.settings.batch_size, EMPTY_CHANNEL_WAIT) else {
            return self.core.empty();
        };
        self.serialize(txn.events());
        if let Err(message) = self.write_batch() {
            self.core.counter.event_write_fail.inc();
            txn.rollback();
            return Err(self.failed(format!("Failed to process transaction: {message}")));
        }
        let full = txn.len() >= self.settings.batch_size;
        self.core.delivered(txn);
        Ok(if full { Status::Ready } else { Status::Backoff })
    }

    fn stop(&mut self, _deadline: Instant) {
        if let Some(cur) = self.current.take() {
            match cur.file.sync_all() {
                Ok(()) => self.core.counter.connection_closed.inc(),
                Err(e) => {
                    self.core.counter.connection_failed.inc();
                    error!(sink = %self.core.name, "Unable to close output stream {}: {e}", cur.path.display());
                }
            }
        }
        info!(sink = %self.core.name, "RollingFile sink {} stopped", self.core.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::memory::{MemoryChannel, MemorySettings};
    use crate::channel::Channel;

    use crate::event::Headers;
    use crate::metrics::{ChannelCounter, SinkCounter};
    use std::sync::Arc;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<FileRollSettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, Some("file_roll"), FileRollSettings::parse);
        (s, d.lines())
    }

    fn sink(dir: &Path, extra: &[(&str, &str)]) -> (FileRollSink, Arc<dyn Channel>) {
        let d = dir.display().to_string();
        let mut pairs = vec![("sink.directory", d.as_str())];
        pairs.extend_from_slice(extra);
        let s = parse(&pairs).0.expect("parses");
        let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings::default(),
            Arc::new(ChannelCounter::default()),
        ));
        let core = SinkCore::new("k1", channel.clone(), Arc::new(SinkCounter::default()));
        (FileRollSink::new(core, s), channel)
    }

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn defaults_and_flume_names() {
        let (s, diags) = parse(&[("sink.directory", "/tmp/x")]);
        let s = s.unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(s.roll_interval, Some(Duration::from_secs(30)));
        assert_eq!(s.batch_size, 100);
        assert_eq!(s.serializer, Serializer::Text);
        assert!(s.append_newline);
        let (s, _) = parse(&[
            ("sink.directory", "/tmp/x"),
            ("sink.rollInterval", "0"),
            ("sink.pathManager", "rolltime"),
            ("sink.serializer", "header_and_text"),
        ]);
        let s = s.unwrap();
        assert_eq!(s.roll_interval, None);
        assert_eq!(s.path_manager, PathManager::RollTime);
        assert_eq!(s.serializer, Serializer::HeaderAndText);
    }

    #[test]
    fn bad_values_are_reported() {
        let (s, diags) = parse(&[("sink.directory", "/tmp/x"), ("sink.rollInterval", "1h")]);
        assert!(s.is_none());
        assert!(diags[0].contains("sink.rollInterval"), "{diags:?}");
        let (s, diags) = parse(&[
            ("sink.directory", "/tmp/x"),
            ("sink.serializer", "avro_event"),
        ]);
        assert!(s.is_none());
        assert!(diags[0].starts_with("f.conf:2:"), "{diags:?}");
        let (s, diags) = parse(&[]);
        assert!(s.is_none());
        assert!(diags[0].contains("sink.directory"), "{diags:?}");
    }

    #[test]
    fn writes_bodies_with_newlines_into_flume_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let (mut k, ch) = sink(
            dir.path(),
            &[
                ("sink.pathManager.prefix", "p-"),
                ("sink.pathManager.extension", "log"),
            ],
        );
        let mut batch = vec![Event::new("a"), Event::new(""), Event::new("c\r")];
        ch.put(&mut batch).unwrap();
        k.process().unwrap();
        k.stop(Instant::now());
        let f = files(dir.path());
        assert_eq!(f.len(), 1, "{f:?}");
        let name = &f[0].0;
        let stamp = name
            .strip_prefix("p-")
            .and_then(|n| n.strip_suffix("-1.log"))
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(stamp.len(), 13, "epoch millis in {name}");
        assert_eq!(f[0].1, b"a\n\nc\r\n");
        assert!(ch.is_empty());
    }

    #[test]
    fn header_and_text_shows_headers_in_java_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut k, ch) = sink(
            dir.path(),
            &[
                ("sink.serializer", "HEADER_AND_TEXT"),
                ("sink.serializer.appendNewline", "false"),
            ],
        );
        let h: Headers = [("host", "n1"), ("a", "1")].into_iter().collect();
        let mut batch = vec![Event::with_headers(h, "body")];
        ch.put(&mut batch).unwrap();
        k.process().unwrap();
        // Java's HashMap puts "a" (hash 97) before "host".
        assert_eq!(files(dir.path())[0].1, b"{a=1, host=n1} body");
    }

    #[test]
    fn a_roll_starts_a_new_file_even_without_events() {
        let dir = tempfile::tempdir().unwrap();
        let (mut k, ch) = sink(dir.path(), &[("sink.rollInterval", "1")]);
        let mut batch = vec![Event::new("first")];
        ch.put(&mut batch).unwrap();
        k.process().unwrap();
        k.next_roll = Some(Instant::now());
        k.process().unwrap();
        let f = files(dir.path());
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].0.ends_with("-1") && f[1].0.ends_with("-2"), "{f:?}");
        assert_eq!(f[0].1, b"first\n");
        assert!(f[1].1.is_empty());
    }

    #[test]
    fn a_missing_directory_fails_the_batch_and_keeps_the_events() {
        let dir = tempfile::tempdir().unwrap();
        let (mut k, ch) = sink(&dir.path().join("missing"), &[]);
        let mut batch = vec![Event::new("kept")];
        ch.put(&mut batch).unwrap();
        let err = k.process().unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert_eq!(ch.len(), 1);
    }
}
