//! Logging set up the way `-Dflume.root.logger=LEVEL,APPENDER` asks, through `tracing`.
//!
//! * `console` writes to standard error (Flume's log4j console appender targets System.err).
//!   Under systemd (`$JOURNAL_STREAM` names our stderr) lines carry no timestamp — journald adds
//!   its own — and start with a `<N>` syslog priority, so `journalctl -p warning` works.
//! * `LOGFILE` appends to `flume.log.dir`/`flume.log.file` (Flume's defaults `./logs/flume.log`)
//!   and rolls by size like Flume's log4j `RollingFileAppender`: at `MaxFileSize` (100 MB)
//!   `flume.log` becomes `flume.log.1`, `.1` becomes `.2`, … up to `MaxBackupIndex` (10) files.
//!   The file is reopened on SIGHUP ([`reopen`]) and when it was renamed away or deleted
//!   (logrotate without `copytruncate`), checked at most once a second.
//! * `-Drflume.log.layout=log4j` writes Flume's log4j pattern
//!   (`dd MMM yyyy HH:mm:ss,SSS LEVEL [thread] (module:line) - message`) so that existing grok or
//!   Splunk extractions keep working; the default is tracing's compact layout.
//! * `log4j.properties` in `--conf` (Flume 1.9): `flume.root.logger`, `flume.log.dir`,
//!   `flume.log.file`, `log4j.appender.LOGFILE.MaxFileSize` and `.MaxBackupIndex` are honoured (a
//!   `-D` still wins, as for log4j). `log4j2.xml` (Flume 1.11): the root level, the `LOG_DIR`
//!   property, `SizeBasedTriggeringPolicy` and `DefaultRolloverStrategy max` are honoured, the
//!   rest is reported as ignored.
//!
//! Without any of these rflume logs INFO to the console — Flume's default is a log file, but an
//! agent that prints nothing when started by hand is the most common first-run confusion.
//! `RUST_LOG`, when set, overrides the level for fine control.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("cannot open log file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appender {
    Console,
    File(PathBuf),
}

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// tracing's compact layout (timestamp, level, thread, message).
    Default,
    /// Flume's log4j `ConversionPattern`.
    Log4j,
}

/// Flume's log4j `RollingFileAppender` defaults.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;
pub const DEFAULT_MAX_BACKUP_INDEX: u32 = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpec {
    pub level: String,
    pub appender: Appender,
    pub layout: Layout,
    /// Roll the log file at this size.
    pub max_file_size: u64,
    /// Keep this many rolled files (`flume.log.1` … `flume.log.N`).
    pub max_backup_index: u32,
    /// Things worth a warning once logging works (typos that were tolerated).
    pub warnings: Vec<String>,
    /// What was taken from a log4j file in `--conf`, said once logging works.
    pub notes: Vec<String>,
}

