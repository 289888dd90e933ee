//! `rflume agent`: load the configuration, refuse what cannot run (unless the operator opts in),
//! start the agent and the monitoring server, then run the event loop until SIGTERM/SIGINT:
//! reload on SIGHUP, on a change notification for a configuration file and on Flume's 30 s poll
//! (`--no-reload-conf` turns reloading off); speak systemd's notify protocol (READY, RELOADING,
//! STOPPING, STATUS, WATCHDOG); log the counters periodically. Then drain and stop.
//!
//! A reload is validated before anything changes: a configuration that cannot be read, runs
//! nothing, names components rflume cannot run, or would drop a component for an error that
//! the running configuration does not drop is **rejected** — logged at ERROR, the running
//! pipeline untouched, `/health` reporting it until a good configuration is loaded. (Flume
//! applies whatever remains of such a file; the old pipeline is the safer thing to keep.)

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{error, info, warn};

use super::systemd::{self, Notifier};
use super::{system_properties, AgentArgs, ConfArgs};
use crate::agent::Agent;
use crate::config::properties::Texts;
use crate::config::Severity;
use crate::graph::{self, DropCause, Loaded};
use crate::logging;
use crate::metrics::{Group, Registry};
use crate::monitor::{self, Monitor};

/// The system property that opts in like `--allow-unsupported` (for start scripts that can only
/// add `-D` options).
pub const ALLOW_UNSUPPORTED_PROPERTY: &str = "rflume.allowUnsupported";

/// How often the components that do not run are logged again while the rest runs.
const UNSUPPORTED_REMINDER: Duration = Duration::from_secs(600);
/// `-D` property: seconds between those reminders (0: only at start).
pub const UNSUPPORTED_REMINDER_PROPERTY: &str = "rflume.unsupported.reminderSeconds";

