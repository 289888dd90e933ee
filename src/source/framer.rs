//! Splits a byte stream into lines the way Java's `BufferedReader.readLine()` does for the exec
//! source: a line ends at `\n`, `\r\n` or a lone `\r`; the terminator is removed; a last line
//! without a terminator is still a line at end of input. Bytes are never decoded, so non-UTF-8
//! input passes through untouched.
//!
//! Lines are `Bytes` slices of one shared read buffer (`BytesMut::split_to`), so framing copies
//! nothing and allocates once per read buffer, not once per line.
//!
//! **Long lines** ([`LineLimit`], rflume's `rflume.maxLineLength` and `rflume.longLines`): Java's
//! `readLine` holds a line of any length in memory, so one runaway writer (a binary dumped into
//! a log, a JSON document without newlines) can exhaust Flume's heap, and the huge event then
//! wedges the Kafka sink. The framer never holds more than `maxLineLength` bytes of one line
//! plus one read: a longer line is cut into events of at most `maxLineLength` bytes (`split`,
//! the default, which keeps every byte) or shipped as its first `maxLineLength` bytes with the
//! rest skipped up to the terminator (`truncate`). Either way the line is reported
//! ([`LongLine`]) so that the source counts and logs it.

use bytes::{Bytes, BytesMut};

use crate::config::reader::PropReader;

/// Read buffer growth step: large reads keep syscalls per line low.
pub const READ_CHUNK: usize = 64 * 1024;

/// rflume's property for the longest line a file-reading source turns into one event (Flume's
/// exec and TAILDIR sources have no limit; netcat has its own `max-line-length`).
pub const MAX_LINE_LENGTH_KEY: &str = "rflume.maxLineLength";
/// What happens to a longer line: `split` or `truncate`.
pub const LONG_LINES_KEY: &str = "rflume.longLines";
/// 1 MiB: far above any log line, far below what hurts memory. Kafka's default record limit is
/// about 1 MB (librdkafka `message.max.bytes` 1,000,000), so a piece this large still goes to the
/// Kafka sink's dead-letter file unless the limits are raised together.
pub const DEFAULT_MAX_LINE_LENGTH: u64 = 1024 * 1024;
/// The largest accepted `rflume.maxLineLength`: a line is held in memory up to this size.
pub const MAX_MAX_LINE_LENGTH: u64 = 1024 * 1024 * 1024;

/// What a source does with a line longer than `max` bytes (terminator not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongLines {
    /// Events of `max` bytes, then the rest: nothing is lost, the line arrives in pieces.
    Split,
    /// One event of the first `max` bytes; the rest of the line is skipped (counted and logged).
    Truncate,
}

impl LongLines {
    pub fn name(self) -> &'static str {
        match self {
            LongLines::Split => "split",
            LongLines::Truncate => "truncate",
        }
    }
}

/// The longest line a source turns into one event, and what happens to a longer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineLimit {
    pub max: usize,
    pub policy: LongLines,
}

impl Default for LineLimit {
    fn default() -> Self {
        LineLimit {
            max: DEFAULT_MAX_LINE_LENGTH as usize,
            policy: LongLines::Split,
        }
    }
}

impl LineLimit {
    /// Reads `rflume.maxLineLength` and `rflume.longLines`; problems are recorded on `r`.
    pub fn parse(r: &mut PropReader) -> LineLimit {
        let mut max = r.positive(MAX_LINE_LENGTH_KEY, DEFAULT_MAX_LINE_LENGTH);
        if max > MAX_MAX_LINE_LENGTH {
            let line = r.line(MAX_LINE_LENGTH_KEY);
            r.error(
                MAX_LINE_LENGTH_KEY,
                line,
                format!("{max} bytes is more than a line may hold in memory ({MAX_MAX_LINE_LENGTH} at most)"),
                Some(format!("the default is {DEFAULT_MAX_LINE_LENGTH}")),
            );
            max = DEFAULT_MAX_LINE_LENGTH;
        }
        let policy = match r.raw(LONG_LINES_KEY) {
            None => LongLines::Split,
            Some((v, line)) => match v.trim().to_ascii_lowercase().as_str() {
                "split" => LongLines::Split,
                "truncate" => LongLines::Truncate,
                _ => {
                    r.error(
                        LONG_LINES_KEY,
                        Some(line),
                        format!("'{v}' is neither split nor truncate"),
                        Some("split (the default) keeps every byte in several events; truncate keeps the first rflume.maxLineLength bytes".to_string()),
                    );
                    LongLines::Split
                }
            },
        };
        LineLimit {
            max: max as usize,
            policy,
        }
    }

