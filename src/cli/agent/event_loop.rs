//! The event loop between start and stop: signals (SIGTERM/SIGINT stop, SIGHUP reopens the log
//! and reloads), configuration-file changes, the poll, the counter lines, the systemd watchdog
//! pings and the reminders of what does not run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tracing::{error, info, warn};

use super::report::status_line;
use super::running::Running;
use crate::logging;

/// SIGTERM, SIGINT and SIGHUP, caught from the start of the process.
pub(super) struct StopSignals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(super) fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the signal runtime")?;
        let _entered = rt.enter();
        let term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        drop(_entered);
        Ok(StopSignals { rt, term, int, hup })
    }

    /// The event loop: returns on SIGTERM or SIGINT. SIGHUP reopens the log file and reloads;
    /// file changes (settled for [`SETTLE`]) and the poll reload when the text changed.
    /// Components that do not run (`--allow-unsupported`) are logged again every 10 minutes
    /// (`-Drflume.unsupported.reminderSeconds`), the list of the configuration running now, so
    /// that an operator reading only recent logs still learns that the pipeline is partial.
    pub(super) fn run(
        &mut self,
        running: &mut Running<'_>,
        timers: &Timers,
        watched: &[PathBuf],
    ) -> anyhow::Result<()> {
        let StopSignals { rt, term, int, hup } = self;
        rt.block_on(async {
            use tokio::time::{interval_at, Instant};
            let (change_tx, mut changes) = tokio::sync::mpsc::unbounded_channel::<()>();
            let _watcher = watch_files(watched, change_tx);
            let remind_every = timers.reminder.unwrap_or(Duration::from_secs(86_400));
            let mut reminder = interval_at(Instant::now() + remind_every, remind_every);
            let mut poll = interval_at(Instant::now() + timers.poll, timers.poll);
            let counters_every = timers.counters.unwrap_or(Duration::from_secs(86_400));
            let mut counters = interval_at(Instant::now() + counters_every, counters_every);
            // Half the watchdog interval, as sd_watchdog_enabled(3) advises.
            let ping_every = timers.watchdog.map(|w| (w / 2).max(Duration::from_millis(100)));
            let mut watchdog = interval_at(Instant::now(), ping_every.unwrap_or(Duration::from_secs(86_400)));
            let mut settle_at: Option<Instant> = None;
            loop {
                let settle = async {
                    match settle_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = term.recv() => { info!("received SIGTERM"); return Ok(()); }
                    _ = int.recv() => { info!("received SIGINT"); return Ok(()); }
                    _ = hup.recv() => {
                        logging::reopen();
                        if running.reload {
                            info!("received SIGHUP: reloading the configuration");
                            running.reload_now(true);
                        } else {
                            info!("received SIGHUP: log file reopened; --no-reload-conf keeps the configuration");
                        }
                    }
                    Some(()) = changes.recv() => settle_at = Some(Instant::now() + SETTLE),
                    _ = settle => { settle_at = None; running.reload_now(false); }
                    _ = poll.tick(), if running.reload => running.reload_now(false),
                    _ = counters.tick(), if timers.counters.is_some() => {
                        running.agent.log_counters();
                        running.notifier.status(&status_line(&running.agent));
                    }
                    _ = watchdog.tick(), if timers.watchdog.is_some() => running.watchdog(timers.watchdog.unwrap_or_default()),
                    _ = reminder.tick(), if timers.reminder.is_some() && !running.unsupported.is_empty() => {
                        for c in &running.unsupported {
                            error!("not running (unsupported by rflume, started with --allow-unsupported): {c}");
                        }
                    }
                }
            }
        })
    }
}

/// How often the loop wakes for each of its jobs.
pub(super) struct Timers {
    pub(super) poll: Duration,
    /// `None`: no periodic counter lines.
    pub(super) counters: Option<Duration>,
    /// `None`: components that do not run are logged at start only.
    pub(super) reminder: Option<Duration>,
    /// systemd's `WatchdogSec`, when set.
    pub(super) watchdog: Option<Duration>,
}

/// Quiet time after a change notification before reading the file: editors and configuration
/// management write a file in several steps.
const SETTLE: Duration = Duration::from_millis(300);

/// Whether a notification may mean new text. Opening and reading a file are notified too
/// (`IN_OPEN`, `IN_CLOSE_NOWRITE`): taken as changes, the reload's own read of the file started
/// the next reload one settling time later, for ever (after the first poll, an idle agent woke
/// ~8 times a second on two threads for it). Closing a file written to is a change.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Watches the directories of the configuration files (editors replace files by renaming, so a
/// watch on the file itself would go stale) and sends on `tx` when one of the files changes.
fn watch_files(
    files: &[PathBuf],
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    if files.is_empty() {
        return None;
    }
    let names: Vec<PathBuf> = files
        .iter()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
        .collect();
    let wanted = names.clone();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                if is_change(&event.kind)
                    && event.paths.iter().any(|p| wanted.iter().any(|w| w == p))
                {
                    let _ = tx.send(());
                }
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                warn!("cannot watch the configuration for changes ({e}); polling only");
                return None;
            }
        };
    let mut dirs: Vec<PathBuf> = names
        .iter()
        .filter_map(|f| f.parent().map(|d| d.to_path_buf()))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = watcher.watch(&d, notify::RecursiveMode::NonRecursive) {
            warn!(
                "cannot watch {} for configuration changes ({e}); polling only",
                d.display()
            );
        }
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::is_change;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind, RenameMode,
    };

    #[test]
    fn reading_the_configuration_is_not_a_change_and_writing_it_is() {
        for read in [
            AccessKind::Open(AccessMode::Read),
            AccessKind::Open(AccessMode::Any),
            AccessKind::Close(AccessMode::Read),
            AccessKind::Read,
            AccessKind::Any,
        ] {
            assert!(!is_change(&EventKind::Access(read)), "{read:?}");
        }
        for write in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(is_change(&write), "{write:?}");
        }
    }
}
