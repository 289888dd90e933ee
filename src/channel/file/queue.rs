//! What the channel holds, in memory: the order of events waiting to be taken, which of them are
//! in memory and which only on disk, and which are taken but not yet committed.
//!
//! The queue is three parts, head first: events whose take was rolled back (`redo`, by sequence
//! number), committed puts still held in memory (`mem`, up to a byte budget) and committed puts
//! that are only on disk (`disk`: a read position and a count, no per-event state). A put goes to
//! memory only while nothing waits on disk, so the parts stay in log order; when memory is empty
//! a take first reads the next records from disk. So the channel's memory is bounded by the
//! budget plus what is in flight, however long the backlog.
//!
//! Everything here is plain data, changed under the channel's queue lock, without I/O.

use std::collections::{HashMap, VecDeque};

use crate::event::Event;

use super::format::{encoded_len, Pos};

/// What an event held in memory costs against the memory budget: its bytes and its struct.
pub fn mem_size(e: &Event) -> usize {
    encoded_len(e) + std::mem::size_of::<Event>()
}

/// Consecutive events (by sequence number) from one place in the log.
#[derive(Debug)]
pub struct Run {
    pub first_seq: u64,
    /// At or before the record that holds `first_seq`: where a replay finds it.
    pub pos: Pos,
    pub events: VecDeque<Event>,
}

/// Part of a take: `count` consecutive events from `first_seq` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub first_seq: u64,
    pub count: u32,
    pub pos: Pos,
}

/// Committed puts that are only on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskPart {
    /// The next record to read.
    pub cursor: Pos,
    /// Events waiting there.
    pub events: u64,
    /// Every event with a lower sequence number was read or delivered.
    pub first_seq: u64,
    /// Delivered ranges `[start, end)` at or after `first_seq` (found by replay): not read
    /// again.
    pub skip: VecDeque<(u64, u64)>,
}

impl DiskPart {
    /// Whether the event with `seq` was delivered already.
    pub fn delivered(&self, seq: u64) -> bool {
        seq < self.first_seq || self.skip.iter().any(|(a, b)| seq >= *a && seq < *b)
    }
}

/// What a read from disk brought back, to apply with [`Queue::promoted`].
#[derive(Debug, Default)]
pub struct Promotion {
    pub runs: Vec<Run>,
    /// Events of the disk part these runs account for (read, or lost to damage).
    pub consumed: u64,
    pub cursor: Pos,
    pub first_seq: u64,
    /// The runs' [`mem_size`] total.
    pub bytes: usize,
}

/// Identifies a take by the `Vec` it handed out (see [`take_key`]).
pub type TakeKey = usize;

/// A take is named by its event vector's buffer, which the caller gives back on commit or
/// rollback ([`crate::channel::TakeTransaction`] keeps it untouched), and which no other live
/// take shares.
pub fn take_key(events: &[Event]) -> TakeKey {
    events.as_ptr() as usize
}

#[derive(Debug)]
pub struct Queue {
    /// Bumped by `wake_takers`: a waiting take that sees it change returns empty.
    pub wake_generation: u64,
    pub redo: VecDeque<Run>,
    pub mem: VecDeque<Run>,
    pub disk: DiskPart,
    mem_events: usize,
    redo_events: usize,
    pub mem_bytes: usize,
    pub mem_budget: usize,
    pub in_flight: HashMap<TakeKey, Vec<Piece>>,
    pub in_flight_events: usize,
    /// Room held by puts that are being written.
    pub reserved: usize,
    /// A take is reading from disk right now.
    pub promoting: bool,
    /// The sequence number after the last published put: with nothing waiting, the
    /// watermark.
    pub published_seq: u64,
}

impl Queue {
    pub fn new(disk: DiskPart, published_seq: u64, mem_budget: usize) -> Self {
        Queue {
            wake_generation: 0,
            redo: VecDeque::new(),
            mem: VecDeque::new(),
            disk,
            mem_events: 0,
            redo_events: 0,
            mem_bytes: 0,
            mem_budget,
            in_flight: HashMap::new(),
            in_flight_events: 0,
            reserved: 0,
            promoting: false,
            published_seq,
        }
    }

    /// Events waiting to be taken.
    pub fn stored(&self) -> usize {
        self.redo_events + self.mem_events + self.disk.events as usize
    }

