//! The processors' rules, on sinks whose downstream a test switches between working and failing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::failover::{FailoverProcessor, FailoverSettings};
use super::load_balance::{LoadBalanceProcessor, LoadBalanceSettings, Order};
use super::Member;
use crate::channel::memory::{MemoryChannel, MemorySettings};
use crate::channel::Channel;
use crate::event::Event;
use crate::metrics::{ChannelCounter, SinkCounter};
use crate::sink::runner::SinkProcessor;
use crate::sink::{Failure, Sink, SinkCore, SinkError, Status};

/// Takes one event per round; delivers it (commit) while `up`, rolls it back otherwise.
struct Switchable {
    core: SinkCore,
    up: Arc<AtomicBool>,
}

impl Sink for Switchable {
    fn core(&self) -> &SinkCore {
        &self.core
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let Some(txn) = self.core.take(1, Duration::ZERO) else {
            return self.core.empty();
        };
        if self.up.load(Ordering::SeqCst) {
            self.core.delivered(txn);
            Ok(Status::Ready)
        } else {
            txn.rollback();
            Err(SinkError::Delivery {
                sink: self.core.name.clone(),
                failure: Failure::Retriable,
                message: "down".into(),
            })
        }
    }
}

struct Fixture {
    channel: Arc<dyn Channel>,
    up: Vec<Arc<AtomicBool>>,
    counters: Vec<Arc<SinkCounter>>,
}

impl Fixture {
    fn new(sinks: usize, events: usize) -> (Fixture, Vec<Member>) {
        let channel: Arc<dyn Channel> = Arc::new(MemoryChannel::new(
            "c1",
            MemorySettings {
                capacity: 10_000,
                transaction_capacity: 1_000,
                ..MemorySettings::default()
            },
            Arc::new(ChannelCounter::default()),
        ));
        let mut batch: Vec<Event> = (0..events).map(|i| Event::new(i.to_string())).collect();
        channel.put(&mut batch).expect("room");
        let mut up = Vec::new();
        let mut counters = Vec::new();
        let mut members = Vec::new();
        for i in 0..sinks {
            let flag = Arc::new(AtomicBool::new(true));
            let counter = Arc::new(SinkCounter::default());
            let core = SinkCore::new(&format!("k{}", i + 1), channel.clone(), counter.clone());
            members.push(Member::new(Box::new(Switchable {
                core,
                up: flag.clone(),
            })));
            up.push(flag);
            counters.push(counter);
        }
        (
            Fixture {
                channel,
                up,
                counters,
            },
            members,
        )
    }

    fn delivered(&self, sink: usize) -> u64 {
        self.counters[sink].event_drain_success.get()
    }
}

fn failover(members: Vec<Member>, priorities: &[i32], max_penalty: i32) -> FailoverProcessor {
    let settings = FailoverSettings {
        sinks: priorities
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("k{}", i + 1), *p))
            .collect(),
        max_penalty,
    };
    FailoverProcessor::new("g1", &settings, members)
}

#[test]
fn failover_uses_the_highest_priority_and_switches_on_failure() {
    let (f, members) = Fixture::new(2, 10);
    let mut p = failover(members, &[5, 10], 30_000);
    p.start().expect("starts");
    for _ in 0..3 {
        assert_eq!(p.process().expect("delivers"), Status::Ready);
    }
    assert_eq!(
        (f.delivered(0), f.delivered(1)),
        (0, 3),
        "k2 has the higher priority"
    );
    f.up[1].store(false, Ordering::SeqCst);
    for _ in 0..3 {
        p.process().expect("k1 takes over within the round");
    }
    assert_eq!((f.delivered(0), f.delivered(1)), (3, 3));
    assert_eq!(
        f.channel.len(),
        4,
        "the failed event went back to the channel"
    );
}

