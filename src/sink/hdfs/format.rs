//! The bytes of a file, by `hdfs.fileType`, built per batch into one buffer (each body copied
//! once) that the bucket writes and flushes in one call:
//! - DataStream: the serializer's output — `TEXT` (the body, then `\n` with `appendNewline`) or
//!   `HEADER_AND_TEXT` (Java's `Map.toString` of the headers, a space, the body). Only these two
//!   of Flume's serializers; the file_roll sink has its own, fuller set.
//! - CompressedStream (gzip): each batch one gzip member, as Flume's `finish()` per `sync()`
//!   writes it; the file is their concatenation, which gunzip and Hadoop read as one stream.
//! - SequenceFile: Hadoop's uncompressed SequenceFile (version 6) of `LongWritable` keys (the
//!   event's `timestamp` header, else the clock, as Flume's serializers) and `BytesWritable`
//!   (`writeFormat = Writable`) or `Text` values, a sync marker every 2000 bytes and at each
//!   batch's end, as `SequenceFile.Writer.sync()` does on Flume's every flush.

use std::io::Write as _;

use thiserror::Error;

use super::settings::{FileType, Serializer, WriteFormat};
use crate::event::Event;
use crate::java::java_map_to_string;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error(
        "the event's timestamp header '{0}' is not a number of milliseconds (the SequenceFile key)"
    )]
    BadTimestamp(String),
    #[error("gzip: {0}")]
    Gzip(String),
}

/// Hadoop's `SequenceFile.SYNC_INTERVAL` (100 × (4 + 16) bytes).
const SYNC_INTERVAL: u64 = 2000;
const SYNC_ESCAPE: i32 = -1;

/// How one file is written; keeps the SequenceFile's position and sync marker.
pub struct Format {
    file_type: FileType,
    serializer: Serializer,
    append_newline: bool,
    write_format: WriteFormat,
    /// Bytes of the current batch.
    batch: Vec<u8>,
    /// Bytes of the file written before this batch (SequenceFile sync bookkeeping).
    written: u64,
    last_sync: u64,
    sync: [u8; 16],
}

impl Format {
    pub fn new(
        file_type: FileType,
        serializer: Serializer,
        append_newline: bool,
        write_format: WriteFormat,
    ) -> Format {
        let mut sync = [0u8; 16];
        // A marker that cannot collide with another file's; the clock is enough if the system
        // has no randomness to give (it never happens on Linux).
        if getrandom::fill(&mut sync).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            sync = t.to_be_bytes();
        }
        Format {
            file_type,
            serializer,
            append_newline,
            write_format,
            batch: Vec::new(),
            written: 0,
            last_sync: 0,
            sync,
        }
    }

    /// The file name extension a codec adds when `fileSuffix` is empty.
    pub fn default_extension(file_type: FileType) -> &'static str {
        match file_type {
            FileType::CompressedStream => ".gz",
            _ => "",
        }
    }

    /// Starts a new file: the SequenceFile header.
    pub fn begin_file(&mut self) {
        self.batch.clear();
        self.written = 0;
        self.last_sync = 0;
        if self.file_type == FileType::SequenceFile {
            let b = &mut self.batch;
            b.extend_from_slice(b"SEQ\x06");
            write_text(b, b"org.apache.hadoop.io.LongWritable");
            let value = match self.write_format {
                WriteFormat::Writable => &b"org.apache.hadoop.io.BytesWritable"[..],
                WriteFormat::Text => &b"org.apache.hadoop.io.Text"[..],
            };
            write_text(b, value);
            b.push(0); // not compressed
            b.push(0); // not block-compressed
            b.extend_from_slice(&0i32.to_be_bytes()); // no metadata
            b.extend_from_slice(&self.sync);
        }
    }

    /// Adds one event to the current batch.
    pub fn append(&mut self, e: &Event, now_ms: i64) -> Result<(), FormatError> {
        match self.file_type {
            FileType::SequenceFile => self.append_record(e, now_ms),
            FileType::DataStream | FileType::CompressedStream => {
                self.serialize(e);
                Ok(())
            }
        }
    }

    fn serialize(&mut self, e: &Event) {
        if self.serializer == Serializer::HeaderAndText {
            let entries: Vec<(&str, &str)> = e.headers.iter().collect();
            let mut s = String::new();
            java_map_to_string(&entries, &mut s);
            s.push(' ');
            self.batch.extend_from_slice(s.as_bytes());
        }
        self.batch.extend_from_slice(&e.body);
        if self.append_newline {
            self.batch.push(b'\n');
        }
    }

    fn append_record(&mut self, e: &Event, now_ms: i64) -> Result<(), FormatError> {
        let key = match e.headers.get("timestamp") {
            None => now_ms,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map_err(|_| FormatError::BadTimestamp(v.to_string()))?,
        };
        let pos = self.written + self.batch.len() as u64;
        if pos >= self.last_sync + SYNC_INTERVAL {
            self.write_sync();
        }
        let body = &e.body[..];
        let value_len = match self.write_format {
            WriteFormat::Writable => 4 + body.len(),
            WriteFormat::Text => vint_len(body.len() as i64) + body.len(),
        };
        let b = &mut self.batch;
        b.extend_from_slice(&((8 + value_len) as i32).to_be_bytes());
        b.extend_from_slice(&8i32.to_be_bytes());
        b.extend_from_slice(&key.to_be_bytes());
        match self.write_format {
            WriteFormat::Writable => b.extend_from_slice(&(body.len() as i32).to_be_bytes()),
            WriteFormat::Text => write_vlong(b, body.len() as i64),
        }
        b.extend_from_slice(body);
        Ok(())
    }

    fn write_sync(&mut self) {
        let pos = self.written + self.batch.len() as u64;
        if pos == self.last_sync {
            return;
        }
        self.batch.extend_from_slice(&SYNC_ESCAPE.to_be_bytes());
        self.batch.extend_from_slice(&self.sync);
        self.last_sync = self.written + self.batch.len() as u64;
    }

    /// Ends the batch: the bytes to write now (empty if nothing was appended since the last).
    pub fn finish_batch(&mut self) -> Result<Vec<u8>, FormatError> {
        match self.file_type {
            FileType::SequenceFile if !self.batch.is_empty() => self.write_sync(),
            FileType::CompressedStream if !self.batch.is_empty() => {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.batch.len() / 4 + 64),
                    flate2::Compression::default(),
                );
                gz.write_all(&self.batch)
                    .map_err(|e| FormatError::Gzip(e.to_string()))?;
                let out = gz.finish().map_err(|e| FormatError::Gzip(e.to_string()))?;
                self.batch.clear();
                self.written += out.len() as u64;
                return Ok(out);
            }
            _ => {}
        }
        let out = std::mem::take(&mut self.batch);
        self.written += out.len() as u64;
        Ok(out)
    }

    /// Whether the batch holds bytes not yet handed out.
    pub fn has_pending(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Drops the bytes of a batch that failed.
    pub fn discard_batch(&mut self) {
        self.batch.clear();
    }
}

