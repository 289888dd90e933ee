//! What the agent says about a loaded configuration and about itself: the diagnostics of a
//! load, the components that do not run (for the log and `/health`), systemd's STATUS line.

use tracing::{error, warn};

use crate::agent::Agent;
use crate::config::Severity;
use crate::graph::{self, DropCause, Loaded};
use crate::metrics::Group;

/// Diagnostics of a load, as the agent logs them at start and at a reload.
pub(super) fn log_diagnostics(loaded: &Loaded) {
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
pub(super) fn located(loaded: &Loaded, d: &graph::Dropped) -> String {
    format!(
        "{}: {} ({})",
        loaded.diagnostics.location(d.line),
        d.what,
        d.why
    )
}

pub(super) fn unsupported_of(loaded: &Loaded) -> Vec<String> {
    loaded
        .config
        .unsupported()
        .map(|d| located(loaded, d))
        .collect()
}

/// Components named in the file that do not run, for `/health`.
pub(super) fn not_running(loaded: &Loaded) -> Vec<String> {
    loaded
        .config
        .dropped
        .iter()
        .filter(|d| d.cause != DropCause::Unused)
        .map(|d| format!("{}: {}", d.what, d.why))
        .collect()
}

/// systemd's `STATUS=`: what runs and what it has done, in one short line.
pub(super) fn status_line(agent: &Agent) -> String {
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