/// Interprets `flume.root.logger`, `flume.log.dir`, `flume.log.file` and `rflume.log.layout`,
/// with the defaults of a log4j file in `conf_dir` (Flume's `--conf`) when there is one.
pub fn spec_from_system(system: &HashMap<String, String>, conf_dir: Option<&Path>) -> LogSpec {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let file_props = conf_dir
        .map(|d| log4j_defaults(d, &mut notes, &mut warnings))
        .unwrap_or_default();
    let get = |key: &str| system.get(key).or_else(|| file_props.get(key)).cloned();
    let raw = get("flume.root.logger").unwrap_or_else(|| "INFO,console".to_string());
    // `-Dflume.root.logger==INFO,console` (a doubled '=') appears in real start scripts; Flume's
    // log4j then silently falls back to its defaults. Accept it and say so.
    let trimmed = raw.trim_start_matches('=');
    if trimmed.len() != raw.len() {
        warnings.push(format!(
            "-Dflume.root.logger={raw}: extra '=' ignored; read as {trimmed}"
        ));
    }
    let mut parts = trimmed.split(',').map(str::trim);
    let level_word = parts.next().unwrap_or("INFO").to_ascii_uppercase();
    let level = match level_word.as_str() {
        "TRACE" | "ALL" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        "OFF" => "off",
        other => {
            warnings.push(format!(
                "-Dflume.root.logger: unknown level '{other}', using INFO (valid: TRACE, DEBUG, INFO, WARN, ERROR)"
            ));
            "info"
        }
    }
    .to_string();
    let mut appender = Appender::Console;
    for a in parts {
        if a.eq_ignore_ascii_case("console") {
            appender = Appender::Console;
        } else if a.eq_ignore_ascii_case("LOGFILE") || a.eq_ignore_ascii_case("DAILY") {
            let dir = get("flume.log.dir").unwrap_or_else(|| "./logs".to_string());
            let file = get("flume.log.file").unwrap_or_else(|| "flume.log".to_string());
            appender = Appender::File(PathBuf::from(dir).join(file));
        } else if !a.is_empty() {
            warnings.push(format!(
                "-Dflume.root.logger: unknown appender '{a}', logging to the console (valid: console, LOGFILE)"
            ));
        }
    }
    let max_file_size = match get("log4j.appender.LOGFILE.MaxFileSize") {
        None => DEFAULT_MAX_FILE_SIZE,
        Some(v) => parse_size(&v).unwrap_or_else(|| {
            warnings.push(format!(
                "MaxFileSize {v}: not a size (e.g. 100MB); using 100MB"
            ));
            DEFAULT_MAX_FILE_SIZE
        }),
    };
    let max_backup_index = match get("log4j.appender.LOGFILE.MaxBackupIndex") {
        None => DEFAULT_MAX_BACKUP_INDEX,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            warnings.push(format!("MaxBackupIndex {v}: not a number; using 10"));
            DEFAULT_MAX_BACKUP_INDEX
        }),
    };
    let layout = match system.get("rflume.log.layout").map(|s| s.trim()) {
        None | Some("") | Some("default") => Layout::Default,
        Some(l) if l.eq_ignore_ascii_case("log4j") => Layout::Log4j,
        Some(other) => {
            warnings.push(format!(
                "-Drflume.log.layout={other}: unknown layout (valid: default, log4j); using default"
            ));
            Layout::Default
        }
    };
    LogSpec {
        level,
        appender,
        layout,
        max_file_size,
        max_backup_index,
        warnings,
        notes,
    }
}

/// log4j's `MaxFileSize` syntax: a number with an optional KB/MB/GB suffix (also log4j2's
/// `100 MB`).
fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_uppercase().replace(' ', "");
    let (num, mult) = if let Some(n) = v.strip_suffix("GB") {
        (n, 1024 * 1024 * 1024)
    } else if let Some(n) = v.strip_suffix("MB") {
        (n, 1024 * 1024)
    } else if let Some(n) = v.strip_suffix("KB") {
        (n, 1024)
    } else {
        (v.as_str(), 1)
    };
    num.parse::<u64>().ok().filter(|n| *n > 0).map(|n| n * mult)
}

