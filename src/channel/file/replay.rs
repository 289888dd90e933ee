//! Replay at start: finds the log's segments, reads them from the checkpoint's position on and
//! rebuilds what the channel holds — without decoding a single event (a record header says how
//! many it carries, a take record which were delivered), so a million waiting events replay in a
//! fraction of a second.
//!
//! A torn or damaged record at the end of the newest segment is what a crash in the middle of a
//! write leaves: it is reported with its file and offset and cut off, and the agent starts. The
//! records before it were all there is: a put is acknowledged only once its record is complete
//! on disk. Damage anywhere else (a disk that lost data) is reported with the number of events
//! lost, and the channel starts with the rest.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::{self, Checkpoint};
use super::format::{decode_ranges, Kind, Pos, SEGMENT_HEADER_LEN};
use super::queue::DiskPart;
use super::reader::{Next, SegmentReader};
use super::wal::segment_id;
use super::FileChannelError;

/// What the channel holds after a restart.
#[derive(Debug)]
pub struct Recovered {
    pub segments: BTreeMap<u64, PathBuf>,
    pub next_seq: u64,
    /// The lowest id a new segment may get: not behind where the next replay starts reading.
    pub first_new_segment: u64,
    pub disk: DiskPart,
    /// Messages for the log: (is it an error, text).
    pub report: Vec<(bool, String)>,
    pub checkpoint: Option<Checkpoint>,
    /// Bytes read.
    pub bytes: u64,
    pub started: Instant,
}

/// Disjoint, sorted, merged `[start, end)` ranges of sequence numbers.
#[derive(Debug, Default)]
struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // Ranges mostly arrive in order: extend the last one when they touch.
        if let Some(last) = self.0.last_mut() {
            if start >= last.0 && start <= last.1 {
                last.1 = last.1.max(end);
                return;
            }
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for (a, b) in self.0.drain(..) {
            match merged.last_mut() {
                Some(m) if a <= m.1 => m.1 = m.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.0 = merged;
    }

    /// How many of `[start, end)` are not in the set.
    fn missing_in(&self, start: u64, end: u64) -> u64 {
        let covered: u64 = self
            .0
            .iter()
            .map(|(a, b)| b.min(&end).saturating_sub(*a.max(&start)))
            .sum();
        (end - start).saturating_sub(covered)
    }
}

/// The segment files in the data directories, by id.
fn find_segments(data_dirs: &[PathBuf]) -> Result<BTreeMap<u64, PathBuf>, FileChannelError> {
    let mut found: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for dir in data_dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(FileChannelError::Io {
                    path: dir.clone(),
                    source: e,
                })
            }
        };
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(segment_id) else {
                continue;
            };
            let path = entry.path();
            if let Some(other) = found.insert(id, path.clone()) {
                return Err(FileChannelError::Inconsistent(format!(
                    "segment {id} exists twice, as {} and {}; keep the one this channel wrote last and move the other away",
                    other.display(),
                    path.display()
                )));
            }
        }
    }
    Ok(found)
}

