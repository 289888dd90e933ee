//! Flume's `LINE` deserializer (`LineDeserializer` over `ResettableFileInputStream`), on bytes.
//!
//! Exactly Flume's framing: a line ends at `\n` only (a `\r` before it stays in the body); the
//! last line of a file needs no `\n`; a line longer than `maxLineLength` characters (Java
//! `char`s, so a character outside the BMP counts two) is cut after that many characters and the
//! rest of it becomes the next event — so a line of exactly `maxLineLength` characters is followed
//! by an empty event, as in Flume. Bytes are decoded in `inputCharset` with
//! `decodeErrorPolicy` and the body is the text in `outputCharset`.
//!
//! The common case — UTF-8 in, UTF-8 out, valid text — copies nothing: the body is a slice of
//! the read buffer. Reading stops at the size the file had when it was picked up (Flume's
//! `fileSize`), so bytes appended later are not half-read: the change is reported instead.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::{Bytes, BytesMut};

use super::DecodeErrorPolicy;
use crate::interceptor::search_replace::Charset;

/// Bytes asked from the file per read.
const READ_CHUNK: usize = 64 * 1024;

/// One line: its body and the file offset just past it.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub body: Bytes,
    pub end: u64,
    /// The line was longer than `maxLineLength` and this is its first part.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// `decodeErrorPolicy = FAIL` and the bytes at `offset` are not valid in the input charset.
    #[error(
        "the bytes at offset {offset} are not valid {charset} (Flume: MalformedInputException)"
    )]
    Malformed { offset: u64, charset: &'static str },
}

#[derive(Clone, Copy, Debug)]
pub struct Decoding {
    pub input: Charset,
    pub output: Charset,
    pub policy: DecodeErrorPolicy,
    /// `maxLineLength`, in Java chars.
    pub max_chars: usize,
}

pub struct LineReader {
    file: File,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Bytes beyond this offset are not read (the size at pick-up).
    limit: u64,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    decoding: Decoding,
}

impl LineReader {
    /// Opens `path` to read from `offset` up to `limit` bytes.
    pub fn open(path: &Path, offset: u64, limit: u64, decoding: Decoding) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(LineReader {
            file,
            pos: offset,
            limit,
            buf: BytesMut::new(),
            scanned: 0,
            decoding,
        })
    }

    /// Offset of the next byte not yet returned in a line.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next line, or `None` at the end (the pick-up size).
    pub fn next_line(&mut self) -> Result<Option<Line>, LineError> {
        // A line is cut after `max_chars` Java chars; each is at least a third of a UTF-8 byte
        // triple, so this many bytes without a newline always hold a full cut (bounds the
        // buffer for files without newlines).
        let cut_window = self.decoding.max_chars.saturating_mul(4).saturating_add(8);
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let at = self.scanned + i;
                return self.take_line(at, true).map(Some);
            }
            self.scanned = self.buf.len();
            if self.buf.len() >= cut_window {
                return self.take_line(self.buf.len(), false).map(Some);
            }
            let read_to = self.pos + self.buf.len() as u64;
            if read_to >= self.limit {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return self.take_line(self.buf.len(), false).map(Some);
            }
            let want = READ_CHUNK.min((self.limit - read_to) as usize);
            let len = self.buf.len();
            self.buf.resize(len + want, 0);
            let n = match self.file.read(&mut self.buf[len..]) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e.into());
                }
            };
            self.buf.truncate(len + n);
            if n == 0 {
                // Shorter than at pick-up: end here; the caller notices the change.
                self.limit = read_to;
            }
        }
    }

    /// Turns `buf[..len]` (followed by a newline when `newline`) into a line.
    fn take_line(&mut self, len: usize, newline: bool) -> Result<Line, LineError> {
        self.scanned = 0;
        let d = self.decoding;
        let raw = &self.buf[..len];
        let fast = d.input == Charset::Utf8
            && d.output == Charset::Utf8
            && raw.len() < d.max_chars
            && std::str::from_utf8(raw).is_ok();
        if fast {
            let body = self.buf.split_to(len).freeze();
            let mut end = self.pos + len as u64;
            if newline {
                let _ = self.buf.split_to(1);
                end += 1;
            }
            self.pos = end;
            return Ok(Line {
                body,
                end,
                truncated: false,
            });
        }
        let (consumed, truncated, owned) = {
            let decoded = decode(raw, d).map_err(|bad| LineError::Malformed {
                offset: self.pos + bad as u64,
                charset: d.input.java_name(),
            })?;
            let same_bytes = matches!(decoded.text, Cow::Borrowed(_))
                && d.input == Charset::Utf8
                && d.output == Charset::Utf8;
            let owned = (!same_bytes).then(|| Bytes::from(encode(&decoded.text, d.output)));
            (decoded.consumed, decoded.truncated, owned)
        };
        let taken = self.buf.split_to(consumed);
        let body = owned.unwrap_or_else(|| taken.freeze());
        let mut end = self.pos + consumed as u64;
        if newline && !truncated && consumed == len {
            let _ = self.buf.split_to(1);
            end += 1;
        }
        self.pos = end;
        Ok(Line {
            body,
            end,
            truncated,
        })
    }
}