/// Hadoop's `Text.writeString`: a VInt length, then the UTF-8 bytes.
fn write_text(b: &mut Vec<u8>, s: &[u8]) {
    write_vlong(b, s.len() as i64);
    b.extend_from_slice(s);
}

fn vint_len(i: i64) -> usize {
    if (-112..=127).contains(&i) {
        return 1;
    }
    let v = if i < 0 { !i } else { i };
    1 + (8 - (v.leading_zeros() as usize) / 8)
}

/// Hadoop's `WritableUtils.writeVLong`.
fn write_vlong(b: &mut Vec<u8>, i: i64) {
    if (-112..=127).contains(&i) {
        b.push(i as u8);
        return;
    }
    let (v, base) = if i < 0 { (!i, -120i32) } else { (i, -112i32) };
    let n = 8 - (v.leading_zeros() as i32) / 8;
    b.push((base - n) as u8);
    for idx in (0..n).rev() {
        b.push((v >> (idx * 8)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Headers;

    fn event(body: &str, headers: &[(&str, &str)]) -> Event {
        let mut h = Headers::new();
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        Event::with_headers(h, body.as_bytes().to_vec())
    }

    #[test]
    fn vlong_matches_hadoop() {
        let enc = |i| {
            let mut b = Vec::new();
            write_vlong(&mut b, i);
            assert_eq!(b.len(), vint_len(i), "{i}");
            b
        };
        assert_eq!(enc(5), [5]);
        assert_eq!(enc(127), [127]);
        assert_eq!(enc(-112), [0x90]);
        assert_eq!(enc(128), [0x8f, 0x80]);
        assert_eq!(enc(300), [0x8e, 0x01, 0x2c]);
        assert_eq!(enc(-113), [0x87, 0x70]);
    }

    #[test]
    fn text_and_header_and_text() {
        let mut f = Format::new(
            FileType::DataStream,
            Serializer::Text,
            true,
            WriteFormat::Writable,
        );
        f.begin_file();
        f.append(&event("a", &[("x", "1")]), 0).unwrap();
        f.append(&event("b", &[]), 0).unwrap();
        assert_eq!(f.finish_batch().unwrap(), b"a\nb\n");
        assert!(f.finish_batch().unwrap().is_empty());
        let mut f = Format::new(
            FileType::DataStream,
            Serializer::HeaderAndText,
            false,
            WriteFormat::Writable,
        );
        f.append(&event("body", &[("host", "h1")]), 0).unwrap();
        assert_eq!(f.finish_batch().unwrap(), b"{host=h1} body");
    }

    #[test]
    fn gzip_batches_are_members_of_one_stream() {
        let mut f = Format::new(
            FileType::CompressedStream,
            Serializer::Text,
            true,
            WriteFormat::Writable,
        );
        f.begin_file();
        f.append(&event("one", &[]), 0).unwrap();
        let mut file = f.finish_batch().unwrap();
        f.append(&event("two", &[]), 0).unwrap();
        file.extend(f.finish_batch().unwrap());
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&file[..]), &mut out)
            .unwrap();
        assert_eq!(out, "one\ntwo\n");
    }

    #[test]
    fn sequence_file_layout() {
        let mut f = Format::new(
            FileType::SequenceFile,
            Serializer::Text,
            true,
            WriteFormat::Text,
        );
        f.begin_file();
        f.append(&event("hi", &[("timestamp", "7")]), 99).unwrap();
        let b = f.finish_batch().unwrap();
        let header_len = 4 + 1 + 33 + 1 + 25 + 2 + 4 + 16;
        assert_eq!(&b[..4], b"SEQ\x06");
        assert_eq!(&b[5..38], b"org.apache.hadoop.io.LongWritable");
        let rec = &b[header_len..];
        assert_eq!(&rec[..4], &11i32.to_be_bytes()); // key 8 + value 1 + 2
        assert_eq!(&rec[4..8], &8i32.to_be_bytes());
        assert_eq!(&rec[8..16], &7i64.to_be_bytes());
        assert_eq!(&rec[16..19], b"\x02hi");
        // The batch ends with a sync marker.
        assert_eq!(&rec[19..23], &(-1i32).to_be_bytes());
        assert_eq!(rec.len(), 23 + 16);
        assert!(matches!(
            f.append(&event("x", &[("timestamp", "later")]), 0),
            Err(FormatError::BadTimestamp(_))
        ));
    }
}
