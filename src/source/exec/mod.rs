//! Exec source — replaces Flume's `exec` (`org.apache.flume.source.ExecSource`).
//!
//! Runs a command (typically `tail -F app.log`) and turns each line of its standard output into an
//! event, in batches of `batchSize` or after `batchTimeout` ms.
//!
//! Delivery guarantee — stronger than Flume's "absolutely zero guarantee": when the channel is
//! full the source **stops reading the command's output** and retries the put (backpressure); the
//! pipe fills and the command blocks. Flume instead kills the command and discards the batch. On
//! stop, the command's process group is terminated (the command runs under rflume's
//! `__exec-guard`, which also takes the group down if the agent is killed), whatever it already wrote into the pipe is
//! read to the end and stored with the current batch (bounded by the drain deadline). What is
//! still lost: lines the command never wrote (for `tail -F`, lines appended while the agent is
//! down) — use TAILDIR for restart safety.
//!
//! Bytes are passed through untouched (no charset decoding), so invalid UTF-8 survives; Flume
//! would replace it by U+FFFD.
//!
//! A line longer than `rflume.maxLineLength` (1 MiB by default; Flume has no limit and holds
//! any line in memory) is split into events of that size or truncated (`rflume.longLines`), and
//! counted and logged — see `framer.rs`.
//!
//! Layout: `mod.rs` the source (running, reading and restarting the command, batches into the
//! channel, the stop); `settings.rs` its properties; `output.rs` the command's stdout pipe, in
//! and out of the reactor; `guard.rs` the process-group guard the command runs under.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tracing::{error, info, warn};

use super::framer::{LineFramer, LineLimit, LongLines};
use super::runtime::runtime;
use super::{ChannelProcessor, PutOutcome, Source, SourceError, SourceSpec};
use crate::event::Event;
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;
use guard::{EXEC_GUARD, GUARD_ERROR_PREFIX};
use output::CommandOutput;

pub mod guard;
mod output;
mod settings;

pub use settings::*;

/// Longest stderr line logged (the rest of a longer one is not read into memory).
const STDERR_LINE_MAX: usize = 16 * 1024;
/// After a small read that came soon after the one before (a command writing a line at a time
/// at a high rate: `tail -F` under a steady stream), wait this long before reading again, so
/// that the next read takes the lines written meanwhile: at 10,000 lines/s one wake-up carries
/// ~20 lines instead of one (the pipe is out of the reactor meanwhile, see `output.rs`:
/// the command's writes do not wake the source). Only a run of small reads is a steady
/// stream: a large read (a burst filling the pipe) is followed at once, and so is the small
/// read right after one (in a burst, what the command wrote while the large one was framed)
/// and a read that filled all the room the buffer offered (as little as 8 KiB: the pipe may
/// hold more). Waiting in a burst capped `tail -F` at one 64 KiB pipe per 2 ms: a 1 KiB-line
/// burst ran at ~30 MB/s, one 1,000-line batch every ~45 ms with the sink idle in between.
///
/// Small reads further apart (a trickle: 100 lines/s) gather for the idle flush's time
/// instead: the partial batch is held that long anyway (it is handed on once the command wrote
/// nothing for that long), so the lines read together wait no longer than they did, and the
/// source wakes once per gather rather than once per line (113 times a second at 100 lines/s).
const READ_GATHER: Duration = Duration::from_millis(2);
const SMALL_READ: usize = 16 * 1024;
const SOON: Duration = Duration::from_millis(5);
/// How long a stopped command gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

impl SourceSpec for ExecSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(ExecSource::new(name, self.clone()))
    }
}

pub struct ExecSource {
    name: String,
    settings: ExecSettings,
}

impl ExecSource {
    pub fn new(name: &str, settings: ExecSettings) -> Self {
        ExecSource {
            name: name.to_string(),
            settings,
        }
    }
}

/// Why reading stopped.
enum Ended {
    /// The command closed its output (it exited).
    Eof,
    /// The agent is stopping.
    Stopping,
}

