//! `rflume agent`: load the configuration, refuse what cannot run (unless the operator opts in),
//! start the agent, wait for SIGTERM/SIGINT, drain and stop.

use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{error, info, warn};

use super::{system_properties, AgentArgs};
use crate::agent::Agent;
use crate::config::Severity;
use crate::graph::{self, DropCause};
use crate::logging;

/// The system property that opts in like `--allow-unsupported` (for start scripts that can only
/// add `-D` options).
pub const ALLOW_UNSUPPORTED_PROPERTY: &str = "rflume.allowUnsupported";

/// How often the components that do not run are logged again while the rest runs.
const UNSUPPORTED_REMINDER: Duration = Duration::from_secs(600);

pub(super) fn run(a: AgentArgs, jvm: &[String], deprecated_node: bool) -> anyhow::Result<i32> {
    // First of all: a SIGTERM or SIGHUP that arrives while logging starts, the configuration
    // loads or the components start is then held for the wait below (a stop with a drain, or a
    // logged SIGHUP), instead of killing the process with its default action.
    let mut signals = StopSignals::install()?;
    let system = system_properties(&a.defines);
    let spec = logging::spec_from_system(&system);
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
    if !a.no_reload_conf || a.poll_interval.is_some() {
        info!("configuration is loaded once: rflume does not poll the file for changes yet (restart the agent to apply a change)");
    }
    let monitoring: Vec<(&String, &String)> = system
        .iter()
        .filter(|(k, _)| k.starts_with("flume.monitoring."))
        .collect();
    if !monitoring.is_empty() {
        warn!(
            "flume.monitoring.* is recorded but no metrics endpoint is served yet: {monitoring:?}"
        );
    }
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
    let allow_unsupported = a.allow_unsupported
        || system
            .get(ALLOW_UNSUPPORTED_PROPERTY)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let unsupported: Vec<String> = loaded
        .config
        .unsupported()
        .map(|d| {
            format!(
                "{}: {} ({})",
                loaded.diagnostics.location(d.line),
                d.what,
                d.why
            )
        })
        .collect();
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
    let agent = Agent::start(&loaded.config)?;
    signals.wait(&unsupported)?;
    let report = agent.stop(drain);
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

    /// Blocks until SIGTERM or SIGINT. SIGHUP (which would kill the process by default) is
    /// logged. Components that do not run (`--allow-unsupported`) are logged again every 10
    /// minutes, so that an operator reading only recent logs still learns that the pipeline is
    /// partial.
    fn wait(&mut self, not_running: &[String]) -> anyhow::Result<()> {
        let StopSignals { rt, term, int, hup } = self;
        rt.block_on(async {
            let mut reminder = tokio::time::interval_at(
                tokio::time::Instant::now() + UNSUPPORTED_REMINDER,
                UNSUPPORTED_REMINDER,
            );
            loop {
                tokio::select! {
                    _ = term.recv() => { info!("received SIGTERM"); return Ok(()); }
                    _ = int.recv() => { info!("received SIGINT"); return Ok(()); }
                    _ = hup.recv() => warn!("received SIGHUP: configuration reload is not supported yet; the running configuration is kept"),
                    _ = reminder.tick(), if !not_running.is_empty() => {
                        for c in not_running {
                            error!("not running (unsupported by rflume, started with --allow-unsupported): {c}");
                        }
                    }
                }
            }
        })
    }
}
