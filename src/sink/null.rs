//! Null sink — replaces Flume's `null` (`org.apache.flume.sink.NullSink`).
//!
//! Takes events in batches of `batchSize` and discards them, logging a count every
//! `logEveryNEvents`. Used to measure the framework without a downstream.

use std::sync::Arc;
use std::time::Instant;

use tracing::info;

use super::{Sink, SinkError, Status, EMPTY_CHANNEL_WAIT};
use crate::channel::{Channel, TakeTransaction};
use crate::config::reader::PropReader;
use crate::metrics::SinkCounter;

/// Flume's `batchSize` default for the null sink.
pub const DEFAULT_BATCH_SIZE: u64 = 100;
/// Flume's `logEveryNEvents` default.
pub const DEFAULT_LOG_EVERY_N_EVENTS: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NullSettings {
    pub batch_size: usize,
    pub log_every_n_events: u64,
}

impl NullSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let batch_size = r.positive("batchSize", DEFAULT_BATCH_SIZE) as usize;
        let log_every_n_events = r.positive("logEveryNEvents", DEFAULT_LOG_EVERY_N_EVENTS);
        (!r.failed()).then_some(NullSettings {
            batch_size,
            log_every_n_events,
        })
    }

    pub fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("batchSize".into(), self.batch_size.to_string()),
            (
                "logEveryNEvents".into(),
                self.log_every_n_events.to_string(),
            ),
        ]
    }
}

pub struct NullSink {
    name: String,
    settings: NullSettings,
    channel: Arc<dyn Channel>,
    counter: Arc<SinkCounter>,
    consumed: u64,
}

impl NullSink {
    pub fn new(
        name: &str,
        settings: NullSettings,
        channel: Arc<dyn Channel>,
        counter: Arc<SinkCounter>,
    ) -> Self {
        NullSink {
            name: name.to_string(),
            settings,
            channel,
            counter,
            consumed: 0,
        }
    }
}

impl Sink for NullSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn channel(&self) -> &Arc<dyn Channel> {
        &self.channel
    }
    fn start(&mut self) -> Result<(), SinkError> {
        self.counter.lifecycle.started();
        Ok(())
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let txn =
            TakeTransaction::begin(&self.channel, self.settings.batch_size, EMPTY_CHANNEL_WAIT);
        let n = txn.len() as u64;
        if n == 0 {
            self.counter.batch_empty.inc();
            return Ok(Status::Backoff);
        }
        if txn.len() < self.settings.batch_size {
            self.counter.batch_underflow.inc();
        } else {
            self.counter.batch_complete.inc();
        }
        txn.commit();
        self.counter.event_drain_success.add(n);
        let every = self.settings.log_every_n_events;
        if (self.consumed + n) / every > self.consumed / every {
            info!(sink = %self.name, "Null sink {} successful processed {} events.", self.name, self.consumed + n);
        }
        self.consumed += n;
        Ok(Status::Ready)
    }
    fn stop(&mut self, _deadline: Instant) {
        self.counter.lifecycle.stopped();
    }
    fn counter(&self) -> &Arc<SinkCounter> {
        &self.counter
    }
}