    /// `rflume check` rows.
    pub fn describe(&self) -> Vec<(String, String)> {
        vec![
            (MAX_LINE_LENGTH_KEY.to_string(), self.max.to_string()),
            (LONG_LINES_KEY.to_string(), self.policy.name().to_string()),
        ]
    }
}

/// A line that was longer than the limit, reported once its end was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongLine {
    /// Its length in bytes, terminator not counted.
    pub len: u64,
    /// Events it became.
    pub events: u64,
    /// Bytes skipped (`truncate`).
    pub dropped: u64,
}

impl LongLine {
    /// The log line for it, naming the limit and what happened.
    pub fn describe(&self, limit: &LineLimit) -> String {
        if self.dropped > 0 {
            format!(
                "a line of {} bytes is longer than {MAX_LINE_LENGTH_KEY} = {}: its first {} bytes \
                 were shipped and {} bytes dropped ({LONG_LINES_KEY} = truncate)",
                self.len,
                limit.max,
                self.len - self.dropped,
                self.dropped
            )
        } else {
            format!(
                "a line of {} bytes is longer than {MAX_LINE_LENGTH_KEY} = {}: shipped as {} \
                 events of at most {} bytes ({LONG_LINES_KEY} = split)",
                self.len, limit.max, self.events, limit.max
            )
        }
    }
}

#[derive(Debug)]
pub struct LineFramer {
    buf: BytesMut,
    limit: LineLimit,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    skip_lf: bool,
    /// How far `buf` has been scanned without finding a terminator (avoids rescanning long lines).
    scanned: usize,
    /// The line being read is over the limit: bytes of it already emitted or dropped.
    long_len: u64,
    long_events: u64,
    long_dropped: u64,
    /// `truncate`: the rest of the current line is being skipped.
    skipping: bool,
    /// Long lines whose end was seen, for the source to count and log.
    long_lines: Vec<LongLine>,
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineFramer {
    /// A framer with the default limit (1 MiB, split).
    pub fn new() -> Self {
        Self::with_limit(LineLimit::default())
    }

    pub fn with_limit(limit: LineLimit) -> Self {
        LineFramer {
            buf: BytesMut::with_capacity(READ_CHUNK),
            limit: LineLimit {
                max: limit.max.max(1),
                ..limit
            },
            skip_lf: false,
            scanned: 0,
            long_len: 0,
            long_events: 0,
            long_dropped: 0,
            skipping: false,
            long_lines: Vec::new(),
        }
    }

    /// The buffer to read into; guarantees room for a large read.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 8 {
            self.buf.reserve(READ_CHUNK);
        }
        &mut self.buf
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The long lines completed since the last call.
    pub fn take_long_lines(&mut self) -> Vec<LongLine> {
        std::mem::take(&mut self.long_lines)
    }

    /// Removes the terminator at `buf[0]` (`\n`, `\r\n`, or `\r` with a possible `\n` next).
    fn consume_terminator(&mut self) {
        let term = self.buf.split_to(1);
        if term[0] == b'\r' {
            match self.buf.first() {
                Some(b'\n') => {
                    let _ = self.buf.split_to(1);
                }
                Some(_) => {}
                None => self.skip_lf = true,
            }
        }
    }