#[test]
fn a_failed_sink_is_retried_after_its_penalty_and_takes_over_again() {
    let (f, members) = Fixture::new(2, 20);
    // A 1 ms ceiling keeps the penalty short enough to wait out in a unit test.
    let mut p = failover(members, &[1, 2], 1);
    f.up[1].store(false, Ordering::SeqCst);
    p.process().expect("k1 takes over");
    assert_eq!(f.delivered(0), 1);
    f.up[1].store(true, Ordering::SeqCst);
    // Past k2's 1 ms penalty, so that k1 does not drain the channel first.
    std::thread::sleep(Duration::from_millis(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.delivered(1) == 0 {
        assert!(Instant::now() < deadline, "k2 never came back");
        p.process().expect("delivers");
    }
    let before = f.delivered(0);
    for _ in 0..3 {
        p.process().expect("delivers");
    }
    assert_eq!(f.delivered(0), before, "k2 is active again");
}

#[test]
fn all_sinks_failing_fails_the_round_and_loses_nothing() {
    let (f, members) = Fixture::new(2, 5);
    let mut p = failover(members, &[1, 2], 30_000);
    f.up[0].store(false, Ordering::SeqCst);
    f.up[1].store(false, Ordering::SeqCst);
    let e = p.process().expect_err("nothing left to failover to");
    assert!(e.to_string().contains("All sinks failed"), "{e}");
    assert_eq!(f.channel.len(), 5);
    // Both parked for 2 s: the next round fails at once without touching them.
    assert!(p.process().is_err());
    assert_eq!(f.channel.len(), 5);
}

#[test]
fn the_penalty_grows_while_a_returning_sink_keeps_failing() {
    let (f, members) = Fixture::new(1, 5);
    let mut p = failover(members, &[1], 30_000);
    f.up[0].store(false, Ordering::SeqCst);
    assert!(p.process().is_err());
    // Parked for 2 s (2^1 × 1000 ms): retried only after that.
    let first_failure = Instant::now();
    f.up[0].store(true, Ordering::SeqCst);
    let deadline = first_failure + Duration::from_secs(10);
    while f.delivered(0) == 0 {
        assert!(Instant::now() < deadline);
        let _ = p.process();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        first_failure.elapsed() >= Duration::from_millis(1900),
        "retried after {:?}, before its 2 s penalty",
        first_failure.elapsed()
    );
}

fn load_balance(members: Vec<Member>, order: Order, backoff: bool) -> LoadBalanceProcessor {
    LoadBalanceProcessor::new(
        "g1",
        &LoadBalanceSettings {
            selector: order,
            backoff,
            max_timeout: 0,
        },
        members,
    )
}

#[test]
fn round_robin_alternates_and_skips_a_failing_sink_within_the_round() {
    let (f, members) = Fixture::new(3, 30);
    let mut p = load_balance(members, Order::RoundRobin, false);
    for _ in 0..9 {
        p.process().expect("delivers");
    }
    assert_eq!((f.delivered(0), f.delivered(1), f.delivered(2)), (3, 3, 3));
    f.up[1].store(false, Ordering::SeqCst);
    for _ in 0..6 {
        p.process().expect("another sink takes the round");
    }
    assert_eq!(f.delivered(1), 3);
    assert_eq!(f.delivered(0) + f.delivered(2), 12);
    assert_eq!(f.channel.len(), 30 - 15);
}

#[test]
fn backoff_leaves_a_failed_sink_out_and_random_spreads() {
    let (f, members) = Fixture::new(2, 50);
    let mut p = load_balance(members, Order::Random, true);
    f.up[0].store(false, Ordering::SeqCst);
    for _ in 0..20 {
        p.process().expect("k2 takes it");
    }
    assert_eq!(f.delivered(1), 20);
    // With back-off, k1 was tried (and failed) once at most before being left out for 2 s.
    assert!(f.counters[0].event_drain_attempt.get() <= 1);
    f.up[0].store(true, Ordering::SeqCst);
    let (f2, members) = Fixture::new(2, 200);
    let mut q = load_balance(members, Order::Random, false);
    for _ in 0..200 {
        q.process().expect("delivers");
    }
    assert!(
        f2.delivered(0) > 50 && f2.delivered(1) > 50,
        "random spreads: {} / {}",
        f2.delivered(0),
        f2.delivered(1)
    );
}

#[test]
fn extreme_penalties_and_timeouts_do_not_panic() {
    for max_penalty in [i32::MIN, -1, 0, i32::MAX] {
        let (f, members) = Fixture::new(2, 5);
        let mut p = failover(members, &[i32::MIN, i32::MAX], max_penalty);
        f.up[0].store(false, Ordering::SeqCst);
        f.up[1].store(false, Ordering::SeqCst);
        for _ in 0..30 {
            let _ = p.process();
        }
        assert_eq!(f.channel.len(), 5, "maxpenalty {max_penalty}");
    }
    for max_timeout in [i64::MIN, -1, 1, i64::MAX] {
        let (f, members) = Fixture::new(2, 5);
        let mut p = LoadBalanceProcessor::new(
            "g1",
            &LoadBalanceSettings {
                selector: Order::RoundRobin,
                backoff: true,
                max_timeout,
            },
            members,
        );
        f.up[0].store(false, Ordering::SeqCst);
        f.up[1].store(false, Ordering::SeqCst);
        for _ in 0..30 {
            let _ = p.process();
        }
        assert_eq!(f.channel.len(), 5, "maxTimeOut {max_timeout}");
    }
}
