//! Flume's load-balancing sink processor (`processor.type = load_balance`,
//! `org.apache.flume.sink.LoadBalancingSinkProcessor`): each round goes to the next sink in
//! `processor.selector` order (`round_robin`, the default, or `random`); a sink that fails hands
//! the round to the next one, and only when every sink failed does the round fail. With
//! `processor.backoff = true` a failed sink is left out for min(`processor.selector.maxTimeOut`,
//! 2^n s) (Flume's `OrderSelector`: n grows with failures less than an hour apart, up to 16).
//!
//! As Flume: the sinks are taken in the order of Java's `HashSet` of their names, and a group of
//! one sink is refused (Flume removes it, and the sink does not run).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::super::runner::SinkProcessor;
use super::super::{SinkError, Status};
use super::{
    all_drained, all_failed, committed, start_members, stop_all, Member, ProcessorProblem,
};
use crate::config::reader::PropReader;

/// Flume's `OrderSelector.MAX_TIMEOUT` (ms).
pub const DEFAULT_MAX_TIMEOUT: i64 = 30_000;
/// Flume's `EXP_BACKOFF_COUNTER_LIMIT`.
const BACKOFF_COUNTER_LIMIT: u32 = 16;
/// Flume's `CONSIDER_SEQUENTIAL_RANGE`: failures closer than this (after the last back-off)
/// count as one outage.
const SEQUENTIAL_RANGE: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    RoundRobin,
    Random,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalanceSettings {
    pub selector: Order,
    pub backoff: bool,
    /// `processor.selector.maxTimeOut` as given (0 means Flume's default).
    pub max_timeout: i64,
}

impl LoadBalanceSettings {
    pub fn parse(r: &mut PropReader, sinks: &[String]) -> Result<Self, ProcessorProblem> {
        let selector = match r.raw("processor.selector") {
            None => Order::RoundRobin,
            Some((v, _)) if v.eq_ignore_ascii_case("round_robin") => Order::RoundRobin,
            Some((v, _)) if v.eq_ignore_ascii_case("random") => Order::Random,
            Some((v, line)) => {
                r.unsupported(
                    "processor.selector",
                    Some(line),
                    format!("sink selector '{v}' is a custom class rflume cannot load"),
                    Some("supported: round_robin, random".to_string()),
                );
                return Err(ProcessorProblem::Unsupported);
            }
        };
        let backoff = r.bool("processor.backoff", false);
        let max_timeout = match r.raw("processor.selector.maxTimeOut") {
            None => 0,
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    r.error(
                        "processor.selector.maxTimeOut",
                        Some(line),
                        format!("'{v}' is not a number (Flume's Long.parseLong throws); Flume removes the group, so its sinks {} do not run either", sinks.join(", ")),
                        Some(format!("a number of milliseconds; Flume's default is {DEFAULT_MAX_TIMEOUT}")),
                    );
                    return Err(ProcessorProblem::ConfigError);
                }
            },
        };
        if sinks.len() < 2 {
            let line = r.line("processor.type");
            r.error(
                "processor.type",
                line,
                format!("The LoadBalancingSinkProcessor cannot be used for a single sink ({}); Flume removes the group, so the sink does not run either", sinks.join(", ")),
                Some("configure more than one sink, or use processor.type = default".to_string()),
            );
            return Err(ProcessorProblem::ConfigError);
        }
        Ok(LoadBalanceSettings {
            selector,
            backoff,
            max_timeout,
        })
    }

    /// The back-off ceiling in ms: Flume keeps 30000 when maxTimeOut is 0.
    fn effective_max_timeout(&self) -> i64 {
        if self.max_timeout == 0 {
            DEFAULT_MAX_TIMEOUT
        } else {
            self.max_timeout
        }
    }

    pub fn describe(&self) -> Vec<(String, String)> {
        vec![
            (
                "processor.selector".into(),
                match self.selector {
                    Order::RoundRobin => "round_robin",
                    Order::Random => "random",
                }
                .into(),
            ),
            ("processor.backoff".into(), self.backoff.to_string()),
            (
                "processor.selector.maxTimeOut".into(),
                self.effective_max_timeout().to_string(),
            ),
        ]
    }
}

