//! Flume's failover sink processor (`processor.type = failover`,
//! `org.apache.flume.sink.FailoverSinkProcessor`): the live sink with the highest
//! `processor.priority.<sink>` takes every batch; a sink that fails is parked for
//! min(`processor.maxpenalty`, 2^failures s) (30 s at most by default) and then tried again, and
//! takes over again when it works.
//!
//! Priorities as Flume assigns them: a sink without a valid priority gets -1, -2, … in the order
//! of Java's `HashMap` over the sink names; a sink whose priority duplicates another's is not added
//! and never runs (both reported by `rflume check`).
//!
//! Where rflume differs on purpose: a parked sink that returns and works "for one round" is on
//! probation until a batch of it is actually committed; if it fails again before that, its
//! penalty keeps growing (Flume starts over at 2 s, because its synchronous sinks fail within the
//! round — rflume's Kafka sink pipelines and reports a dead broker only when its records time
//! out). Flume's penalty arithmetic overflows after 22 failures in a row; rflume's stays capped.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::super::runner::SinkProcessor;
use super::super::{SinkError, Status};
use super::{
    all_drained, all_failed, committed, flush_others, start_members, stop_all, Member,
    ProcessorProblem,
};
use crate::config::reader::PropReader;

/// Flume's `DEFAULT_MAX_PENALTY` (ms).
pub const DEFAULT_MAX_PENALTY: i32 = 30_000;
/// Flume's `FAILURE_PENALTY` (ms): the first failure parks a sink for 2 × this.
const FAILURE_PENALTY_MS: i64 = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverSettings {
    /// The sinks the processor runs with their priorities, in the order Flume added them.
    pub sinks: Vec<(String, i32)>,
    pub max_penalty: i32,
}

impl FailoverSettings {
    pub fn parse(r: &mut PropReader, sinks: &[String]) -> Result<Self, ProcessorProblem> {
        let max_penalty = match r.raw("processor.maxpenalty") {
            None => DEFAULT_MAX_PENALTY,
            Some((v, line)) => match v.parse::<i32>() {
                Ok(n) => n,
                Err(_) => {
                    r.warn(
                        "processor.maxpenalty",
                        Some(line),
                        format!("{v} is not a valid value for maxpenalty; Flume uses {DEFAULT_MAX_PENALTY}, and so does rflume"),
                        Some("write a number of milliseconds".to_string()),
                    );
                    DEFAULT_MAX_PENALTY
                }
            },
        };
        let mut next_priority: i32 = 0;
        let mut live: Vec<(String, i32)> = Vec::new();
        let mut defaulted: Vec<String> = Vec::new();
        for sink in sinks {
            let key = format!("processor.priority.{sink}");
            let written = r.raw(&key);
            let priority = match written.map(|(v, l)| (v.parse::<i32>(), v, l)) {
                Some((Ok(p), _, _)) => p,
                other => {
                    if let Some((_, v, line)) = other {
                        r.warn(
                            &key,
                            Some(line),
                            format!("'{v}' is not an integer: Flume gives {sink} the next default priority, and so does rflume"),
                            None,
                        );
                    }
                    next_priority = next_priority.saturating_sub(1);
                    defaulted.push(sink.clone());
                    next_priority
                }
            };
            if let Some((other, _)) = live.iter().find(|(_, p)| *p == priority) {
                let line = r.line(&key);
                r.dropped_part(
                    &key,
                    line,
                    format!("priority {priority} of sink {sink} duplicates that of sink {other}: Flume does not add {sink} to the failover group, and it never runs"),
                    Some("give every sink of the group its own priority".to_string()),
                );
                continue;
            }
            live.push((sink.clone(), priority));
        }
        if sinks.len() > 1 && !defaulted.is_empty() {
            let line = r.line("processor.type");
            r.warn(
                "processor.priority",
                line,
                format!(
                    "no priority for {}: Flume numbers them -1, -2, … in the order of a Java HashMap of the sink names, which makes the first one of: {} the preferred sink among them",
                    defaulted.join(", "),
                    defaulted.join(", "),
                ),
                Some("set processor.priority.<sink> for every sink to choose the order".to_string()),
            );
        }
        Ok(FailoverSettings {
            sinks: live,
            max_penalty,
        })
    }

    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .sinks
            .iter()
            .map(|(s, p)| (format!("processor.priority.{s}"), p.to_string()))
            .collect();
        out.push(("processor.maxpenalty".into(), self.max_penalty.to_string()));
        out
    }
}

/// A sink on the fail list.
struct Failed {
    member: usize,
    refresh: Instant,
    sequential_failures: u32,
}

/// A sink back from the fail list that has not committed anything yet.
struct Probation {
    member: usize,
    sequential_failures: u32,
    committed_when_back: u64,
}

