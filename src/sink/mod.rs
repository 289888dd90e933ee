//! Sinks and the runner that drives them: Flume's `SinkRunner` → `SinkProcessor` → `Sink`.
//!
//! Each sink runner is one OS thread (see `agent.rs`). It calls [`SinkProcessor::process`] in a
//! loop; a sink's `process` takes a batch from its channel in a [`TakeTransaction`], hands it to
//! the downstream and commits only after the downstream acknowledged every event — or rolls back,
//! returning the events to the head of the channel. `Status::Backoff` means "nothing to do"; an
//! error means "delivery failed, events rolled back": the runner waits (growing up to Flume's 5 s)
//! and tries again, so a broker outage turns into a full channel and source backpressure, never
//! into loss.
//!
//! [`TakeTransaction`]: crate::channel::TakeTransaction

pub mod avro;
pub mod kafka;
pub mod logger;
pub mod null;

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::channel::Channel;
use crate::metrics::SinkCounter;

/// How long a sink waits on an empty channel before returning `Backoff`; short enough that the
/// runner notices shutdown promptly, long enough not to spin.
pub const EMPTY_CHANNEL_WAIT: Duration = Duration::from_millis(100);

/// Result of one `process` round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Work was done; call again at once.
    Ready,
    /// Nothing to do right now.
    Backoff,
}

#[derive(Debug, Error)]
pub enum SinkError {
    #[error("sink {sink}: failed to start: {message}")]
    Start { sink: String, message: String },
    /// The batch was rolled back and will be delivered again.
    #[error("sink {sink}: Failed to publish events: {message}")]
    Delivery { sink: String, message: String },
}

/// A sink bound to its channel.
pub trait Sink: Send {
    fn name(&self) -> &str;
    fn channel(&self) -> &Arc<dyn Channel>;
    fn start(&mut self) -> Result<(), SinkError>;
    /// One round: take a batch, deliver it, commit after acknowledgement or roll back.
    fn process(&mut self) -> Result<Status, SinkError>;
    /// Whether taken events still wait for an acknowledgement (pipelined sinks).
    fn has_in_flight(&self) -> bool {
        false
    }
    /// Stops the sink: waits for outstanding acknowledgements until `deadline`, committing what
    /// was acknowledged and rolling back the rest.
    fn stop(&mut self, deadline: Instant);
    fn counter(&self) -> &Arc<SinkCounter>;
}

/// Flume's `SinkProcessor`: decides which sink of a group runs. Only the default processor (one
/// sink) exists yet; failover and load balancing plug in here.
pub trait SinkProcessor: Send {
    fn name(&self) -> &str;
    fn start(&mut self) -> Result<(), SinkError>;
    fn process(&mut self) -> Result<Status, SinkError>;
    /// True when the channels it reads are empty and nothing is in flight: draining is done.
    fn drained(&self) -> bool;
    fn stop(&mut self, deadline: Instant);
    /// Events whose take transactions committed so far: "recovered" means this moved, not merely
    /// that `process` returned `Ok` (a pipelined sink returns `Ok` after enqueueing).
    fn committed_events(&self) -> u64;
}

/// Flume's `DefaultSinkProcessor`: exactly one sink.
pub struct DefaultSinkProcessor {
    sink: Box<dyn Sink>,
}

impl DefaultSinkProcessor {
    pub fn new(sink: Box<dyn Sink>) -> Self {
        DefaultSinkProcessor { sink }
    }
}

impl SinkProcessor for DefaultSinkProcessor {
    fn name(&self) -> &str {
        self.sink.name()
    }
    fn start(&mut self) -> Result<(), SinkError> {
        self.sink.start()
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        self.sink.process()
    }
    fn drained(&self) -> bool {
        !self.sink.has_in_flight() && self.sink.channel().len_including_in_flight() == 0
    }
    fn stop(&mut self, deadline: Instant) {
        self.sink.stop(deadline)
    }
    fn committed_events(&self) -> u64 {
        self.sink.counter().event_drain_success.get()
    }
}