/// Flume's `OrderSelector.FailureState`.
#[derive(Clone, Copy, Default)]
struct FailureState {
    last_fail: Option<Instant>,
    restore: Option<Instant>,
    sequential_fails: u32,
}

pub struct LoadBalanceProcessor {
    group: String,
    members: Vec<Member>,
    order: Order,
    backoff: bool,
    max_timeout: i64,
    states: Vec<FailureState>,
    next_head: usize,
    random: u64,
}

impl LoadBalanceProcessor {
    pub fn new(group: &str, s: &LoadBalanceSettings, members: Vec<Member>) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        LoadBalanceProcessor {
            group: group.to_string(),
            states: vec![FailureState::default(); members.len()],
            members,
            order: s.selector,
            backoff: s.backoff,
            max_timeout: s.effective_max_timeout(),
            next_head: 0,
            random: seed | 1,
        }
    }

    fn backoff_ms(&self, sequential: u32) -> i64 {
        1000i64
            .saturating_mul(1i64 << sequential.min(40))
            .min(self.max_timeout)
    }

    /// Flume's `OrderSelector.informFailure`.
    fn inform_failure(&mut self, member: usize) {
        if !self.backoff {
            return;
        }
        let now = Instant::now();
        let state = self.states[member];
        let last_backoff =
            Duration::from_millis(self.backoff_ms(state.sequential_fails).max(0) as u64);
        let sequential = match state.last_fail {
            Some(last) if now.duration_since(last) < last_backoff + SEQUENTIAL_RANGE => {
                (state.sequential_fails + 1).min(BACKOFF_COUNTER_LIMIT)
            }
            _ => 1,
        };
        let wait = self.backoff_ms(sequential).max(0) as u64;
        self.states[member] = FailureState {
            last_fail: Some(now),
            restore: now.checked_add(Duration::from_millis(wait)),
            sequential_fails: sequential,
        };
    }

    /// Flume's `getIndexList`: the members not backed off.
    fn active(&self, now: Instant) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| !self.backoff || self.states[i].restore.is_none_or(|r| r < now))
            .collect()
    }

    fn next_random(&mut self, bound: usize) -> usize {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        (self.random % bound as u64) as usize
    }

    /// This round's order (Flume's `RoundRobinOrderSelector` / `RandomOrderSelector`).
    fn order(&mut self) -> Vec<usize> {
        let mut active = self.active(Instant::now());
        let size = active.len();
        match self.order {
            Order::RoundRobin => {
                if self.next_head >= size {
                    self.next_head = 0;
                }
                let begin = self.next_head;
                self.next_head += 1;
                if self.next_head == size {
                    self.next_head = 0;
                }
                (0..size).map(|i| active[(begin + i) % size]).collect()
            }
            Order::Random => {
                let mut out = vec![0; size];
                while active.len() > 1 {
                    let pick = self.next_random(active.len());
                    // Java fills the last free slot with the pick (index taken before removal).
                    let slot = active.len() - 1;
                    out[slot] = active.remove(pick);
                }
                if let Some(&only) = active.first() {
                    out[0] = only;
                }
                out
            }
        }
    }
}

impl SinkProcessor for LoadBalanceProcessor {
    fn name(&self) -> &str {
        &self.group
    }

    fn start(&mut self) -> Result<(), SinkError> {
        start_members(&mut self.members)
    }

    fn process(&mut self) -> Result<Status, SinkError> {
        let mut result = None;
        let mut last = None;
        let mut chosen = None;
        for member in self.order() {
            match self.members[member].process() {
                Ok(status) => {
                    result = Some(status);
                    chosen = Some(member);
                    break;
                }
                Err(e) => {
                    warn!(group = %self.group, "Sink {} failed to consume event. Attempting next sink if available: {e}", self.members[member].name());
                    self.inform_failure(member);
                    last = Some(e);
                }
            }
        }
        for (member, e) in super::flush_others(&mut self.members, chosen) {
            warn!(group = %self.group, "Sink {} failed: {e}", self.members[member].name());
            self.inform_failure(member);
        }
        result.ok_or_else(|| all_failed(&self.group, last))
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
