//! One tailed file: identity (device + inode, never the name), an open handle, the offset of the
//! next unread line, and the bytes read past it that do not yet form a complete line.
//!
//! Lines end at `\n`; a `\r` before it is removed (Flume's `TailFile.readLine`); bytes are never
//! decoded. Lines are `Bytes` slices of the read buffer: no copy, one allocation per read, and a
//! read is sized by what the file actually has, so a thousand quiet files hold almost no memory.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::acks::FileAcks;
use super::position::{self, FpEntry};

/// Bytes kept from just before the read position: a copytruncate copy that ends within this
/// window of where the original had been read can be verified byte for byte (the writer's lines
/// between the copy and the truncation are what separates the two).
pub const RECENT_LEN: u64 = 4096;
/// Largest single read.
const MAX_READ: u64 = 256 * 1024;

/// A file's identity: device and inode, never its name (a renamed file is the same file, and a
/// new file under an old name is another one). Ordered as (device, inode): the order in which
/// positions are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(m: &Metadata) -> Self {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// What a path names right now: which file, how long, modified when (seconds, for ordering).
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    pub id: FileId,
    pub size: u64,
    pub mtime: i64,
}

impl Identity {
    pub fn of(m: &Metadata) -> Self {
        Identity {
            id: FileId::of(m),
            size: m.len(),
            mtime: m.mtime(),
        }
    }
}

/// Size and link count of an open handle; no links left means the file was deleted while open.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub size: u64,
    pub nlink: u64,
}

/// One line without its `\n` (nor a `\r` before it), with the file offset of its first byte
/// (Flume's `byteoffset` header).
#[derive(Debug)]
pub struct Line {
    pub body: Bytes,
    pub offset: u64,
}

pub struct TailFile {
    pub id: FileId,
    pub path: PathBuf,
    pub group: usize,
    file: Option<File>,
    /// File offset of `buf[0]`: everything before it was handed to the channel.
    pub next_offset: u64,
    buf: BytesMut,
    pub acks: Arc<FileAcks>,
    /// Last time new bytes were read (drives `idleTimeout`).
    pub last_read: Instant,
    /// Matched by the file groups in the last scan (false: renamed away or deleted; drained
    /// until idle, then forgotten).
    pub listed: bool,
    /// Modification time at the last scan, for oldest-first ordering.
    pub mtime: i64,
    /// The fingerprint last persisted, and the delivered position it describes.
    pub fingerprint: Option<FpEntry>,
    /// The file's first bytes (up to `position::HEAD_LEN`), kept to recognise copies of it.
    pub head: Vec<u8>,
    /// The last bytes (up to [`RECENT_LEN`]) before `next_offset`.
    pub recent: Vec<u8>,
    /// False for a file that appeared while running and has not yet been told apart from a copy
    /// of a known file (copytruncate): it is not read until it is.
    pub classified: bool,
    /// The known file this one may be a copy of.
    pub copy_of: Option<FileId>,
    /// Size at the last classification attempt and when it last changed (a copy being written).
    pub seen_size: u64,
    pub seen_growth: Instant,
}

/// The outcome of one read attempt.
pub struct Read {
    pub lines: Vec<Line>,
    /// Nothing more to read right now.
    pub at_eof: bool,
}