/// Rebuilds the channel from its directories (locked by the caller).
pub fn replay(
    checkpoint_dirs: &[&Path],
    data_dirs: &[PathBuf],
) -> Result<Recovered, FileChannelError> {
    let started = Instant::now();
    let mut segments = find_segments(data_dirs)?;
    let mut report = Vec::new();
    let (cp, problems) = checkpoint::load(checkpoint_dirs);
    for p in problems {
        report.push((
            false,
            format!("checkpoint {p}; using the other one, or reading the whole log"),
        ));
    }
    let first = segments.keys().next().copied();
    let last = segments.keys().next_back().copied();
    // Where reading starts, and below which every event was delivered.
    let (mut at, watermark) = match (cp, first) {
        (Some(cp), Some(first)) if cp.read.segment >= first => (cp.read, cp.watermark),
        // The checkpoint predates the oldest segment: what it pointed at was delivered and
        // deleted, so reading starts at the oldest segment.
        (Some(cp), Some(first)) => (Pos::start_of(first), cp.watermark),
        (Some(cp), None) => (cp.read, cp.watermark),
        (None, Some(first)) => (Pos::start_of(first), 0),
        (None, None) => (Pos::start_of(1), 0),
    };
    if at.offset < SEGMENT_HEADER_LEN {
        at.offset = SEGMENT_HEADER_LEN;
    }
    if let Some(last) = last {
        // Every segment from the first one needed to the last must be there.
        if let Some(id) = (at.segment..=last).find(|id| !segments.contains_key(id)) {
            return Err(FileChannelError::Inconsistent(format!(
                "segment {id} of the log (file {}) is missing from dataDirs {}, but later ones exist; restore it (was a data directory removed from dataDirs?)",
                super::wal::segment_file_name(id),
                data_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
    }
    let mut puts = RangeSet::default();
    let mut taken = RangeSet::default();
    let mut first_pending: Option<Pos> = None;
    let mut next_seq = cp.map_or(0, |c| c.next_seq).max(watermark);
    let mut expected_seq: Option<u64> = None;
    let mut lost = 0u64;
    let mut bytes = 0u64;
    let ids: Vec<u64> = segments.range(at.segment..).map(|(id, _)| *id).collect();
    let newest = ids.last().copied();
    let mut remove = Vec::new();
    for id in ids {
        let path = segments[&id].clone();
        let io = |e| FileChannelError::Io {
            path: path.clone(),
            source: e,
        };
        let mut r = SegmentReader::open(id, &path).map_err(io)?;
        let is_newest = Some(id) == newest;
        match r.header().map_err(io)? {
            Ok(h) => {
                if h.id != id {
                    report.push((true, format!("{}: its header says segment {}, its name segment {id}; reading it as {id}", path.display(), h.id)));
                }
            }
            Err(why) if is_newest && r.file_len().map_err(io)? <= SEGMENT_HEADER_LEN => {
                // A crash while the segment was being created: nothing was written to it.
                report.push((false, format!("{}: incomplete segment header ({why}); the segment was being created when the agent stopped and holds no events; removing it", path.display())));
                remove.push(id);
                continue;
            }
            Err(why) => report.push((
                true,
                format!(
                    "{}: damaged segment header ({why}); reading its records anyway",
                    path.display()
                ),
            )),
        }
        let mut offset = if id == at.segment {
            at.offset
        } else {
            SEGMENT_HEADER_LEN
        };
        loop {
            match r.read_at(offset).map_err(io)? {
                Next::End => break,
                Next::Record {
                    header,
                    payload,
                    next,
                } => {
                    bytes += next - offset;
                    match header.kind {
                        Kind::Put => {
                            let (start, end) = (header.seq, header.seq + header.count as u64);
                            if let Some(exp) = expected_seq {
                                if start > exp && exp >= watermark {
                                    // Records between were lost (damage reported above).
                                    lost += taken.missing_in(exp, start);
                                }
                            }
                            expected_seq = Some(end);
                            next_seq = next_seq.max(end);
                            let from = start.max(watermark);
                            if from < end {
                                puts.add(from, end);
                                first_pending.get_or_insert(Pos {
                                    segment: id,
                                    offset,
                                });
                            }
                        }
                        Kind::Take => {
                            let ranges = decode_ranges(&payload, header.count).map_err(|why| {
                                FileChannelError::Inconsistent(format!(
                                    "{} at offset {offset}: {why}",
                                    path.display()
                                ))
                            })?;
                            for (s, n) in ranges {
                                taken.add(s, s + n as u64);
                            }
                        }
                    }
                    offset = next;
                }
                Next::Bad { why, file_len } if is_newest => {
                    report.push((false, format!(
                        "{} at offset {offset}: torn or damaged record ({why}); cutting off the last {} bytes, which no commit was acknowledged for (a crash during a write leaves this)",
                        path.display(),
                        file_len - offset
                    )));
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io)?;
                    super::dirs::truncate_synced(&f, offset).map_err(io)?;
                    break;
                }
                Next::Bad { why, file_len } => {
                    report.push((true, format!(
                        "{} at offset {offset}: damaged record ({why}); the remaining {} bytes of this segment cannot be read and their events are lost (the disk lost data); continuing with the next segment",
                        path.display(),
                        file_len - offset
                    )));
                    break;
                }
            }
        }
        // What this start goes on from must survive a power loss: the process that wrote
        // this segment may have been killed before syncing its last take records (a take
        // commit does not wait for the disk), and nothing of this process would ever sync
        // them (it writes new segments only). Unsynced, a power loss even much later would
        // bring back takes committed before the kill, and leave a torn record in what is no
        // longer the newest segment, which the next start reports as events lost. A segment
        // already synced costs next to nothing here.
        if let Err(e) = r.sync() {
            report.push((false, format!(
                "{}: cannot sync it ({e}); events delivered before the agent stopped may be delivered again after a power loss",
                path.display()
            )));
        }
    }
    for id in remove {
        if let Some(p) = segments.remove(&id) {
            let _ = std::fs::remove_file(p);
        }
    }
    // Pending: put, at or above the watermark, not taken.
    let mut first_seq = watermark;
    let mut events = 0u64;
    for &(a, b) in &puts.0 {
        events += taken.missing_in(a, b);
    }
    // Advance past what is delivered at the head, so reading starts where work is.
    if let Some(&(_, end)) = taken
        .0
        .iter()
        .find(|(a, b)| *a <= first_seq && *b > first_seq)
    {
        first_seq = end;
    }
    let skip: VecDeque<(u64, u64)> = taken
        .0
        .iter()
        .filter(|(_, b)| *b > first_seq)
        .map(|&(a, b)| (a.max(first_seq), b))
        .collect();
    if lost > 0 {
        report.push((
            true,
            format!("{lost} events were lost to damaged records (see above)"),
        ));
    }
    let disk = DiskPart {
        cursor: first_pending.unwrap_or(at),
        events,
        first_seq,
        skip: if events > 0 { skip } else { VecDeque::new() },
    };
    Ok(Recovered {
        first_new_segment: segments
            .keys()
            .next_back()
            .map_or(1, |id| id + 1)
            .max(at.segment),
        segments,
        next_seq: next_seq.max(first_seq),
        disk,
        report,
        checkpoint: cp,
        bytes,
        started,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_sets_merge_and_count_what_is_missing() {
        let mut s = RangeSet::default();
        s.add(10, 20);
        s.add(20, 30);
        s.add(40, 50);
        s.add(5, 12);
        assert_eq!(s.0, [(5, 30), (40, 50)]);
        assert_eq!(s.missing_in(0, 60), 5 + 10 + 10);
        assert_eq!(s.missing_in(25, 45), 10);
        assert_eq!(s.missing_in(12, 13), 0);
    }
}
