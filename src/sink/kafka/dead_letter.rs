//! Where an event goes that Kafka will never accept (`errors::classify` says `Rejected`: too
//! large, an invalid record, a partition or topic that cannot exist, no permission to write).
//!
//! Flume rolls such a batch back and retries it forever: the channel is wedged, every event
//! behind it waits, and on restart TAILDIR reads the same line again. rflume diverts the rejected
//! event instead and delivers and commits the rest of its batch. Flume has no such setting, so
//! the properties are rflume's own (`rflume.onRejected`, `rflume.deadLetter.*`):
//!
//! * `deadLetter` (the default): the event is appended to a **dead-letter file**, one JSON object
//!   per line (NDJSON), its body in base64 and its headers as they were, so it can be inspected
//!   with `jq` and replayed byte for byte (`jq -r .body | base64 -d`). The file is written and
//!   fsynced before the take commits, so a crash never loses a diverted event; if it cannot be
//!   written (disk full, permissions) the batch is rolled back and retried, as Flume would.
//!   Files are rotated at `rflume.deadLetter.maxFileSize` and never deleted by rflume.
//! * `drop`: the event is dropped — counted and logged, never silently.
//! * `retry`: Flume's behaviour (roll back, retry until an operator acts).
//!
//! Every diverted event is logged once, at ERROR, with its size, topic and Kafka's reason.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Serialize;
use thiserror::Error;

use crate::config::reader::PropReader;
use crate::event::Event;

/// `rflume.onRejected`: what happens to an event Kafka refuses for good.
pub(super) const ON_REJECTED: &str = "rflume.onRejected";
pub(super) const DEAD_LETTER_DIRECTORY: &str = "rflume.deadLetter.directory";
pub(super) const DEAD_LETTER_MAX_FILE_SIZE: &str = "rflume.deadLetter.maxFileSize";
/// 64 MiB per file: large enough that rotation is rare, small enough to open in an editor.
pub(super) const DEFAULT_MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// The default directory, beside TAILDIR's default position file: `~/.flume/dead-letter`.
pub(super) fn default_directory() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".flume").join("dead-letter")
}

/// What the sink does with an event Kafka will never accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnRejected {
    DeadLetter(DeadLetterSettings),
    Drop,
    /// Flume's behaviour: the batch is rolled back and retried.
    Retry,
}

impl OnRejected {
    /// Reads `rflume.onRejected` and `rflume.deadLetter.*`; problems are recorded on `r`.
    pub(super) fn parse(r: &mut PropReader) -> OnRejected {
        let directory = r
            .opt_string(DEAD_LETTER_DIRECTORY)
            .filter(|d| !d.trim().is_empty())
            .map(|d| PathBuf::from(d.trim()));
        let max_file_size = r.positive(DEAD_LETTER_MAX_FILE_SIZE, DEFAULT_MAX_FILE_SIZE);
        // `a1.sinks.k1.` → `a1.k1`.
        let full = r.full_key("");
        let agent = full.split('.').next().unwrap_or_default();
        let file_prefix = format!("{agent}.{}", r.component());
        let dead_letter = || {
            OnRejected::DeadLetter(DeadLetterSettings {
                directory: directory.clone().unwrap_or_else(default_directory),
                max_file_size,
                file_prefix: file_prefix.clone(),
            })
        };
        let Some((value, line)) = r.raw(ON_REJECTED) else {
            return dead_letter();
        };
        let policy = match value.trim().to_ascii_lowercase().as_str() {
            "deadletter" => dead_letter(),
            "drop" => OnRejected::Drop,
            "retry" => OnRejected::Retry,
            _ => {
                r.error(
                    ON_REJECTED,
                    Some(line),
                    format!("'{value}' is not deadLetter, drop or retry"),
                    Some(
                        "deadLetter (the default) writes the event to a file in \
                         rflume.deadLetter.directory; drop drops it (counted and logged); retry \
                         rolls the batch back and retries it forever, as Flume does"
                            .to_string(),
                    ),
                );
                dead_letter()
            }
        };
        if !matches!(policy, OnRejected::DeadLetter(_)) {
            for key in [DEAD_LETTER_DIRECTORY, DEAD_LETTER_MAX_FILE_SIZE] {
                if let Some(line) = r.line(key) {
                    r.warn(
                        key,
                        Some(line),
                        format!("has no effect: {ON_REJECTED} is {}", policy.name()),
                        Some(format!("delete the line or set {ON_REJECTED} = deadLetter")),
                    );
                }
            }
        }
        policy
    }

