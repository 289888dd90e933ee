//! Copytruncate lineage: is a file that appeared while running a copy of content already read (of a
//! file since truncated, renamed away or deleted)? logrotate's `copytruncate` copies `app.log` to
//! `app.log.1` and then truncates `app.log`; read from 0, the copy would ship again everything the
//! original had shipped. So what a file held is remembered (its head, how far it was read and the
//! bytes just before that, the tracker of its deliveries) when it is truncated or goes away, and a
//! new file whose head is a known file's head continues where that one was read, once the bytes
//! there agree. Never guesses towards loss: a copy that cannot be confirmed is read from its first
//! line.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::position;
use super::tailer::Tailer;
use super::tailfile::{self, Lineage, TailFile};

/// A possible copy that stopped growing short of the original's read offset for this long is
/// not a copy after all.
const COPY_SETTLE: Duration = Duration::from_secs(2);
/// How long a truncated or vanished file's content is remembered for its copies.
const HISTORY_KEEP: Duration = Duration::from_secs(120);

/// Where a file that appeared while running starts.
enum Classified {
    /// Not decided yet (a copy being written, or a prefix of a live file): do not read it.
    Wait,
    /// An independent file: from its first line.
    FromZero,
    /// A copy of a truncated or vanished file: continue where that one was read.
    Adopt(Lineage),
    /// A complete copy of content already read from the original: start at its end.
    AdoptAt(u64),
}

impl Tailer {
    /// Starts a file that appeared while running where `classify` says: at its first
    /// line, or where the file it is a copy of had been read. False while that is not decided
    /// (the file is not read until it is).
    pub(super) fn place_new_file(&mut self, t: &mut TailFile, size: u64) -> bool {
        match self.classify(t, size) {
            Classified::Wait => return false,
            Classified::FromZero => {
                debug!(source = %self.name, "{} (inode {}) is a file of its own (copy of {:?}: no); reading it from offset 0", t.path.display(), t.id.ino, t.copy_of);
                t.classified = true;
                t.copy_of = None;
            }
            Classified::AdoptAt(pos) => {
                info!(source = %self.name, "{} is a complete copy of content already read from a file that was truncated (copytruncate); nothing new in it, continuing at its end (offset {pos})", t.path.display());
                t.start_at(pos);
                t.classified = true;
                t.copy_of = None;
            }
            Classified::Adopt(h) => {
                info!(source = %self.name, "{} is a copy of a file that was truncated or moved away (copytruncate); continuing it at offset {} where that file had been read", t.path.display(), h.read_to);
                t.next_offset = h.read_to;
                t.acks = h.acks;
                t.head = h.head;
                t.set_recent(h.recent);
                t.classified = true;
                t.copy_of = None;
            }
        }
        true
    }

    /// Decides where a file that appeared while running starts. A copy of a known file —
    /// copytruncate's `.1`, whose head is the original's head — continues where the original
    /// had been read, once the original was truncated or went away (until then the original is
    /// the one read, and the copy holds nothing new). Anything else starts at its first line.
    /// Never guesses towards loss: when a copy cannot be confirmed, the file is read from 0.
    fn classify(&mut self, t: &mut TailFile, size: u64) -> Classified {
        if !t.is_open() {
            return Classified::Wait;
        }
        let read = |t: &TailFile, offset: u64, len: u64| {
            t.handle()
                .map(|f| tailfile::read_exact_at(f, offset, len as usize))
                .unwrap_or_default()
        };
        if size != t.seen_size {
            t.seen_size = size;
            t.seen_growth = Instant::now();
        }
        let head = read(t, 0, position::HEAD_LEN.min(size));
        let is_prefix = |known: &[u8]| {
            let k = head.len().min(known.len());
            k > 0 && head[..k] == known[..k]
        };
        if t.copy_of.is_none() {
            let live = self
                .files
                .values()
                .filter(|o| o.id.dev == t.id.dev && o.id.ino != t.id.ino && o.classified)
                .find(|o| is_prefix(&o.head))
                .map(|o| o.id);
            let past = self
                .history
                .iter()
                .rev()
                .find(|h| h.origin.dev == t.id.dev && is_prefix(&h.head))
                .map(|h| h.origin);
            match live.or(past) {
                Some(origin) => t.copy_of = Some(origin),
                None => return Classified::FromZero,
            }
        }
        let Some(origin) = t.copy_of else {
            return Classified::FromZero;
        };
        // The original was truncated or went away: continue the copy where it was read. The
        // same inode may have been truncated before (an earlier rotation): only the content
        // whose head this copy starts with counts.
        if let Some(h) = self
            .history
            .iter()
            .rev()
            .find(|h| h.origin == origin && is_prefix(&h.head))
        {
            return continue_copy(t, size, h.clone());
        }
        // The original is still there: while this file is a byte-for-byte prefix of it, it is a
        // copy in progress (or a backup) and holds nothing the original does not.
        let Some(o) = self.files.get(&origin) else {
            return Classified::FromZero;
        };
        let Some(ofile) = o.handle() else {
            return Classified::FromZero;
        };
        let osize = ofile.metadata().map(|m| m.len()).unwrap_or(0);
        if osize < o.next_offset + o.partial_len() as u64 {
            // The original was truncated and this pass has not reached it yet: same as above.
            return continue_copy(t, size, o.lineage());
        }
        if size > osize {
            return Classified::FromZero;
        }
        let k = position::TAIL_LEN.min(size);
        let mine = read(t, size - k, k);
        let theirs = tailfile::read_exact_at(ofile, size - k, k as usize);
        if mine == theirs {
            Classified::Wait
        } else {
            Classified::FromZero
        }
    }

    /// Keeps what a truncated or forgotten file held, for a copy of it that may turn up.
    pub(super) fn remember(&mut self, lineage: Lineage) {
        if lineage.read_to > 0 {
            self.history.push(lineage);
        }
    }

    /// Forgets content remembered longer than [`HISTORY_KEEP`]; a copy that turns up later is
    /// read from its first line.
    pub(super) fn forget_old_history(&mut self) {
        self.history.retain(|h| h.at.elapsed() < HISTORY_KEEP);
    }
}

/// A possible copy of `h`'s content: it continues at `h.read_to` when the bytes just before
/// that offset are the ones `h` had read there; it is waited for while it is still being written
/// up to that offset; anything else is an independent file, read from 0.
fn continue_copy(t: &TailFile, size: u64, h: Lineage) -> Classified {
    let read = |offset: u64, len: u64| {
        t.handle()
            .map(|f| tailfile::read_exact_at(f, offset, len as usize))
            .unwrap_or_default()
    };
    let p = h.read_to;
    let window = h.recent.len() as u64;
    if size >= p {
        let k = window.min(p);
        return if read(p - k, k) == h.recent {
            Classified::Adopt(h)
        } else {
            Classified::FromZero
        };
    }
    // Shorter than what was read of the original: lines written between the copy and the
    // truncation were read from the original itself. When the copy's end falls inside the kept
    // window and its last bytes are the original's bytes there, it holds nothing unread.
    let window_start = p - window;
    if size > window_start {
        let k = (size - window_start).min(position::TAIL_LEN);
        let from = (size - k - window_start) as usize;
        if read(size - k, k) == h.recent[from..from + k as usize] {
            return Classified::AdoptAt(size);
        }
        return Classified::FromZero;
    }
    if t.seen_growth.elapsed() < COPY_SETTLE {
        Classified::Wait
    } else {
        Classified::FromZero
    }
}