    /// Events that count against `capacity`: waiting, in flight, and being put.
    pub fn occupied(&self) -> usize {
        self.stored() + self.in_flight_events + self.reserved
    }

    /// A committed put, in log order: held in memory when nothing waits on disk and the budget
    /// allows, else left on disk. Returns whether it is held in memory.
    pub fn publish(&mut self, first_seq: u64, events: Vec<Event>, pos: Pos) -> bool {
        let n = events.len() as u64;
        let bytes: usize = events.iter().map(mem_size).sum();
        self.published_seq = first_seq + n;
        if self.disk.events == 0 && self.mem_bytes + bytes <= self.mem_budget {
            self.mem_events += events.len();
            self.mem_bytes += bytes;
            self.mem.push_back(Run {
                first_seq,
                pos,
                events: events.into(),
            });
            return true;
        }
        if self.disk.events == 0 {
            self.disk.cursor = pos;
            self.disk.first_seq = first_seq;
            self.disk.skip.clear();
        }
        self.disk.events += n;
        false
    }

    /// Takes up to `max` events held in memory (rolled back ones first), with the pieces of the
    /// log they come from; `None` when memory holds none.
    pub fn take_from_memory(&mut self, max: usize) -> Option<(Vec<Event>, Vec<Piece>)> {
        if self.redo_events + self.mem_events == 0 || max == 0 {
            return None;
        }
        let mut events = Vec::with_capacity(max.min(self.redo_events + self.mem_events));
        let mut pieces = Vec::new();
        for from_redo in [true, false] {
            while events.len() < max {
                let part = if from_redo {
                    &mut self.redo
                } else {
                    &mut self.mem
                };
                let Some(run) = part.front_mut() else {
                    break;
                };
                let k = (max - events.len()).min(run.events.len());
                let mut bytes = 0;
                for e in run.events.drain(..k) {
                    bytes += mem_size(&e);
                    events.push(e);
                }
                pieces.push(Piece {
                    first_seq: run.first_seq,
                    count: k as u32,
                    pos: run.pos,
                });
                run.first_seq += k as u64;
                if run.events.is_empty() {
                    part.pop_front();
                }
                if from_redo {
                    self.redo_events -= k;
                } else {
                    self.mem_events -= k;
                    self.mem_bytes = self.mem_bytes.saturating_sub(bytes);
                }
            }
        }
        Some((events, pieces))
    }

    /// Registers a take so that its commit or rollback finds its pieces.
    pub fn taken(&mut self, key: TakeKey, pieces: Vec<Piece>, n: usize) {
        self.in_flight_events += n;
        self.in_flight.insert(key, pieces);
    }

    /// Ends a take: its pieces, or `None` when the events were not handed out by this channel.
    pub fn finish(&mut self, key: TakeKey, n: usize) -> Option<Vec<Piece>> {
        let pieces = self.in_flight.remove(&key)?;
        self.in_flight_events = self.in_flight_events.saturating_sub(n);
        Some(pieces)
    }

    /// Puts rolled-back events back at the head, ordered by sequence number among whatever was
    /// rolled back before, so that they are taken again in their original order.
    pub fn roll_back(&mut self, pieces: Vec<Piece>, events: Vec<Event>) {
        let mut events = events.into_iter();
        for p in pieces {
            let run = Run {
                first_seq: p.first_seq,
                pos: p.pos,
                events: events.by_ref().take(p.count as usize).collect(),
            };
            self.redo_events += run.events.len();
            let at = self.redo.partition_point(|r| r.first_seq < run.first_seq);
            self.redo.insert(at, run);
        }
    }

    /// Applies a read from disk: the runs become the memory part (which is empty while a take
    /// reads from disk: puts go to disk while anything waits there).
    pub fn promoted(&mut self, p: Promotion) {
        self.disk.events = self.disk.events.saturating_sub(p.consumed);
        self.disk.cursor = p.cursor;
        self.disk.first_seq = p.first_seq;
        while self
            .disk
            .skip
            .front()
            .is_some_and(|(_, end)| *end <= p.first_seq)
        {
            self.disk.skip.pop_front();
        }
        for run in p.runs {
            self.mem_events += run.events.len();
            self.mem.push_back(run);
        }
        self.mem_bytes += p.bytes;
    }