/// The defaults a Flume log4j file in `dir` gives, as `-D`-style keys.
fn log4j_defaults(
    dir: &Path,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let props = dir.join("log4j.properties");
    if let Ok(text) = std::fs::read_to_string(&props) {
        let mut used = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if [
                "flume.root.logger",
                "flume.log.dir",
                "flume.log.file",
                "log4j.appender.LOGFILE.MaxFileSize",
                "log4j.appender.LOGFILE.MaxBackupIndex",
            ]
            .contains(&k)
            {
                used.push(k.to_string());
                out.insert(k.to_string(), v.to_string());
            }
        }
        notes.push(format!(
            "{}: using {} (a -D option still wins); other log4j settings are ignored",
            props.display(),
            if used.is_empty() {
                "nothing".to_string()
            } else {
                used.join(", ")
            }
        ));
    }
    let xml = dir.join("log4j2.xml");
    if let Ok(text) = std::fs::read_to_string(&xml) {
        let attr = |tag: &str, name: &str| -> Option<String> {
            let start = text.find(&format!("<{tag}"))?;
            let rest = &text[start..];
            let end = rest.find('>')?;
            let element = &rest[..end];
            let at = element.find(&format!("{name}=\""))? + name.len() + 2;
            element[at..].split('"').next().map(str::to_string)
        };
        let log_dir = text.find("<Property name=\"LOG_DIR\">").and_then(|i| {
            let rest = &text[i + "<Property name=\"LOG_DIR\">".len()..];
            rest.split('<').next().map(|s| s.trim().to_string())
        });
        let mut used = Vec::new();
        if let Some(level) = attr("Root", "level") {
            let appender = if text.contains("<AppenderRef ref=\"LogFile\"") {
                "LOGFILE"
            } else {
                "console"
            };
            out.insert("flume.root.logger".into(), format!("{level},{appender}"));
            used.push(format!("root level {level} to {appender}"));
        }
        if let Some(dir) = log_dir {
            out.insert("flume.log.dir".into(), dir.clone());
            used.push(format!("LOG_DIR {dir}"));
        }
        if let Some(size) = attr("SizeBasedTriggeringPolicy", "size") {
            out.insert("log4j.appender.LOGFILE.MaxFileSize".into(), size.clone());
            used.push(format!("size {size}"));
        }
        if let Some(max) = attr("DefaultRolloverStrategy", "max") {
            out.insert("log4j.appender.LOGFILE.MaxBackupIndex".into(), max.clone());
            used.push(format!("max {max}"));
        }
        if text.contains("filePattern") {
            warnings.push(format!(
                "{}: rolled files are named flume.log.1 … (log4j 1's scheme), not after its filePattern",
                xml.display()
            ));
        }
        notes.push(format!(
            "{}: using {} (a -D option still wins); other log4j2 settings are ignored",
            xml.display(),
            if used.is_empty() {
                "nothing".to_string()
            } else {
                used.join(", ")
            }
        ));
    }
    out
}

/// Set by [`reopen`]: the log file is reopened before the next line.
static REOPEN: AtomicBool = AtomicBool::new(false);

/// Reopens the log file before the next line (SIGHUP, after logrotate moved it).
pub fn reopen() {
    REOPEN.store(true, Ordering::Relaxed);
}

/// How often a write checks that the path still names the open file.
const RENAME_CHECK: Duration = Duration::from_secs(1);

/// The log file with Flume's size-based rolling.
struct RollingFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    identity: Option<(u64, u64)>,
    checked: Instant,
    max_size: u64,
    backups: u32,
}

impl RollingFile {
    fn open(path: &Path, max_size: u64, backups: u32) -> io::Result<RollingFile> {
        let mut f = RollingFile {
            path: path.to_path_buf(),
            file: None,
            size: 0,
            identity: None,
            checked: Instant::now(),
            max_size,
            backups,
        };
        f.reopen_now()?;
        Ok(f)
    }

    fn reopen_now(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let meta = file.metadata()?;
        self.size = meta.len();
        self.identity = Some((meta.dev(), meta.ino()));
        self.file = Some(file);
        self.checked = Instant::now();
        Ok(())
    }

