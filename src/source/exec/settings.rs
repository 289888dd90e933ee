//! The exec source's properties: Flume's names and defaults, and the command line built from
//! them.

use std::time::Duration;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::source::framer::LineLimit;

/// Flume's `batchSize` default for exec.
pub const DEFAULT_BATCH_SIZE: u64 = 20;
/// Flume's `batchTimeout` default, ms.
pub const DEFAULT_BATCH_TIMEOUT_MS: u64 = 3000;

/// rflume's `rflume.idleFlushMs` default: a partial batch is also handed on once the command
/// has written nothing for this long. `batchTimeout` stays the upper bound under a trickle, but
/// the last lines before a pause do not wait 3 s for it. Long enough that a command writing
/// steadily (a line every few ms) still fills its batches, so a steady stream costs no more
/// puts than before. 0 turns it off (Flume's behaviour: `batchTimeout` only).
pub const DEFAULT_IDLE_FLUSH_MS: u64 = 20;
/// Flume's `restartThrottle` default, ms.
pub const DEFAULT_RESTART_THROTTLE_MS: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecSettings {
    pub command: String,
    /// e.g. `/bin/sh -c`; split on whitespace, the command is appended as one argument.
    pub shell: Option<String>,
    pub restart: bool,
    pub restart_throttle: Duration,
    pub log_stderr: bool,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    /// `rflume.idleFlushMs`; None when 0 (off).
    pub idle_flush: Option<Duration>,
    pub charset: String,
    pub line_limit: LineLimit,
}

impl ExecSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let command = r.required("command", "e.g. command = tail -F /var/log/app.log");
        if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            r.error(
                "command",
                None,
                "The parameter command must be specified",
                None,
            );
        }
        let shell = r.opt_string("shell");
        let restart = r.bool("restart", false);
        let restart_throttle = r.non_negative("restartThrottle", DEFAULT_RESTART_THROTTLE_MS);
        let log_stderr = r.bool("logStdErr", false);
        let batch_size = r.positive_int("batchSize", DEFAULT_BATCH_SIZE);
        let batch_timeout = r.positive("batchTimeout", DEFAULT_BATCH_TIMEOUT_MS);
        let idle_flush = r.non_negative("rflume.idleFlushMs", DEFAULT_IDLE_FLUSH_MS);
        let charset = r.string("charset", "UTF-8");
        let line_limit = LineLimit::parse(r);
        match encoding_rs::Encoding::for_label(charset.as_bytes()) {
            Some(enc) if enc.is_ascii_compatible() => {}
            Some(_) => r.error(
                "charset",
                None,
                format!("charset {charset} is not supported: lines are split on ASCII newlines, which this encoding does not use"),
                Some("use UTF-8 or another ASCII-compatible charset (ISO-8859-1, GBK, …)".to_string()),
            ),
            None => r.error(
                "charset",
                None,
                format!("unknown charset {charset}"),
                Some("use a charset name Java knows, e.g. UTF-8".to_string()),
            ),
        }
        if r.failed() {
            return None;
        }
        Some(ExecSettings {
            command: command?,
            shell,
            restart,
            restart_throttle: Duration::from_millis(restart_throttle),
            log_stderr,
            batch_size: batch_size as usize,
            batch_timeout: Duration::from_millis(batch_timeout),
            idle_flush: (idle_flush > 0).then(|| Duration::from_millis(idle_flush)),
            charset,
            line_limit,
        })
    }

    /// The argument vector, as Flume builds it: without `shell` the command is split on
    /// whitespace (no quoting, no globbing); with it, the shell words plus the command as one.
    pub fn argv(&self) -> Vec<String> {
        match &self.shell {
            Some(shell) => {
                let mut v: Vec<String> = shell.split_whitespace().map(String::from).collect();
                v.push(self.command.clone());
                v
            }
            None => self.command.split_whitespace().map(String::from).collect(),
        }
    }
}

impl Describe for ExecSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("command".into(), self.command.clone()),
            (
                "shell".into(),
                self.shell.clone().unwrap_or_else(|| "(none)".into()),
            ),
            ("restart".into(), self.restart.to_string()),
            (
                "restartThrottle".into(),
                self.restart_throttle.as_millis().to_string(),
            ),
            ("logStdErr".into(), self.log_stderr.to_string()),
            ("batchSize".into(), self.batch_size.to_string()),
            (
                "batchTimeout".into(),
                self.batch_timeout.as_millis().to_string(),
            ),
            (
                "rflume.idleFlushMs".into(),
                self.idle_flush.map_or(0, |d| d.as_millis()).to_string(),
            ),
            ("charset".into(), self.charset.clone()),
        ]
        .into_iter()
        .chain(self.line_limit.describe())
        .collect()
    }
}
