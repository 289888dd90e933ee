//! TAILDIR's properties, with Flume's names and defaults
//! (`TaildirSourceConfigurationConstants`).

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::source::framer::LineLimit;
use crate::source::{Source, SourceSpec};

pub const DEFAULT_BATCH_SIZE: u64 = 100;
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 120_000;
pub const DEFAULT_WRITE_POS_INTERVAL_MS: u64 = 3_000;
pub const DEFAULT_BACKOFF_SLEEP_INCREMENT_MS: u64 = 1_000;
pub const DEFAULT_MAX_BACKOFF_SLEEP_MS: u64 = 5_000;
pub const DEFAULT_FILE_HEADER_KEY: &str = "file";
pub const BYTE_OFFSET_HEADER_KEY: &str = "byteoffset";

/// `filegroups.<name> = /dir/regex`: a literal directory and a regex on file names.
#[derive(Clone, Debug)]
pub struct FileGroupSettings {
    pub name: String,
    pub dir: PathBuf,
    /// As written, for display and equality.
    pub pattern: String,
    /// Anchored (`Matcher.matches()` semantics).
    pub regex: Regex,
    /// `headers.<name>.<key> = value`.
    pub headers: Vec<(String, String)>,
}

impl PartialEq for FileGroupSettings {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.dir == o.dir
            && self.pattern == o.pattern
            && self.headers == o.headers
    }
}

impl Eq for FileGroupSettings {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaildirSettings {
    pub groups: Vec<FileGroupSettings>,
    pub position_file: PathBuf,
    pub byte_offset_header: bool,
    pub skip_to_end: bool,
    pub idle_timeout: Duration,
    pub write_pos_interval: Duration,
    pub batch_size: usize,
    pub max_batch_count: u64,
    pub backoff_sleep_increment: Duration,
    pub max_backoff_sleep: Duration,
    pub cache_pattern_matching: bool,
    pub file_header: bool,
    pub file_header_key: String,
    /// rflume: `rflume.maxLineLength` and `rflume.longLines` (Flume buffers any line whole).
    pub line_limit: LineLimit,
}

/// Flume's default `positionFile`: `~/.flume/taildir_position.json`.
pub fn default_position_file() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home)
        .join(".flume")
        .join("taildir_position.json")
}

impl TaildirSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let groups_list = r.required(
            "filegroups",
            "e.g. filegroups = f1 and filegroups.f1 = /var/log/app/.*log",
        );
        let mut groups = Vec::new();
        let mut header_specs: Vec<(String, String, String)> = Vec::new();
        for (rest, value, _) in r.with_prefix("headers.") {
            match rest.split_once('.') {
                Some((g, k)) if !k.is_empty() => {
                    header_specs.push((g.to_string(), k.to_string(), value))
                }
                _ => r.warn(
                    &format!("headers.{rest}"),
                    None,
                    "header setting without a header name; ignored",
                    Some("write headers.<filegroup>.<header> = value".to_string()),
                ),
            }
        }
        r.known_prefix("filegroups.");
        for name in groups_list.as_deref().unwrap_or("").split_whitespace() {
            let key = format!("filegroups.{name}");
            let Some((path, line)) = r.raw(&key) else {
                r.error(
                    &key,
                    None,
                    format!("file group {name} is listed in filegroups but has no path"),
                    Some(format!("add {} = /var/log/app/.*\\.log", r.full_key(&key))),
                );
                continue;
            };
            let path = path.to_string();
            let (dir, pattern) = match path.rfind('/') {
                Some(i) if path.starts_with('/') => (
                    PathBuf::from(if i == 0 { "/" } else { &path[..i] }),
                    path[i + 1..].to_string(),
                ),
                _ => {
                    r.error(
                        &key,
                        Some(line),
                        format!("'{path}' is not an absolute path"),
                        Some(
                            "the directory part must be absolute, e.g. /var/log/app/.*\\.log"
                                .to_string(),
                        ),
                    );
                    continue;
                }
            };
            let regex = match Regex::new(&format!("^(?:{pattern})$")) {
                Ok(re) => re,
                Err(e) => {
                    r.error(
                        &key,
                        Some(line),
                        format!("'{pattern}' is not a supported regular expression: {e}"),
                        Some("Java regex features such as look-around and back-references are not supported".to_string()),
                    );
                    continue;
                }
            };
            let headers = header_specs
                .iter()
                .filter(|(g, _, _)| g == name)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .collect();
            groups.push(FileGroupSettings {
                name: name.to_string(),
                dir,
                pattern,
                regex,
                headers,
            });
        }
        for (g, k, _) in &header_specs {
            if !groups.iter().any(|fg| &fg.name == g) {
                r.warn(
                    &format!("headers.{g}.{k}"),
                    None,
                    format!("{g} is not a file group of this source; the header is never set"),
                    None,
                );
            }
        }
        let position_file = r
            .opt_string("positionFile")
            .map(PathBuf::from)
            .unwrap_or_else(default_position_file);
        let settings = TaildirSettings {
            groups,
            position_file,
            byte_offset_header: r.bool("byteOffsetHeader", false),
            skip_to_end: r.bool("skipToEnd", false),
            idle_timeout: Duration::from_millis(r.positive("idleTimeout", DEFAULT_IDLE_TIMEOUT_MS)),
            write_pos_interval: Duration::from_millis(
                r.positive("writePosInterval", DEFAULT_WRITE_POS_INTERVAL_MS),
            ),
            batch_size: r.positive_int("batchSize", DEFAULT_BATCH_SIZE) as usize,
            max_batch_count: max_batch_count(r),
            backoff_sleep_increment: Duration::from_millis(
                r.positive("backoffSleepIncrement", DEFAULT_BACKOFF_SLEEP_INCREMENT_MS),
            ),
            max_backoff_sleep: Duration::from_millis(
                r.positive("maxBackoffSleep", DEFAULT_MAX_BACKOFF_SLEEP_MS),
            ),
            cache_pattern_matching: r.bool("cachePatternMatching", true),
            file_header: r.bool("fileHeader", false),
            file_header_key: r.string("fileHeaderKey", DEFAULT_FILE_HEADER_KEY),
            line_limit: LineLimit::parse(r),
        };
        if r.failed() {
            return None;
        }
        Some(settings)
    }
}

