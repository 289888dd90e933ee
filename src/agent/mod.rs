//! Wiring and lifecycle: builds components from a validated [`AgentConfig`], starts them in
//! Flume's order (channels, then sinks, then sources) and stops them in reverse with a drain.
//!
//! **Concurrency model.** Every source runner and every sink runner is one dedicated OS thread,
//! like Flume's `SourceRunner`/`SinkRunner`. Channels are shared (`Arc<dyn Channel>`) and block
//! with a mutex + condition variables, one lock per batch. A thread per runner keeps each
//! pipeline stage independent (a slow Kafka broker never stalls a source's read loop except
//! through the channel, which is the point) and makes backpressure a plain blocking call. Sources
//! that multiplex I/O (exec: stdout, stderr, a batch timer) run a tiny single-threaded tokio
//! runtime inside their own thread. The main thread only waits for signals.
//!
//! **Stop.** SIGTERM/SIGINT → sources stop reading and flush what they already read into the
//! channel; then sinks keep draining until the channels are empty or the drain deadline passes;
//! whatever is left is counted and reported per channel.
//!
//! **Reload** ([`Agent::reload`]) compares the running graph with the new one component by
//! component (settings, types and wiring; line numbers do not count). Unchanged components keep
//! running untouched — an unchanged memory channel keeps its events. Changed or removed sources
//! stop first (flushing what they read into their channels); changed sinks stop taking at once
//! and settle their in-flight batches (acknowledged ones commit, the rest roll back to the head of
//! the channel); a changed channel's events move into its replacement; then new channels, sinks
//! and sources start, in Flume's order. Each runner has its own stop signal for this.
//! Deciding *whether* to reload (validation, rejection) is the CLI's job.
//!
//! The files answer one question each: `start.rs` builds and starts runners in Flume's order,
//! `stop.rs` stops and drains, `reload.rs` applies a new graph by difference, `watchdog.rs` says
//! whether every runner still runs (and stops the agent when one panics), `totals.rs` logs the
//! counters.

mod reload;
mod start;
mod stop;
#[cfg(test)]
mod tests;
mod totals;
mod watchdog;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;

use crate::channel::Channel;
use crate::graph::AgentConfig;
use crate::metrics::Registry;
use crate::shutdown::Shutdown;

pub use reload::ReloadReport;
pub use stop::StopReport;
pub use watchdog::fatal_error_occurred;

/// Default time sinks get to drain the channels on stop.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("agent {agent}: nothing runnable remains (no source or sink survived validation and start-up); fix the errors above")]
    NothingRunnable { agent: String },
    /// A channel could not open (a file channel's directories are locked or unreadable): the
    /// agent does not start, rather than run sources into a channel that cannot hold anything.
    #[error("{0}")]
    Channel(#[from] crate::channel::OpenError),
    #[error("cannot start thread for {component}: {source}")]
    Thread {
        component: String,
        #[source]
        source: std::io::Error,
    },
}

struct Runner {
    name: String,
    /// `source`, `sink` or `sinkgroup` (a sink group may share a sink's name).
    kind: String,
    handle: JoinHandle<()>,
    /// This runner's own stop signal (a reload stops some runners and not others).
    stop: Shutdown,
}

/// A running agent.
pub struct Agent {
    name: String,
    /// The graph that runs: what a reload compares the new configuration with.
    config: AgentConfig,
    channels: Vec<Arc<dyn Channel>>,
    sources: Vec<Runner>,
    sinks: Vec<Runner>,
    /// Wakes `join_all` when a runner thread ends.
    done_tx: Sender<()>,
    done_rx: Receiver<()>,
    pub registry: Arc<Registry>,
}

impl Agent {
    /// Logs every component's counters (also done at stop).
    pub fn log_counters(&self) {
        totals::log_totals(&self.registry);
    }

    /// The graph that runs now.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// For the systemd watchdog: `Err` names a runner that ended without being asked to (a
    /// panic, a source whose listener could not bind: the agent no longer does what its
    /// configuration says), a sink runner whose loop has not gone round for longer than
    /// `max_silence` (a hang: a sink's round returns within seconds, also while idle or
    /// failing), or a source that is working (not waiting for input) and has not gone round for
    /// as long. See [`crate::metrics::RunnerState`] for how sources say which.
    pub fn check_responsive(&self, max_silence: Duration) -> Result<(), String> {
        watchdog::responsive(&self.registry, max_silence)
    }

    fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.iter().find(|c| c.name() == name).cloned()
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }
}