pub struct FailoverProcessor {
    group: String,
    members: Vec<Member>,
    priorities: Vec<i32>,
    /// Members not on the fail list.
    live: Vec<usize>,
    failed: Vec<Failed>,
    probation: Vec<Probation>,
    active: Option<usize>,
    max_penalty: i32,
}

impl FailoverProcessor {
    pub fn new(group: &str, s: &FailoverSettings, members: Vec<Member>) -> Self {
        let priorities: Vec<i32> = s.sinks.iter().map(|(_, p)| *p).collect();
        let live: Vec<usize> = (0..members.len()).collect();
        let mut p = FailoverProcessor {
            group: group.to_string(),
            members,
            priorities,
            live,
            failed: Vec::new(),
            probation: Vec::new(),
            active: None,
            max_penalty: s.max_penalty,
        };
        p.active = p.best_live();
        p
    }

    fn best_live(&self) -> Option<usize> {
        self.live
            .iter()
            .copied()
            .max_by_key(|&i| self.priorities.get(i).copied().unwrap_or(i32::MIN))
    }

    /// Flume's `adjustRefresh`: now + min(maxpenalty, 2^failures × 1 s).
    fn refresh(&self, now: Instant, failures: u32) -> Instant {
        let penalty = FAILURE_PENALTY_MS
            .saturating_mul(1i64 << failures.min(40))
            .min(self.max_penalty as i64);
        if penalty <= 0 {
            return now;
        }
        now.checked_add(Duration::from_millis(penalty as u64))
            .unwrap_or(now)
    }

    /// Moves a live member to the fail list (Flume's `moveActiveToDeadAndGetNext`).
    fn fail(&mut self, member: usize, e: &SinkError) {
        let sequential_failures = match self.probation.iter().position(|p| p.member == member) {
            Some(i) => self.probation.swap_remove(i).sequential_failures + 1,
            None => 1,
        };
        self.live.retain(|&m| m != member);
        let refresh = self.refresh(Instant::now(), sequential_failures);
        warn!(group = %self.group, "Sink {} failed and has been sent to failover list (failure {sequential_failures} in a row, retried in {:.1}s): {e}", self.members[member].name(), refresh.saturating_duration_since(Instant::now()).as_secs_f64());
        self.failed.push(Failed {
            member,
            refresh,
            sequential_failures,
        });
        self.active = self.best_live();
        if let Some(next) = self.active {
            info!(group = %self.group, "sink {} takes over", self.members[next].name());
        }
    }

    /// Ends the probation of members that committed something since they came back.
    fn prove(&mut self) {
        let members = &self.members;
        self.probation
            .retain(|p| members[p.member].committed_events() <= p.committed_when_back);
    }
}

impl SinkProcessor for FailoverProcessor {
    fn name(&self) -> &str {
        &self.group
    }

    fn start(&mut self) -> Result<(), SinkError> {
        start_members(&mut self.members)
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        for (member, e) in flush_others(&mut self.members, self.active) {
            if self.live.contains(&member) {
                self.fail(member, &e);
            }
        }
        self.prove();
        let now = Instant::now();
        // Retry the parked sinks whose penalty is over, earliest first.
        while let Some(pos) = self
            .failed
            .iter()
            .enumerate()
            .filter(|(_, f)| f.refresh <= now)
            .min_by_key(|(_, f)| f.refresh)
            .map(|(i, _)| i)
        {
            let mut f = self.failed.swap_remove(pos);
            let committed = self.members[f.member].committed_events();
            match self.members[f.member].process() {
                Ok(Status::Ready) => {
                    info!(group = %self.group, "Sink {} was recovered from the fail list", self.members[f.member].name());
                    self.live.push(f.member);
                    self.probation.push(Probation {
                        member: f.member,
                        sequential_failures: f.sequential_failures,
                        committed_when_back: committed,
                    });
                    self.active = self.best_live();
                    return Ok(Status::Ready);
                }
                Ok(Status::Backoff) => {
                    // Nothing to take: no reason to penalize it further.
                    self.failed.push(f);
                    return Ok(Status::Backoff);
                }
                Err(e) => {
                    f.sequential_failures = f.sequential_failures.saturating_add(1);
                    f.refresh = self.refresh(Instant::now(), f.sequential_failures);
                    warn!(group = %self.group, "Sink {} is still failing (failure {} in a row): {e}", self.members[f.member].name(), f.sequential_failures);
                    self.failed.push(f);
                }
            }
        }
        let mut last = None;
        while let Some(active) = self.active {
            match self.members[active].process() {
                Ok(status) => return Ok(status),
                Err(e) => {
                    self.fail(active, &e);
                    last = Some(e);
                }
            }
        }
        Err(all_failed(&self.group, last))
    }

    fn drained(&self) -> bool {
        all_drained(&self.members)
    }

    fn stop(&mut self, deadline: Instant) {
        stop_all(&mut self.members, deadline)
    }

    fn committed_events(&self) -> u64 {
        committed(&self.members)
    }
}
