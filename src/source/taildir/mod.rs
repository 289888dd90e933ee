//! TAILDIR source — replaces Flume's `TAILDIR` (`org.apache.flume.source.taildir.TaildirSource`).
//!
//! Tails every file matching the file groups' patterns and survives what real logs go through:
//! * **identity by device + inode**, never by name: a file renamed to another matching name
//!   (`app.log` → `app.log.1` with `app.log.*`) is followed, not read again (Flume re-reads it
//!   from 0); a file renamed out of the pattern or deleted is read until it goes idle;
//! * **truncation** (copytruncate, `> file`) restarts the file at 0 with a warning, and a copy of
//!   a known file (the `.1` of copytruncate) starts where the original had been delivered;
//! * **inode reuse**: a new file that got a deleted file's inode fails the fingerprint check
//!   (`position.rs`) and is read from its first line;
//! * **restarts**: positions are kept in Flume's own position file (migration both ways) and
//!   advance only past lines a sink committed (`acks.rs`), so `kill -9` loses nothing even with
//!   a memory channel. What is shipped twice after a `kill -9` is bounded by the lines delivered
//!   since the last position write, which follows a delivery within 250 ms at high rates, once
//!   about 250 lines have arrived at low ones (and at least every `writePosInterval` when a
//!   position changed). With a durable (file) channel a line counts as delivered once it is on
//!   the channel's disk.
//!
//! One thread for all files: inotify (read on that thread, `watch.rs`) wakes it when a watched
//! directory changes, and it then waits about as long as the recent rate takes to fill a batch
//! (2 to 200 ms; `rate.rs`) so that lines written one by one are shipped in batches, ending the
//! wait early when a batch is already there; a periodic rescan is
//! the safety net where inotify is blind (NFS), and `maxBatchCount` keeps a busy file from
//! starving quiet ones. No per-file threads, no rescans on plain appends.
//!
//! Layout, one question a file:
//! * `mod.rs` — the source: what runs when the agent starts a TAILDIR source;
//! * `settings.rs` — which properties it reads, and their defaults;
//! * `tailer.rs` — the read loop: reading files in turn, batches into the channel, idle and
//!   deleted files, the drain at stop;
//! * `saving.rs` — when the delivered positions are written, and what is written;
//! * `names.rs` — the followed files by name, for the passes inotify woke;
//! * `watch.rs` — change notifications: when to look again, and what concerns a file group;
//! * `scan.rs` — which files the file groups match now, and what a listing changes;
//! * `lineage.rs` — copytruncate: is a new file a copy of content already read?
//! * `restore.rs` — where each file resumes at start, from the position file and the sidecar;
//! * `tailfile.rs` — one followed file: its identity, its lines;
//! * `fingerprint.rs` — a followed file's fingerprint at its delivered position;
//! * `position.rs` — Flume's position file and rflume's fingerprint sidecar, on disk;
//! * `acks.rs` — how far each file was delivered (committed by a sink).

pub mod acks;
mod fingerprint;
mod lineage;
mod names;
pub mod position;
mod rate;
mod restore;
mod saving;
mod scan;
pub mod settings;
mod tailer;
pub mod tailfile;
mod unsaved;
mod watch;

use self::tailer::Tailer;
use super::{BatchCounts, ChannelProcessor, Source, SourceError};
use crate::shutdown::Shutdown;

pub use settings::TaildirSettings;

/// A TAILDIR source as configured. Running it restores the saved positions (`restore.rs`), then
/// runs the read loop (`tailer.rs`) on the source's thread until the agent stops.
pub struct TaildirSource {
    name: String,
    settings: TaildirSettings,
}

impl TaildirSource {
    pub fn new(name: &str, settings: TaildirSettings) -> Self {
        TaildirSource {
            name: name.to_string(),
            settings,
        }
    }
}

impl Source for TaildirSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        // As Flume's TaildirSource: one received and one accepted batch per put.
        processor.count_batches(BatchCounts::ReceivedAndAccepted);
        let counter = processor.counter().clone();
        let mut t = Tailer::new(self.name.clone(), self.settings, counter);
        t.restore();
        t.run(&mut processor, &shutdown);
        Ok(())
    }
}