    /// The path no longer names the open file (renamed away or deleted).
    fn moved_away(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.dev(), m.ino())) != self.identity,
            Err(_) => true,
        }
    }

    /// log4j's `RollingFileAppender.rollOver`: drop the oldest, shift the others, move the
    /// current file to `.1`, start a new one.
    fn roll(&mut self) -> io::Result<()> {
        self.file = None;
        let name = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        if self.backups > 0 {
            let _ = std::fs::remove_file(name(self.backups));
            for i in (1..self.backups).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            std::fs::rename(&self.path, name(1))?;
        } else {
            // MaxBackupIndex=0: log4j truncates the file instead.
            let _ = std::fs::remove_file(&self.path);
        }
        self.reopen_now()
    }

    fn write_line(&mut self, buf: &[u8]) -> io::Result<()> {
        if REOPEN.swap(false, Ordering::Relaxed)
            || (self.checked.elapsed() >= RENAME_CHECK && {
                self.checked = Instant::now();
                self.moved_away()
            })
            || self.file.is_none()
        {
            self.reopen_now()?;
        }
        if self.size > 0 && self.size + buf.len() as u64 > self.max_size {
            self.roll()?;
        }
        if let Some(f) = &mut self.file {
            f.write_all(buf)?;
            self.size += buf.len() as u64;
        }
        Ok(())
    }
}

/// `MakeWriter` over the shared rolling file: one `write` per event (the fmt layer buffers an
/// event and writes it whole), under the lock.
#[derive(Clone)]
struct FileWriter(Arc<Mutex<RollingFile>>);

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_line(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = FileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Whether stderr is the stream systemd's `$JOURNAL_STREAM` (`device:inode`) names.
fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the struct passed by pointer; fd 2 is ours.
    let ok = unsafe { libc::fstat(2, &mut st) } == 0;
    ok && st.st_dev == dev && st.st_ino == ino
}

