//! Sequence generator source — replaces Flume's `seq`
//! (`org.apache.flume.source.SequenceGeneratorSource`).
//!
//! Emits the decimal numbers 0, 1, 2, … as event bodies, `batchSize` per put, until
//! `totalEvents` were stored. A full channel is retried with the same numbers (as in Flume), so
//! the sequence has no gaps. Used for local runs and to measure the framework's own overhead.

use super::{BatchCounts, ChannelProcessor, PutOutcome, Source, SourceError, SourceSpec};
use crate::config::reader::PropReader;
use crate::config::registry::Describe;
use crate::event::Event;
use crate::shutdown::Shutdown;

/// The most events seq builds for one put (see `run`).
const MAX_SEQ_BATCH: u64 = 1 << 16;

/// Flume's `batchSize` default for seq.
pub const DEFAULT_BATCH_SIZE: u64 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqSettings {
    pub batch_size: usize,
    pub total_events: u64,
}

impl SeqSettings {
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        let batch_size = r.positive_int("batchSize", DEFAULT_BATCH_SIZE) as usize;
        let total_events = r.positive("totalEvents", i64::MAX as u64);
        (!r.failed()).then_some(SeqSettings {
            batch_size,
            total_events,
        })
    }
}

impl SourceSpec for SeqSettings {
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn build(&self, name: &str) -> Box<dyn Source> {
        Box::new(SeqSource::new(name, self.clone()))
    }
}

impl Describe for SeqSettings {
    fn describe(&self) -> Vec<(String, String)> {
        vec![
            ("batchSize".into(), self.batch_size.to_string()),
            ("totalEvents".into(), self.total_events.to_string()),
        ]
    }
}

pub struct SeqSource {
    name: String,
    settings: SeqSettings,
}

impl SeqSource {
    pub fn new(name: &str, settings: SeqSettings) -> Self {
        SeqSource {
            name: name.to_string(),
            settings,
        }
    }
}

impl Source for SeqSource {
    fn run(
        self: Box<Self>,
        mut processor: ChannelProcessor,
        shutdown: Shutdown,
    ) -> Result<(), SourceError> {
        // Flume's SequenceGeneratorSource counts accepted batches only, and none at all with
        // batchSize 1 (it then puts each event with processEvent, not as a batch).
        processor.count_batches(if self.settings.batch_size > 1 {
            BatchCounts::AcceptedOnly
        } else {
            BatchCounts::None
        });
        let mut next: u64 = 0;
        let total = self.settings.total_events;
        let mut buf = [0u8; 20];
        while next < total && !shutdown.is_stopping() {
            // A put of at most MAX_SEQ_BATCH events, whatever batchSize says: the events of one
            // put are built in memory at once, and a batchSize in the billions would abort the
            // agent on allocation (Flume's JVM would die of OutOfMemoryError the same way).
            let n = (self.settings.batch_size as u64)
                .min(MAX_SEQ_BATCH)
                .min(total - next);
            let batch: Vec<Event> = (next..next + n)
                .map(|i| Event::new(bytes::Bytes::copy_from_slice(decimal(i, &mut buf))))
                .collect();
            match processor.put_blocking(batch, &shutdown) {
                PutOutcome::Committed => next += n,
                PutOutcome::Abandoned { .. } => break,
            }
        }
        if next >= total {
            tracing::info!(source = %self.name, "sequence complete: {total} events generated");
            shutdown.sleep(std::time::Duration::MAX / 4);
        }
        Ok(())
    }
}

/// Formats `v` in decimal into `buf` (no `String` per event).
fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formats() {
        let mut b = [0u8; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(1234567, &mut b), b"1234567");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
    }
}