    /// The checkpoint's two facts: every event below the returned sequence number was
    /// delivered, and nothing before the returned position is needed to find the others.
    /// `floor` is the log's [`super::wal::Wal::floor`], read before this.
    pub fn watermark(&self, floor: Pos) -> (u64, Pos) {
        let mut best = (self.published_seq, floor);
        let mut consider = |seq: u64, pos: Pos| {
            if seq < best.0 {
                best.0 = seq;
            }
            if pos < best.1 {
                best.1 = pos;
            }
        };
        if let Some(r) = self.redo.front() {
            consider(r.first_seq, r.pos);
        }
        for pieces in self.in_flight.values() {
            for p in pieces {
                consider(p.first_seq, p.pos);
            }
        }
        if let Some(r) = self.mem.front() {
            consider(r.first_seq, r.pos);
        }
        if self.disk.events > 0 {
            consider(self.disk.first_seq, self.disk.cursor);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Pos {
        Pos { segment: 1, offset }
    }

    fn events(n: usize, tag: &str) -> Vec<Event> {
        (0..n).map(|i| Event::new(format!("{tag}{i}"))).collect()
    }

    fn bodies(e: &[Event]) -> Vec<String> {
        e.iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect()
    }

    #[test]
    fn puts_spill_to_disk_past_the_budget_and_stay_there_until_it_drains() {
        // Room for two of these events, not four.
        let each = mem_size(&Event::new("a0"));
        let mut q = Queue::new(DiskPart::default(), 0, 2 * each + each / 2);
        assert!(q.publish(0, events(2, "a"), pos(40)));
        assert!(!q.publish(2, events(2, "b"), pos(100)), "over budget");
        assert!(
            !q.publish(4, events(1, "c"), pos(160)),
            "something waits on disk: later puts go there too, to keep the order"
        );
        assert_eq!((q.stored(), q.disk.events, q.disk.cursor), (5, 3, pos(100)));
        let (e, pieces) = q.take_from_memory(10).expect("a0 a1");
        assert_eq!(bodies(&e), ["a0", "a1"]);
        assert_eq!(
            pieces,
            [Piece {
                first_seq: 0,
                count: 2,
                pos: pos(40)
            }]
        );
        q.taken(take_key(&e), pieces, 2);
        assert_eq!(q.watermark(pos(200)), (0, pos(40)), "a0 is in flight");
        assert!(
            q.take_from_memory(10).is_none(),
            "the rest must be read from disk"
        );
    }

    #[test]
    fn rolled_back_takes_come_back_first_and_in_sequence_order() {
        let mut q = Queue::new(DiskPart::default(), 0, 1 << 20);
        q.publish(0, events(6, "e"), pos(40));
        let (first, p1) = q.take_from_memory(2).expect("e0 e1");
        let (second, p2) = q.take_from_memory(2).expect("e2 e3");
        q.taken(take_key(&first), p1, 2);
        q.taken(take_key(&second), p2, 2);
        // Rolled back in the opposite order; they are taken again in the original one.
        let p2 = q.finish(take_key(&second), 2).expect("known");
        q.roll_back(p2, second);
        let p1 = q.finish(take_key(&first), 2).expect("known");
        q.roll_back(p1, first);
        let (again, _) = q.take_from_memory(10).expect("all");
        assert_eq!(bodies(&again), ["e0", "e1", "e2", "e3", "e4", "e5"]);
    }

    #[test]
    fn the_watermark_is_the_oldest_event_not_delivered() {
        let mut q = Queue::new(DiskPart::default(), 10, 1 << 20);
        assert_eq!(
            q.watermark(pos(40)),
            (10, pos(40)),
            "empty: everything published was delivered"
        );
        q.publish(10, events(3, "x"), pos(40));
        assert_eq!(q.watermark(pos(90)), (10, pos(40)));
        let (e, p) = q.take_from_memory(3).expect("x");
        q.taken(take_key(&e), p, 3);
        assert_eq!(
            q.watermark(pos(90)),
            (10, pos(40)),
            "in flight is not delivered"
        );
        q.finish(take_key(&e), 3).expect("known");
        assert_eq!(
            q.watermark(pos(200)),
            (13, pos(200)),
            "nothing before the log's floor is needed"
        );
    }
}
