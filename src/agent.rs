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

use crate::channel::memory::MemoryChannel;
use crate::channel::Channel;
use crate::config::{AgentConfig, ChannelSettings, SinkSettings, SourceSettings};
use crate::metrics::{Group, Registry};
use crate::shutdown::Shutdown;
use crate::sink::kafka::KafkaSink;
use crate::sink::logger::LoggerSink;
use crate::sink::null::NullSink;
use crate::sink::{DefaultSinkProcessor, Sink, SinkProcessor, Status};
use crate::source::exec::ExecSource;
use crate::source::netcat::NetcatSource;
use crate::source::processor::{ChannelProcessor, ReplicatingSelector};
use crate::source::seq::SeqSource;
use crate::source::taildir::TaildirSource;
use crate::source::Source;

/// Default time sinks get to drain the channels on stop.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between retries of a failing sink (Flume's SinkRunner sleeps 5 s).
const MAX_SINK_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_SINK_BACKOFF: Duration = Duration::from_millis(250);

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
            let channel: Arc<dyn Channel> = match &c.settings {
                ChannelSettings::Memory(s) => {
                    Arc::new(MemoryChannel::new(&c.name, s.clone(), counter))
                }
            };
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
            let counter = agent.registry.sink(&k.name);
            let sink: Box<dyn Sink> = match &k.settings {
                SinkSettings::Kafka(s) => {
                    match KafkaSink::new(&k.name, s, channel, counter) {
                        Ok(sink) => Box::new(sink),
                        Err(e) => {
                            error!("Sink {} has been removed due to an error during configuration: {e}", k.name);
                            continue;
                        }
                    }
                }
                SinkSettings::Logger(s) => {
                    Box::new(LoggerSink::new(&k.name, s.clone(), channel, counter))
                }
                SinkSettings::Null(s) => {
                    Box::new(NullSink::new(&k.name, s.clone(), channel, counter))
                }
            };
            info!("Starting Sink {} (reads channel {})", k.name, k.channel);
            let processor: Box<dyn SinkProcessor> = Box::new(DefaultSinkProcessor::new(sink));
            let stop = agent.sinks_stop.clone();
            let done = agent.done_tx.clone();
            let name = k.name.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sink-{}", k.name))
                .spawn(move || {
                    let what = format!("sink {name}");
                    supervised(&what, || run_sink(processor, &stop));
                    let _ = done.send(name);
                })
                .map_err(|e| AgentError::Thread {
                    component: format!("sink {}", k.name),
                    source: e,
                })?;
            agent.sinks.push(Runner {
                name: k.name.clone(),
                handle,
            });
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
                s.interceptors.iter().map(|(_, i)| i.build()).collect(),
                ReplicatingSelector { required, optional },
                counter,
            );
            let source: Box<dyn Source> = match &s.settings {
                SourceSettings::Exec(x) => Box::new(ExecSource::new(&s.name, x.clone())),
                SourceSettings::Seq(x) => Box::new(SeqSource::new(&s.name, x.clone())),
                SourceSettings::Netcat(x) => Box::new(NetcatSource::new(&s.name, x.clone())),
                SourceSettings::Taildir(x) => Box::new(TaildirSource::new(&s.name, x.clone())),
            };
            info!(
                "Starting Source {} (feeds {})",
                s.name,
                s.channels.join(", ")
            );
            let stop = agent.sources_stop.clone();
            let done = agent.done_tx.clone();
            let name = s.name.clone();
            let handle = std::thread::Builder::new()
                .name(format!("source-{}", s.name))
                .spawn(move || {
                    let what = format!("source {name}");
                    supervised(&what, || {
                        if let Err(e) = source.run(processor, stop) {
                            error!("{e}");
                        }
                    });
                    let _ = done.send(name);
                })
                .map_err(|e| AgentError::Thread {
                    component: format!("source {}", s.name),
                    source: e,
                })?;
            agent.sources.push(Runner {
                name: s.name.clone(),
                handle,
            });
        }
        if agent.sources.is_empty() && agent.sinks.is_empty() {
            return Err(AgentError::NothingRunnable {
                agent: config.agent.clone(),
            });
        }
        info!(agent = %agent.name, "rflume agent {} started: {} source(s), {} channel(s), {} sink(s)", agent.name, agent.sources.len(), agent.channels.len(), agent.sinks.len());
        Ok(agent)
    }

    fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.iter().find(|c| c.name() == name).cloned()
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }

    /// Stops sources, drains channels through the sinks until `drain_timeout`, stops sinks.
    pub fn stop(self, drain_timeout: Duration) -> StopReport {
        let deadline = Instant::now() + drain_timeout;
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
                "SOURCE.{name}: EventReceivedCount={} EventAcceptedCount={} ChannelWriteFail={} EventReadFail={}",
                c.event_received.get(),
                c.event_accepted.get(),
                c.channel_write_fail.get(),
                c.event_read_fail.get()
            ),
            Group::Channel(name, c) => info!(
                "CHANNEL.{name}: EventPutSuccessCount={} EventTakeSuccessCount={} ChannelSize={}",
                c.event_put_success.get(),
                c.event_take_success.get(),
                c.channel_size.get()
            ),
            Group::Sink(name, c) => info!(
                "SINK.{name}: EventDrainSuccessCount={} RollbackCount={} BatchCompleteCount={} BatchUnderflowCount={}",
                c.event_drain_success.get(),
                c.rollback.get(),
                c.batch_complete.get(),
                c.batch_underflow.get()
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

/// Flume's `SinkRunner` loop with a growing back-off on failure and a drain on stop.
fn run_sink(mut processor: Box<dyn SinkProcessor>, stop: &Shutdown) {
    let name = processor.name().to_string();
    let mut backoff = FIRST_SINK_BACKOFF;
    loop {
        match processor.start() {
            Ok(()) => break,
            Err(e) => {
                error!(sink = %name, "{e}; retrying in {}s", backoff.as_secs());
                if stop.sleep(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_SINK_BACKOFF);
            }
        }
    }
    let mut failures: u32 = 0;
    loop {
        if stop.is_stopping() && (processor.drained() || stop.deadline_passed()) {
            break;
        }
        let committed_before = processor.committed_events();
        match processor.process() {
            Ok(Status::Ready) | Ok(Status::Backoff) => {
                if failures > 0 && processor.committed_events() > committed_before {
                    info!(sink = %name, "delivery recovered after {failures} failed attempt(s)");
                    failures = 0;
                }
            }
            Err(e) => {
                failures += 1;
                let wait = FIRST_SINK_BACKOFF
                    .saturating_mul(1 << failures.min(5))
                    .min(MAX_SINK_BACKOFF);
                // First failure and then every 10th: a long outage should not flood the log.
                if failures == 1 || failures % 10 == 0 {
                    error!(sink = %name, "Unable to deliver event (attempt {failures}, events rolled back to the channel, retrying in {:.1}s): {e}", wait.as_secs_f64());
                }
                let until = Instant::now() + wait;
                let until = match stop.deadline() {
                    Some(d) => until.min(d),
                    None => until,
                };
                sleep_until_or_stop(until, stop);
            }
        }
    }
    let deadline = stop
        .deadline()
        .unwrap_or_else(Instant::now)
        .max(Instant::now());
    processor.stop(deadline);
}

/// Sleeps until `until`; wakes early when a stop is first requested (the drain deadline then
/// bounds the rest).
fn sleep_until_or_stop(until: Instant, stop: &Shutdown) {
    let now = Instant::now();
    if until <= now {
        return;
    }
    if !stop.is_stopping() {
        stop.sleep(until - now);
        return;
    }
    std::thread::sleep(until - now);
}