pub(super) fn run(a: AgentArgs, jvm: &[String], deprecated_node: bool) -> anyhow::Result<i32> {
    // First of all: a SIGTERM or SIGHUP that arrives while logging starts, the configuration
    // loads or the components start is then held for the wait below (a stop with a drain, or a
    // logged SIGHUP), instead of killing the process with its default action.
    let mut signals = StopSignals::install()?;
    let system = system_properties(&a.defines);
    let spec = logging::spec_from_system(&system, a.conf_dir.as_deref());
    logging::init(&spec)?;
    if deprecated_node {
        warn!("the 'node' command is deprecated in Flume; use 'agent'");
    }
    if !jvm.is_empty() {
        warn!(
            "ignoring JVM options (rflume is not a JVM): {}",
            jvm.join(" ")
        );
    }
    if let Some(cp) = &a.classpath {
        warn!("ignoring --classpath {cp}: rflume cannot load Java classes");
    }
    if let Some(pp) = &a.plugins_path {
        warn!("ignoring --plugins-path {pp}: rflume cannot load Java plugins");
    }
    if a.zk_conn_string.is_some() || a.zk_base_path.is_some() {
        bail!("ZooKeeper-based configuration (-z/--zkConnString, -p/--zkBasePath) is not supported; pass the properties file with --conf-file");
    }
    if let Some(class) = a.conf_provider.as_ref().or(a.auth_provider.as_ref()) {
        bail!("--conf-provider/--auth-provider {class}: rflume cannot load Java classes; give the configuration with --conf-file or --conf-uri (with --conf-user/--conf-password for HTTP basic authentication)");
    }
    if let Some(dir) = &a.backup_directory {
        warn!("--backup-directory {}: rflume keeps no backup of the configuration; if --conf-uri cannot be read at start the agent does not start", dir.display());
    }
    if let Some(dir) = &a.conf_dir {
        if !dir.is_dir() {
            warn!(
                "--conf {}: not a directory (accepted; rflume needs nothing from it)",
                dir.display()
            );
        }
    }
    let (monitoring, monitor_warnings) = monitor::settings_from_system(&system)?;
    for w in monitor_warnings {
        warn!("{w}");
    }
    let counters_every = seconds_property(&system, COUNTERS_INTERVAL_PROPERTY, COUNTERS_INTERVAL)?;
    let reminder_every =
        seconds_property(&system, UNSUPPORTED_REMINDER_PROPERTY, UNSUPPORTED_REMINDER)?;
    if !a.drain_timeout.is_finite()
        || a.drain_timeout < 0.0
        || a.drain_timeout > MAX_DRAIN_TIMEOUT.as_secs_f64()
    {
        bail!(
            "--drain-timeout must be a number of seconds from 0 to {} (a day), not {}",
            MAX_DRAIN_TIMEOUT.as_secs(),
            a.drain_timeout
        );
    }
    let drain = Duration::from_secs_f64(a.drain_timeout);
    raise_open_file_limit();

    info!(
        "rflume {} starting agent {} from {}",
        env!("CARGO_PKG_VERSION"),
        a.name,
        a.conf.describe()
    );
    let texts = a.conf.read()?;
    let loaded = graph::load_texts(&texts, &a.name, &system)
        .with_context(|| format!("loading {}", a.conf.describe()))?;
    log_diagnostics(&loaded);
    let allow_unsupported = a.allow_unsupported
        || system
            .get(ALLOW_UNSUPPORTED_PROPERTY)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let unsupported = unsupported_of(&loaded);
    if !unsupported.is_empty() && !allow_unsupported {
        let list = unsupported.join("\n  ");
        eprintln!(
            "rflume: agent {} names components that Flume would run and rflume cannot:\n  {list}\n\
             rflume does not start a partial pipeline on its own (the missing components' events \
             would pile up or be lost). Keep this agent on Flume, change the configuration, or \
             start the rest anyway with --allow-unsupported (or -D{ALLOW_UNSUPPORTED_PROPERTY}=true).",
            a.name
        );
        error!(
            "refusing to start agent {}: {} component(s) cannot run in rflume (see above)",
            a.name,
            unsupported.len()
        );
        return Ok(1);
    }
    if !loaded.config.is_runnable() {
        bail!(
            "agent {} in {}: nothing runnable remains after validation ({} error(s) above)",
            a.name,
            a.conf.describe(),
            loaded.diagnostics.error_count()
        );
    }
    if a.dryrun {
        print!("{}", loaded.config.render());
        return Ok(if loaded.config.runs_as_written() {
            0
        } else {
            1
        });
    }
    let registry = Arc::new(Registry::default());
    let monitor = match &monitoring {
        Some(settings) => {
            registry.request_client_stats(CLIENT_STATS_INTERVAL);
            Some(Monitor::start(settings, registry.clone())?)
        }
        None => None,
    };
    registry.notes.set_not_running(not_running(&loaded));
    let notifier = Notifier::from_env();
    let agent = Agent::start_with(&loaded.config, registry.clone())?;
    notifier.ready(&status_line(&agent));
    let poll = match a.poll_interval {
        Some(0) | None if a.conf.conf_uri.iter().any(|u| u.starts_with("http")) => {
            Duration::from_secs(FLUME_HTTP_POLL_SECS)
        }
        Some(0) | None => Duration::from_secs(FLUME_POLL_SECS),
        // A poll slower than a year means "never"; far beyond it the timer's deadline overflowed
        // (`-i 18446744073709551615` panicked), so such a value is clamped, said once.
        Some(secs) if secs > MAX_POLL_SECS => {
            warn!("--poll-interval {secs} is longer than a year: polling every {MAX_POLL_SECS} s instead");
            Duration::from_secs(MAX_POLL_SECS)
        }
        Some(secs) => Duration::from_secs(secs),
    };
    if a.no_reload_conf {
        info!("--no-reload-conf: the configuration is loaded once; restart the agent to apply a change");
    } else {
        info!(
            "configuration reload: on SIGHUP, when a configuration file changes, and by polling every {}s",
            poll.as_secs()
        );
    }
    let mut running = Running {
        agent,
        conf: &a.conf,
        name: a.name.clone(),
        system,
        allow_unsupported,
        running_texts: texts,
        last_seen: None,
        notifier,
        drain,
        reload: !a.no_reload_conf,
        unsupported,
    };
    let watched = if a.no_reload_conf {
        Vec::new()
    } else {
        a.conf.conf_file.clone()
    };
    signals.run(
        &mut running,
        &Timers {
            poll,
            counters: counters_every,
            reminder: reminder_every,
            watchdog: systemd::watchdog_interval(),
        },
        &watched,
    )?;
    let Running {
        agent, notifier, ..
    } = running;
    notifier.stopping(&format!(
        "stopping: draining channels (up to {}s)",
        drain.as_secs()
    ));
    let report = agent.stop(drain);
    drop(monitor);
    if crate::agent::fatal_error_occurred() {
        error!(
            "rflume agent {} stopped after an internal failure (see above)",
            a.name
        );
        return Ok(1);
    }
    if !report.unsaved_positions.is_empty() {
        error!(
            "rflume agent {} stopped, but the positions of source(s) {} were NOT saved (see \
             above): the next start reads their files again from the last saved positions",
            a.name,
            report.unsaved_positions.join(", ")
        );
    } else if report.undelivered.is_empty() {
        info!("rflume agent {} stopped cleanly", a.name);
    }
    Ok(0)
}

