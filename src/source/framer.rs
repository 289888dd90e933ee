//! Splits a byte stream into lines the way Java's `BufferedReader.readLine()` does for the exec
//! source: a line ends at `\n`, `\r\n` or a lone `\r`; the terminator is removed; a last line
//! without a terminator is still a line at end of input. Bytes are never decoded, so non-UTF-8
//! input passes through untouched.
//!
//! Lines are `Bytes` slices of one shared read buffer (`BytesMut::split_to`), so framing copies
//! nothing and allocates once per read buffer, not once per line.

use bytes::{Bytes, BytesMut};

/// Read buffer growth step: large reads keep syscalls per line low.
pub const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct LineFramer {
    buf: BytesMut,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    skip_lf: bool,
    /// How far `buf` has been scanned without finding a terminator (avoids rescanning long lines).
    scanned: usize,
}

impl LineFramer {
    pub fn new() -> Self {
        LineFramer {
            buf: BytesMut::with_capacity(READ_CHUNK),
            skip_lf: false,
            scanned: 0,
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

    /// Calls `emit` for every complete line in the buffer.
    pub fn drain_lines(&mut self, mut emit: impl FnMut(Bytes)) {
        if self.skip_lf && !self.buf.is_empty() {
            if self.buf[0] == b'\n' {
                let _ = self.buf.split_to(1);
            }
            self.skip_lf = false;
        }
        loop {
            let Some(rel) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                return;
            };
            let pos = self.scanned + rel;
            self.scanned = 0;
            let line = self.buf.split_to(pos).freeze();
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
            emit(line);
        }
    }

    /// End of input: the unterminated rest, if any, is the last line.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        self.skip_lf = false;
        (!self.buf.is_empty()).then(|| self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut f = LineFramer::new();
        let mut out = Vec::new();
        for c in chunks {
            f.buf_mut().extend_from_slice(c);
            f.drain_lines(|l| out.push(l.to_vec()));
        }
        if let Some(l) = f.finish() {
            out.push(l.to_vec());
        }
        out
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
}