    /// The current line ended: if it was a long one, report it.
    fn end_of_line(&mut self, last_piece: usize) {
        if self.long_len == 0 && !self.skipping {
            return;
        }
        let events = self.long_events + u64::from(last_piece > 0);
        self.long_lines.push(LongLine {
            len: self.long_len + last_piece as u64,
            events,
            dropped: self.long_dropped,
        });
        self.long_len = 0;
        self.long_events = 0;
        self.long_dropped = 0;
        self.skipping = false;
    }

    /// Calls `emit` for every complete line in the buffer, and for every piece of a line longer
    /// than the limit.
    pub fn drain_lines(&mut self, mut emit: impl FnMut(Bytes)) {
        if self.skip_lf && !self.buf.is_empty() {
            if self.buf[0] == b'\n' {
                let _ = self.buf.split_to(1);
            }
            self.skip_lf = false;
        }
        let max = self.limit.max;
        loop {
            if self.skipping {
                match memchr::memchr2(b'\n', b'\r', &self.buf) {
                    None => {
                        let n = self.buf.len() as u64;
                        self.long_len += n;
                        self.long_dropped += n;
                        self.buf.clear();
                        self.scanned = 0;
                        return;
                    }
                    Some(pos) => {
                        let _ = self.buf.split_to(pos);
                        self.long_len += pos as u64;
                        self.long_dropped += pos as u64;
                        self.consume_terminator();
                        self.end_of_line(0);
                        continue;
                    }
                }
            }
            // A terminator at index `max` still ends a line of exactly `max` bytes.
            let window = self.buf.len().min(max + 1);
            let from = self.scanned.min(window);
            if let Some(rel) = memchr::memchr2(b'\n', b'\r', &self.buf[from..window]) {
                let pos = from + rel;
                self.scanned = 0;
                let line = self.buf.split_to(pos).freeze();
                self.consume_terminator();
                self.end_of_line(line.len());
                emit(line);
                continue;
            }
            if self.buf.len() <= max {
                self.scanned = self.buf.len();
                return;
            }
            // More than `max` bytes and no terminator among the first `max + 1`: too long.
            self.scanned = 0;
            let piece = self.buf.split_to(max).freeze();
            self.long_len += max as u64;
            self.long_events += 1;
            if self.limit.policy == LongLines::Truncate {
                self.skipping = true;
            }
            emit(piece);
        }
    }

    /// End of input: the unterminated rest, if any, is the last line.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        self.skip_lf = false;
        let rest = (!self.buf.is_empty()).then(|| self.buf.split().freeze());
        if self.skipping {
            // `drain_lines` leaves nothing buffered while skipping.
            self.end_of_line(0);
            return None;
        }
        self.end_of_line(rest.as_ref().map_or(0, Bytes::len));
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with(limit: LineLimit, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<LongLine>) {
        let mut f = LineFramer::with_limit(limit);
        let mut out = Vec::new();
        for c in chunks {
            f.buf_mut().extend_from_slice(c);
            f.drain_lines(|l| out.push(l.to_vec()));
            assert!(f.pending() <= limit.max + c.len(), "bounded buffer");
        }
        if let Some(l) = f.finish() {
            out.push(l.to_vec());
        }
        (out, f.take_long_lines())
    }

    fn frame(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        frame_with(LineLimit::default(), chunks).0
    }

    fn limit(max: usize, policy: LongLines) -> LineLimit {
        LineLimit { max, policy }
    }

