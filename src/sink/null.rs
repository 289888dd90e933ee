//! Null sink — replaces Flume's `null` (`org.apache.flume.sink.NullSink`).
//!
//! Takes events in batches of `batchSize` and discards them, logging a count every
//! `logEveryNEvents`. Used to measure the framework without a downstream.

use tracing::info;

use super::{Sink, SinkCore, SinkError, SinkSpec, Status, EMPTY_CHANNEL_WAIT};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;

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
        let batch_size = r.positive_int("batchSize", DEFAULT_BATCH_SIZE) as usize;
        let log_every_n_events = r.positive_int("logEveryNEvents", DEFAULT_LOG_EVERY_N_EVENTS);
        (!r.failed()).then_some(NullSettings {
            batch_size,
            log_every_n_events,
        })
    }
}

impl Describe for NullSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("batchSize".into(), self.batch_size.to_string()),
            (
                "logEveryNEvents".into(),
                self.log_every_n_events.to_string(),
            ),
        ]
    }
}

impl SinkSpec for NullSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, core: SinkCore) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(NullSink {
            core,
            settings: self.clone(),
            consumed: 0,
        }))
    }
}

pub struct NullSink {
    core: SinkCore,
    settings: NullSettings,
    consumed: u64,
}

impl Sink for NullSink {
    fn core(&self) -> &SinkCore {
        &self.core
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let Some(txn) = self.core.take(self.settings.batch_size, EMPTY_CHANNEL_WAIT) else {
            return self.core.empty();
        };
        let n = txn.len() as u64;
        self.core.delivered(txn);
        let every = self.settings.log_every_n_events;
        if (self.consumed + n) / every > self.consumed / every {
            let name = &self.core.name;
            info!(sink = %name, "Null sink {name} successful processed {} events.", self.consumed + n);
        }
        self.consumed += n;
        Ok(Status::Ready)
    }
}
