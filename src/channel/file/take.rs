//! The take transaction: events come from memory, or are read back from disk when the backlog
//! outgrew the memory budget (damaged or missing records reported and skipped). Commit appends a
//! take record and returns once it is written, not synced (the keeper syncs it); rollback puts
//! the events back at the head, in order, without touching the disk.

use std::time::{Duration, Instant};

use tracing::{error, warn};

use super::channel::{deadline_after, lock, wait_until, Core};
use super::format::{decode_events, Kind, Pos, Record, SEGMENT_HEADER_LEN};
use super::queue::{mem_size, take_key, DiskPart, Promotion, Run};
use super::reader::{Next, SegmentReader};
use crate::event::Event;

/// Events read from disk at once when a take finds memory empty.
const READ_AHEAD: usize = 1000;

impl Core {
    pub(super) fn take(&self, max: usize, wait: Duration) -> Vec<Event> {
        let max = max.min(self.s.transaction_capacity);
        if max == 0 {
            return Vec::new();
        }
        let deadline = deadline_after(wait);
        let mut q = lock(&self.queue);
        let generation = q.wake_generation;
        loop {
            if let Some((events, pieces)) = q.take_from_memory(max) {
                let n = events.len();
                q.taken(take_key(&events), pieces, n);
                self.counter.channel_size.set(q.stored() as i64);
                drop(q);
                self.counter.event_take_attempt.add(n as u64);
                return events;
            }
            if q.disk.events > 0 && !q.promoting {
                q.promoting = true;
                let disk = q.disk.clone();
                drop(q);
                let p = self.read_disk(&disk, max.max(READ_AHEAD));
                q = lock(&self.queue);
                q.promoted(p);
                q.promoting = false;
                self.not_empty.notify_all();
                continue;
            }
            if Instant::now() >= deadline || q.wake_generation != generation {
                return Vec::new();
            }
            q = wait_until(&self.not_empty, q, deadline);
        }
    }

    pub(super) fn commit(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let pieces = {
            let mut q = lock(&self.queue);
            q.finish(take_key(events), n)
        };
        let Some(pieces) = pieces else {
            error!(channel = %self.name, "file channel {}: commit of {n} events that were not taken from this channel (or were committed already); ignored", self.name);
            return;
        };
        self.counter.event_take_success.add(n as u64);
        self.not_full.notify_all();
        let ranges: Vec<(u64, u32)> = pieces.iter().map(|p| (p.first_seq, p.count)).collect();
        let written = self
            .wal
            .append(Record::take(&ranges))
            .and_then(|a| self.wal.wait(&a, false, |r| r));
        if let Err(e) = written {
            warn!(channel = %self.name, "file channel {}: the delivery of {n} events could not be recorded ({}); they are not taken again by this agent, but would be delivered again after a restart", self.name, e.0);
        }
    }