/// TAILDIR keeps one descriptor per active file; the usual soft limit of 1024 is too low for a
/// file group of a thousand files, so raise it to the hard limit (what the JVM does by default).
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                warn!("could not raise the open-file limit; TAILDIR with many files may run out of descriptors");
            }
        }
    }
}

/// The longest `--drain-timeout`: a day is longer than any stop an init system waits for, and
/// keeps deadline arithmetic far from `Instant`'s limits.
const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(86_400);

/// SIGTERM, SIGINT and SIGHUP, caught from the start of the process.
struct StopSignals {
    rt: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
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
    fn run(
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
struct Timers {
    poll: Duration,
    /// `None`: no periodic counter lines.
    counters: Option<Duration>,
    /// `None`: components that do not run are logged at start only.
    reminder: Option<Duration>,
    /// systemd's `WatchdogSec`, when set.
    watchdog: Option<Duration>,
}

/// Flume's `PollingPropertiesFileConfigurationProvider` interval (files).
const FLUME_POLL_SECS: u64 = 30;
/// The longest `--poll-interval` taken as given (a year).
const MAX_POLL_SECS: u64 = 86_400 * 365;

/// Flume 1.11's poll interval for http(s) configuration URIs.
const FLUME_HTTP_POLL_SECS: u64 = 300;
/// Quiet time after a change notification before reading the file: editors and configuration
/// management write a file in several steps.
const SETTLE: Duration = Duration::from_millis(300);
/// How long a replaced sink may wait for acknowledgements of its in-flight batches.
const RELOAD_SETTLE: Duration = Duration::from_secs(10);
/// The longest a healthy sink round takes (a failure back-off is at most 5 s), and more than a
/// working source's round: the watchdog waits at least this long without a round before it
/// calls a sink or a working source hung.
const LONGEST_SINK_ROUND: Duration = Duration::from_secs(10);
/// librdkafka statistics interval while metrics are served.
const CLIENT_STATS_INTERVAL: Duration = Duration::from_secs(5);
/// `-D` property: seconds between counter lines in the log (0: only at stop).
pub const COUNTERS_INTERVAL_PROPERTY: &str = "rflume.counters.logIntervalSeconds";
const COUNTERS_INTERVAL: Duration = Duration::from_secs(300);

/// Reads a `-D` property in seconds; `Ok(None)` for 0.
fn seconds_property(
    system: &HashMap<String, String>,
    key: &str,
    default: Duration,
) -> anyhow::Result<Option<Duration>> {
    let Some(v) = system.get(key) else {
        return Ok(Some(default));
    };
    let secs: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .with_context(|| format!("-D{key}={v}: not a number of seconds from 0 to 86400"))?;
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// The running agent and what a reload needs.
struct Running<'a> {
    agent: Agent,
    conf: &'a ConfArgs,
    name: String,
    system: HashMap<String, String>,
    allow_unsupported: bool,
    /// The texts the running graph was loaded from.
    running_texts: Texts,
    /// The texts last looked at (a rejected reload is not retried until they change).
    last_seen: Option<Texts>,
    notifier: Notifier,
    drain: Duration,
    reload: bool,
    /// What the running configuration names and rflume cannot run (`--allow-unsupported`),
    /// for the reminder; replaced by each applied reload.
    unsupported: Vec<String>,
}

impl Running<'_> {
    /// Reads the configuration and applies it if it changed (`force`: SIGHUP, also when the text
    /// is the same, which then reloads nothing but says so).
    fn reload_now(&mut self, force: bool) {
        let texts = match self.conf.read() {
            Ok(t) => t,
            Err(e) => {
                if self.last_seen.is_some() || force {
                    self.reject(format!("{e:#}"));
                }
                return;
            }
        };
        if !force && self.last_seen.as_ref() == Some(&texts) {
            return;
        }
        if texts == self.running_texts {
            if self.agent.registry.notes.rejected_reload().is_some() {
                info!("the configuration is the running one again");
                self.agent.registry.notes.reload_applied();
            } else if force {
                info!("configuration unchanged; nothing to reload");
            }
            self.last_seen = Some(texts);
            return;
        }
        info!("Reloading configuration file: {}", self.conf.describe());
        let loaded = match graph::load_texts(&texts, &self.name, &self.system) {
            Ok(l) => l,
            Err(e) => {
                self.last_seen = Some(texts);
                self.reject(e.to_string());
                return;
            }
        };
        self.last_seen = Some(texts);
        log_diagnostics(&loaded);
        if let Err(why) = self.acceptable(&loaded) {
            self.reject(why);
            return;
        }
        self.notifier.reloading();
        match self.agent.reload(&loaded.config, RELOAD_SETTLE, self.drain) {
            Ok(report) => {
                self.agent
                    .registry
                    .notes
                    .set_not_running(not_running(&loaded));
                self.unsupported = unsupported_of(&loaded);
                self.agent.registry.notes.reload_applied();
                if let Some(t) = self.last_seen.take() {
                    self.running_texts = t;
                }
                info!(
                    "configuration reloaded: restarted [{}] added [{}] removed [{}], unchanged [{}]{}",
                    report.restarted.join(", "),
                    report.added.join(", "),
                    report.removed.join(", "),
                    report.kept.join(", "),
                    if report.moved_events > 0 {
                        format!("; {} events moved into replaced channels", report.moved_events)
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => {
                error!("reload failed part-way: {e}");
                self.agent.registry.notes.reload_rejected(e.to_string());
            }
        }
        self.notifier.ready(&status_line(&self.agent));
    }

    /// Whether `loaded` may replace the running graph.
    fn acceptable(&self, loaded: &Loaded) -> Result<(), String> {
        let config = &loaded.config;
        if !config.is_runnable() {
            return Err(format!(
                "nothing runnable remains after validation ({} error(s))",
                loaded.diagnostics.error_count()
            ));
        }
        let unsupported = unsupported_of(loaded);
        if !unsupported.is_empty() && !self.allow_unsupported {
            return Err(format!(
                "it names components rflume cannot run: {}",
                unsupported.join("; ")
            ));
        }
        let already: Vec<&str> = self
            .agent
            .config()
            .dropped
            .iter()
            .map(|d| d.what.as_str())
            .collect();
        let newly: Vec<String> = config
            .dropped
            .iter()
            .filter(|d| d.cause == DropCause::ConfigError && !already.contains(&d.what.as_str()))
            .map(|d| located(loaded, d))
            .collect();
        if !newly.is_empty() {
            return Err(format!("it would drop {}", newly.join("; ")));
        }
        Ok(())
    }

    fn reject(&mut self, why: String) {
        error!("configuration reload rejected, the running configuration is kept: {why}");
        self.agent.registry.notes.reload_rejected(why);
        self.notifier.status(&format!(
            "{} (last reload rejected)",
            status_line(&self.agent)
        ));
    }

    /// One watchdog round: ping while every runner is alive and not stuck
    /// ([`Agent::check_responsive`]), say why not otherwise.
    fn watchdog(&mut self, interval: Duration) {
        match self
            .agent
            .check_responsive(interval.max(LONGEST_SINK_ROUND))
        {
            Ok(()) => self.notifier.watchdog(),
            Err(why) => {
                error!("watchdog: {why}; not confirming liveness to systemd");
                self.notifier.watchdog_trigger(&why);
            }
        }
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
                if event.paths.iter().any(|p| wanted.iter().any(|w| w == p)) {
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

/// Diagnostics of a load, as the agent logs them at start and at a reload.
fn log_diagnostics(loaded: &Loaded) {
    for d in loaded.diagnostics.sorted() {
        match d.severity {
            Severity::Error | Severity::Unsupported => error!("{}: {d}", d.severity.label()),
            Severity::Warning => warn!("{d}"),
        }
    }
    for d in &loaded.config.dropped {
        match d.cause {
            DropCause::Unused => warn!("{} has been removed: {}", d.what, d.why),
            _ => error!("{} has been removed: {}", d.what, d.why),
        }
    }
}

/// `FILE:LINE: what (why)` for a dropped component.
fn located(loaded: &Loaded, d: &graph::Dropped) -> String {
    format!(
        "{}: {} ({})",
        loaded.diagnostics.location(d.line),
        d.what,
        d.why
    )
}

fn unsupported_of(loaded: &Loaded) -> Vec<String> {
    loaded
        .config
        .unsupported()
        .map(|d| located(loaded, d))
        .collect()
}

/// Components named in the file that do not run, for `/health`.
fn not_running(loaded: &Loaded) -> Vec<String> {
    loaded
        .config
        .dropped
        .iter()
        .filter(|d| d.cause != DropCause::Unused)
        .map(|d| format!("{}: {}", d.what, d.why))
        .collect()
}

/// systemd's `STATUS=`: what runs and what it has done, in one short line.
fn status_line(agent: &Agent) -> String {
    let (mut sources, mut channels, mut sinks, mut delivered, mut held) = (0, 0, 0, 0u64, 0i64);
    for g in agent.registry.groups() {
        match g {
            Group::Source(..) => sources += 1,
            Group::Channel(_, c) => {
                channels += 1;
                held += c.channel_size.get();
            }
            Group::Sink(_, c) => {
                sinks += 1;
                delivered += c.event_drain_success.get();
            }
        }
    }
    format!("running {sources} source(s), {channels} channel(s), {sinks} sink(s); {delivered} events delivered, {held} in channels")
}