impl Source for ExecSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        // One small single-threaded runtime per exec source: the child's stdout, stderr and the
        // batch timer are multiplexed without extra threads, and a blocking channel put simply
        // pauses reading — which is the backpressure we want.
        let rt = runtime(&self.name)?;
        rt.block_on(self.run_loop(&mut processor, &shutdown));
        Ok(())
    }
}

/// Awaits `wait`, an idle wait of the source (see [`ChannelProcessor::waiting`]), and marks
/// the source working again when it is over.
async fn wait_idle<T>(
    processor: &ChannelProcessor,
    wait: impl std::future::Future<Output = T>,
) -> T {
    processor.waiting();
    let r = wait.await;
    processor.working();
    r
}

impl ExecSource {
    async fn run_loop(&self, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        let argv = self.settings.argv();
        let command = &self.settings.command;
        loop {
            let exit = match self.spawn(&argv) {
                Ok(mut child) => {
                    info!(source = %self.name, "Exec source starting with command: {command}");
                    let ended = self.pump(&mut child, processor, shutdown).await;
                    match ended {
                        Ended::Stopping => return,
                        // A command that closed its output may take its time to exit: that is
                        // the command's business, not a hang of the source.
                        Ended::Eof => match wait_idle(processor, child.wait()).await {
                            Ok(status) => {
                                info!(source = %self.name, "Command [{command}] exited with {}", describe_exit(status));
                                Some(status)
                            }
                            Err(e) => {
                                error!(source = %self.name, "Command [{command}]: cannot collect exit status: {e}");
                                None
                            }
                        },
                    }
                }
                Err(e) => {
                    error!(source = %self.name, "Failed while running command: {command}: {e}");
                    None
                }
            };
            if shutdown.is_stopping() {
                return;
            }
            if !self.settings.restart {
                warn!(source = %self.name, "command [{command}] is no longer running and restart=false: this source produces no more events until the agent restarts");
                // As Flume's ExecSource: the source stays started and idle, it did not die.
                processor.waiting();
                shutdown.stopped().await;
                return;
            }
            let code = exit.map_or("unknown".to_string(), describe_exit);
            info!(source = %self.name, "Restarting in {}ms, exit code {code}", self.settings.restart_throttle.as_millis());
            // restartThrottle is the user's to choose (minutes, say): an idle wait.
            let throttle = tokio::time::sleep(self.settings.restart_throttle);
            tokio::select! {
                _ = shutdown.stopped() => return,
                _ = wait_idle(processor, throttle) => {}
            }
        }
    }