struct Decoded<'a> {
    text: Cow<'a, str>,
    /// Input bytes the text came from.
    consumed: usize,
    /// Cut at `max_chars`: the rest of the line is the next line.
    truncated: bool,
}

/// Decodes up to `max_chars` Java chars of `raw`; `Err(offset)` for a malformed byte with
/// `FAIL`.
fn decode(raw: &[u8], d: Decoding) -> Result<Decoded<'_>, usize> {
    let mut text = String::new();
    let mut units = 0usize;
    let mut consumed = 0usize;
    let mut clean = true;
    let push = |c: char, len: usize, text: &mut String, units: &mut usize, consumed: &mut usize| {
        text.push(c);
        *units += c.len_utf16();
        *consumed += len;
    };
    match d.input {
        Charset::Utf8 => {
            'chunks: for chunk in raw.utf8_chunks() {
                for c in chunk.valid().chars() {
                    if units >= d.max_chars {
                        break 'chunks;
                    }
                    push(c, c.len_utf8(), &mut text, &mut units, &mut consumed);
                }
                let bad = chunk.invalid();
                if bad.is_empty() {
                    continue;
                }
                if units >= d.max_chars {
                    break;
                }
                clean = false;
                match d.policy {
                    DecodeErrorPolicy::Fail => return Err(consumed),
                    DecodeErrorPolicy::Replace => {
                        push('\u{FFFD}', bad.len(), &mut text, &mut units, &mut consumed)
                    }
                    DecodeErrorPolicy::Ignore => consumed += bad.len(),
                }
            }
        }
        Charset::Latin1 | Charset::Ascii => {
            for &b in raw {
                if units >= d.max_chars {
                    break;
                }
                if b.is_ascii() || d.input == Charset::Latin1 {
                    push(b as char, 1, &mut text, &mut units, &mut consumed);
                    continue;
                }
                clean = false;
                match d.policy {
                    DecodeErrorPolicy::Fail => return Err(consumed),
                    DecodeErrorPolicy::Replace => {
                        push('\u{FFFD}', 1, &mut text, &mut units, &mut consumed)
                    }
                    DecodeErrorPolicy::Ignore => consumed += 1,
                }
            }
        }
    }
    // Flume stops a line as soon as it holds `maxLineLength` chars, before looking at what
    // follows: even a newline right after it then starts the next (empty) line.
    let truncated = units >= d.max_chars;
    let text = if clean && d.input == Charset::Utf8 {
        // Valid UTF-8 up to `consumed`: the bytes are the text.
        Cow::Borrowed(std::str::from_utf8(&raw[..consumed]).unwrap_or_default())
    } else {
        Cow::Owned(text)
    };
    Ok(Decoded {
        text,
        consumed,
        truncated,
    })
}

