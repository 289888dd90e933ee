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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tracing::{error, info, warn};

use crate::channel::Channel;
use crate::graph::{AgentConfig, ChannelConfig, SinkConfig, SinkGroupConfig, SourceConfig};
use crate::metrics::{Group, Registry, RunnerState, SinkCounter};
use crate::shutdown::Shutdown;
use crate::sink::{runner, DefaultSinkProcessor, Sink, SinkCore, SinkError, SinkProcessor, Status};
use crate::source::processor::ChannelProcessor;

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

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// `source r1`, `channel c1`, … restarted with new settings.
    pub restarted: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Components kept running untouched.
    pub kept: Vec<String>,
    /// Events moved from changed channels into their replacements.
    pub moved_events: usize,
    /// (channel, events) lost with a removed channel that could not be drained in time.
    pub undelivered: Vec<(String, usize)>,
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
        Agent::start_with(config, Arc::new(Registry::default()))
    }

    /// Starts the agent reporting into `registry` (created beforehand when a metrics server
    /// serves it).
    pub fn start_with(config: &AgentConfig, registry: Arc<Registry>) -> Result<Agent, AgentError> {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut agent = Agent {
            name: config.agent.clone(),
            config: config.clone(),
            channels: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
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
            agent.start_channel(c)?;
        }
        let sinks: Vec<&SinkConfig> = config.sinks.iter().collect();
        let groups: Vec<&SinkGroupConfig> = config.sinkgroups.iter().collect();
        agent.start_sinks(&sinks, &groups)?;
        for s in &config.sources {
            agent.start_source(s)?;
        }
        if agent.sources.is_empty() && agent.sinks.is_empty() {
            return Err(AgentError::NothingRunnable {
                agent: config.agent.clone(),
            });
        }
        info!(agent = %agent.name, "rflume agent {} started: {} source(s), {} channel(s), {} sink(s)", agent.name, agent.sources.len(), agent.channels.len(), agent.sinks.len());
        Ok(agent)
    }

    fn start_channel(&mut self, c: &ChannelConfig) -> Result<(), AgentError> {
        let counter = self.registry.channel(&c.name);
        counter.meta.set_type(c.kind.name.alias);
        let channel = c.settings.spec().build(&c.name, counter)?;
        info!(
            "Created channel {} type {} (capacity {}, transactionCapacity {})",
            c.name,
            channel.kind(),
            channel.capacity(),
            channel.transaction_capacity()
        );
        self.channels.push(channel);
        Ok(())
    }

    /// Builds `sinks` and starts them: one runner per sink group of `groups` (Flume's SinkRunner
    /// per group: its sinks do not run on their own), one per remaining sink. A sink that
    /// cannot be built is removed, as Flume removes it.
    fn start_sinks(
        &mut self,
        sinks: &[&SinkConfig],
        groups: &[&SinkGroupConfig],
    ) -> Result<(), AgentError> {
        let mut built: Vec<(String, Box<dyn Sink>, Arc<SinkCounter>)> = Vec::new();
        for k in sinks {
            let Some(channel) = self.channel(&k.channel) else {
                continue;
            };
            let counter = self.registry.sink(&k.name);
            counter.meta.set_type(k.kind.name.alias);
            let core = SinkCore::new(&k.name, channel, counter.clone());
            match k.settings.spec().build(core) {
                Ok(sink) => built.push((k.name.clone(), sink, counter)),
                Err(e) => error!(
                    "Sink {} has been removed due to an error during configuration: {e}",
                    k.name
                ),
            }
        }
        for g in groups {
            let mut members = Vec::new();
            let mut watch: Option<Arc<SinkCounter>> = None;
            for name in &g.sinks {
                if let Some(i) = built.iter().position(|(n, _, _)| n == name) {
                    let (_, sink, counter) = built.swap_remove(i);
                    watch.get_or_insert(counter);
                    members.push(sink);
                }
            }
            let (Some(processor), Some(counter)) = (g.processor.build(&g.name, members), watch)
            else {
                continue;
            };
            info!(
                "Starting sink group {} ({} processor over {})",
                g.name,
                g.processor.kind(),
                g.sinks.join(", ")
            );
            // The watchdog judges the group's runner through its first sink's counters.
            let processor: Box<dyn SinkProcessor> =
                Box::new(Watched::new(processor, counter.clone()));
            let stop = Shutdown::new();
            let channels = sinks
                .iter()
                .filter(|k| g.sinks.contains(&k.name))
                .filter_map(|k| self.channel(&k.channel))
                .collect();
            wake_takes_on_stop(&stop, channels);
            let runner_stop = stop.clone();
            let runner = self.spawn_runner("sinkgroup", &g.name, stop, counter, move || {
                runner::run(processor, &runner_stop)
            })?;
            self.sinks.push(runner);
        }
        for (name, sink, counter) in built {
            let channel = sinks
                .iter()
                .find(|k| k.name == name)
                .map_or("?", |k| k.channel.as_str());
            info!("Starting Sink {name} (reads channel {channel})");
            let channels = sinks
                .iter()
                .filter(|k| k.name == name)
                .filter_map(|k| self.channel(&k.channel))
                .collect();
            let processor: Box<dyn SinkProcessor> = Box::new(Watched::new(
                Box::new(DefaultSinkProcessor::new(sink)),
                counter.clone(),
            ));
            let stop = Shutdown::new();
            wake_takes_on_stop(&stop, channels);
            let runner_stop = stop.clone();
            let runner = self.spawn_runner("sink", &name, stop, counter, move || {
                runner::run(processor, &runner_stop)
            })?;
            self.sinks.push(runner);
        }
        Ok(())
    }

    fn start_source(&mut self, s: &SourceConfig) -> Result<(), AgentError> {
        let counter = self.registry.source(&s.name);
        counter.meta.set_type(s.kind.name.alias);
        counter.lifecycle.started();
        // What a fresh ChannelProcessor needs, for each start of the source (the supervisor
        // starts it again after a failure, see `source::supervisor`).
        let channels: Vec<Arc<dyn Channel>> =
            s.channels.iter().filter_map(|c| self.channel(c)).collect();
        let (selector, channel_names) = (s.selector.clone(), s.channels.clone());
        let interceptors = s.interceptors.clone();
        let (name, processor_counter) = (s.name.clone(), counter.clone());
        let processor = move || {
            ChannelProcessor::new(
                &name,
                interceptors
                    .iter()
                    .map(|i| i.settings.spec().build())
                    .collect(),
                selector.build(&channel_names, |c| {
                    channels.iter().find(|ch| ch.name() == c).cloned()
                }),
                processor_counter.clone(),
            )
        };
        info!(
            "Starting Source {} (feeds {})",
            s.name,
            s.channels.join(", ")
        );
        // Until the source says it works (exec and TAILDIR do at their wake points), it is
        // judged by being alive only: most sources block in reads or accepts by design.
        counter.runner.waiting();
        let stop = Shutdown::new();
        let source_stop = stop.clone();
        let (name, settings, source_counter) =
            (s.name.clone(), s.settings.clone(), counter.clone());
        let runner = self.spawn_runner("source", &s.name, stop, counter, move || {
            crate::source::supervisor::run(
                &name,
                &settings,
                processor,
                &source_counter,
                &source_stop,
            )
        })?;
        self.sources.push(runner);
        Ok(())
    }

    /// Runs `body` on a thread of its own named after the component; the thread reports on
    /// `done_tx` when it ends, and a panic in it stops the agent (see [`supervised`]).
    fn spawn_runner(
        &self,
        kind: &str,
        name: &str,
        stop: Shutdown,
        state: impl HasRunner,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<Runner, AgentError> {
        let done = self.done_tx.clone();
        let what = format!("{kind} {name}");
        let asked = stop.clone();
        state.runner().set_running(true);
        let handle = std::thread::Builder::new()
            .name(format!("{kind}-{name}"))
            .spawn(move || {
                supervised(&what, body);
                if asked.is_stopping() {
                    state.runner().set_running(false);
                } else {
                    warn!("{what} ended on its own; it does not run any more");
                    state.runner().set_ended();
                }
                let _ = done.send(());
            })
            .map_err(|e| AgentError::Thread {
                component: format!("{kind} {name}"),
                source: e,
            })?;
        Ok(Runner {
            name: name.to_string(),
            kind: kind.to_string(),
            handle,
            stop,
        })
    }

    /// Logs every component's counters (also done at stop).
    pub fn log_counters(&self) {
        log_totals(&self.registry);
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
    /// as long. See [`RunnerState`] for how sources say which.
    pub fn check_responsive(&self, max_silence: Duration) -> Result<(), String> {
        responsive(&self.registry, max_silence)
    }

    fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.iter().find(|c| c.name() == name).cloned()
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }

    /// Applies `new` in place of the running graph (see the module doc): unchanged components
    /// keep running, changed ones are stopped and started again. Changed sinks get `settle` to
    /// collect acknowledgements for what they have in flight; sinks of a removed channel drain
    /// it for up to `drain`.
    pub fn reload(
        &mut self,
        new: &AgentConfig,
        settle: Duration,
        drain: Duration,
    ) -> Result<ReloadReport, AgentError> {
        let old = self.config.clone();
        let mut report = ReloadReport::default();
        let kept_channel = |name: &str| {
            new.channel(name)
                .zip(old.channel(name))
                .is_some_and(|(n, o)| same_channel(o, n))
        };
        let keeps_source = |s: &SourceConfig| {
            old.sources.iter().any(|o| same_source(o, s))
                && s.channels.iter().all(|c| kept_channel(c))
        };
        let keeps_sink =
            |k: &SinkConfig| old.sinks.iter().any(|o| same_sink(o, k)) && kept_channel(&k.channel);
        // A group runs its sinks: it is kept when the group and every one of its sinks are.
        let keeps_group = |g: &SinkGroupConfig| {
            old.sinkgroups.iter().any(|o| o == g)
                && g.sinks.iter().all(|m| {
                    new.sinks
                        .iter()
                        .find(|k| &k.name == m)
                        .is_some_and(&keeps_sink)
                })
        };
        let in_new_group = |sink: &str| {
            new.sinkgroups
                .iter()
                .any(|g| g.sinks.iter().any(|m| m == sink))
        };
        // 1. Sources that go or change stop first, flushing what they read into their channels.
        let now = Instant::now();
        let (stopping, kept): (Vec<Runner>, Vec<Runner>) = std::mem::take(&mut self.sources)
            .into_iter()
            .partition(|r| {
                !new.sources
                    .iter()
                    .any(|s| s.name == r.name && keeps_source(s))
            });
        self.sources = kept;
        for r in &stopping {
            r.stop.trigger(now + drain);
        }
        join_all(
            &self.done_rx,
            stopping,
            now + drain + Duration::from_secs(3),
            "Source",
        );
        // 2. Sinks that go or change: settle in-flight batches (or drain a channel that goes).
        let now = Instant::now();
        let keeps_runner = |r: &Runner| {
            if r.kind == "sinkgroup" {
                new.sinkgroups
                    .iter()
                    .any(|g| g.name == r.name && keeps_group(g))
            } else {
                !in_new_group(&r.name)
                    && new.sinks.iter().any(|k| k.name == r.name && keeps_sink(k))
            }
        };
        let (stopping, kept): (Vec<Runner>, Vec<Runner>) = std::mem::take(&mut self.sinks)
            .into_iter()
            .partition(|r| !keeps_runner(r));
        self.sinks = kept;
        // The sinks a runner drives: itself, or a group's members.
        let driven = |r: &Runner| -> Vec<String> {
            if r.kind == "sinkgroup" {
                old.sinkgroups
                    .iter()
                    .find(|g| g.name == r.name)
                    .map_or(Vec::new(), |g| g.sinks.clone())
            } else {
                vec![r.name.clone()]
            }
        };
        for r in &stopping {
            let channel_goes = driven(r).iter().any(|name| {
                old.sinks
                    .iter()
                    .find(|k| &k.name == name)
                    .is_some_and(|k| new.channel(&k.channel).is_none())
            });
            if channel_goes {
                r.stop.trigger(now + drain);
            } else {
                r.stop.trigger_without_drain(now + settle);
            }
        }
        join_all(
            &self.done_rx,
            stopping,
            now + drain.max(settle) + Duration::from_secs(3),
            "Sink",
        );
        // 3. Channels: kept, replaced (events move over) or removed.
        let mut running = new.clone();
        for o in &old.channels {
            let Some(old_channel) = self.channel(&o.name) else {
                continue;
            };
            match new.channel(&o.name) {
                Some(n) if same_channel(o, n) => report.kept.push(format!("channel {}", o.name)),
                Some(n) => {
                    let held = old_channel.len_including_in_flight();
                    let new_capacity = n.settings.spec().capacity().unwrap_or(usize::MAX);
                    if held > new_capacity {
                        warn!(
                            "channel {}: keeping its old settings: it holds {held} events and the new capacity is {new_capacity}; reload again once it has drained",
                            o.name
                        );
                        if let Some(c) = running.channels.iter_mut().find(|c| c.name == o.name) {
                            *c = o.clone();
                        }
                        report.kept.push(format!("channel {}", o.name));
                        continue;
                    }
                    self.channels.retain(|c| c.name() != o.name);
                    self.start_channel(n)?;
                    if let Some(new_channel) = self.channel(&o.name) {
                        let (moved, left) = move_events(&old_channel, &new_channel);
                        report.moved_events += moved;
                        if left > 0 {
                            error!(channel = %o.name, "{left} events of channel {} did not fit into its new settings and are lost with the old channel", o.name);
                            report.undelivered.push((o.name.clone(), left));
                        } else if moved > 0 {
                            info!(channel = %o.name, "moved {moved} events into channel {} with its new settings", o.name);
                        }
                    }
                    report.restarted.push(format!("channel {}", o.name));
                }
                None => {
                    self.channels.retain(|c| c.name() != o.name);
                    old_channel.counter().lifecycle.stopped();
                    let left = old_channel.len_including_in_flight();
                    if left > 0 {
                        error!(channel = %o.name, "channel {} was removed with {left} events its sinks could not deliver in time; they are lost", o.name);
                        report.undelivered.push((o.name.clone(), left));
                    }
                    self.registry.remove(&format!("CHANNEL.{}", o.name));
                    report.removed.push(format!("channel {}", o.name));
                }
            }
        }
        for n in &new.channels {
            if old.channel(&n.name).is_none() {
                self.start_channel(n)?;
                report.added.push(format!("channel {}", n.name));
            }
        }
        // 4. Sinks (groups first), then sources, in Flume's start order.
        let running_sink = |sinks: &[Runner], name: &str| {
            sinks.iter().any(|r| {
                if r.kind == "sinkgroup" {
                    new.sinkgroups
                        .iter()
                        .any(|g| g.name == r.name && g.sinks.iter().any(|m| m == name))
                } else {
                    r.name == name
                }
            })
        };
        let groups: Vec<&SinkGroupConfig> = new
            .sinkgroups
            .iter()
            .filter(|g| {
                !self
                    .sinks
                    .iter()
                    .any(|r| r.kind == "sinkgroup" && r.name == g.name)
            })
            .collect();
        let sinks: Vec<&SinkConfig> = new
            .sinks
            .iter()
            .filter(|k| !running_sink(&self.sinks, &k.name))
            .collect();
        for k in &new.sinks {
            if running_sink(&self.sinks, &k.name) {
                report.kept.push(format!("sink {}", k.name));
            } else {
                let existed = old.sinks.iter().any(|o| o.name == k.name);
                report_change(&mut report, existed, format!("sink {}", k.name));
            }
        }
        self.start_sinks(&sinks, &groups)?;
        for s in &new.sources {
            if self.sources.iter().any(|r| r.name == s.name) {
                report.kept.push(format!("source {}", s.name));
                continue;
            }
            self.start_source(s)?;
            let existed = old.sources.iter().any(|o| o.name == s.name);
            report_change(&mut report, existed, format!("source {}", s.name));
        }
        for o in &old.sinks {
            if !new.sinks.iter().any(|k| k.name == o.name) {
                self.registry.remove(&format!("SINK.{}", o.name));
                report.removed.push(format!("sink {}", o.name));
            }
        }
        for o in &old.sources {
            if !new.sources.iter().any(|s| s.name == o.name) {
                self.registry.remove(&format!("SOURCE.{}", o.name));
                report.removed.push(format!("source {}", o.name));
            }
        }
        self.config = running;
        Ok(report)
    }

    /// Stops sources, drains channels through the sinks until `drain_timeout`, stops sinks.
    pub fn stop(self, drain_timeout: Duration) -> StopReport {
        // checked: a drain timeout near `Duration::MAX` (library callers) must not panic here.
        let far = Duration::from_secs(86_400 * 365);
        let deadline = Instant::now()
            .checked_add(drain_timeout.min(far))
            .unwrap_or_else(Instant::now);
        info!(agent = %self.name, "stopping: sources first, then draining channels (up to {:.1}s)", drain_timeout.as_secs_f64());
        for r in &self.sources {
            r.stop.trigger(deadline);
        }
        // Sources give up flushing at the deadline; a little grace covers process teardown.
        join_all(
            &self.done_rx,
            self.sources,
            deadline + Duration::from_secs(3),
            "Source",
        );
        for r in &self.sinks {
            r.stop.trigger(deadline);
        }
        join_all(
            &self.done_rx,
            self.sinks,
            deadline + Duration::from_secs(3),
            "Sink",
        );
        let mut report = StopReport::default();
        for c in &self.channels {
            c.close();
            c.counter().lifecycle.stopped();
            let left = c.len_including_in_flight();
            if left > 0 && c.is_durable() {
                warn!(channel = c.name(), "{left} events are still in channel {} ({}); they are kept on disk and delivered after the restart", c.name(), c.kind());
                report.undelivered.push((c.name().to_string(), left));
            } else if left > 0 {
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
                "SOURCE.{name}: EventReceivedCount={} EventAcceptedCount={} ChannelWriteFail={} EventReadFail={} Unrouted={} LongLinesSplit={} LongLinesTruncated={} PositionWriteFail={}",
                c.event_received.get(),
                c.event_accepted.get(),
                c.channel_write_fail.get(),
                c.event_read_fail.get(),
                c.unrouted.get(),
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

fn report_change(report: &mut ReloadReport, existed: bool, what: String) {
    if existed {
        report.restarted.push(what);
    } else {
        report.added.push(what);
    }
}

/// Moves every event of `from` (which nothing reads or writes any more) into `to`, in order,
/// one transaction per step; returns (moved, left behind).
fn move_events(from: &Arc<dyn Channel>, to: &Arc<dyn Channel>) -> (usize, usize) {
    let step = from
        .transaction_capacity()
        .min(to.transaction_capacity())
        .max(1);
    let mut moved = 0;
    loop {
        let events = from.take_raw(step, Duration::ZERO);
        if events.is_empty() {
            break;
        }
        let mut batch = events.clone();
        match to.put(&mut batch) {
            Ok(()) => {
                moved += events.len();
                from.commit_take(&events);
            }
            Err(e) => {
                from.rollback_take(events);
                warn!("{e}");
                break;
            }
        }
    }
    (moved, from.len_including_in_flight())
}

/// Components compare by what they do: types, settings and wiring, not where in the file they
/// are written (`lines`, the type's line and spelling).
fn same_channel(a: &ChannelConfig, b: &ChannelConfig) -> bool {
    let norm = |c: &ChannelConfig| {
        let mut c = c.clone();
        c.lines.clear();
        c.kind.line = None;
        c.kind.written.clear();
        c
    };
    norm(a) == norm(b)
}

fn same_sink(a: &SinkConfig, b: &SinkConfig) -> bool {
    let norm = |c: &SinkConfig| {
        let mut c = c.clone();
        c.lines.clear();
        c.kind.line = None;
        c.kind.written.clear();
        c
    };
    norm(a) == norm(b)
}

fn same_source(a: &SourceConfig, b: &SourceConfig) -> bool {
    let norm = |c: &SourceConfig| {
        let mut c = c.clone();
        c.lines.clear();
        c.kind.line = None;
        c.kind.written.clear();
        for i in &mut c.interceptors {
            i.kind.line = None;
            i.kind.written.clear();
        }
        c
    };
    norm(a) == norm(b)
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// A sink waits on an empty channel for up to [`crate::sink::EMPTY_CHANNEL_WAIT`]; its stop
/// ends that wait at once, so the wait can be long and an idle sink wakes rarely.
fn wake_takes_on_stop(stop: &Shutdown, channels: Vec<Arc<dyn Channel>>) {
    stop.on_stop(move || {
        for c in &channels {
            c.wake_takers();
        }
    });
}

/// Waits until `deadline` for the runners' threads to end; joins those that did. `done` only
/// wakes the wait (any runner's end sends on it, also of runners not waited for here).
fn join_all(done: &Receiver<()>, runners: Vec<Runner>, deadline: Instant, what: &str) {
    let mut pending: Vec<Runner> = runners;
    loop {
        let mut i = 0;
        while i < pending.len() {
            if pending[i].handle.is_finished() {
                let r = pending.swap_remove(i);
                let _ = r.handle.join();
                info!("{what} {} stopped", r.name);
            } else {
                i += 1;
            }
        }
        if pending.is_empty() {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            for r in &pending {
                warn!("{what} {} did not stop in time; abandoning it", r.name);
            }
            return;
        }
        // The message may be for a runner not in `pending`; a short cap re-checks regardless.
        let _ = done.recv_timeout((deadline - now).min(Duration::from_millis(200)));
    }
}

/// See [`Agent::check_responsive`].
fn responsive(registry: &Registry, max_silence: Duration) -> Result<(), String> {
    let silent_for = |r: &RunnerState| r.since_beat().filter(|s| *s > max_silence);
    for g in registry.groups() {
        let (kind, name, runner) = match &g {
            Group::Source(name, c) => ("source", name, &c.runner),
            Group::Sink(name, c) => ("sink", name, &c.runner),
            Group::Channel(..) => continue,
        };
        if runner.has_ended() {
            return Err(format!(
                "{kind} {name} ended on its own and does not run any more"
            ));
        }
        // A stopped runner is not a hung one; a waiting source may be silent for as long as
        // its input is.
        if !runner.is_running() || runner.is_waiting() {
            continue;
        }
        if let Some(silent) = silent_for(runner) {
            return Err(format!(
                "{kind} {name} has not completed a round for {:.0}s",
                silent.as_secs_f64()
            ));
        }
    }
    Ok(())
}

/// What `spawn_runner` marks running and ended: a source's or a sink's counter group.
trait HasRunner: Send + 'static {
    fn runner(&self) -> &RunnerState;
}

impl HasRunner for Arc<crate::metrics::SourceCounter> {
    fn runner(&self) -> &RunnerState {
        &self.runner
    }
}

impl HasRunner for Arc<SinkCounter> {
    fn runner(&self) -> &RunnerState {
        &self.runner
    }
}

/// A sink processor that reports each round of its runner (the watchdog's heartbeat) and
/// whether deliveries fail (`/health`), without changing what it does.
struct Watched {
    inner: Box<dyn SinkProcessor>,
    counter: Arc<SinkCounter>,
}

impl Watched {
    fn new(inner: Box<dyn SinkProcessor>, counter: Arc<SinkCounter>) -> Self {
        Watched { inner, counter }
    }
}

impl SinkProcessor for Watched {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn start(&mut self) -> Result<(), SinkError> {
        self.counter.runner.beat();
        let r = self.inner.start();
        if let Err(e) = &r {
            self.counter.runner.failed(&e.to_string());
        }
        r
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let state = &self.counter.runner;
        state.beat();
        let before = self.inner.committed_events();
        let r = self.inner.process();
        match &r {
            Err(e) => state.failed(&e.to_string()),
            // Recovered: something committed, or nothing is left to deliver.
            Ok(Status::Backoff) => state.recovered(),
            Ok(Status::Ready) if self.inner.committed_events() > before => state.recovered(),
            Ok(Status::Ready) => {}
        }
        r
    }
    fn drained(&self) -> bool {
        self.inner.drained()
    }
    fn stop(&mut self, deadline: Instant) {
        self.inner.stop(deadline)
    }
    fn committed_events(&self) -> u64 {
        self.inner.committed_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_silent_for_too_long_fails_the_watchdog_check() {
        let registry = Registry::default();
        let k = registry.sink("k1");
        k.runner.set_running(true);
        assert!(responsive(&registry, Duration::from_secs(60)).is_ok());
        crate::testing::wait_for("a millisecond passes", || {
            k.runner.since_beat() > Some(Duration::from_millis(1))
        });
        let err = responsive(&registry, Duration::from_millis(1)).expect_err("silent");
        assert!(err.contains("sink k1"), "{err}");
        // A stopped sink is not a hung one.
        k.runner.set_running(false);
        assert!(responsive(&registry, Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn a_runner_that_ended_unasked_fails_the_watchdog_check() {
        fn judged(registry: &Registry, runner: &RunnerState, kind: &str) {
            runner.set_running(true);
            assert!(responsive(registry, Duration::from_secs(60)).is_ok());
            runner.set_ended();
            let err = responsive(registry, Duration::from_secs(60)).expect_err("ended");
            assert!(
                err.contains(&format!("{kind} r1 ended on its own")),
                "{err}"
            );
            // Started again (a reload restarts it): alive again.
            runner.set_running(true);
            assert!(responsive(registry, Duration::from_secs(60)).is_ok());
        }
        let registry = Registry::default();
        judged(&registry, &registry.source("r1").runner, "source");
        let registry = Registry::default();
        judged(&registry, &registry.sink("r1").runner, "sink");
    }

    #[test]
    fn a_working_source_must_go_round_and_a_waiting_one_may_be_silent() {
        let registry = Registry::default();
        let r = registry.source("r1");
        r.runner.set_running(true);
        r.runner.working();
        crate::testing::wait_for("a millisecond passes", || {
            r.runner.since_beat() > Some(Duration::from_millis(1))
        });
        let err = responsive(&registry, Duration::from_millis(1)).expect_err("stuck");
        assert!(err.contains("source r1 has not completed a round"), "{err}");
        // Waiting for input is healthy for as long as the input takes.
        r.runner.waiting();
        assert!(responsive(&registry, Duration::from_millis(1)).is_ok());
        // Woken: judged again, from the wake-up on.
        r.runner.working();
        assert!(responsive(&registry, Duration::from_secs(60)).is_ok());
    }

    fn agent_of(text: &str) -> Agent {
        let loaded =
            crate::graph::load_str(text, std::path::Path::new("test.conf"), "a1").expect("parses");
        Agent::start(&loaded.config).expect("starts")
    }

    /// A source that cannot bind is started again, as Flume's supervisor does
    /// (`source::supervisor`): its runner stays alive and waits, so the watchdog check passes
    /// and systemd does not restart the whole agent over it, while it is reported failing with
    /// the error. Once the port is free it runs again.
    #[test]
    fn a_source_that_cannot_bind_is_retried_and_reported_failing_not_dead() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("address").port();
        let config = format!(
            "a1.sources = r1 r2\na1.channels = c1\na1.sinks = k1\n\
             a1.sources.r1.type = seq\na1.sources.r1.channels = c1\n\
             a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n\
             a1.sources.r2.type = netcat\na1.sources.r2.bind = 127.0.0.1\n\
             a1.sources.r2.port = {port}\na1.sources.r2.channels = c1\n"
        );
        let agent = agent_of(&config);
        let r2 = agent.registry.source("r2");
        crate::testing::wait_for("r2 is reported failing", || {
            r2.runner.failing_for().is_some()
        });
        assert!(
            r2.runner
                .last_error()
                .is_some_and(|e| e.contains("cannot listen")),
            "{:?}",
            r2.runner.last_error()
        );
        assert!(!r2.runner.has_ended(), "the runner waits to start it again");
        assert_eq!(agent.check_responsive(Duration::from_secs(60)), Ok(()));
        drop(taken);
        crate::testing::wait_for("r2 listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        agent.stop(Duration::from_secs(1));
    }
}
