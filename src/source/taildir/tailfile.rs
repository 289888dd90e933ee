//! One tailed file: identity (device + inode, never the name), an open handle, the offset of the
//! next unread line, and the bytes read past it that do not yet form a complete line.
//!
//! Lines end at `\n`; a `\r` before it is removed (Flume's `TailFile.readLine`); bytes are never
//! decoded. Lines are `Bytes` slices of the read buffer: no copy, one allocation per read, and a
//! read is sized by what the file actually has, so a thousand quiet files hold almost no memory.
//!
//! A line longer than `rflume.maxLineLength` is never held whole (Flume's `TailFile` buffers any
//! line): its first `maxLineLength` bytes become an event as soon as they are read, and then
//! either the next pieces do too (`split`) or the rest up to its `\n` is skipped (`truncate`).
//! Each piece is a complete event with its own offset, so delivered positions stay exact and a
//! restart resumes at a piece boundary.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::acks::FileAcks;
use super::position::{self, FpEntry};
use crate::source::framer::{LineLimit, LongLine, LongLines};

/// Bytes kept from just before the read position: a copytruncate copy that ends within this
/// window of where the original had been read can be verified byte for byte (the writer's lines
/// between the copy and the truncation are what separates the two).
pub const RECENT_LEN: u64 = 4096;
/// Bytes kept beyond [`RECENT_LEN`] before the window is moved (see `TailFile::recent`).
const RECENT_SLACK: usize = 2048;
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
    /// The last bytes before `next_offset`: [`TailFile::recent`] is the last [`RECENT_LEN`] of
    /// them. Up to [`RECENT_SLACK`] more are kept, so that the bytes kept move once every 2 KiB
    /// read rather than at every line (4 KiB moved per line was 6 % of the samples with 1,000
    /// files). The vector's capacity is what it was when the window was exact (its doubling
    /// already reached 6,400 bytes for 4 KiB).
    recent: Vec<u8>,
    /// False for a file that appeared while running and has not yet been told apart from a copy
    /// of a known file (copytruncate): it is not read until it is.
    pub classified: bool,
    /// The known file this one may be a copy of.
    pub copy_of: Option<FileId>,
    /// Size at the last classification attempt and when it last changed (a copy being written).
    pub seen_size: u64,
    pub seen_growth: Instant,
    /// The line being read is longer than the limit (see the module doc).
    long: LongState,
    /// Long lines whose end was seen, for the tailer to count and log.
    long_lines: Vec<LongLine>,
}

/// Progress through a line longer than the limit.
#[derive(Default)]
struct LongState {
    /// Bytes of the line already shipped or skipped (0: the current line is not long).
    len: u64,
    events: u64,
    dropped: u64,
    /// `truncate`: skipping the rest of the line.
    skipping: bool,
}

/// The outcome of one read attempt.
pub struct Read {
    pub lines: Vec<Line>,
    /// Nothing more to read right now.
    pub at_eof: bool,
    /// Bytes read from the file by this call (0 with `at_eof`: the file has nothing past what
    /// was read, or is shorter than that: truncated).
    pub bytes_read: u64,
}

