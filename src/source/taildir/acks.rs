//! Delivered positions: a file's position is persisted only past lines that a sink committed
//! (i.e. that Kafka acknowledged), not merely past lines put into the channel.
//!
//! Each batch read from a file registers its end offset and gets a [`Receipt`] that travels with
//! its events; when the last copy is committed by a sink the batch is marked done, and the file's
//! delivered position advances over the prefix of done batches (batches can complete out of order
//! when several sinks or pipelined Kafka batches are involved). So even with a memory channel, a
//! `kill -9` loses nothing: whatever was in the channel is read again after the restart.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::Receipt;

#[derive(Debug, Default)]
struct State {
    /// Bumped when the file is truncated: receipts of older batches no longer move anything.
    generation: u64,
    delivered: u64,
    next_seq: u64,
    /// In read order.
    pending: VecDeque<Batch>,
}

/// A batch read from the file and not yet delivered (or delivered out of order).
#[derive(Debug)]
struct Batch {
    seq: u64,
    /// Offset just past its last line: the delivered position once it and all before it are done.
    end: u64,
    done: bool,
}

#[derive(Debug, Default)]
pub struct FileAcks {
    state: Mutex<State>,
}

impl FileAcks {
    pub fn new(delivered: u64) -> Arc<Self> {
        Arc::new(FileAcks {
            state: Mutex::new(State {
                delivered,
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a batch ending at `end` and returns the receipt its events carry.
    pub fn register(self: &Arc<Self>, end: u64) -> Receipt {
        let (generation, seq) = {
            let mut s = self.lock();
            let seq = s.next_seq;
            s.next_seq += 1;
            s.pending.push_back(Batch {
                seq,
                end,
                done: false,
            });
            (s.generation, seq)
        };
        let me = self.clone();
        Receipt::new(move || me.done(generation, seq))
    }

    fn done(&self, generation: u64, seq: u64) {
        let mut s = self.lock();
        if s.generation != generation {
            return;
        }
        if let Some(batch) = s.pending.iter_mut().find(|b| b.seq == seq) {
            batch.done = true;
        }
        while let Some(end) = s.pending.front().filter(|b| b.done).map(|b| b.end) {
            s.delivered = end;
            s.pending.pop_front();
        }
    }

    /// Offset up to which every line was delivered.
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Batches read but not yet delivered.
    pub fn outstanding(&self) -> usize {
        self.lock().pending.len()
    }

    /// The file was truncated (or replaced): start over at `pos`, forgetting older batches.
    pub fn reset(&self, pos: u64) {
        let mut s = self.lock();
        s.generation += 1;
        s.pending.clear();
        s.delivered = pos;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_advances_over_the_done_prefix_only() {
        let a = FileAcks::new(0);
        let r1 = a.register(10);
        let r2 = a.register(20);
        let r3 = a.register(30);
        for r in [&r1, &r2, &r3] {
            r.expect(1);
        }
        r2.ack();
        assert_eq!(a.delivered(), 0, "batch 1 still pending");
        r1.ack();
        assert_eq!(a.delivered(), 20);
        r3.ack();
        assert_eq!(a.delivered(), 30);
        assert_eq!(a.outstanding(), 0);
    }

    #[test]
    fn receipts_from_before_a_truncation_are_ignored() {
        let a = FileAcks::new(0);
        let old = a.register(100);
        old.expect(1);
        a.reset(0);
        old.ack();
        assert_eq!(a.delivered(), 0);
    }
}