    fn spawn(&self, argv: &[String]) -> std::io::Result<Child> {
        let (program, args) = argv.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command")
        })?;
        // The command runs under rflume's own guard (same binary, hidden subcommand), which
        // leads the process group and takes the whole group down if the agent dies.
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg(EXEC_GUARD)
            .arg("--")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping the source also stops what a shell started
            // (Flume's destroy() kills only the shell and leaves `tail` orphaned).
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
        // parent; it makes the kernel terminate the command if the agent dies (kill -9), so
        // no orphaned `tail -F` keeps running after a crash.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        if let Some(stderr) = child.stderr.take() {
            let name = self.name.clone();
            let log = self.settings.log_stderr;
            // stderr must always be drained or a chatty command would block on it. Its lines
            // are only logged, so a line longer than STDERR_LINE_MAX is cut there: a command
            // writing megabytes without a newline to stderr must not grow the agent's memory.
            tokio::spawn(async move {
                let mut stderr = stderr;
                let mut framer = LineFramer::with_limit(LineLimit {
                    max: STDERR_LINE_MAX,
                    policy: LongLines::Truncate,
                });
                let mut n = 0u64;
                let handle = |line: &[u8], n: &mut u64| {
                    if let Some(msg) = line.strip_prefix(GUARD_ERROR_PREFIX.as_bytes()) {
                        // The guard could not run the command (missing program, no permission):
                        // always an error, whatever logStdErr says.
                        error!(source = %name, "Failed while running command: {}", String::from_utf8_lossy(msg));
                        return;
                    }
                    *n += 1;
                    if log {
                        info!(source = %name, "StderrLogger[{n}] = '{}'", String::from_utf8_lossy(line));
                    }
                };
                loop {
                    match stderr.read_buf(framer.buf_mut()).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let mut lines = Vec::new();
                            framer.drain_lines(|l| lines.push(l));
                            for l in lines {
                                handle(&l, &mut n);
                            }
                        }
                    }
                }
                if let Some(last) = framer.finish() {
                    handle(&last, &mut n);
                }
            });
        }
        Ok(child)
    }

    /// Reads the command's output into batches until it ends or the agent stops.
    async fn pump(
        &self,
        child: &mut Child,
        processor: &mut ChannelProcessor,
        shutdown: &Shutdown,
    ) -> Ended {
        let Some(stdout) = child.stdout.take() else {
            return Ended::Eof;
        };
        let mut stdout = match CommandOutput::new(stdout) {
            Ok(out) => out,
            Err(e) => {
                error!(source = %self.name, "cannot read the command's output: {e}");
                return Ended::Eof;
            }
        };
        let mut lines = Lines::new(self.settings.batch_size, self.settings.line_limit);
        let stopped = shutdown.stopped();
        tokio::pin!(stopped);
        let mut previous_read = Instant::now()
            .checked_sub(SOON)
            .unwrap_or_else(Instant::now);
        // Whether the read before was small too: in a burst, a large read is often followed by
        // a small one (what the command wrote while the large one was framed), and a wait after
        // that one would stall the command on a full pipe.
        let mut previous_small = false;
        loop {
            // checked_add: a timeout of i64::MAX ms is past any Instant (no deadline then).
            let flush_at = lines.started.and_then(|t| {
                let timeout = t.checked_add(self.settings.batch_timeout);
                let idle = self
                    .settings
                    .idle_flush
                    .and_then(|idle| lines.last_read.unwrap_or(t).checked_add(idle));
                match (timeout, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            });
            // Room the next read may fill: a read shorter than it drained the pipe.
            let room = {
                let buf = lines.framer.buf_mut();
                buf.capacity() - buf.len()
            };
            // The one wait of the loop: the command may write nothing for hours (`tail -F` of a
            // quiet log). Each wake-up below is a round for the watchdog.
            processor.waiting();
            tokio::select! {
                biased;
                _ = &mut stopped => {
                    processor.working();
                    self.stop_child(child, &mut stdout, &mut lines).await;
                    self.flush(&mut lines, processor, shutdown);
                    return Ended::Stopping;
                }
                read = stdout.read_buf(lines.framer.buf_mut()) => {
                    processor.working();
                    match read {
                        Ok(0) | Err(_) => {
                            if let Err(e) = read {
                                warn!(source = %self.name, "error reading command output: {e}");
                            }
                            lines.end_of_input();
                            self.flush(&mut lines, processor, shutdown);
                            return Ended::Eof;
                        }
                        Ok(n) => {
                            lines.frame();
                            lines.report_long_lines(&self.name, processor.counter());
                            while lines.batch.len() >= self.settings.batch_size {
                                self.flush(&mut lines, processor, shutdown);
                            }
                            let now = Instant::now();
                            let small = n < SMALL_READ && n < room;
                            let gather = if !(small && previous_small) {
                                None
                            } else if now.duration_since(previous_read) < SOON {
                                Some(READ_GATHER)
                            } else {
                                self.settings.idle_flush
                            };
                            // Never past the batch's batchTimeout (the user may set it short).
                            let until = gather.and_then(|g| now.checked_add(g)).map(|t| {
                                lines
                                    .started
                                    .and_then(|s| s.checked_add(self.settings.batch_timeout))
                                    .map_or(t, |deadline| t.min(deadline))
                            });
                            if let Some(until) = until {
                                stdout.gather();
                                tokio::time::sleep_until(until.into()).await;
                            }
                            previous_read = now;
                            previous_small = small;
                        }
                    }
                }
                _ = sleep_until_opt(flush_at) => {
                    processor.working();
                    self.flush(&mut lines, processor, shutdown)
                }
            }
        }
    }

    /// Stores the complete lines read so far, in batches of at most `batchSize`. Blocks while
    /// the channel is full (backpressure) and gives up only after the drain deadline of a stop.
    fn flush(&self, lines: &mut Lines, processor: &mut ChannelProcessor, shutdown: &Shutdown) {
        lines.report_long_lines(&self.name, processor.counter());
        while !lines.batch.is_empty() {
            let n = lines.batch.len().min(self.settings.batch_size);
            let rest = lines.batch.split_off(n);
            let batch = std::mem::replace(&mut lines.batch, rest);
            if let PutOutcome::Abandoned { lost } = processor.put_blocking(batch, shutdown) {
                let lost = lost + lines.batch.len();
                lines.batch.clear();
                error!(source = %self.name, "{lost} lines read from the command could not be stored before the drain deadline and are lost");
            }
        }
        lines.started = None;
    }

    /// Terminates the command's process group and reads what it already wrote, so that lines
    /// sitting in the pipe are stored rather than lost.
    async fn stop_child(&self, child: &mut Child, stdout: &mut CommandOutput, lines: &mut Lines) {
        let pid = child.id();
        signal_group(pid, libc::SIGTERM);
        let grace = tokio::time::Instant::now() + KILL_GRACE;
        let mut killed = false;
        loop {
            let read =
                tokio::time::timeout_at(grace, stdout.read_buf(lines.framer.buf_mut())).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => lines.frame(),
                Err(_) if !killed => {
                    signal_group(pid, libc::SIGKILL);
                    killed = true;
                }
                Err(_) => break,
            }
        }
        // The command was cut off by us, possibly in the middle of writing a line: a fragment
        // without its newline is not a line the application wrote, so it is not published.
        lines.frame();
        if let Some(fragment) = lines.framer.finish() {
            warn!(source = %self.name, "dropping {} bytes of an unfinished last line cut off by the stop (not published as a record)", fragment.len());
        }
        if !killed {
            let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
        }
        // Whatever else the command started in its group goes too.
        signal_group(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

/// Lines framed from the command's output, waiting to be stored.
struct Lines {
    framer: LineFramer,
    limit: LineLimit,
    batch: Vec<Event>,
    /// When the oldest line of `batch` arrived (drives `batchTimeout`).
    started: Option<Instant>,
    /// When the command last wrote something (drives the idle flush).
    last_read: Option<Instant>,
}

impl Lines {
    fn new(batch_size: usize, limit: LineLimit) -> Self {
        Lines {
            framer: LineFramer::with_limit(limit),
            limit,
            // The batch grows as lines come: a large batchSize must not be allocated up front.
            batch: Vec::with_capacity(batch_size.min(1024)),
            started: None,
            last_read: None,
        }
    }

    fn frame(&mut self) {
        let batch = &mut self.batch;
        self.framer.drain_lines(|line| batch.push(Event::new(line)));
        let now = Instant::now();
        self.last_read = Some(now);
        if !self.batch.is_empty() {
            self.started.get_or_insert(now);
        }
    }

    /// The command exited on its own: its unterminated last line is a line (Java's
    /// `readLine` returns it too).
    fn end_of_input(&mut self) {
        self.frame();
        if let Some(last) = self.framer.finish() {
            self.batch.push(Event::new(last));
        }
    }

    /// Counts and logs the lines that were longer than `rflume.maxLineLength`, once each.
    fn report_long_lines(&mut self, source: &str, counter: &SourceCounter) {
        for long in self.framer.take_long_lines() {
            if long.dropped > 0 {
                counter.long_line_truncated.inc();
            } else {
                counter.long_line_split.inc();
            }
            warn!(source, "{}", long.describe(&self.limit));
        }
    }
}

/// Sends `sig` to the command's process group (it leads its own group, see `spawn`).
fn signal_group(pid: Option<u32>, sig: libc::c_int) {
    if let Some(pid) = pid {
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
        unsafe {
            libc::kill(-(pid as libc::pid_t), sig);
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown".to_string(),
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
