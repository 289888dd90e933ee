//! Spooling directory source — replaces Flume's `spooldir`
//! (`org.apache.flume.source.SpoolDirectorySource` with `ReliableSpoolingFileEventReader` and
//! the `LINE` deserializer).
//!
//! Files dropped into `spoolDir` are read one after another (`consumeOrder`: oldest first by
//! modification time, ties by name, as Flume), each line an event, and a finished file is renamed
//! `<name>.COMPLETED` (`fileSuffix`), deleted (`deletePolicy = immediate`) or marked in the
//! tracker directory (`trackingPolicy = tracker_dir`).
//!
//! **Delivery guarantee**: at least once across restarts, crashes and `kill -9`, even with a
//! memory channel. A file's progress advances only past lines that a sink committed (delivery
//! receipts, as TAILDIR), is persisted at most a second behind (`tracker.rs`), and a file is
//! renamed or deleted only after every line of it was delivered. After a crash the lines
//! delivered since the last write (at most about a second's worth) are shipped again; nothing is
//! lost. Flume commits a file's position when the batch is in the channel, so with a memory
//! channel a crash loses what the channel held.
//!
//! Where rflume differs from Flume, on purpose (README "Differences"):
//! * a file that changed after it was picked up, whose completed name already exists, or that
//!   cannot be decoded (`decodeErrorPolicy = FAIL`) is reported at ERROR with Flume's message and
//!   left where it is, untouched; the other files go on (Flume stops the whole source until it is
//!   restarted). After a restart such a file is tried again from where its delivery stopped;
//! * progress is kept in rflume's own `<trackerDir>/.rflume-spool.json` and, for Flume's sake,
//!   in Flume's `.flumespool-main.meta` too, so a directory moves between Flume and rflume in
//!   either direction without re-reading or skipping (see `tracker.rs`).
//!
//! Layout: this file (settings), `lines.rs` (Flume's `LINE` deserializer on bytes), `scan.rs`
//! (which files are candidates and which comes next), `tracker.rs` (progress on disk, Flume's meta
//! file), `spooler.rs` (the source at run time: picking, reading and putting files, saving
//! progress), `retire.rs` (when and how a delivered file is renamed, deleted or marked).

mod lines;
mod retire;
mod scan;
mod spooler;
mod tracker;

use std::path::PathBuf;
use std::time::Duration;