impl SourceSpec for TaildirSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(super::TaildirSource::new(name, self.clone()))
    }
}

/// Flume: `maxBatchCount <= 0` becomes the default, `Long.MAX_VALUE` (no limit), with a warning.
fn max_batch_count(r: &mut PropReader) -> u64 {
    let unlimited = i64::MAX as u64;
    match r.parse::<i64>("maxBatchCount", "an integer") {
        Some(n) if n > 0 => n as u64,
        Some(n) => {
            let line = r.line("maxBatchCount");
            r.warn(
                "maxBatchCount",
                line,
                format!("Invalid maxBatchCount {n}; no limit is used, as in Flume (its default, {unlimited})"),
                Some("use a positive number of batches, or delete the line for no limit".to_string()),
            );
            unlimited
        }
        None => unlimited,
    }
}

impl Describe for TaildirSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let names: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        let mut v: Vec<(String, String)> = vec![("filegroups".into(), names.join(" "))];
        v.extend(self.groups.iter().map(|g| {
            (
                format!("filegroups.{}", g.name),
                format!("{}/{}", g.dir.display(), g.pattern),
            )
        }));
        for g in &self.groups {
            for (k, val) in &g.headers {
                v.push((format!("headers.{}.{k}", g.name), val.clone()));
            }
        }
        v.extend([
            (
                "positionFile".into(),
                self.position_file.display().to_string(),
            ),
            ("batchSize".into(), self.batch_size.to_string()),
            ("skipToEnd".into(), self.skip_to_end.to_string()),
            (
                "idleTimeout".into(),
                self.idle_timeout.as_millis().to_string(),
            ),
            (
                "writePosInterval".into(),
                self.write_pos_interval.as_millis().to_string(),
            ),
            ("maxBatchCount".into(), self.max_batch_count.to_string()),
            (
                "backoffSleepIncrement".into(),
                self.backoff_sleep_increment.as_millis().to_string(),
            ),
            (
                "maxBackoffSleep".into(),
                self.max_backoff_sleep.as_millis().to_string(),
            ),
            (
                "cachePatternMatching".into(),
                self.cache_pattern_matching.to_string(),
            ),
            (
                "byteOffsetHeader".into(),
                self.byte_offset_header.to_string(),
            ),
            ("fileHeader".into(), self.file_header.to_string()),
            ("fileHeaderKey".into(), self.file_header_key.clone()),
        ]);
        v.extend(self.line_limit.describe());
        v
    }
}
