//! Component counters with Flume's names (`SourceCounter`, `ChannelCounter`, `SinkCounter`).
//!
//! Every component owns an `Arc` of its counter group and bumps relaxed atomics on its hot path
//! (once per batch, not per event, wherever Flume's meaning allows it). The agent keeps every group
//! in a [`Registry`] so that a metrics endpoint (Flume's `/metrics` JSON, Prometheus) can render them
//! without knowing the component types; `rflume` logs a summary at shutdown from the same registry.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A monotonically increasing counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (channel size, open files).
#[derive(Default, Debug)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Start/stop timestamps every Flume counter group carries.
#[derive(Default, Debug)]
pub struct Lifecycle {
    start_time: Gauge,
    stop_time: Gauge,
}

impl Lifecycle {
    pub fn started(&self) {
        self.start_time.set(now_ms());
        self.stop_time.set(0);
    }
    pub fn stopped(&self) {
        self.stop_time.set(now_ms());
    }
}

/// Flume's `SourceCounter` (the fields a source can meaningfully fill).
#[derive(Default, Debug)]
pub struct SourceCounter {
    pub lifecycle: Lifecycle,
    pub event_received: Counter,
    pub event_accepted: Counter,
    pub append_batch_received: Counter,
    pub append_batch_accepted: Counter,
    pub event_read_fail: Counter,
    pub channel_write_fail: Counter,
    pub generic_processing_fail: Counter,
    pub open_connections: Gauge,
    /// TAILDIR: files currently open.
    pub open_files: Gauge,
    /// TAILDIR: position file writes that failed.
    pub position_write_fail: Counter,
    /// TAILDIR: 1 while the last position write failed (the positions on disk are stale).
    pub positions_unsaved: Gauge,
    /// exec, TAILDIR: lines longer than `rflume.maxLineLength` shipped in several events.
    pub long_line_split: Counter,
    /// exec, TAILDIR: lines longer than `rflume.maxLineLength` cut to that length.
    pub long_line_truncated: Counter,
}

/// Flume's `ChannelCounter`.
#[derive(Default, Debug)]
pub struct ChannelCounter {
    pub lifecycle: Lifecycle,
    pub channel_size: Gauge,
    pub channel_capacity: Gauge,
    pub event_put_attempt: Counter,
    pub event_put_success: Counter,
    pub event_take_attempt: Counter,
    pub event_take_success: Counter,
}

/// Flume's `SinkCounter` plus the Kafka sink's `KafkaEventSendTimer` and `RollbackCount`.
#[derive(Default, Debug)]
pub struct SinkCounter {
    pub lifecycle: Lifecycle,
    pub connection_created: Counter,
    pub connection_closed: Counter,
    pub connection_failed: Counter,
    pub batch_empty: Counter,
    pub batch_underflow: Counter,
    pub batch_complete: Counter,
    pub event_drain_attempt: Counter,
    pub event_drain_success: Counter,
    pub event_write_fail: Counter,
    pub channel_read_fail: Counter,
    pub rollback: Counter,
    pub kafka_event_send_timer_ms: Counter,
    /// Kafka: events Kafka refused for good, written to the dead-letter file and committed.
    pub event_dead_lettered: Counter,
    /// Kafka: events Kafka refused for good, dropped (`rflume.onRejected = drop`) and committed.
    pub event_rejected_dropped: Counter,
}

/// One registered counter group.
#[derive(Clone, Debug)]
pub enum Group {
    Source(String, Arc<SourceCounter>),
    Channel(String, Arc<ChannelCounter>),
    Sink(String, Arc<SinkCounter>),
}

/// Every counter group of the running agent.
#[derive(Default, Debug)]
pub struct Registry {
    groups: Mutex<Vec<Group>>,
}

impl Registry {
    pub fn source(&self, name: &str) -> Arc<SourceCounter> {
        let c = Arc::new(SourceCounter::default());
        self.push(Group::Source(name.to_string(), c.clone()));
        c
    }
    pub fn channel(&self, name: &str) -> Arc<ChannelCounter> {
        let c = Arc::new(ChannelCounter::default());
        self.push(Group::Channel(name.to_string(), c.clone()));
        c
    }
    pub fn sink(&self, name: &str) -> Arc<SinkCounter> {
        let c = Arc::new(SinkCounter::default());
        self.push(Group::Sink(name.to_string(), c.clone()));
        c
    }
    fn push(&self, g: Group) {
        // A poisoned lock only means another thread panicked while pushing; the Vec is still valid.
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(g);
    }
    pub fn groups(&self) -> Vec<Group> {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hands_out_shared_groups() {
        let r = Registry::default();
        let s = r.source("r1");
        s.event_received.add(3);
        match &r.groups()[0] {
            Group::Source(name, c) => {
                assert_eq!(name, "r1");
                assert_eq!(c.event_received.get(), 3);
            }
            other => panic!("unexpected group {other:?}"),
        }
    }
}
