//! A followed file's fingerprint at its delivered position: what the position file's sidecar
//! saves so that a restart can tell the same file from a new one on a reused inode
//! (`position.rs`). Computed from the bytes already read whenever they cover it, so a position
//! write over many files reads none of them.

use super::position::{self, FpEntry};
use super::tailfile::{TailFile, RECENT_LEN};

impl TailFile {
    /// The fingerprint of this file at its delivered position, recomputed only when the
    /// position moved, and then from the bytes already read when they cover it (the head, and
    /// the last [`RECENT_LEN`] bytes before the read offset: a delivered position is seldom
    /// further behind). Only a position further back than that costs reads of the file (and
    /// only while it is open).
    pub fn refresh_fingerprint(&mut self) -> Option<FpEntry> {
        let pos = self.acks.delivered();
        if let Some(fp) = &self.fingerprint {
            if fp.pos == pos && fp.head.len >= position::HEAD_LEN.min(pos) {
                return Some(fp.clone());
            }
        }
        let fp = match self.fingerprint_from_memory(pos) {
            Some(fp) => fp,
            None => {
                let file = self.handle()?;
                let size = file.metadata().ok()?.len();
                FpEntry {
                    inode: self.id.ino,
                    dev: self.id.dev,
                    pos,
                    head: position::head_fingerprint(file, size).ok()?,
                    tail: position::tail_fingerprint(file, pos).ok()?,
                }
            }
        };
        self.fingerprint = Some(fp.clone());
        Some(fp)
    }

    /// The fingerprint at `pos` from `head` and `recent`, when they hold the bytes it covers.
    /// `head` is the file's first bytes, read in order from offset 0 (any prefix of at least
    /// `min(pos, HEAD_LEN)` bytes identifies the file as well as the one a read of the file
    /// would give); `recent` ends at `next_offset` when it is as long as the bytes before it
    /// allow (a resumed file whose context could not be read in full is not used).
    fn fingerprint_from_memory(&self, pos: u64) -> Option<FpEntry> {
        let head_len = self.head.len() as u64;
        if head_len < position::HEAD_LEN.min(pos) || pos > self.next_offset {
            return None;
        }
        let recent = self.recent();
        let recent_len = recent.len() as u64;
        if recent_len != RECENT_LEN.min(self.next_offset) {
            return None;
        }
        let tail_len = position::TAIL_LEN.min(pos);
        // Where the tail's bytes start in `recent` (which starts at next_offset - recent_len).
        let start = (pos - tail_len).checked_sub(self.next_offset - recent_len)? as usize;
        let tail = &recent[start..start + tail_len as usize];
        // The head's hash changes only while the first HEAD_LEN bytes are being read.
        let head = match &self.fingerprint {
            Some(fp) if fp.head.len == head_len => fp.head,
            _ => position::Fingerprint {
                len: head_len,
                hash: position::fnv1a(&self.head),
            },
        };
        Some(FpEntry {
            inode: self.id.ino,
            dev: self.id.dev,
            pos,
            head,
            tail: position::Fingerprint {
                len: tail_len,
                hash: position::fnv1a(tail),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;
    use crate::source::framer::LineLimit;
    use crate::source::taildir::acks::FileAcks;
    use crate::source::taildir::tailfile::{identity, Identity};

    /// A fingerprint at a position within the bytes just read comes from memory (no handle
    /// needed) and is what the file says there; one further back is read from the file.
    #[test]
    fn fingerprints_come_from_the_bytes_read_and_match_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        let text: String = (0..400)
            .map(|i| format!("line {i:05} of the file\n"))
            .collect();
        std::fs::write(&p, &text).expect("write");
        let Identity { id, size, mtime } = identity(&p).expect("stat");
        let mut t = TailFile::new(p.clone(), 0, id, 0, mtime);
        assert!(t.open().expect("open"));
        while !t
            .read_lines(1000, size, &LineLimit::default())
            .expect("read")
            .at_eof
        {}
        assert_eq!(t.next_offset, size);
        // 10 KB read line by line: the window was moved on the way and is still exact.
        assert_eq!(
            t.recent(),
            &text.as_bytes()[text.len() - RECENT_LEN as usize..]
        );
        let file = File::open(&p).expect("open");
        let at = |t: &mut TailFile, pos: u64| {
            t.acks = FileAcks::new(pos);
            t.refresh_fingerprint()
        };
        t.close();
        for pos in [
            size,
            size - 1,
            size - 1000,
            size - RECENT_LEN + position::TAIL_LEN,
        ] {
            let fp = at(&mut t, pos).expect("from the bytes read, without a handle");
            assert_eq!(
                fp.tail,
                position::tail_fingerprint(&file, pos).expect("tail")
            );
            assert!(position::matches(&file, size, &fp).expect("io"), "at {pos}");
        }
        let far = size - RECENT_LEN;
        assert_eq!(
            at(&mut t, far),
            None,
            "not in memory, and no handle to read it"
        );
        assert!(t.open().expect("open"));
        let fp = at(&mut t, far).expect("read from the file");
        assert!(position::matches(&file, size, &fp).expect("io"));
    }
}
