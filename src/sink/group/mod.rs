//! Sink groups: Flume's `sinkgroups` with their `SinkProcessor` (`processor.type`): `default`
//! (one sink), `failover` (the highest-priority healthy sink takes everything) and
//! `load_balance` (round robin or random over the sinks, optionally backing off failed ones).
//!
//! A group is driven by one runner thread, like Flume's one `SinkRunner` per group: only one of
//! its sinks works at a time. A sink's failed batch is rolled back to its channel by the sink
//! itself (nothing is lost), then the processor picks the next sink by Flume's rules.
//!
//! Sinks that keep batches in flight after `process` returned (the Kafka sink pipelines up to
//! `rflume.maxInFlightBatches`) are kept served while another sink of the group is active:
//! [`Member::flush`] settles their acknowledgements without taking new events, so switching sinks
//! never strands a batch.

pub mod failover;
pub mod load_balance;

use std::time::Instant;

use super::runner::{DefaultSinkProcessor, SinkProcessor};
use super::{Sink, SinkError, Status};
use crate::config::reader::PropReader;
use failover::FailoverSettings;
use load_balance::LoadBalanceSettings;

const DEFAULT_CLASS: &str = "org.apache.flume.sink.DefaultSinkProcessor";
const FAILOVER_CLASS: &str = "org.apache.flume.sink.FailoverSinkProcessor";
const LOAD_BALANCE_CLASS: &str = "org.apache.flume.sink.LoadBalancingSinkProcessor";

/// A group's `processor.*` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessorSettings {
    Default,
    Failover(FailoverSettings),
    LoadBalance(LoadBalanceSettings),
}

/// Why a group's processor cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessorProblem {
    /// Flume removes the group, and its sinks do not run either (they were taken for the group
    /// before its processor failed).
    ConfigError,
    /// Flume would run it (a custom class); rflume cannot.
    Unsupported,
}

impl ProcessorSettings {
    /// Reads `processor.*` of a group whose sinks are `sinks`, in Flume's order (the order of
    /// Java's `HashSet` of their names, which decides the default failover priorities).
    pub fn parse(r: &mut PropReader, sinks: &[String]) -> Result<Self, ProcessorProblem> {
        let Some((kind, line)) = r.raw("processor.type") else {
            r.error(
                "processor.type",
                None,
                format!("processor.type is missing: Flume cannot create the group's processor (\"Unable to load sink processor type: null\") and removes the group, so its sinks {} do not run either", sinks.join(", ")),
                Some("add processor.type = default, failover or load_balance".to_string()),
            );
            return Err(ProcessorProblem::ConfigError);
        };
        let is = |alias: &str, class: &str| {
            kind.eq_ignore_ascii_case(alias) || kind.eq_ignore_ascii_case(class)
        };
        if is("default", DEFAULT_CLASS) {
            if sinks.len() != 1 {
                r.error(
                    "processor.type",
                    Some(line),
                    format!("the default processor can only handle one sink (Flume: \"DefaultSinkPolicy can only handle one sink\"); Flume removes the group, so its sinks {} do not run either", sinks.join(", ")),
                    Some("use processor.type = failover or load_balance for several sinks".to_string()),
                );
                return Err(ProcessorProblem::ConfigError);
            }
            return Ok(ProcessorSettings::Default);
        }
        if is("failover", FAILOVER_CLASS) {
            return FailoverSettings::parse(r, sinks).map(ProcessorSettings::Failover);
        }
        if is("load_balance", LOAD_BALANCE_CLASS) {
            return LoadBalanceSettings::parse(r, sinks).map(ProcessorSettings::LoadBalance);
        }
        r.unsupported(
            "processor.type",
            Some(line),
            format!("sink processor '{kind}' is a custom class rflume cannot load"),
            Some("supported: default, failover, load_balance".to_string()),
        );
        Err(ProcessorProblem::Unsupported)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ProcessorSettings::Default => "default",
            ProcessorSettings::Failover(_) => "failover",
            ProcessorSettings::LoadBalance(_) => "load_balance",
        }
    }

    /// The sinks the processor runs, in its order (a failover sink whose priority duplicates
    /// another's is not among them, as in Flume).
    pub fn sinks<'a>(&'a self, all: &'a [String]) -> Vec<&'a str> {
        match self {
            ProcessorSettings::Failover(f) => f.sinks.iter().map(|(s, _)| s.as_str()).collect(),
            _ => all.iter().map(String::as_str).collect(),
        }
    }

    /// What `rflume check` prints, by Flume's key names.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out = vec![("processor.type".to_string(), self.kind().to_string())];
        match self {
            ProcessorSettings::Default => {}
            ProcessorSettings::Failover(f) => out.extend(f.describe()),
            ProcessorSettings::LoadBalance(l) => out.extend(l.describe()),
        }
        out
    }

    /// The running processor of group `group` over `sinks` (in the order [`Self::sinks`] gave).
    pub fn build(&self, group: &str, sinks: Vec<Box<dyn Sink>>) -> Option<Box<dyn SinkProcessor>> {
        let members: Vec<Member> = sinks.into_iter().map(Member::new).collect();
        match self {
            ProcessorSettings::Default => {
                let sink = members.into_iter().next()?.sink;
                Some(Box::new(DefaultSinkProcessor::new(sink)))
            }
            ProcessorSettings::Failover(f) => Some(Box::new(failover::FailoverProcessor::new(
                group, f, members,
            ))),
            ProcessorSettings::LoadBalance(l) => Some(Box::new(
                load_balance::LoadBalanceProcessor::new(group, l, members),
            )),
        }
    }
}

