//! Building the components of a graph and starting them in Flume's order: channels, then sinks
//! (one runner per sink group, one per remaining sink), then sources, each runner on a thread of
//! its own.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::stop::wake_takes_on_stop;
use super::watchdog::{supervised, HasRunner, Watched};
use super::{Agent, AgentError, Runner};
use crate::channel::Channel;
use crate::graph::{AgentConfig, ChannelConfig, SinkConfig, SinkGroupConfig, SourceConfig};
use crate::metrics::{Registry, SinkCounter};
use crate::shutdown::Shutdown;
use crate::sink::{runner, DefaultSinkProcessor, Sink, SinkCore, SinkProcessor};
use crate::source::processor::ChannelProcessor;

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

    pub(super) fn start_channel(&mut self, c: &ChannelConfig) -> Result<(), AgentError> {
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
    pub(super) fn start_sinks(
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

    pub(super) fn start_source(&mut self, s: &SourceConfig) -> Result<(), AgentError> {
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
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}
