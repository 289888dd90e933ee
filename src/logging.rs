//! Logging set up the way `-Dflume.root.logger=LEVEL,APPENDER` asks, through `tracing`.
//!
//! `console` writes to standard error (Flume's log4j console appender targets System.err);
//! `LOGFILE` appends to `flume.log.dir`/`flume.log.file` (Flume's defaults `./logs/flume.log`).
//! Without the property rflume logs INFO to the console — Flume's default is a log file, but an
//! agent that prints nothing when started by hand is the most common first-run confusion.
//! `RUST_LOG`, when set, overrides the level for fine control.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use thiserror::Error;
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSpec {
    pub level: String,
    pub appender: Appender,
    /// Things worth a warning once logging works (typos that were tolerated).
    pub warnings: Vec<String>,
}

/// Interprets `flume.root.logger`, `flume.log.dir` and `flume.log.file`.
pub fn spec_from_system(system: &HashMap<String, String>) -> LogSpec {
    let mut warnings = Vec::new();
    let raw = system
        .get("flume.root.logger")
        .cloned()
        .unwrap_or_else(|| "INFO,console".to_string());
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
            let dir = system
                .get("flume.log.dir")
                .cloned()
                .unwrap_or_else(|| "./logs".to_string());
            let file = system
                .get("flume.log.file")
                .cloned()
                .unwrap_or_else(|| "flume.log".to_string());
            appender = Appender::File(PathBuf::from(dir).join(file));
        } else if !a.is_empty() {
            warnings.push(format!(
                "-Dflume.root.logger: unknown appender '{a}', logging to the console (valid: console, LOGFILE)"
            ));
        }
    }
    LogSpec {
        level,
        appender,
        warnings,
    }
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(spec: &LogSpec) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},rdkafka=warn", spec.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_thread_names(true);
    let result = match &spec.appender {
        Appender::Console => {
            use std::io::IsTerminal;
            // Colours only for a person at a terminal, never in journald or a redirected file.
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .try_init()
        }
        Appender::File(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| LoggingError::File {
                    path: path.display().to_string(),
                    source: e,
                })?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .try_init()
        }
    };
    // Already initialised (tests): keep the existing subscriber.
    let _ = result;
    for w in &spec.warnings {
        tracing::warn!("{w}");
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
        let s = spec_from_system(&sys("DEBUG,console"));
        assert_eq!(s.level, "debug");
        assert_eq!(s.appender, Appender::Console);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn doubled_equals_is_tolerated_with_a_warning() {
        let s = spec_from_system(&sys("=INFO,console"));
        assert_eq!(s.level, "info");
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn logfile_uses_flume_dir_and_file() {
        let mut m = sys("WARN,LOGFILE");
        m.insert("flume.log.dir".into(), "/tmp/x".into());
        let s = spec_from_system(&m);
        assert_eq!(
            s.appender,
            Appender::File(PathBuf::from("/tmp/x/flume.log"))
        );
        assert_eq!(s.level, "warn");
    }
}
