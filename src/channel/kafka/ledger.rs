//! Which offsets of each partition the Kafka channel may commit: the answer to "has every record
//! before this offset been delivered by a sink?".
//!
//! Several take transactions can be open at once on the channel's one consumer (two sinks, or
//! the Kafka sink's pipelined batches), and they end in any order: a later take may commit while
//! an earlier one rolls back. Kafka keeps one offset per partition, so the channel may commit
//! offset `n` only when every record below `n` that it read was committed by a sink. Each
//! partition keeps the offsets it handed out, in order, with a done flag; a commit marks its
//! records done and the committable offset moves past the done prefix. A rolled-back record stays
//! not done (it is handed out again from memory), so nothing after it is committed until it is
//! delivered.
//!
//! A partition that was revoked, or whose offsets go backwards (the consumer fetched it again from
//! the committed offset after a rebalance), starts a new epoch: what was handed out before is
//! forgotten. A position of an older epoch then commits nothing (its record was delivered, the
//! copy read again is delivered too: a duplicate, never a gap) and is dropped on rollback (the
//! group reads it again from the committed offset, which is never past it).

use std::collections::VecDeque;

/// Where a taken event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) partition: i32,
    pub(super) epoch: u32,
    pub(super) offset: i64,
}

/// One partition's handed-out offsets.
#[derive(Debug)]
struct Partition {
    partition: i32,
    epoch: u32,
    /// Offsets handed out and not yet below `committable`, ascending, with their done flag.
    handed_out: VecDeque<(i64, bool)>,
    /// The offset after the done prefix: what may be committed to Kafka.
    committable: Option<i64>,
    /// The last offset committed to Kafka (or being committed).
    committed: Option<i64>,
}

/// All partitions of the channel's topic that this consumer read.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    partitions: Vec<Partition>,
}

impl Ledger {
    fn find(&mut self, partition: i32) -> &mut Partition {
        match self
            .partitions
            .iter()
            .position(|p| p.partition == partition)
        {
            Some(i) => &mut self.partitions[i],
            None => {
                self.partitions.push(Partition {
                    partition,
                    epoch: 0,
                    handed_out: VecDeque::new(),
                    committable: None,
                    committed: None,
                });
                let last = self.partitions.len() - 1;
                &mut self.partitions[last]
            }
        }
    }

    /// Records a record read from Kafka; `done` for a record no sink will see (skipped).
    pub(super) fn read(&mut self, partition: i32, offset: i64, done: bool) -> Pos {
        let p = self.find(partition);
        if p.handed_out.back().is_some_and(|&(o, _)| o >= offset)
            || p.committable.is_some_and(|c| offset < c)
        {
            // Read again from an older offset: the consumer restarted the partition.
            p.new_epoch();
        }
        p.handed_out.push_back((offset, done));
        if done {
            p.advance();
        }
        Pos {
            partition,
            epoch: p.epoch,
            offset,
        }
    }

    /// Whether `pos` is still of its partition's current epoch (a rollback keeps only those).
    pub(super) fn is_current(&self, pos: &Pos) -> bool {
        self.partitions
            .iter()
            .any(|p| p.partition == pos.partition && p.epoch == pos.epoch)
    }

    /// Marks the records of a committed take delivered.
    pub(super) fn delivered(&mut self, positions: &[Pos]) {
        for pos in positions {
            let p = self.find(pos.partition);
            if p.epoch != pos.epoch {
                continue;
            }
            if let Ok(i) = p.handed_out.binary_search_by_key(&pos.offset, |&(o, _)| o) {
                p.handed_out[i].1 = true;
            }
        }
        for p in &mut self.partitions {
            p.advance();
        }
    }

    /// A partition left this consumer (revoked): forget it; it is read again from Kafka.
    pub(super) fn revoked(&mut self, partition: i32) {
        let p = self.find(partition);
        p.new_epoch();
        p.committed = None;
    }

    /// The offsets to commit now (those that moved since the last call), marked committed.
    pub(super) fn take_committable(&mut self, out: &mut Vec<(i32, i64)>) {
        for p in &mut self.partitions {
            if let Some(c) = p.committable {
                if p.committed.is_none_or(|done| c > done) {
                    p.committed = Some(c);
                    out.push((p.partition, c));
                }
            }
        }
    }
}

impl Partition {
    fn new_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.handed_out.clear();
        self.committable = None;
    }

    fn advance(&mut self) {
        while let Some(&(offset, true)) = self.handed_out.front() {
            self.handed_out.pop_front();
            self.committable = Some(offset + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commits(l: &mut Ledger) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        l.take_committable(&mut out);
        out
    }

    #[test]
    fn commits_only_past_a_delivered_prefix() {
        let mut l = Ledger::default();
        let a: Vec<Pos> = (0..3).map(|o| l.read(0, o, false)).collect();
        let b: Vec<Pos> = (3..5).map(|o| l.read(0, o, false)).collect();
        // The later take commits first: nothing may be committed yet.
        l.delivered(&b);
        assert_eq!(commits(&mut l), vec![]);
        l.delivered(&a);
        assert_eq!(commits(&mut l), vec![(0, 5)]);
        assert_eq!(commits(&mut l), vec![], "committed once");
    }

    #[test]
    fn a_rolled_back_record_holds_back_the_commit_until_delivered() {
        let mut l = Ledger::default();
        let a = [l.read(0, 10, false), l.read(1, 7, false)];
        let b = [l.read(0, 11, false)];
        l.delivered(&b);
        // `a` rolled back: partition 0 stays at nothing committable; then `a` is delivered again.
        assert_eq!(commits(&mut l), vec![]);
        l.delivered(&a);
        assert_eq!(commits(&mut l), vec![(0, 12), (1, 8)]);
    }

    #[test]
    fn skipped_records_move_the_offset_and_gaps_are_fine() {
        let mut l = Ledger::default();
        l.read(0, 4, true);
        assert_eq!(commits(&mut l), vec![(0, 5)]);
        let a = [l.read(0, 9, false)];
        l.delivered(&a);
        assert_eq!(commits(&mut l), vec![(0, 10)]);
    }

    #[test]
    fn reading_again_or_a_revocation_starts_a_new_epoch() {
        let mut l = Ledger::default();
        let old = [l.read(0, 5, false), l.read(0, 6, false)];
        // Fetched again from offset 5 after a rebalance.
        let new = l.read(0, 5, false);
        assert!(!l.is_current(&old[0]));
        assert!(l.is_current(&new));
        l.delivered(&old);
        assert_eq!(commits(&mut l), vec![], "old positions commit nothing");
        l.delivered(&[new]);
        assert_eq!(commits(&mut l), vec![(0, 6)]);
        l.revoked(0);
        assert!(!l.is_current(&new));
        assert_eq!(commits(&mut l), vec![]);
    }
}