/// How a read learns how much there is to read.
pub enum Extent<'a> {
    /// The file's size, from a stat: a read is sized to what the file has.
    Size(u64),
    /// Not asked (a stat per file and pass was 9 % of the samples with 1,000 files): reads go
    /// to this buffer, and what they got is copied into one sized to it, so a line still holds
    /// only its own read's bytes. A read shorter than the buffer is the end of the file.
    Scratch(&'a mut [u8]),
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
            long: LongState::default(),
            long_lines: Vec::new(),
        }
    }

    /// The long lines completed since the last call.
    pub fn take_long_lines(&mut self) -> Vec<LongLine> {
        std::mem::take(&mut self.long_lines)
    }

    /// The current line ended after `last_piece` more bytes: if it was a long one, report it.
    fn end_of_line(&mut self, last_piece: usize) {
        let long = std::mem::take(&mut self.long);
        if long.len == 0 {
            return;
        }
        self.long_lines.push(LongLine {
            len: long.len + last_piece as u64,
            events: long.events + u64::from(last_piece > 0),
            dropped: long.dropped,
        });
    }

    /// Consumes `n` bytes of the buffer as part of the current line without shipping them.
    fn skip(&mut self, n: usize, dropped: usize) {
        let raw = self.buf.split_to(n);
        Self::remember(&mut self.head, &mut self.recent, &raw, self.next_offset);
        self.next_offset += n as u64;
        self.long.len += dropped as u64;
        self.long.dropped += dropped as u64;
    }

    /// The first `max` bytes of an over-long line, as an event.
    fn cut_piece(&mut self, limit: &LineLimit) -> Line {
        let piece = self.buf.split_to(limit.max).freeze();
        let offset = self.next_offset;
        Self::remember(&mut self.head, &mut self.recent, &piece, offset);
        self.next_offset += piece.len() as u64;
        self.long.len += piece.len() as u64;
        self.long.events += 1;
        self.long.skipping = limit.policy == LongLines::Truncate;
        Line {
            body: piece,
            offset,
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
        let f = open_for_reading(&self.path)?;
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
        if self.recent().len() < want_recent {
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
            if recent.len() + raw.len() > tail_max + RECENT_SLACK {
                // Keep what makes RECENT_LEN bytes with this line.
                recent.drain(..recent.len() + raw.len() - tail_max);
            }
            recent.extend_from_slice(raw);
        }
    }

    /// The last (up to [`RECENT_LEN`]) bytes before `next_offset`.
    pub fn recent(&self) -> &[u8] {
        let n = self.recent.len();
        &self.recent[n.saturating_sub(RECENT_LEN as usize)..]
    }

    /// Sets the bytes before `next_offset` (a file continuing another one's content).
    pub fn set_recent(&mut self, recent: Vec<u8>) {
        self.recent = recent;
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
        self.long = LongState::default();
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
        self.long = LongState::default();
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
            recent: self.recent().to_vec(),
            acks: self.acks.clone(),
            at: Instant::now(),
        }
    }

    /// Reads up to `max_lines` complete lines (pieces of lines longer than `limit.max` count as
    /// lines). Holds at most `limit.max + 1` bytes of a line plus one read.
    pub fn read_lines(
        &mut self,
        max_lines: usize,
        size: u64,
        limit: &LineLimit,
    ) -> std::io::Result<Read> {
        self.read_lines_in(max_lines, Extent::Size(size), limit)
    }

    /// [`TailFile::read_lines`], with the file's extent known or not.
    pub fn read_lines_in(
        &mut self,
        max_lines: usize,
        mut extent: Extent<'_>,
        limit: &LineLimit,
    ) -> std::io::Result<Read> {
        let mut out = Read {
            lines: Vec::new(),
            at_eof: false,
            bytes_read: 0,
        };
        // A short read into the scratch buffer saw the end of the file.
        let mut end_seen = false;
        if self.file.is_none() {
            out.at_eof = true;
            return Ok(out);
        }
        let max = limit.max.max(1);
        let limit = &LineLimit { max, ..*limit };
        let mut scanned = 0usize;
        loop {
            while out.lines.len() < max_lines {
                if self.long.skipping {
                    match memchr::memchr(b'\n', &self.buf) {
                        None => {
                            // A last `\r` may be the first half of the line's `\r\n`.
                            let keep = usize::from(self.buf.last() == Some(&b'\r'));
                            let n = self.buf.len() - keep;
                            self.skip(n, n);
                            break;
                        }
                        Some(i) => {
                            let cr = usize::from(i > 0 && self.buf[i - 1] == b'\r');
                            self.skip(i + 1, i - cr);
                            self.end_of_line(0);
                            continue;
                        }
                    }
                }
                // A line of exactly `max` bytes may still be followed by `\r\n`.
                let window = self.buf.len().min(max + 2);
                let found = memchr::memchr(b'\n', &self.buf[scanned.min(window)..window])
                    .map(|i| scanned.min(window) + i);
                let Some(i) = found else {
                    if self.buf.len() < max + 2 {
                        scanned = self.buf.len();
                        break;
                    }
                    scanned = 0;
                    let piece = self.cut_piece(limit);
                    out.lines.push(piece);
                    continue;
                };
                let mut end = i;
                if end > 0 && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                if end > max {
                    scanned = 0;
                    let piece = self.cut_piece(limit);
                    out.lines.push(piece);
                    continue;
                }
                let line = self.buf.split_to(i + 1).freeze();
                scanned = 0;
                let offset = self.next_offset;
                Self::remember(&mut self.head, &mut self.recent, &line, offset);
                self.next_offset += line.len() as u64;
                self.end_of_line(end);
                out.lines.push(Line {
                    body: line.slice(..end),
                    offset,
                });
            }
            if out.lines.len() >= max_lines {
                return Ok(out);
            }
            let end = self.next_offset + self.buf.len() as u64;
            let want = match &extent {
                Extent::Size(size) => size.saturating_sub(end).min(MAX_READ),
                Extent::Scratch(scratch) if !end_seen => scratch.len() as u64,
                Extent::Scratch(_) => 0,
            };
            if want == 0 {
                out.at_eof = true;
                if self.buf.is_empty() {
                    // Nothing held: give the allocation back (lines already framed keep theirs).
                    self.buf = BytesMut::new();
                }
                return Ok(out);
            }
            let Some(file) = self.file.as_ref() else {
                out.at_eof = true;
                return Ok(out);
            };
            let n = match &mut extent {
                Extent::Size(_) => {
                    let old = self.buf.len();
                    self.buf.reserve(want as usize);
                    self.buf.resize(old + want as usize, 0);
                    let n = file.read_at(&mut self.buf[old..], end)?;
                    self.buf.truncate(old + n);
                    n
                }
                Extent::Scratch(scratch) => {
                    let n = file.read_at(scratch, end)?;
                    end_seen = n < scratch.len();
                    self.buf.extend_from_slice(&scratch[..n]);
                    n
                }
            };
            if n > 0 {
                self.last_read = Instant::now();
                out.bytes_read += n as u64;
            } else {
                out.at_eof = true;
                return Ok(out);
            }
        }
    }

    /// The unterminated last line, emitted when the file goes idle (Flume does the same): one
    /// line, or two pieces when it is one byte longer than the limit (`split`). A line being
    /// skipped (`truncate`) ends here.
    pub fn take_partial(&mut self, limit: &LineLimit) -> Vec<Line> {
        let mut lines = Vec::new();
        if self.long.skipping {
            let n = self.buf.len();
            let cr = usize::from(self.buf.last() == Some(&b'\r'));
            self.skip(n, n - cr);
            self.end_of_line(0);
            return lines;
        }
        if self.buf.is_empty() {
            return lines;
        }
        let max = limit.max.max(1);
        let mut body_len = self.buf.len();
        if self.buf[body_len - 1] == b'\r' {
            body_len -= 1;
        }
        if body_len > max {
            lines.push(self.cut_piece(&LineLimit { max, ..*limit }));
            if self.long.skipping {
                let n = self.buf.len();
                let cr = usize::from(self.buf.last() == Some(&b'\r'));
                self.skip(n, n - cr);
                self.end_of_line(0);
                return lines;
            }
        }
        let offset = self.next_offset;
        let line = self.buf.split().freeze();
        Self::remember(&mut self.head, &mut self.recent, &line, offset);
        self.next_offset += line.len() as u64;
        let mut end = line.len();
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        self.end_of_line(end);
        lines.push(Line {
            body: line.slice(..end),
            offset,
        });
        lines
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

/// Opens a file to tail without updating its access time on every read: on a `relatime` mount
/// a read after a write dirties the inode (an ext4 journal update per file and pass, 7 % of the
/// samples with 1,000 files written at 10 lines/s). `O_NOATIME` needs the file's owner (or
/// CAP_FOWNER); otherwise the file is opened as usual.
pub fn open_for_reading(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => File::open(path),
        r => r,
    }
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
        let r = t.read_lines(10, size, &LineLimit::default()).expect("read");
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
        let r = t.read_lines(1, size, &LineLimit::default()).expect("read");
        assert_eq!(&r.lines[0].body[..], b"three");
        assert_eq!(r.lines[0].offset, 9);
        assert!(!r.at_eof, "stopped at max_lines");
        let r = t.read_lines(10, size, &LineLimit::default()).expect("read");
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
        assert!(t
            .read_lines(10, size, &LineLimit::default())
            .expect("read")
            .lines
            .is_empty());
        let mut partial = t.take_partial(&LineLimit::default());
        assert_eq!(partial.len(), 1);
        let Line { body, offset } = partial.remove(0);
        assert_eq!((&body[..], offset), (&b"no newline"[..], 0));
        assert_eq!(t.next_offset, 10);
    }

    /// Reads `content` with `limit` in reads of at most `MAX_READ`, then takes the partial line;
    /// returns (body, offset) of every event and the long lines reported.
    fn read_all(content: &[u8], limit: LineLimit) -> (Vec<(Vec<u8>, u64)>, Vec<LongLine>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, content).expect("write");
        let Identity { id, size, mtime } = identity(&p).expect("stat");
        let mut t = TailFile::new(p, 0, id, 0, mtime);
        assert!(t.open().expect("open"));
        let mut got = Vec::new();
        loop {
            let r = t.read_lines(3, size, &limit).expect("read");
            // Stopped by the line count, the rest of a read is still held; at the end of what
            // the file has, only part of one line is.
            assert!(
                !r.at_eof || t.partial_len() <= limit.max + 1,
                "holds {} bytes",
                t.partial_len()
            );
            got.extend(r.lines.into_iter().map(|l| (l.body.to_vec(), l.offset)));
            if r.at_eof {
                break;
            }
        }
        got.extend(
            t.take_partial(&limit)
                .into_iter()
                .map(|l| (l.body.to_vec(), l.offset)),
        );
        assert_eq!(t.next_offset, size, "every byte accounted for");
        (got, t.take_long_lines())
    }

    fn lines(v: &[(&str, u64)]) -> Vec<(Vec<u8>, u64)> {
        v.iter().map(|(b, o)| (b.as_bytes().to_vec(), *o)).collect()
    }

    #[test]
    fn long_lines_split_at_the_limit_with_exact_offsets() {
        let limit = LineLimit {
            max: 4,
            policy: LongLines::Split,
        };
        let (got, long) = read_all(b"abcd\r\nabcde\n0123456789\nok\n01234", limit);
        assert_eq!(
            got,
            lines(&[
                ("abcd", 0),
                ("abcd", 6),
                ("e", 10),
                ("0123", 12),
                ("4567", 16),
                ("89", 20),
                ("ok", 23),
                ("0123", 26),
                ("4", 30),
            ])
        );
        assert_eq!(
            long.iter().map(|l| (l.len, l.events)).collect::<Vec<_>>(),
            vec![(5, 2), (10, 3), (5, 2)]
        );
    }

    #[test]
    fn long_lines_truncated_skip_to_the_newline() {
        let limit = LineLimit {
            max: 4,
            policy: LongLines::Truncate,
        };
        let (got, long) = read_all(b"abcde\r\n0123456789\nok\nabcd\n01234", limit);
        assert_eq!(
            got,
            lines(&[
                ("abcd", 0),
                ("0123", 7),
                ("ok", 18),
                ("abcd", 21),
                ("0123", 26)
            ])
        );
        assert_eq!(
            long.iter().map(|l| (l.len, l.dropped)).collect::<Vec<_>>(),
            vec![(5, 1), (10, 6), (5, 1)]
        );
    }

    #[test]
    fn a_ten_megabyte_line_is_read_in_pieces() {
        let mut content = vec![b'x'; 10_000_000];
        content.extend_from_slice(b"\nafter\n");
        let (got, long) = read_all(&content, LineLimit::default());
        let max = LineLimit::default().max;
        assert_eq!(got.len(), 10_000_000usize.div_ceil(max) + 1);
        assert!(got[..got.len() - 2].iter().all(|(b, _)| b.len() == max));
        assert_eq!(got.last().map(|(b, _)| b.as_slice()), Some(&b"after"[..]));
        assert_eq!(long[0].len, 10_000_000);
    }
}
