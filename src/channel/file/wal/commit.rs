//! How a commit enters the log: [`Wal::append`] gives a record its place and sequence numbers
//! under the lock, with no I/O; [`Wal::wait`] and [`Wal::sync`] wait until it is written (or
//! durable), taking the writer's or the syncer's part when nobody else does.

use super::super::format::{Kind, Pos, Record, SegmentHeader, SEGMENT_HEADER_LEN};
use super::{segment_file_name, Appended, Chunk, Wal, WalError};

impl Wal {
    /// Adds `record` to the log (sealing it with its sequence number) and returns what to wait
    /// for. Nothing is written yet.
    pub fn append(&self, mut record: Record) -> Result<Appended, WalError> {
        let mut s = self.lock();
        if let Some(why) = &s.broken {
            return Err(WalError(why.clone()));
        }
        let len = record.len();
        // Roll when this record would pass the roll size (a record bigger than that gets a
        // segment of its own), and at the first record of a segment still to be created.
        let create = s.append.offset == 0;
        if create
            || (s.append.offset > SEGMENT_HEADER_LEN && s.append.offset + len > self.roll_size)
        {
            let id = if create {
                s.append.segment
            } else {
                s.append.segment + 1
            };
            let path = self.dir_for(id).join(segment_file_name(id));
            s.segments.insert(id, path);
            s.append = Pos::start_of(id);
            let header = SegmentHeader {
                id,
                first_seq: s.next_seq,
            };
            let lsn = s.appended;
            s.pending.push_back(Chunk {
                segment: id,
                offset: SEGMENT_HEADER_LEN,
                create: Some(header),
                bytes: Vec::new(),
                end_lsn: lsn,
            });
        }
        let (seq, put_turn) = match record.kind() {
            Kind::Put => {
                let seq = s.next_seq;
                s.next_seq += record.count() as u64;
                let turn = s.next_turn;
                s.next_turn += 1;
                (seq, Some(turn))
            }
            Kind::Take => (0, None),
        };
        record.seal(seq);
        let pos = s.append;
        if let Some(turn) = put_turn {
            s.unpublished.push_back((turn, pos));
        }
        s.append.offset += len;
        s.appended += len;
        let end_lsn = s.appended;
        if record.kind() == Kind::Put {
            let after = s.next_seq;
            s.unsynced_puts.push_back((end_lsn, after));
        }
        match s.pending.back_mut() {
            Some(c) if c.segment == pos.segment => {
                c.bytes.extend_from_slice(&record.bytes);
                c.end_lsn = end_lsn;
            }
            _ => s.pending.push_back(Chunk {
                segment: pos.segment,
                offset: pos.offset,
                create: None,
                bytes: record.bytes,
                end_lsn,
            }),
        }
        Ok(Appended {
            pos,
            seq,
            end_lsn,
            put_turn,
        })
    }

    /// Waits until `a` is written (and, with `durable`, synced), taking the writer's or the
    /// syncer's part when nobody else does. A put then waits for its turn and calls `publish`
    /// with the outcome, under the lock and in log order (so it must be quick and do no I/O);
    /// a take's `publish` is called at once.
    pub fn wait<R>(
        &self,
        a: &Appended,
        durable: bool,
        publish: impl FnOnce(Result<(), WalError>) -> R,
    ) -> R {
        let mut s = self.lock();
        let outcome = loop {
            if s.void
                .iter()
                .any(|(lo, hi)| a.end_lsn > *lo && a.end_lsn <= *hi)
            {
                break Err(WalError(s.last_error.clone()));
            }
            let done = if durable {
                s.durable >= a.end_lsn
            } else {
                s.written >= a.end_lsn
            };
            if done {
                break Ok(());
            }
            if !s.writing && (!s.pending.is_empty() || s.recover.is_some()) {
                s = self.write_pending(s);
                continue;
            }
            if durable && !s.syncing && s.written >= a.end_lsn {
                s = self.sync_written(s);
                continue;
            }
            s = self.wait_cv(s);
        };
        let Some(turn) = a.put_turn else {
            return publish(outcome);
        };
        while s.turn != turn {
            s = self.wait_cv(s);
        }
        let r = publish(outcome);
        s.turn += 1;
        s.unpublished.pop_front();
        drop(s);
        self.cv.notify_all();
        r
    }

    /// Syncs everything appended so far (the periodic sync with `fsyncPerTransaction = false`
    /// and for take records, and before a checkpoint).
    pub fn sync(&self) -> Result<(), WalError> {
        let mut s = self.lock();
        let target = s.appended;
        loop {
            if s.void.iter().any(|(lo, hi)| target > *lo && target <= *hi) {
                return Err(WalError(s.last_error.clone()));
            }
            if s.durable >= target {
                return Ok(());
            }
            if !s.writing && (!s.pending.is_empty() || s.recover.is_some()) {
                s = self.write_pending(s);
                continue;
            }
            if !s.syncing && s.written >= target {
                s = self.sync_written(s);
                if !self.durable_puts && s.durable < target {
                    // A failed sync without fsyncPerTransaction is not retried in a loop.
                    return Err(WalError("fsync failed".to_string()));
                }
                continue;
            }
            s = self.wait_cv(s);
        }
    }
}