use super::{BatchCounts, ChannelProcessor, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::interceptor::java_regex::JavaRegex;
use crate::interceptor::search_replace::Charset;
use crate::shutdown::Shutdown;

pub const DEFAULT_FILE_SUFFIX: &str = ".COMPLETED";
pub const DEFAULT_FILENAME_HEADER_KEY: &str = "file";
pub const DEFAULT_BASENAME_HEADER_KEY: &str = "basename";
pub const DEFAULT_BATCH_SIZE: u64 = 100;
pub const DEFAULT_INCLUDE_PATTERN: &str = "^.*$";
pub const DEFAULT_IGNORE_PATTERN: &str = "^$";
pub const DEFAULT_TRACKER_DIR: &str = ".flumespool";
pub const DEFAULT_POLL_DELAY_MS: u64 = 500;
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 4000;
/// `LineDeserializer.MAXLINE_DFLT`, in characters.
pub const DEFAULT_MAX_LINE_LENGTH: u64 = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletePolicy {
    Never,
    Immediate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackingPolicy {
    Rename,
    TrackerDir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumeOrder {
    Oldest,
    Youngest,
    Random,
}

/// Flume's `DecodeErrorPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorPolicy {
    Fail,
    Replace,
    Ignore,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolDirSettings {
    pub spool_dir: PathBuf,
    pub file_suffix: String,
    pub delete_policy: DeletePolicy,
    pub tracking_policy: TrackingPolicy,
    pub file_header: bool,
    pub file_header_key: String,
    pub basename_header: bool,
    pub basename_header_key: String,
    pub batch_size: usize,
    pub input_charset: Charset,
    pub output_charset: Charset,
    pub decode_error_policy: DecodeErrorPolicy,
    pub include_pattern: JavaRegex,
    pub ignore_pattern: JavaRegex,
    /// As written; relative paths are inside `spool_dir` (see [`SpoolDirSettings::tracker_path`]).
    pub tracker_dir: PathBuf,
    pub consume_order: ConsumeOrder,
    pub poll_delay: Duration,
    pub recursive: bool,
    pub max_backoff: Duration,
    pub max_line_length: usize,
}

impl SpoolDirSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let spool_dir = r.required("spoolDir", "e.g. spoolDir = /var/spool/flume");
        let file_suffix = r.string("fileSuffix", DEFAULT_FILE_SUFFIX);
        let delete_policy = choice(
            r,
            "deletePolicy",
            "never",
            &[
                ("never", DeletePolicy::Never),
                ("immediate", DeletePolicy::Immediate),
            ],
        );
        let tracking_policy = choice(
            r,
            "trackingPolicy",
            "rename",
            &[
                ("rename", TrackingPolicy::Rename),
                ("tracker_dir", TrackingPolicy::TrackerDir),
            ],
        );
        let file_header = r.bool("fileHeader", false);
        let file_header_key = r.string("fileHeaderKey", DEFAULT_FILENAME_HEADER_KEY);
        let basename_header = r.bool("basenameHeader", false);
        let basename_header_key = r.string("basenameHeaderKey", DEFAULT_BASENAME_HEADER_KEY);
        let batch_size = r.positive_int("batchSize", DEFAULT_BATCH_SIZE) as usize;
        let input_charset = charset(r, "inputCharset");
        let decode_error_policy = choice(
            r,
            "decodeErrorPolicy",
            "FAIL",
            &[
                ("FAIL", DecodeErrorPolicy::Fail),
                ("REPLACE", DecodeErrorPolicy::Replace),
                ("IGNORE", DecodeErrorPolicy::Ignore),
            ],
        );
        let include_pattern = pattern(r, "includePattern", DEFAULT_INCLUDE_PATTERN);
        let ignore_pattern = pattern(r, "ignorePattern", DEFAULT_IGNORE_PATTERN);
        let tracker_dir = PathBuf::from(r.string("trackerDir", DEFAULT_TRACKER_DIR));
        let consume_order = choice(
            r,
            "consumeOrder",
            "oldest",
            &[
                ("oldest", ConsumeOrder::Oldest),
                ("youngest", ConsumeOrder::Youngest),
                ("random", ConsumeOrder::Random),
            ],
        );
        let poll_delay = Duration::from_millis(r.positive_int("pollDelay", DEFAULT_POLL_DELAY_MS));
        let recursive = r.bool("recursiveDirectorySearch", false);
        let max_backoff =
            Duration::from_millis(r.positive_int("maxBackoff", DEFAULT_MAX_BACKOFF_MS));
        deserializer(r);
        let max_line_length = max_line_length(r);
        let output_charset = charset(r, "deserializer.outputCharset");
        if let Some((_, line)) = r.ignored("bufferMaxLines") {
            r.warn(
                "bufferMaxLines",
                Some(line),
                "deprecated and ignored, as in Flume",
                Some("delete this line; batchSize sets the lines per transaction".to_string()),
            );
        }
        if r.failed() {
            return None;
        }
        Some(SpoolDirSettings {
            spool_dir: PathBuf::from(spool_dir?),
            file_suffix,
            delete_policy: delete_policy?,
            tracking_policy: tracking_policy?,
            file_header,
            file_header_key,
            basename_header,
            basename_header_key,
            batch_size,
            input_charset: input_charset?,
            output_charset: output_charset?,
            decode_error_policy: decode_error_policy?,
            include_pattern: include_pattern?,
            ignore_pattern: ignore_pattern?,
            tracker_dir,
            consume_order: consume_order?,
            poll_delay,
            recursive,
            max_backoff,
            max_line_length,
        })
    }

    /// The tracker directory: `trackerDir`, inside `spoolDir` when relative (Flume's rule).
    pub fn tracker_path(&self) -> PathBuf {
        if self.tracker_dir.is_absolute() {
            self.tracker_dir.clone()
        } else {
            self.spool_dir.join(&self.tracker_dir)
        }
    }
}

/// One of a fixed set of values, matched case-insensitively (Flume's `valueOf(toUpperCase())` or
/// `equalsIgnoreCase`); anything else makes Flume drop the source, so it is an error.
fn choice<T: Copy>(
    r: &mut PropReader,
    key: &str,
    default: &str,
    values: &[(&str, T)],
) -> Option<T> {
    let (v, line) = match r.raw(key) {
        Some((v, line)) => (v.trim().to_string(), Some(line)),
        None => (default.to_string(), None),
    };
    if let Some((_, t)) = values.iter().find(|(n, _)| n.eq_ignore_ascii_case(&v)) {
        return Some(*t);
    }
    let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    r.error(
        key,
        line,
        format!(
            "'{v}' is not one of {} (Flume refuses it too)",
            names.join(", ")
        ),
        Some(format!("Flume's default is {default}")),
    );
    None
}

fn charset(r: &mut PropReader, key: &str) -> Option<Charset> {
    let Some((v, line)) = r.raw(key) else {
        return Some(Charset::Utf8);
    };
    if let Some(c) = Charset::from_java_name(v.trim()) {
        return Some(c);
    }
    let hint = Some("supported: UTF-8, ISO-8859-1, US-ASCII".to_string());
    if encoding_rs::Encoding::for_label(v.trim().as_bytes()).is_some() {
        r.unsupported(
            key,
            Some(line),
            format!("charset {v} is not supported by rflume's spooling directory source"),
            hint,
        );
    } else {
        r.error(key, Some(line), format!("unknown charset {v}"), hint);
    }
    None
}

fn pattern(r: &mut PropReader, key: &str, default: &str) -> Option<JavaRegex> {
    let (v, line) = match r.raw(key) {
        Some((v, line)) => (v.to_string(), Some(line)),
        None => (default.to_string(), None),
    };
    match JavaRegex::whole(&v) {
        Ok(re) => Some(re),
        Err(e @ crate::interceptor::java_regex::JavaRegexError::Unsupported { .. }) => {
            r.unsupported(key, line, e.to_string(), None);
            None
        }
        Err(e) => {
            r.error(key, line, e.to_string(), None);
            None
        }
    }
}

/// `deserializer`: only Flume's `LINE` is run; `AVRO`, `BLOB` and custom classes are not.
fn deserializer(r: &mut PropReader) {
    let Some((v, line)) = r.raw("deserializer") else {
        return;
    };
    let v = v.trim();
    if v.eq_ignore_ascii_case("LINE")
        || v == "org.apache.flume.serialization.LineDeserializer$Builder"
    {
        return;
    }
    r.unsupported(
        "deserializer",
        Some(line),
        format!("deserializer {v} is not supported by rflume"),
        Some("only LINE (the default) is; keep this source on Flume".to_string()),
    );
}

/// `deserializer.maxLineLength`, or Flume's deprecated `bufferMaxLineLength` when the new key is
/// absent (Flume's backwards-compatibility hack for the LINE deserializer).
fn max_line_length(r: &mut PropReader) -> usize {
    let key = "deserializer.maxLineLength";
    if r.line(key).is_none() && r.line("bufferMaxLineLength").is_some() {
        if r.deprecated("bufferMaxLineLength", key).is_some() {
            return r.positive_int("bufferMaxLineLength", DEFAULT_MAX_LINE_LENGTH) as usize;
        }
    } else {
        let _ = r.deprecated("bufferMaxLineLength", key);
    }
    r.positive_int(key, DEFAULT_MAX_LINE_LENGTH) as usize
}

fn policy_name(p: DecodeErrorPolicy) -> &'static str {
    match p {
        DecodeErrorPolicy::Fail => "FAIL",
        DecodeErrorPolicy::Replace => "REPLACE",
        DecodeErrorPolicy::Ignore => "IGNORE",
    }
}

