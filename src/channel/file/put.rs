//! The put transaction: room is reserved (waiting up to `keep-alive`, as Flume), free space is
//! checked against `minimumRequiredSpace`, the batch becomes one record, and the put returns once
//! the record is synced (group commit: concurrent puts share the fsync). The events' delivery
//! receipts are acknowledged then: they are safe on disk.

use std::time::Instant;

use super::channel::{deadline_after, lock, wait_until, Core};
use super::dirs;
use super::format::Record;
use crate::channel::{strip_receipts, ChannelError};
use crate::event::Event;

impl Core {
    fn full(&self) -> ChannelError {
        ChannelError::FileFull {
            channel: self.name.clone(),
        }
    }

    /// A put that failed on the log (Flume's `EventPutErrorCount`).
    fn io(&self, message: String) -> ChannelError {
        self.counter.event_put_error.inc();
        ChannelError::Io {
            channel: self.name.clone(),
            message,
        }
    }

    /// Checks that writing `need` bytes leaves `minimumRequiredSpace` free (Flume's rule). The
    /// reading is cached while space is plentiful and re-read on every put once it is low, so
    /// that puts resume as soon as space returns.
    fn check_space(&self, need: u64) -> Result<(), ChannelError> {
        let dir = self.wal.current_dir();
        let (fresh, usable) = {
            let sp = lock(&self.space);
            let fresh = sp.dir == dir
                && sp
                    .read_at
                    .is_some_and(|t| t.elapsed() < self.tuning.space_refresh)
                && sp.usable > self.s.minimum_required_space.saturating_add(need);
            (fresh, sp.usable)
        };
        let usable = if fresh {
            usable
        } else {
            // Read without holding the lock: statvfs can be slow on a network filesystem.
            let now = dirs::usable_space(&dir).map_err(|e| {
                self.io(format!(
                    "cannot read the free space of {}: {e}",
                    dir.display()
                ))
            })?;
            let mut sp = lock(&self.space);
            sp.dir = dir.clone();
            sp.usable = now;
            sp.read_at = Some(Instant::now());
            now
        };
        let required = self.s.minimum_required_space.saturating_add(need);
        if usable <= required {
            return Err(ChannelError::DiskSpace {
                channel: self.name.clone(),
                dir: dir.display().to_string(),
                usable,
                required,
            });
        }
        let mut sp = lock(&self.space);
        sp.usable = sp.usable.saturating_sub(need);
        Ok(())
    }

    pub(super) fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        self.counter.event_put_attempt.add(n as u64);
        if n > self.s.transaction_capacity {
            return Err(ChannelError::FileTransactionCapacity {
                channel: self.name.clone(),
                transaction_capacity: self.s.transaction_capacity,
            });
        }
        if n > self.s.capacity {
            return Err(self.full());
        }
        // Room first (Flume's `queueRemaining.tryAcquire(keepAlive)`).
        let deadline = deadline_after(self.s.keep_alive);
        {
            let mut q = lock(&self.queue);
            while q.occupied() + n > self.s.capacity {
                if Instant::now() >= deadline {
                    return Err(self.full());
                }
                q = wait_until(&self.not_full, q, deadline);
            }
            q.reserved += n;
        }
        let unreserve = || {
            lock(&self.queue).reserved -= n;
            self.not_full.notify_all();
        };
        let Some(record) = Record::put(events) else {
            unreserve();
            return Err(self.io(format!(
                "a batch of {n} events is larger than one log record may be (1 GiB)"
            )));
        };
        if let Err(e) = self.check_space(record.len()) {
            unreserve();
            return Err(e);
        }
        let appended = match self.wal.append(record) {
            Ok(a) => a,
            Err(e) => {
                unreserve();
                return Err(self.io(e.0));
            }
        };
        let mut receipts = Vec::new();
        let published = self
            .wal
            .wait(&appended, self.s.fsync_per_transaction, |outcome| {
                let mut q = lock(&self.queue);
                q.reserved -= n;
                match outcome {
                    Ok(()) => {
                        receipts = strip_receipts(events);
                        let batch = std::mem::take(events);
                        q.publish(appended.seq, batch, appended.pos);
                        self.counter.channel_size.set(q.stored() as i64);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            });
        match published {
            Ok(()) => {
                self.not_empty.notify_all();
                self.counter.event_put_success.add(n as u64);
                for (r, copies) in receipts {
                    for _ in 0..copies {
                        r.ack();
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.not_full.notify_all();
                Err(self.io(e.0))
            }
        }
    }
}