    pub(super) fn rollback(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let mut q = lock(&self.queue);
        let Some(pieces) = q.finish(take_key(&events), n) else {
            drop(q);
            error!(channel = %self.name, "file channel {}: rollback of {n} events that were not taken from this channel; ignored", self.name);
            return;
        };
        q.roll_back(pieces, events);
        self.counter.channel_size.set(q.stored() as i64);
        drop(q);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// Reads the next records of the disk part: at least one event's worth (unless the log
    /// ends), about `want` events. Damaged records are reported and their events counted as
    /// consumed, so that the channel carries on with the rest.
    fn read_disk(&self, disk: &DiskPart, want: usize) -> Promotion {
        let mut p = Promotion {
            cursor: disk.cursor,
            first_seq: disk.first_seq,
            ..Promotion::default()
        };
        let mut reader: Option<SegmentReader> = None;
        let mut read = 0usize;
        while p.consumed < disk.events && (read < want || p.runs.is_empty()) {
            let at = p.cursor;
            if reader.as_ref().is_none_or(|r| r.segment != at.segment) {
                let Some(path) = self.wal.segment_path(at.segment) else {
                    if !self.next_segment(&mut p, disk, "is no longer there") {
                        break;
                    }
                    continue;
                };
                match SegmentReader::open(at.segment, &path) {
                    Ok(r) => reader = Some(r),
                    Err(e) => {
                        self.counter.event_take_error.inc();
                        error!(channel = %self.name, "file channel {}: cannot read {}: {e}", self.name, path.display());
                        if !self.next_segment(&mut p, disk, "cannot be read") {
                            break;
                        }
                        continue;
                    }
                }
            }
            let Some(r) = reader.as_mut() else { break };
            let offset = at.offset.max(SEGMENT_HEADER_LEN);
            match r.read_at(offset) {
                Ok(Next::Record {
                    header,
                    payload,
                    next,
                }) => {
                    p.cursor = Pos {
                        segment: at.segment,
                        offset: next,
                    };
                    if header.kind != Kind::Put {
                        continue;
                    }
                    let (start, end) = (header.seq, header.seq + header.count as u64);
                    if end <= p.first_seq {
                        continue;
                    }
                    let events = match decode_events(&payload, header.count) {
                        Ok(e) => e,
                        Err(why) => {
                            self.counter.event_take_error.inc();
                            error!(channel = %self.name, "file channel {}: {} at offset {offset}: {why}; its {} events cannot be delivered", self.name, r.path.display(), header.count);
                            let gone = (start..end)
                                .filter(|s| !disk.delivered(*s) && *s >= p.first_seq)
                                .count();
                            p.consumed += gone as u64;
                            p.first_seq = end;
                            continue;
                        }
                    };
                    let mut run: Option<Run> = None;
                    for (i, e) in events.into_iter().enumerate() {
                        let seq = start + i as u64;
                        if seq < p.first_seq || disk.delivered(seq) {
                            if let Some(r) = run.take() {
                                p.runs.push(r);
                            }
                            continue;
                        }
                        p.bytes += mem_size(&e);
                        read += 1;
                        p.consumed += 1;
                        match run.as_mut() {
                            Some(r) => r.events.push_back(e),
                            None => {
                                run = Some(Run {
                                    first_seq: seq,
                                    pos: at,
                                    events: std::iter::once(e).collect(),
                                })
                            }
                        }
                    }
                    if let Some(r) = run.take() {
                        p.runs.push(r);
                    }
                    p.first_seq = end;
                }
                Ok(Next::End) => {
                    if !self.next_segment(&mut p, disk, "ended") {
                        break;
                    }
                }
                Ok(Next::Bad { why, .. }) => {
                    self.counter.event_take_error.inc();
                    error!(channel = %self.name, "file channel {}: {} at offset {offset}: damaged record ({why})", self.name, r.path.display());
                    if !self.next_segment(&mut p, disk, "is damaged") {
                        break;
                    }
                }
                Err(e) => {
                    self.counter.event_take_error.inc();
                    error!(channel = %self.name, "file channel {}: reading {}: {e}", self.name, r.path.display());
                    if !self.next_segment(&mut p, disk, "cannot be read") {
                        break;
                    }
                }
            }
        }
        p
    }

    /// Moves the read to the next segment. A segment that ended normally loses nothing; one
    /// that is damaged or gone loses the events between where reading stopped and where the
    /// next segment starts. Returns false when there is no next segment: then the events the
    /// channel still expected are gone.
    fn next_segment(&self, p: &mut Promotion, disk: &DiskPart, why: &str) -> bool {
        let Some(next) = self.wal.next_segment(p.cursor.segment) else {
            let lost = disk.events - p.consumed;
            if lost > 0 {
                error!(channel = %self.name, "file channel {}: segment {} {why} and no later segment exists: {lost} events the channel expected are lost", self.name, p.cursor.segment);
                p.consumed = disk.events;
            }
            return false;
        };
        if why != "ended" {
            let first_seq = self
                .wal
                .segment_path(next)
                .and_then(|path| SegmentReader::open(next, &path).ok())
                .and_then(|mut r| r.header().ok())
                .and_then(|h| h.ok())
                .map(|h| h.first_seq);
            if let Some(first) = first_seq {
                let lost = (p.first_seq..first).filter(|s| !disk.delivered(*s)).count() as u64;
                if lost > 0 {
                    error!(channel = %self.name, "file channel {}: segment {} {why}: {lost} events are lost", self.name, p.cursor.segment);
                }
                p.consumed = (p.consumed + lost).min(disk.events);
                p.first_seq = p.first_seq.max(first);
            }
        }
        p.cursor = Pos::start_of(next);
        true
    }
}
