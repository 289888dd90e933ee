//! Reading a segment's records, for replay at start and for takes of events that are no longer
//! in memory. Reads are large (1 MiB) and records are slices of them, so a record costs no
//! syscall of its own and an event body is never copied after it left the disk.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use super::format::{Corrupt, RecordHeader, SegmentHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// Bytes read at once.
const READ_SIZE: usize = 1 << 20;

/// What is at an offset of a segment.
#[derive(Debug)]
pub enum Next {
    /// A complete record whose CRCs match; the next one starts at `next`.
    Record {
        header: RecordHeader,
        payload: Bytes,
        next: u64,
    },
    /// The file ends exactly here.
    End,
    /// No valid record starts here (torn write, damage); the file is `file_len` bytes long.
    Bad { why: Corrupt, file_len: u64 },
}

pub struct SegmentReader {
    pub segment: u64,
    pub path: PathBuf,
    file: File,
    /// Bytes of the file from `buf_offset` on.
    buf: Bytes,
    buf_offset: u64,
}

impl SegmentReader {
    pub fn open(segment: u64, path: &Path) -> std::io::Result<SegmentReader> {
        Ok(SegmentReader {
            segment,
            path: path.to_path_buf(),
            file: File::open(path)?,
            buf: Bytes::new(),
            buf_offset: 0,
        })
    }

    /// Makes what was read durable (fdatasync works on a file opened for reading).
    pub fn sync(&self) -> std::io::Result<()> {
        super::dirs::sync_data(&self.file)
    }

    pub fn file_len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The segment's header.
    pub fn header(&mut self) -> std::io::Result<Result<SegmentHeader, Corrupt>> {
        let got = self.bytes(0, SEGMENT_HEADER_LEN as usize)?;
        Ok(SegmentHeader::decode(&got))
    }

    /// The record at `offset`.
    pub fn read_at(&mut self, offset: u64) -> std::io::Result<Next> {
        let head = self.bytes(offset, RECORD_HEADER_LEN)?;
        if head.is_empty() {
            return Ok(Next::End);
        }
        let bad = |why, r: &Self| -> std::io::Result<Next> {
            Ok(Next::Bad {
                why,
                file_len: r.file_len()?,
            })
        };
        let header = match RecordHeader::decode(&head) {
            Ok(h) => h,
            Err(why) => return bad(why, self),
        };
        let start = offset + RECORD_HEADER_LEN as u64;
        let payload = self.bytes(start, header.payload_len as usize)?;
        if let Err(why) = header.check(&payload) {
            return bad(why, self);
        }
        Ok(Next::Record {
            header,
            payload,
            next: start + header.payload_len as u64,
        })
    }

    /// Up to `len` bytes from `offset` (fewer at the end of the file), from the buffer when it
    /// holds them, else from one large read.
    fn bytes(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let end = offset.saturating_add(len as u64);
        let buf_end = self.buf_offset + self.buf.len() as u64;
        if offset >= self.buf_offset && end <= buf_end {
            let from = (offset - self.buf_offset) as usize;
            return Ok(self.buf.slice(from..from + len));
        }
        let want = len.max(READ_SIZE);
        let mut b = BytesMut::zeroed(want);
        let mut got = 0;
        while got < want {
            let n = self.file.read_at(&mut b[got..], offset + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        b.truncate(got);
        self.buf = b.freeze();
        self.buf_offset = offset;
        Ok(self.buf.slice(..len.min(got)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::file::format::{Kind, Record};
    use crate::event::Event;
    use std::io::Write;

    #[test]
    fn records_are_read_back_and_a_torn_tail_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seg");
        let mut f = File::create(&path).expect("create");
        f.write_all(
            &SegmentHeader {
                id: 1,
                first_seq: 0,
            }
            .encode(),
        )
        .expect("write");
        let mut a = Record::put(&[Event::new("alpha"), Event::new("beta")]).expect("fits");
        a.seal(0);
        let mut b = Record::take(&[(0, 2)]);
        b.seal(0);
        f.write_all(&a.bytes).expect("write");
        f.write_all(&b.bytes).expect("write");
        f.write_all(&a.bytes[..10]).expect("write a torn record");
        drop(f);
        let mut r = SegmentReader::open(1, &path).expect("open");
        assert_eq!(r.header().expect("io").expect("header").id, 1);
        let Next::Record { header, next, .. } = r.read_at(SEGMENT_HEADER_LEN).expect("io") else {
            panic!("a record")
        };
        assert_eq!((header.kind, header.count), (Kind::Put, 2));
        let Next::Record { header, next, .. } = r.read_at(next).expect("io") else {
            panic!("a record")
        };
        assert_eq!(header.kind, Kind::Take);
        match r.read_at(next).expect("io") {
            Next::Bad { why, file_len } => {
                assert_eq!(why, Corrupt::Truncated);
                assert_eq!(file_len, next + 10);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r.read_at(next + 10).expect("io"), Next::End));
    }
}
