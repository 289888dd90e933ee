//! Reload by graph difference: the running graph and the new one are compared component by
//! component (see the module doc in `mod.rs`); only what changed is stopped and started again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::stop::join_all;
use super::{Agent, AgentError, Runner};
use crate::channel::Channel;
use crate::graph::{AgentConfig, ChannelConfig, SinkConfig, SinkGroupConfig, SourceConfig};

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

impl Agent {
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