/// Java's `String.getBytes(charset)`: unmappable characters become `?`.
fn encode(text: &str, output: Charset) -> Vec<u8> {
    match output {
        Charset::Utf8 => text.as_bytes().to_vec(),
        Charset::Latin1 => text
            .chars()
            .map(|c| if (c as u32) <= 0xFF { c as u8 } else { b'?' })
            .collect(),
        Charset::Ascii => text
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn utf8(max: usize) -> Decoding {
        Decoding {
            input: Charset::Utf8,
            output: Charset::Utf8,
            policy: DecodeErrorPolicy::Fail,
            max_chars: max,
        }
    }

    fn lines(content: &[u8], d: Decoding) -> Result<Vec<(Vec<u8>, u64)>, LineError> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        let mut r = LineReader::open(f.path(), 0, content.len() as u64, d).unwrap();
        let mut out = Vec::new();
        while let Some(l) = r.next_line()? {
            out.push((l.body.to_vec(), l.end));
        }
        Ok(out)
    }

    fn bodies(content: &[u8], d: Decoding) -> Vec<String> {
        lines(content, d)
            .unwrap()
            .into_iter()
            .map(|(b, _)| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    #[test]
    fn newline_only_ends_a_line_and_the_last_needs_none() {
        let got = lines(b"a\r\nbb\n\nlast", utf8(2048)).unwrap();
        assert_eq!(
            got,
            vec![
                (b"a\r".to_vec(), 3),
                (b"bb".to_vec(), 6),
                (b"".to_vec(), 7),
                (b"last".to_vec(), 11)
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_and_go_on_in_the_next_event_as_flume() {
        assert_eq!(bodies(b"abcdefg\nxy\n", utf8(3)), ["abc", "def", "g", "xy"]);
        // Exactly maxLineLength characters: Flume then reads the newline alone.
        assert_eq!(bodies(b"abc\nd\n", utf8(3)), ["abc", "", "d"]);
        // Characters, not bytes: "é" is one char in two bytes; "😀" is two Java chars.
        assert_eq!(
            bodies("éé\n😀x\n".as_bytes(), utf8(2)),
            ["éé", "", "😀", "x"]
        );
    }

    #[test]
    fn a_file_without_newlines_is_read_in_bounded_pieces() {
        let content = vec![b'z'; 10_000];
        let got = bodies(&content, utf8(2048));
        assert_eq!(got.len(), 5);
        assert!(got[..4].iter().all(|l| l.len() == 2048));
        assert_eq!(got[4].len(), 10_000 - 4 * 2048);
    }

    #[test]
    fn decode_error_policies() {
        let bad = b"ok\nx\xffy\nafter\n";
        let err = lines(bad, utf8(2048)).unwrap_err();
        assert!(
            matches!(err, LineError::Malformed { offset: 4, .. }),
            "{err:?}"
        );
        let replace = Decoding {
            policy: DecodeErrorPolicy::Replace,
            ..utf8(2048)
        };
        assert_eq!(bodies(bad, replace), ["ok", "x\u{FFFD}y", "after"]);
        let ignore = Decoding {
            policy: DecodeErrorPolicy::Ignore,
            ..utf8(2048)
        };
        assert_eq!(bodies(bad, ignore), ["ok", "xy", "after"]);
    }

    #[test]
    fn latin1_in_utf8_out_and_back() {
        let d = Decoding {
            input: Charset::Latin1,
            ..utf8(2048)
        };
        assert_eq!(lines(b"caf\xe9\n", d).unwrap()[0].0, "café".as_bytes());
        let d = Decoding {
            output: Charset::Latin1,
            ..utf8(2048)
        };
        assert_eq!(lines("café€\n".as_bytes(), d).unwrap()[0].0, b"caf\xe9?");
    }

    #[test]
    fn reading_stops_at_the_pick_up_size() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"one\ntwo\nthree\n").unwrap();
        let mut r = LineReader::open(f.path(), 4, 8, utf8(2048)).unwrap();
        assert_eq!(r.next_line().unwrap().unwrap().body, "two");
        assert_eq!(r.next_line().unwrap(), None);
        assert_eq!(r.position(), 8);
    }
}
