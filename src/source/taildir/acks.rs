//! Delivered positions: a file's position is persisted only past lines that a sink committed
//! (i.e. that Kafka acknowledged), not merely past lines put into the channel.
//!
//! Each batch read from a file registers its end offset and gets a [`Receipt`] that travels with
//! its events; when the last copy is committed by a sink the batch is marked done, and the file's
//! delivered position advances over the prefix of done batches (batches can complete out of order
//! when several sinks or pipelined Kafka batches are involved). So even with a memory channel, a
//! `kill -9` loses nothing: whatever was in the channel is read again after the restart.
//!
//! A delivery that moves a file's position sets the source's [`DeliveryNotice`], which wakes the
//! read loop so that it writes the position file soon after (coalesced: see `tailer.rs`), which
//! keeps what a crash ships twice to the last fraction of a second.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::Receipt;

/// Shared by every file of one source: set when a delivered position moved and the position
/// file does not say so yet.
pub struct DeliveryNotice {
    changed: AtomicBool,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl DeliveryNotice {
    /// `wake` is called (once per change, not per delivery) to wake the read loop.
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(DeliveryNotice {
            changed: AtomicBool::new(false),
            wake: Box::new(wake),
        })
    }

    fn advanced(&self) {
        if !self.changed.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }

    /// Whether a position moved since the last [`DeliveryNotice::take`].
    pub fn is_set(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }

    /// Clears the notice, returning whether it was set; call it before reading the positions
    /// to write, so that a delivery during the write sets it again.
    pub fn take(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }
}

impl std::fmt::Debug for DeliveryNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeliveryNotice({})", self.is_set())
    }
}

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

    /// Registers a batch ending at `end` and returns the receipt its events carry; its
    /// delivery sets `notice` when it moves the delivered position.
    pub fn register(self: &Arc<Self>, end: u64, notice: &Arc<DeliveryNotice>) -> Receipt {
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
        let notice = notice.clone();
        Receipt::new(move || {
            if me.done(generation, seq) {
                notice.advanced();
            }
        })
    }

    /// Marks a batch delivered; true when that moved the delivered position.
    fn done(&self, generation: u64, seq: u64) -> bool {
        let mut s = self.lock();
        if s.generation != generation {
            return false;
        }
        if let Some(batch) = s.pending.iter_mut().find(|b| b.seq == seq) {
            batch.done = true;
        }
        let mut moved = false;
        while let Some(end) = s.pending.front().filter(|b| b.done).map(|b| b.end) {
            s.delivered = end;
            s.pending.pop_front();
            moved = true;
        }
        moved
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

    fn notice() -> (Arc<DeliveryNotice>, Arc<std::sync::atomic::AtomicUsize>) {
        let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let w = wakes.clone();
        let n = DeliveryNotice::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        (n, wakes)
    }

    #[test]
    fn delivered_advances_over_the_done_prefix_only() {
        let (n, wakes) = notice();
        let a = FileAcks::new(0);
        let r1 = a.register(10, &n);
        let r2 = a.register(20, &n);
        let r3 = a.register(30, &n);
        for r in [&r1, &r2, &r3] {
            r.expect(1);
        }
        r2.ack();
        assert_eq!(a.delivered(), 0, "batch 1 still pending");
        assert!(!n.is_set(), "nothing moved: no position write is due");
        r1.ack();
        assert_eq!(a.delivered(), 20);
        assert!(n.take(), "the position moved");
        r3.ack();
        assert_eq!(a.delivered(), 30);
        assert_eq!(a.outstanding(), 0);
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            2,
            "one wake per change of the notice"
        );
    }

    #[test]
    fn the_read_loop_is_woken_once_until_it_takes_the_notice() {
        let (n, wakes) = notice();
        let a = FileAcks::new(0);
        for end in [10, 20, 30] {
            let r = a.register(end, &n);
            r.expect(1);
            r.ack();
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert!(n.take());
        assert!(!n.take());
    }

    #[test]
    fn receipts_from_before_a_truncation_are_ignored() {
        let (n, _) = notice();
        let a = FileAcks::new(0);
        let old = a.register(100, &n);
        old.expect(1);
        a.reset(0);
        old.ack();
        assert_eq!(a.delivered(), 0);
    }
}