    /// `rflume check` rows.
    pub(super) fn describe(&self) -> Vec<(String, String)> {
        let mut rows = vec![(ON_REJECTED.to_string(), self.name().to_string())];
        if let OnRejected::DeadLetter(d) = self {
            rows.push((
                DEAD_LETTER_DIRECTORY.to_string(),
                d.directory.display().to_string(),
            ));
            rows.push((
                DEAD_LETTER_MAX_FILE_SIZE.to_string(),
                d.max_file_size.to_string(),
            ));
        }
        rows
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            OnRejected::DeadLetter(_) => "deadLetter",
            OnRejected::Drop => "drop",
            OnRejected::Retry => "retry",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterSettings {
    pub directory: PathBuf,
    pub max_file_size: u64,
    /// `<agent>.<sink>`: file names start with it, so several agents can share a directory.
    pub file_prefix: String,
}

#[derive(Debug, Error)]
pub enum DeadLetterError {
    #[error("cannot write the dead-letter file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One event Kafka refused, with what is known about the refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Position of the event in its take transaction.
    pub index: usize,
    pub topic: String,
    pub partition: Option<i32>,
    /// The error code's name (`MessageSizeTooLarge`).
    pub code: String,
    pub message: String,
}

/// One line of the dead-letter file.
#[derive(Serialize)]
struct Line<'a> {
    /// When it was written, ms since the epoch (UTC).
    time_ms: u64,
    /// `<agent>.<sink>`.
    sink: &'a str,
    topic: &'a str,
    partition: Option<i32>,
    error: &'a str,
    message: &'a str,
    headers: serde_json::Map<String, serde_json::Value>,
    /// Length of the body in bytes.
    size: usize,
    /// The body, standard base64 with padding.
    body: String,
}

/// The dead-letter files of one sink: appended to, fsynced per batch, rotated by size.
pub struct DeadLetterFile {
    settings: DeadLetterSettings,
    current: Option<(File, PathBuf, u64)>,
}

impl DeadLetterFile {
    pub fn new(settings: DeadLetterSettings) -> Self {
        DeadLetterFile {
            settings,
            current: None,
        }
    }