/// A sink of a group, started when first used (a sink that cannot start counts as failing, and
/// the others still run).
pub struct Member {
    sink: Box<dyn Sink>,
    started: bool,
}

impl Member {
    pub fn new(sink: Box<dyn Sink>) -> Self {
        Member {
            sink,
            started: false,
        }
    }

    pub fn name(&self) -> &str {
        self.sink.name()
    }

    fn ensure_started(&mut self) -> Result<(), SinkError> {
        if !self.started {
            self.sink.start()?;
            self.sink.core().counter.lifecycle.started();
            self.started = true;
        }
        Ok(())
    }

    /// One round of the sink.
    pub fn process(&mut self) -> Result<Status, SinkError> {
        self.ensure_started()?;
        self.sink.process()
    }

    /// Settles batches in flight without taking new events (see the module doc).
    pub fn flush(&mut self) -> Result<(), SinkError> {
        if !self.started || !self.sink.has_in_flight() {
            return Ok(());
        }
        self.sink.flush()
    }

    pub fn has_in_flight(&self) -> bool {
        self.started && self.sink.has_in_flight()
    }

    pub fn drained(&self) -> bool {
        !self.has_in_flight() && self.sink.core().channel.len_including_in_flight() == 0
    }

    pub fn committed_events(&self) -> u64 {
        self.sink.core().counter.event_drain_success.get()
    }

    pub fn stop(&mut self, deadline: Instant) {
        if self.started {
            self.sink.stop(deadline);
            self.sink.core().counter.lifecycle.stopped();
            self.started = false;
        }
    }
}

/// Whether every member is drained (nothing in flight, its channel empty).
fn all_drained(members: &[Member]) -> bool {
    members.iter().all(Member::drained)
}

fn stop_all(members: &mut [Member], deadline: Instant) {
    for m in members {
        m.stop(deadline);
    }
}

fn committed(members: &[Member]) -> u64 {
    members.iter().map(Member::committed_events).sum()
}

/// Starts the group: every sink that can start (the rest are retried when they are used).
/// Fails only when none can, so that the runner retries with its back-off.
fn start_members(members: &mut [Member]) -> Result<(), SinkError> {
    let mut first_error = None;
    let mut any = false;
    for m in members.iter_mut() {
        match m.ensure_started() {
            Ok(()) => any = true,
            Err(e) => {
                tracing::error!(
                    sink = m.name(),
                    "{e}; the group's other sinks run meanwhile"
                );
                first_error.get_or_insert(e);
            }
        }
    }
    match (any, first_error) {
        (false, Some(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Flushes every member but `active` that still has batches in flight; returns the indexes of
/// those whose flush found a failed batch (already rolled back).
fn flush_others(members: &mut [Member], active: Option<usize>) -> Vec<(usize, SinkError)> {
    let mut failed = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        if Some(i) == active || !m.has_in_flight() {
            continue;
        }
        if let Err(e) = m.flush() {
            failed.push((i, e));
        }
    }
    failed
}

/// The error a processor returns when no sink could take the round.
fn all_failed(group: &str, last: Option<SinkError>) -> SinkError {
    SinkError::Delivery {
        sink: group.to_string(),
        failure: super::Failure::Retriable,
        message: format!(
            "All sinks failed to process, nothing left to failover to{}",
            last.map(|e| format!(" (last: {e})")).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests;
