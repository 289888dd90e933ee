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
//!
//! This file is the sequence from start to stop; `startup.rs` checks what the command line asks
//! for and refuses what cannot run, `event_loop.rs` is the loop, `running.rs` reloads (or
//! rejects) and judges the watchdog round, `report.rs` says what runs and what does not.

mod event_loop;
mod report;
mod running;
mod startup;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{error, info, warn};

use super::systemd::{self, Notifier};
use super::{system_properties, AgentArgs};
use crate::agent::Agent;
use crate::graph;
use crate::logging;
use crate::metrics::Registry;
use crate::monitor::{self, Monitor};
use event_loop::{StopSignals, Timers};
use report::{log_diagnostics, not_running, status_line, unsupported_of};
use running::Running;

pub use startup::ALLOW_UNSUPPORTED_PROPERTY;

/// librdkafka statistics interval while metrics are served.
const CLIENT_STATS_INTERVAL: Duration = Duration::from_secs(5);

pub(super) fn run(a: AgentArgs, jvm: &[String], deprecated_node: bool) -> anyhow::Result<i32> {
    // First of all: a SIGTERM or SIGHUP that arrives while logging starts, the configuration
    // loads or the components start is then held for the wait below (a stop with a drain, or a
    // logged SIGHUP), instead of killing the process with its default action.
    let mut signals = StopSignals::install()?;
    let system = system_properties(&a.defines);
    let spec = logging::spec_from_system(&system, a.conf_dir.as_deref());
    logging::init(&spec)?;
    startup::check_flume_options(&a, jvm, deprecated_node)?;
    let (monitoring, monitor_warnings) = monitor::settings_from_system(&system)?;
    for w in monitor_warnings {
        warn!("{w}");
    }
    let counters_every = startup::counters_interval(&system)?;
    let reminder_every = startup::reminder_interval(&system)?;
    let drain = startup::drain_timeout(a.drain_timeout)?;
    startup::raise_open_file_limit();

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
    let allow_unsupported = startup::allows_unsupported(&a, &system);
    let unsupported = unsupported_of(&loaded);
    if !unsupported.is_empty() && !allow_unsupported {
        startup::refuse_unsupported(&a.name, &unsupported);
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
    let poll = startup::poll_interval(&a);
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
