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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tracing::{error, info, warn};

use crate::channel::Channel;
use crate::graph::AgentConfig;
use crate::metrics::{Group, Registry};
use crate::shutdown::Shutdown;
use crate::sink::{runner, DefaultSinkProcessor, SinkCore, SinkProcessor};
use crate::source::processor::{ChannelProcessor, ReplicatingSelector};

/// Default time sinks get to drain the channels on stop.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("agent {agent}: nothing runnable remains (no source or sink survived validation and start-up); fix the errors above")]
    NothingRunnable { agent: String },
    #[error("cannot start thread for {component}: {source}")]
    Thread {
        component: String,
        #[source]
        source: std::io::Error,
    },
}

struct Runner {
    name: String,
    handle: JoinHandle<()>,
}

/// A running agent.
pub struct Agent {
    name: String,
    channels: Vec<Arc<dyn Channel>>,
    sources: Vec<Runner>,
    sinks: Vec<Runner>,
    sources_stop: Shutdown,
    sinks_stop: Shutdown,
    done_tx: Sender<String>,
    done_rx: Receiver<String>,
    pub registry: Arc<Registry>,
}

/// What was left behind by a stop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// (channel, events still in it) for channels that were not drained.
    pub undelivered: Vec<(String, usize)>,
    /// Sources whose positions could not be saved (TAILDIR: the position file is unwritable).
    pub unsaved_positions: Vec<String>,
}

impl Agent {
    pub fn start(config: &AgentConfig) -> Result<Agent, AgentError> {
        let registry = Arc::new(Registry::default());
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut agent = Agent {
            name: config.agent.clone(),
            channels: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            sources_stop: Shutdown::new(),
            sinks_stop: Shutdown::new(),
            done_tx,
            done_rx,
            registry,
        };
        info!(
            "Starting new configuration: sources [{}] channels [{}] sinks [{}]",
            names(config.sources.iter().map(|s| &s.name)),
            names(config.channels.iter().map(|c| &c.name)),
            names(config.sinks.iter().map(|k| &k.name)),
        );
        for c in &config.channels {
            let counter = agent.registry.channel(&c.name);
            let channel = c.settings.spec().build(&c.name, counter);
            info!(
                "Created channel {} type {} (capacity {}, transactionCapacity {})",
                c.name,
                channel.kind(),
                channel.capacity(),
                channel.transaction_capacity()
            );
            agent.channels.push(channel);
        }
        for k in &config.sinks {
            let Some(channel) = agent.channel(&k.channel) else {
                continue;
            };
            let core = SinkCore::new(&k.name, channel, agent.registry.sink(&k.name));
            let sink = match k.settings.spec().build(core) {
                Ok(sink) => sink,
                Err(e) => {
                    error!(
                        "Sink {} has been removed due to an error during configuration: {e}",
                        k.name
                    );
                    continue;
                }
            };
            info!("Starting Sink {} (reads channel {})", k.name, k.channel);
            let processor: Box<dyn SinkProcessor> = Box::new(DefaultSinkProcessor::new(sink));
            let stop = agent.sinks_stop.clone();
            let runner =
                agent.spawn_runner("sink", &k.name, move || runner::run(processor, &stop))?;
            agent.sinks.push(runner);
        }
        for s in &config.sources {
            let required: Vec<Arc<dyn Channel>> =
                s.channels.iter().filter_map(|c| agent.channel(c)).collect();
            let optional: Vec<Arc<dyn Channel>> = s
                .optional_channels
                .iter()
                .filter_map(|c| agent.channel(c))
                .collect();
            let counter = agent.registry.source(&s.name);
            counter.lifecycle.started();
            let processor = ChannelProcessor::new(
                &s.name,
                s.interceptors
                    .iter()
                    .map(|i| i.settings.spec().build())
                    .collect(),
                ReplicatingSelector { required, optional },
                counter,
            );
            let source = s.settings.spec().build(&s.name);
            info!(
                "Starting Source {} (feeds {})",
                s.name,
                s.channels.join(", ")
            );
            let stop = agent.sources_stop.clone();
            let runner = agent.spawn_runner("source", &s.name, move || {
                if let Err(e) = source.run(processor, stop) {
                    error!("{e}");
                }
            })?;
            agent.sources.push(runner);
        }
        if agent.sources.is_empty() && agent.sinks.is_empty() {
            return Err(AgentError::NothingRunnable {
                agent: config.agent.clone(),
            });
        }
        info!(agent = %agent.name, "rflume agent {} started: {} source(s), {} channel(s), {} sink(s)", agent.name, agent.sources.len(), agent.channels.len(), agent.sinks.len());
        Ok(agent)
    }

    /// Runs `body` on a thread of its own named after the component; the thread reports on
    /// `done_tx` when it ends, and a panic in it stops the agent (see [`supervised`]).
    fn spawn_runner(
        &self,
        kind: &str,
        name: &str,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<Runner, AgentError> {
        let done = self.done_tx.clone();
        let what = format!("{kind} {name}");
        let owned = name.to_string();
        let handle = std::thread::Builder::new()
            .name(format!("{kind}-{name}"))
            .spawn(move || {
                supervised(&what, body);
                let _ = done.send(owned);
            })
            .map_err(|e| AgentError::Thread {
                component: format!("{kind} {name}"),
                source: e,
            })?;
        Ok(Runner {
            name: name.to_string(),
            handle,
        })
    }

    fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.iter().find(|c| c.name() == name).cloned()
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }

    /// Stops sources, drains channels through the sinks until `drain_timeout`, stops sinks.
    pub fn stop(self, drain_timeout: Duration) -> StopReport {
        // checked: a drain timeout near `Duration::MAX` (library callers) must not panic here.
        let far = Duration::from_secs(86_400 * 365);
        let deadline = Instant::now()
            .checked_add(drain_timeout.min(far))
            .unwrap_or_else(Instant::now);
        info!(agent = %self.name, "stopping: sources first, then draining channels (up to {:.1}s)", drain_timeout.as_secs_f64());
        self.sources_stop.trigger(deadline);
        // Sources give up flushing at the deadline; a little grace covers process teardown.
        join_all(
            &self.done_rx,
            self.sources,
            deadline + Duration::from_secs(3),
            "Source",
        );
        self.sinks_stop.trigger(deadline);
        join_all(
            &self.done_rx,
            self.sinks,
            deadline + Duration::from_secs(3),
            "Sink",
        );
        let mut report = StopReport::default();
        for c in &self.channels {
            c.counter().lifecycle.stopped();
            let left = c.len_including_in_flight();
            if left > 0 {
                error!(channel = c.name(), "{left} events were still in channel {} ({}) when the drain deadline passed; they are lost with this {} channel", c.name(), c.kind(), c.kind());
                report.undelivered.push((c.name().to_string(), left));
            } else {
                info!(
                    channel = c.name(),
                    "channel {} drained: 0 events left",
                    c.name()
                );
            }
        }
        for g in self.registry.groups() {
            if let Group::Source(name, c) = g {
                if c.positions_unsaved.get() > 0 {
                    report.unsaved_positions.push(name);
                }
            }
        }
        drop(self.done_tx);
        log_totals(&self.registry);
        report
    }
}

/// Set when a runner panicked: the agent stops and exits non-zero.
static FATAL: AtomicBool = AtomicBool::new(false);

/// Whether a runner died of a panic (the process should exit non-zero so that a supervisor such
/// as systemd's `Restart=on-failure` starts a fresh agent).
pub fn fatal_error_occurred() -> bool {
    FATAL.load(Ordering::SeqCst)
}

/// Runs a runner's body; a panic is not allowed to leave a silently dead source or sink behind
/// in a process that otherwise looks healthy. Events it had taken are rolled back by
/// `TakeTransaction`'s drop during unwinding; the agent then stops (SIGTERM to itself, so the
/// ordinary drain runs) and exits non-zero.
fn supervised(what: &str, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        error!("{what} failed unexpectedly ({msg}); stopping the agent so that it can be restarted cleanly");
        FATAL.store(true, Ordering::SeqCst);
        // SAFETY: raise(2) only sends a signal to this process; the main thread handles it.
        unsafe {
            libc::raise(libc::SIGTERM);
        }
    }
}

/// One line per component with its lifetime totals (Flume's counter names), so that an operator
/// can reconcile what came in with what went out without a metrics endpoint.
fn log_totals(registry: &Registry) {
    for g in registry.groups() {
        match g {
            Group::Source(name, c) => info!(
                "SOURCE.{name}: EventReceivedCount={} EventAcceptedCount={} ChannelWriteFail={} EventReadFail={} LongLinesSplit={} LongLinesTruncated={} PositionWriteFail={}",
                c.event_received.get(),
                c.event_accepted.get(),
                c.channel_write_fail.get(),
                c.event_read_fail.get(),
                c.long_line_split.get(),
                c.long_line_truncated.get(),
                c.position_write_fail.get()
            ),
            Group::Channel(name, c) => info!(
                "CHANNEL.{name}: EventPutSuccessCount={} EventTakeSuccessCount={} ChannelSize={}",
                c.event_put_success.get(),
                c.event_take_success.get(),
                c.channel_size.get()
            ),
            Group::Sink(name, c) => info!(
                "SINK.{name}: EventDrainSuccessCount={} RollbackCount={} BatchCompleteCount={} BatchUnderflowCount={} DeadLetteredCount={} RejectedDroppedCount={}",
                c.event_drain_success.get(),
                c.rollback.get(),
                c.batch_complete.get(),
                c.batch_underflow.get(),
                c.event_dead_lettered.get(),
                c.event_rejected_dropped.get()
            ),
        }
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Waits for runners to report done until `deadline`; joins those that did.
fn join_all(done: &Receiver<String>, runners: Vec<Runner>, deadline: Instant, what: &str) {
    let mut pending: Vec<Runner> = runners;
    while !pending.is_empty() {
        match done.recv_deadline(deadline) {
            Ok(name) => {
                if let Some(i) = pending.iter().position(|r| r.name == name) {
                    let r = pending.swap_remove(i);
                    let _ = r.handle.join();
                    info!("{what} {name} stopped");
                }
            }
            Err(_) => {
                for r in &pending {
                    warn!("{what} {} did not stop in time; abandoning it", r.name);
                }
                return;
            }
        }
    }
}