    /// Creates the directory (0700: rejected events are as private as the logs they came from).
    pub fn prepare(&self) -> Result<(), DeadLetterError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.settings.directory)
            .map_err(|source| DeadLetterError::Io {
                path: self.settings.directory.display().to_string(),
                source,
            })
    }

    /// A new file, never an existing one (0600).
    fn open_next(&mut self) -> Result<(), DeadLetterError> {
        self.prepare()?;
        let ms = now_ms();
        for attempt in 0u32..1000 {
            let name = if attempt == 0 {
                format!("{}.{ms}.ndjson", self.settings.file_prefix)
            } else {
                format!("{}.{ms}-{attempt}.ndjson", self.settings.file_prefix)
            };
            let path = self.settings.directory.join(name);
            match OpenOptions::new()
                .append(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(f) => {
                    // The new name must survive a crash as well as its content.
                    if let Ok(dir) = File::open(&self.settings.directory) {
                        let _ = dir.sync_all();
                    }
                    self.current = Some((f, path, 0));
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(DeadLetterError::Io {
                        path: path.display().to_string(),
                        source,
                    })
                }
            }
        }
        Err(DeadLetterError::Io {
            path: self.settings.directory.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "no free file name in 1000 attempts",
            ),
        })
    }

    /// Appends the rejected events of one batch and fsyncs. Returns the file they are in.
    pub fn write(
        &mut self,
        events: &[Event],
        rejected: &[Rejection],
    ) -> Result<PathBuf, DeadLetterError> {
        let mut text = Vec::new();
        let time_ms = now_ms();
        for r in rejected {
            let Some(event) = events.get(r.index) else {
                continue;
            };
            let line = Line {
                time_ms,
                sink: &self.settings.file_prefix,
                topic: &r.topic,
                partition: r.partition,
                error: &r.code,
                message: &r.message,
                headers: event
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                    .collect(),
                size: event.body.len(),
                body: base64::engine::general_purpose::STANDARD.encode(&event.body),
            };
            // Serializing plain strings and numbers cannot fail; keep going if it ever did.
            if serde_json::to_writer(&mut text, &line).is_ok() {
                text.push(b'\n');
            }
        }
        let rotate = match &self.current {
            None => true,
            Some((_, _, size)) => *size > 0 && *size >= self.settings.max_file_size,
        };
        if rotate {
            self.open_next()?;
        }
        let Some((file, path, size)) = self.current.as_mut() else {
            return Err(DeadLetterError::Io {
                path: self.settings.directory.display().to_string(),
                source: std::io::Error::other("no dead-letter file open"),
            });
        };
        let io = |source| DeadLetterError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Err(e) = file.write_all(&text).and_then(|()| file.sync_data()) {
            // A partly written line would corrupt the file for readers: start a new one next
            // time (the batch is retried, so what was written may appear twice, never lost).
            let err = io(e);
            self.current = None;
            return Err(err);
        }
        *size += text.len() as u64;
        Ok(path.clone())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn rejection(index: usize) -> Rejection {
        Rejection {
            index,
            topic: "t".into(),
            partition: None,
            code: "MessageSizeTooLarge".into(),
            message: "Broker: Message size too large".into(),
        }
    }

    #[test]
    fn records_are_byte_exact_private_and_rotated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut f = DeadLetterFile::new(DeadLetterSettings {
            directory: dir.path().join("dl"),
            max_file_size: 10,
            file_prefix: "a1.k1".into(),
        });
        let body: Vec<u8> = (0..=255u8).collect();
        let events = vec![
            Event::new(b"ok".to_vec()),
            Event::with_headers(
                [("key", "k"), ("h", "ü\"\n")]
                    .into_iter()
                    .collect::<Headers>(),
                body.clone(),
            ),
        ];
        let first = f.write(&events, &[rejection(1)]).expect("write");
        let second = f
            .write(&events, &[rejection(1), rejection(7)])
            .expect("write");
        assert_ne!(first, second, "rotated after maxFileSize");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("dl")), 0o700);
        assert_eq!(mode(&first), 0o600);
        let text = std::fs::read_to_string(&first).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 1);
        let v = &lines[0];
        assert_eq!(v["sink"], "a1.k1");
        assert_eq!(v["topic"], "t");
        assert_eq!(v["error"], "MessageSizeTooLarge");
        assert_eq!(v["size"], 256);
        assert_eq!(v["headers"]["h"], "ü\"\n");
        assert_eq!(v["headers"]["key"], "k");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(v["body"].as_str().expect("body"))
            .expect("base64");
        assert_eq!(decoded, body);
        // An index outside the batch is skipped rather than panicking.
        assert_eq!(
            std::fs::read_to_string(&second)
                .expect("read")
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").expect("write");
        let mut f = DeadLetterFile::new(DeadLetterSettings {
            directory: blocker.join("dl"),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            file_prefix: "a1.k1".into(),
        });
        let err = f
            .write(&[Event::new(b"x".to_vec())], &[rejection(0)])
            .expect_err("a file is in the way");
        assert!(err
            .to_string()
            .contains("cannot write the dead-letter file"));
    }
}