impl Describe for SpoolDirSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let s = |v: &str| v.to_string();
        vec![
            (s("spoolDir"), self.spool_dir.display().to_string()),
            (s("fileSuffix"), self.file_suffix.clone()),
            (
                s("deletePolicy"),
                s(match self.delete_policy {
                    DeletePolicy::Never => "never",
                    DeletePolicy::Immediate => "immediate",
                }),
            ),
            (
                s("trackingPolicy"),
                s(match self.tracking_policy {
                    TrackingPolicy::Rename => "rename",
                    TrackingPolicy::TrackerDir => "tracker_dir",
                }),
            ),
            (s("fileHeader"), self.file_header.to_string()),
            (s("fileHeaderKey"), self.file_header_key.clone()),
            (s("basenameHeader"), self.basename_header.to_string()),
            (s("basenameHeaderKey"), self.basename_header_key.clone()),
            (s("batchSize"), self.batch_size.to_string()),
            (s("inputCharset"), s(self.input_charset.java_name())),
            (
                s("decodeErrorPolicy"),
                s(policy_name(self.decode_error_policy)),
            ),
            (s("includePattern"), s(self.include_pattern.as_str())),
            (s("ignorePattern"), s(self.ignore_pattern.as_str())),
            (s("trackerDir"), self.tracker_dir.display().to_string()),
            (
                s("consumeOrder"),
                s(match self.consume_order {
                    ConsumeOrder::Oldest => "oldest",
                    ConsumeOrder::Youngest => "youngest",
                    ConsumeOrder::Random => "random",
                }),
            ),
            (s("pollDelay"), self.poll_delay.as_millis().to_string()),
            (s("recursiveDirectorySearch"), self.recursive.to_string()),
            (s("maxBackoff"), self.max_backoff.as_millis().to_string()),
            (s("deserializer"), s("LINE")),
            (
                s("deserializer.maxLineLength"),
                self.max_line_length.to_string(),
            ),
            (
                s("deserializer.outputCharset"),
                s(self.output_charset.java_name()),
            ),
        ]
    }
}

impl SourceSpec for SpoolDirSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(SpoolDirSource {
            name: name.to_string(),
            settings: self.clone(),
        })
    }
}

pub struct SpoolDirSource {
    name: String,
    settings: SpoolDirSettings,
}

impl Source for SpoolDirSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        // As Flume's SpoolDirectorySource: one received and one accepted batch per put.
        processor.count_batches(BatchCounts::ReceivedAndAccepted);
        let mut spooler =
            spooler::Spooler::new(&self.name, self.settings, processor.counter().clone());
        spooler.run(&mut processor, &shutdown);
        Ok(())
    }
}