impl TailFile {
    pub fn new(path: PathBuf, group: usize, id: FileId, pos: u64, mtime: i64) -> Self {
        TailFile {
            id,
            path,
            group,
            file: None,
            next_offset: pos,
            buf: BytesMut::new(),
            acks: FileAcks::new(pos),
            last_read: Instant::now(),
            listed: true,
            mtime,
            fingerprint: None,
            head: Vec::new(),
            recent: Vec::new(),
            classified: true,
            copy_of: None,
            seen_size: 0,
            seen_growth: Instant::now(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Opens the file by path, verifying it is still this inode.
    pub fn open(&mut self) -> std::io::Result<bool> {
        if self.file.is_some() {
            return Ok(true);
        }
        let f = File::open(&self.path)?;
        let m = f.metadata()?;
        if FileId::of(&m) != self.id {
            return Ok(false);
        }
        self.file = Some(f);
        self.last_read = Instant::now();
        self.load_context();
        Ok(true)
    }

    /// Reads the head and the bytes before `next_offset` when they are not known yet (a file
    /// resumed from a saved position).
    fn load_context(&mut self) {
        let Some(file) = self.file.as_ref() else {
            return;
        };
        let want_head = position::HEAD_LEN.min(self.next_offset) as usize;
        if self.head.len() < want_head {
            self.head = read_exact_at(file, 0, want_head);
        }
        let want_recent = RECENT_LEN.min(self.next_offset) as usize;
        if self.recent.len() < want_recent {
            self.recent = read_exact_at(file, self.next_offset - want_recent as u64, want_recent);
        }
    }

    /// Remembers the raw bytes of a framed line (head and recent windows).
    fn remember(head: &mut Vec<u8>, recent: &mut Vec<u8>, raw: &[u8], offset: u64) {
        let head_max = position::HEAD_LEN as usize;
        if (offset as usize) < head_max && head.len() == offset as usize {
            let take = (head_max - head.len()).min(raw.len());
            head.extend_from_slice(&raw[..take]);
        }
        let tail_max = RECENT_LEN as usize;
        if raw.len() >= tail_max {
            recent.clear();
            recent.extend_from_slice(&raw[raw.len() - tail_max..]);
        } else {
            let excess = (recent.len() + raw.len()).saturating_sub(tail_max);
            recent.drain(..excess);
            recent.extend_from_slice(raw);
        }
    }

    /// Adopts an already open handle (the scan opened it to fingerprint it).
    pub fn set_handle(&mut self, f: File) {
        self.file = Some(f);
        self.last_read = Instant::now();
        self.load_context();
    }

    pub fn close(&mut self) {
        self.file = None;
        self.buf = BytesMut::new();
    }

    pub fn handle(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Size and link count of the open handle.
    pub fn stat(&self) -> Option<Stat> {
        let m = self.file.as_ref()?.metadata().ok()?;
        Some(Stat {
            size: m.len(),
            nlink: m.nlink(),
        })
    }

    /// Bytes held past the last complete line.
    pub fn partial_len(&self) -> usize {
        self.buf.len()
    }

    /// Continues this file at `pos` with a fresh delivery tracker (a complete copy of content
    /// that was already read elsewhere).
    pub fn start_at(&mut self, pos: u64) {
        self.buf = BytesMut::new();
        self.next_offset = pos;
        self.acks = FileAcks::new(pos);
        self.fingerprint = None;
        self.head.clear();
        self.recent.clear();
        self.load_context();
    }

    /// The file shrank below what was read: restart from 0 (copytruncate, or `> file`).
    /// Returns what the file was before, for a copy of it to continue from.
    pub fn restart_from_zero(&mut self) -> Lineage {
        let before = self.lineage();
        self.buf = BytesMut::new();
        self.next_offset = 0;
        // A fresh tracker: batches still in flight belong to the old content (and to its copy,
        // if one turns up), not to the new one.
        self.acks = FileAcks::new(0);
        self.fingerprint = None;
        self.head.clear();
        self.recent.clear();
        before
    }

    /// What identifies the content read so far.
    pub fn lineage(&self) -> Lineage {
        Lineage {
            origin: self.id,
            head: self.head.clone(),
            read_to: self.next_offset,
            recent: self.recent.clone(),
            acks: self.acks.clone(),
            at: Instant::now(),
        }
    }

    /// Reads up to `max_lines` complete lines.
    pub fn read_lines(&mut self, max_lines: usize, size: u64) -> std::io::Result<Read> {
        let mut out = Read {
            lines: Vec::new(),
            at_eof: false,
        };
        let Some(file) = self.file.as_ref() else {
            out.at_eof = true;
            return Ok(out);
        };
        let mut scanned = 0usize;
        loop {
            while out.lines.len() < max_lines {
                let Some(i) = memchr::memchr(b'\n', &self.buf[scanned..]) else {
                    scanned = self.buf.len();
                    break;
                };
                let line = self.buf.split_to(scanned + i + 1).freeze();
                scanned = 0;
                let offset = self.next_offset;
                Self::remember(&mut self.head, &mut self.recent, &line, offset);
                self.next_offset += line.len() as u64;
                let mut end = line.len() - 1;
                if end > 0 && line[end - 1] == b'\r' {
                    end -= 1;
                }
                out.lines.push(Line {
                    body: line.slice(..end),
                    offset,
                });
            }
            if out.lines.len() >= max_lines {
                return Ok(out);
            }
            let end = self.next_offset + self.buf.len() as u64;
            let want = size.saturating_sub(end).min(MAX_READ);
            if want == 0 {
                out.at_eof = true;
                if self.buf.is_empty() {
                    // Nothing held: give the allocation back (lines already framed keep theirs).
                    self.buf = BytesMut::new();
                }
                return Ok(out);
            }
            let old = self.buf.len();
            self.buf.reserve(want as usize);
            self.buf.resize(old + want as usize, 0);
            let n = file.read_at(&mut self.buf[old..], end)?;
            self.buf.truncate(old + n);
            if n > 0 {
                self.last_read = Instant::now();
            } else {
                out.at_eof = true;
                return Ok(out);
            }
        }
    }

    /// The unterminated last line, emitted when the file goes idle (Flume does the same).
    pub fn take_partial(&mut self) -> Option<Line> {
        if self.buf.is_empty() {
            return None;
        }
        let offset = self.next_offset;
        let line = self.buf.split().freeze();
        Self::remember(&mut self.head, &mut self.recent, &line, offset);
        self.next_offset += line.len() as u64;
        let mut end = line.len();
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        Some(Line {
            body: line.slice(..end),
            offset,
        })
    }

    /// The fingerprint of this file at its delivered position, recomputed only when the
    /// position moved (one small read per file and position write).
    pub fn refresh_fingerprint(&mut self) -> Option<FpEntry> {
        let pos = self.acks.delivered();
        if let Some(fp) = &self.fingerprint {
            if fp.pos == pos && fp.head.len >= position::HEAD_LEN.min(pos) {
                return Some(fp.clone());
            }
        }
        let file = self.file.as_ref()?;
        let size = file.metadata().ok()?.len();
        let fp = FpEntry {
            inode: self.id.ino,
            dev: self.id.dev,
            pos,
            head: position::head_fingerprint(file, size).ok()?,
            tail: position::tail_fingerprint(file, pos).ok()?,
        };
        self.fingerprint = Some(fp.clone());
        Some(fp)
    }
}

/// What a file's content was, kept after it was truncated or went away, so that a copy of it
/// (copytruncate's `.1`) continues where it had been read instead of shipping it all again.
#[derive(Clone)]
pub struct Lineage {
    pub origin: FileId,
    pub head: Vec<u8>,
    /// Offset up to which lines were read (and put into the channel).
    pub read_to: u64,
    /// The bytes just before `read_to`.
    pub recent: Vec<u8>,
    /// The tracker of the lines read so far: a copy adopts it, so delivered positions stay true.
    pub acks: Arc<FileAcks>,
    pub at: Instant,
}

/// Up to `len` bytes at `offset` (fewer at end of file or on error).
pub fn read_exact_at(file: &File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    buf.truncate(done);
    buf
}

/// The identity, size and mtime of a path.
pub fn identity(path: &Path) -> std::io::Result<Identity> {
    std::fs::metadata(path).map(|m| Identity::of(&m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_crlf_partial_and_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"one\r\ntwo\nthr").expect("write");
        let Identity { id, size, mtime } = identity(&p).expect("stat");
        let mut t = TailFile::new(p.clone(), 0, id, 0, mtime);
        assert!(t.open().expect("open"));
        let r = t.read_lines(10, size).expect("read");
        let got: Vec<(&[u8], u64)> = r.lines.iter().map(|l| (&l.body[..], l.offset)).collect();
        assert_eq!(got, vec![(&b"one"[..], 0), (&b"two"[..], 5)]);
        assert!(r.at_eof);
        assert_eq!(t.partial_len(), 3, "the unterminated line is held");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("append");
        f.write_all(b"ee\n\xff\n").expect("write");
        let size = std::fs::metadata(&p).expect("stat").len();
        let r = t.read_lines(1, size).expect("read");
        assert_eq!(&r.lines[0].body[..], b"three");
        assert_eq!(r.lines[0].offset, 9);
        assert!(!r.at_eof, "stopped at max_lines");
        let r = t.read_lines(10, size).expect("read");
        assert_eq!(&r.lines[0].body[..], b"\xff");
        assert_eq!(t.next_offset, size);
    }

    #[test]
    fn partial_line_is_emitted_on_demand() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"no newline").expect("write");
        let Identity { id, size, mtime } = identity(&p).expect("stat");
        let mut t = TailFile::new(p, 0, id, 0, mtime);
        t.open().expect("open");
        assert!(t.read_lines(10, size).expect("read").lines.is_empty());
        let Line { body, offset } = t.take_partial().expect("partial");
        assert_eq!((&body[..], offset), (&b"no newline"[..], 0));
        assert_eq!(t.next_offset, 10);
    }
}