/// Layouts tracing does not have: journald's and log4j's.
enum Lines {
    /// `<6>[thread] message` — journald keeps the time and maps `<N>` to the priority.
    Journal,
    /// `dd MMM yyyy HH:mm:ss,SSS LEVEL [thread] (module:line) - message`.
    Log4j,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("main");
        match self {
            Lines::Journal => {
                let priority = match *meta.level() {
                    Level::ERROR => 3,
                    Level::WARN => 4,
                    Level::INFO => 6,
                    Level::DEBUG | Level::TRACE => 7,
                };
                write!(writer, "<{priority}>{} [{thread}] ", meta.level())?;
            }
            Lines::Log4j => {
                write!(
                    writer,
                    "{} {:<5} [{thread}] ({}:{}) - ",
                    log4j_timestamp(),
                    meta.level().as_str(),
                    meta.module_path()
                        .unwrap_or(meta.target())
                        .replace("::", "."),
                    meta.line().unwrap_or(0)
                )?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// log4j's `%d{dd MMM yyyy HH:mm:ss,SSS}` in local time.
fn log4j_timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r is the thread-safe variant; it writes only into `tm`.
    unsafe {
        libc::localtime_r(&secs, &mut tm);
    }
    format!(
        "{:02} {} {:04} {:02}:{:02}:{:02},{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(spec: &LogSpec) -> Result<(), LoggingError> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("{},rdkafka=warn", spec.level)))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_thread_names(true);
    let result = match &spec.appender {
        Appender::Console => {
            use std::io::IsTerminal;
            if stderr_is_journal() {
                builder
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .event_format(Lines::Journal)
                    .try_init()
            } else if spec.layout == Layout::Log4j {
                builder
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .event_format(Lines::Log4j)
                    .try_init()
            } else {
                // Colours only for a person at a terminal, never in a redirected file.
                builder
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr)
                    .try_init()
            }
        }
        Appender::File(path) => {
            let file = RollingFile::open(path, spec.max_file_size, spec.max_backup_index).map_err(
                |e| LoggingError::File {
                    path: path.display().to_string(),
                    source: e,
                },
            )?;
            let writer = FileWriter(Arc::new(Mutex::new(file)));
            let builder = builder.with_ansi(false).with_writer(writer);
            if spec.layout == Layout::Log4j {
                builder.event_format(Lines::Log4j).try_init()
            } else {
                builder.try_init()
            }
        }
    };
    // Already initialised (tests): keep the existing subscriber.
    let _ = result;
    for w in &spec.warnings {
        tracing::warn!("{w}");
    }
    for n in &spec.notes {
        tracing::info!("{n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(v: &str) -> HashMap<String, String> {
        [("flume.root.logger".to_string(), v.to_string())].into()
    }

    #[test]
    fn level_and_console() {
        let s = spec_from_system(&sys("DEBUG,console"), None);
        assert_eq!(s.level, "debug");
        assert_eq!(s.appender, Appender::Console);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn doubled_equals_is_tolerated_with_a_warning() {
        let s = spec_from_system(&sys("=INFO,console"), None);
        assert_eq!(s.level, "info");
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn logfile_uses_flume_dir_and_file() {
        let mut m = sys("WARN,LOGFILE");
        m.insert("flume.log.dir".into(), "/tmp/x".into());
        let s = spec_from_system(&m, None);
        assert_eq!(
            s.appender,
            Appender::File(PathBuf::from("/tmp/x/flume.log"))
        );
        assert_eq!(s.level, "warn");
        assert_eq!(s.max_file_size, 100 * 1024 * 1024);
        assert_eq!(s.max_backup_index, 10);
    }

    #[test]
    fn log4j_properties_in_conf_give_defaults_and_d_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("log4j.properties"),
            "flume.root.logger=DEBUG,LOGFILE\nflume.log.dir=/var/log/flume\nlog4j.appender.LOGFILE.MaxFileSize=5MB\nlog4j.appender.LOGFILE.MaxBackupIndex=3\n",
        )
        .expect("write");
        let s = spec_from_system(&HashMap::new(), Some(dir.path()));
        assert_eq!(s.level, "debug");
        assert_eq!(
            s.appender,
            Appender::File(PathBuf::from("/var/log/flume/flume.log"))
        );
        assert_eq!((s.max_file_size, s.max_backup_index), (5 << 20, 3));
        assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
        let s = spec_from_system(&sys("INFO,console"), Some(dir.path()));
        assert_eq!(s.appender, Appender::Console);
    }

    #[test]
    fn log4j2_xml_level_dir_and_rolling() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("log4j2.xml"),
            r#"<Configuration><Properties><Property name="LOG_DIR">/var/log/f</Property></Properties>
<Appenders><RollingFile name="LogFile" fileName="${LOG_DIR}/flume.log" filePattern="${LOG_DIR}/archive/flume.log.%d{yyyyMMdd}-%i">
<Policies><SizeBasedTriggeringPolicy size="100 MB"/></Policies><DefaultRolloverStrategy min="1" max="20"/></RollingFile></Appenders>
<Loggers><Root level="WARN"><AppenderRef ref="LogFile" /></Root></Loggers></Configuration>"#,
        )
        .expect("write");
        let s = spec_from_system(&HashMap::new(), Some(dir.path()));
        assert_eq!(s.level, "warn");
        assert_eq!(
            s.appender,
            Appender::File(PathBuf::from("/var/log/f/flume.log"))
        );
        assert_eq!((s.max_file_size, s.max_backup_index), (100 << 20, 20));
    }

    #[test]
    fn rolls_by_size_with_flume_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flume.log");
        let mut f = RollingFile::open(&path, 10, 2).expect("open");
        for line in ["aaaaaaa\n", "bbbbbbb\n", "ccccccc\n", "ddddddd\n"] {
            f.write_line(line.as_bytes()).expect("write");
        }
        let read = |p: &Path| std::fs::read_to_string(p).expect("read");
        assert_eq!(read(&path), "ddddddd\n");
        assert_eq!(read(&dir.path().join("flume.log.1")), "ccccccc\n");
        assert_eq!(read(&dir.path().join("flume.log.2")), "bbbbbbb\n");
        assert!(!dir.path().join("flume.log.3").exists());
    }

    #[test]
    fn sizes_read_like_log4j() {
        assert_eq!(parse_size("100MB"), Some(100 << 20));
        assert_eq!(parse_size("100 MB"), Some(100 << 20));
        assert_eq!(parse_size("512KB"), Some(512 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
    }
}
