//! Sources and the source side of a transaction: Flume's `SourceRunner` → `Source` →
//! `ChannelProcessor` (interceptors, then the channel selector) → channel put transactions.
//!
//! Each source runs on its own OS thread (see `agent.rs`) and hands batches to its
//! [`ChannelProcessor`]. [`ChannelProcessor::put_blocking`] is the backpressure point: when a
//! required channel is full it keeps the batch and retries until the put commits or the agent
//! stops, so a source never drops what it read.

pub mod exec;
pub mod exec_guard;
pub mod framer;
pub mod netcat;
pub mod processor;
pub mod seq;
pub mod taildir;

pub use processor::{ChannelProcessor, PutOutcome};

use thiserror::Error;

use crate::shutdown::Shutdown;

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("source {source_name}: {message}")]
    Failed {
        source_name: String,
        message: String,
    },
}

/// A source: runs until `shutdown` fires, then flushes what it already read into the channel
/// (bounded by the shutdown deadline) and returns.
pub trait Source: Send {
    fn name(&self) -> &str;
    fn run(
        self: Box<Self>,
        processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError>;
}
