//! File channel — replaces Flume's `file` (`org.apache.flume.channel.file.FileChannel`).
//!
//! A durable channel: a put commits only once its events are on disk (fsync), and they are
//! delivered after any crash, `kill -9` or power loss; a take commits only after the sink's
//! downstream acknowledged it, and is not delivered again; a rolled-back take is delivered again,
//! in order. Flume's properties and defaults are read as Flume reads them (`settings.rs`); the
//! files are rflume's own, because what Flume writes (`log-N`, `checkpoint`, …) is not what makes
//! a channel fast. A directory holding a Flume file channel is refused, never read or overwritten.
//!
//! How it is fast: every put batch is one record (length, CRCs, events) appended to a segment file;
//! concurrent commits share one write and one fsync (group commit); a take commit appends a small
//! take record and never waits for the disk; events are held in memory up to a budget and read
//! back from disk only when the backlog is larger, so the memory used does not grow with the
//! backlog; a restart reads the log from the last checkpoint on without decoding events; whole
//! segments are deleted as soon as everything in them was delivered.
//!
//! Where it differs from Flume on purpose:
//! * below `minimumRequiredSpace` only puts are refused — takes go on (Flume refuses both, so a
//!   full disk can never drain by itself), and puts resume by themselves once space returns;
//! * a channel that holds more events than a lowered `capacity` starts anyway (Flume's does not
//!   start), nothing is dropped, puts wait until it is below the capacity;
//! * segments roll at `maxFileSize` or 128 MiB, whichever is smaller, so space comes back sooner;
//! * `dataDirs` are used in turn, one segment after the other (Flume writes to all at once);
//! * no encryption (`encryption.*` is reported as unsupported).
//!
//! Layout, one question a file:
//! * `settings.rs` — which properties it reads, with Flume's defaults and fallbacks;
//! * `format.rs` — the bytes on disk: segment header, records, CRCs;
//! * `dirs.rs` — the directories: private modes, the lock, a Flume channel's files, free space;
//! * `wal/` — writing: appending records, group commit, rolling and deleting segments,
//!   failures (its `mod.rs` lists its files);
//! * `reader.rs` — reading a segment's records back;
//! * `checkpoint.rs` — where a restart starts reading;
//! * `replay.rs` — what the channel holds after a restart, and torn tails;
//! * `queue.rs` — the order of waiting events, in memory and on disk, and takes in flight;
//! * `channel.rs` — the channel's state, opening and closing it, and its `Channel` calls;
//! * `put.rs` — the put transaction: room, free space, one record, group commit;
//! * `take.rs` — the take transaction: from memory or read back from disk, commit, rollback;
//! * `keeper.rs` — the keeper thread: checkpoints, deletion of delivered segments, syncs.

mod channel;
pub mod checkpoint;
pub mod dirs;
pub mod format;
mod keeper;
mod put;
mod queue;
mod reader;
mod replay;
pub mod settings;
mod take;
mod wal;

#[cfg(test)]
mod model_tests;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use super::{Channel, ChannelSpec, OpenError};
use crate::metrics::ChannelCounter;

pub use channel::{FileChannel, Tuning};
pub use settings::FileSettings;

/// Why a file channel cannot open.
#[derive(Debug, Error)]
pub enum FileChannelError {
    #[error(transparent)]
    Dir(#[from] dirs::DirError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Inconsistent(String),
    #[error("cannot start the channel's checkpoint thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl ChannelSpec for FileSettings {
    fn transaction_capacity(&self) -> usize {
        self.transaction_capacity
    }

    fn build(
        &self,
        name: &str,
        counter: Arc<ChannelCounter>,
    ) -> Result<Arc<dyn Channel>, OpenError> {
        let c = FileChannel::open(name, self.clone(), Tuning::default(), counter).map_err(|e| {
            OpenError::File {
                channel: name.to_string(),
                source: e,
            }
        })?;
        Ok(Arc::new(c))
    }
}