    #[test]
    fn all_terminators_and_unterminated_last_line() {
        assert_eq!(
            frame(&[b"a\nb\r\nc\rd"]),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn crlf_split_across_reads_is_one_terminator() {
        assert_eq!(
            frame(&[b"a\r", b"\nb\n"]),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(frame(&[b"a\r", b"b\n"]), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn empty_lines_and_binary_bytes_pass_through() {
        assert_eq!(
            frame(&[b"\n\xff\xfe\x00x\n", b"\n"]),
            vec![b"".to_vec(), b"\xff\xfe\x00x".to_vec(), b"".to_vec()]
        );
    }

    #[test]
    fn line_split_across_many_reads() {
        assert_eq!(
            frame(&[b"hel", b"lo wo", b"rld\nnext"]),
            vec![b"hello world".to_vec(), b"next".to_vec()]
        );
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_one_event() {
        for policy in [LongLines::Split, LongLines::Truncate] {
            let (lines, long) = frame_with(limit(4, policy), &[b"abcd\nef\r\nabcd"]);
            assert_eq!(
                lines,
                vec![b"abcd".to_vec(), b"ef".to_vec(), b"abcd".to_vec()]
            );
            assert!(long.is_empty(), "{policy:?}: {long:?}");
        }
    }

    #[test]
    fn split_keeps_every_byte_in_pieces_of_the_limit() {
        let (lines, long) = frame_with(
            limit(4, LongLines::Split),
            &[b"abcde\n", b"0123456789", b"ab\r\nnext\n"],
        );
        assert_eq!(
            lines,
            vec![
                b"abcd".to_vec(),
                b"e".to_vec(),
                b"0123".to_vec(),
                b"4567".to_vec(),
                b"89ab".to_vec(),
                b"next".to_vec()
            ]
        );
        assert_eq!(
            long,
            vec![
                LongLine {
                    len: 5,
                    events: 2,
                    dropped: 0
                },
                LongLine {
                    len: 12,
                    events: 3,
                    dropped: 0
                }
            ]
        );
    }

    #[test]
    fn truncate_ships_the_first_bytes_and_skips_to_the_terminator() {
        let (lines, long) = frame_with(
            limit(4, LongLines::Truncate),
            &[b"abcde\n", b"0123456789", b"ab\r", b"\nnext\n", b"0123456"],
        );
        assert_eq!(
            lines,
            vec![
                b"abcd".to_vec(),
                b"0123".to_vec(),
                b"next".to_vec(),
                b"0123".to_vec()
            ]
        );
        assert_eq!(
            long,
            vec![
                LongLine {
                    len: 5,
                    events: 1,
                    dropped: 1
                },
                LongLine {
                    len: 12,
                    events: 1,
                    dropped: 8
                },
                LongLine {
                    len: 7,
                    events: 1,
                    dropped: 3
                }
            ]
        );
    }

    #[test]
    fn a_huge_line_is_never_held_whole() {
        let mut f = LineFramer::with_limit(limit(1000, LongLines::Split));
        let chunk = vec![b'x'; READ_CHUNK];
        let mut events = 0usize;
        for _ in 0..160 {
            f.buf_mut().extend_from_slice(&chunk);
            f.drain_lines(|l| {
                assert_eq!(l.len(), 1000);
                events += 1;
            });
            assert!(f.pending() <= 1000, "holds {} bytes", f.pending());
        }
        f.buf_mut().extend_from_slice(b"\n");
        f.drain_lines(|_| events += 1);
        assert_eq!(events, (160 * READ_CHUNK).div_ceil(1000));
        assert_eq!(f.take_long_lines()[0].len, (160 * READ_CHUNK) as u64);
    }

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (LineLimit, Vec<String>) {
        let (s, d) = parse_for_test(pairs, None, LineLimit::parse);
        (s, d.lines())
    }

    #[test]
    fn limit_properties() {
        assert_eq!(parse(&[]), (LineLimit::default(), vec![]));
        assert_eq!(
            parse(&[
                ("rflume.maxLineLength", "100"),
                ("rflume.longLines", "Truncate")
            ])
            .0,
            limit(100, LongLines::Truncate)
        );
        for (k, v, why) in [
            ("rflume.maxLineLength", "0", "must be greater than 0"),
            (
                "rflume.maxLineLength",
                "2147483648",
                "more than a line may hold in memory",
            ),
            ("rflume.maxLineLength", "1MB", "is not an integer"),
            (
                "rflume.longLines",
                "wrap",
                "'wrap' is neither split nor truncate",
            ),
        ] {
            let (l, d) = parse(&[(k, v)]);
            assert_eq!(
                l,
                LineLimit::default(),
                "{k} = {v} falls back to the default"
            );
            assert!(d.iter().any(|m| m.contains(why)), "{k} = {v}: {d:?}");
        }
    }
}
