//! rflume's on-disk format: segment files of length + CRC records. Nothing here does I/O.
//!
//! A segment (`rflume-wal-<id>` in one of the data directories) starts with a 40-byte header and
//! holds records back to back:
//!
//! ```text
//! segment header  magic "RFLUMWAL" | version u32 | flags u32 | segment id u64 | first seq u64 |
//!                 crc32 of the previous 32 bytes u32 | zero u32
//! record header   magic u16 | kind u8 | zero u8 | payload length u32 | seq u64 | count u32 |
//!                 payload crc32 u32 | crc32 of the previous 24 bytes u32
//! put payload     per event: header count u32, per header (key length u32, key, value length
//!                 u32, value), body length u32, body
//! take payload    per range: first seq u64, length u32
//! ```
//!
//! All integers are little-endian. Every event gets a sequence number when its put commits; a put
//! record carries its first one and its count, a take record the ranges of events delivered. The
//! header has its own CRC so that a torn write is told from a valid record before its length is
//! trusted; the payload's CRC covers the rest. A record never spans two segments.

use bytes::Bytes;

use crate::event::{Event, Headers};

pub const SEGMENT_MAGIC: &[u8; 8] = b"RFLUMWAL";
pub const SEGMENT_VERSION: u32 = 1;
pub const SEGMENT_HEADER_LEN: u64 = 40;
pub const RECORD_MAGIC: u16 = 0x4652;
pub const RECORD_HEADER_LEN: usize = 28;
/// The largest payload one record may carry: far above any sane batch, and a bound on what a
/// reader allocates for a length it read from disk.
pub const MAX_PAYLOAD: usize = 1 << 30;
/// Bytes of a take payload per range.
pub const TAKE_RANGE_LEN: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A committed put: `count` events from `seq` on.
    Put = 1,
    /// Committed takes: `count` ranges of delivered events.
    Take = 2,
}

/// Where a record starts: segment id and byte offset in that segment's file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

impl Pos {
    /// The first record of `segment`.
    pub fn start_of(segment: u64) -> Pos {
        Pos {
            segment,
            offset: SEGMENT_HEADER_LEN,
        }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// A segment's identity, as its header states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub id: u64,
    /// The sequence number the first put written to this segment got (or would have got).
    pub first_seq: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN as usize] {
        let mut b = [0u8; SEGMENT_HEADER_LEN as usize];
        b[0..8].copy_from_slice(SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.id.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        let crc = crc32fast::hash(&b[0..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<SegmentHeader, Corrupt> {
        if b.len() < SEGMENT_HEADER_LEN as usize {
            return Err(Corrupt::Truncated);
        }
        if &b[0..8] != SEGMENT_MAGIC {
            return Err(Corrupt::BadMagic);
        }
        if crc32fast::hash(&b[0..32]) != u32_at(b, 32) {
            return Err(Corrupt::HeaderCrc);
        }
        let version = u32_at(b, 8);
        if version != SEGMENT_VERSION {
            return Err(Corrupt::Version(version));
        }
        Ok(SegmentHeader {
            id: u64_at(b, 16),
            first_seq: u64_at(b, 24),
        })
    }
}

/// Why bytes on disk are not a valid segment header or record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Corrupt {
    #[error("the file ends inside the record (a torn write)")]
    Truncated,
    #[error("no record starts here (bad magic)")]
    BadMagic,
    #[error("the header's CRC does not match (a torn or damaged write)")]
    HeaderCrc,
    #[error("the payload's CRC does not match (a torn or damaged write)")]
    PayloadCrc,
    #[error("unknown record kind {0}")]
    Kind(u8),
    #[error("payload length {0} is beyond the largest record")]
    Length(u32),
    #[error("format version {0} is not one this rflume reads")]
    Version(u32),
    #[error("the payload does not decode as its header says")]
    Payload,
}

/// A record's header, checked against its own CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: Kind,
    pub payload_len: u32,
    pub seq: u64,
    pub count: u32,
    pub payload_crc: u32,
}

impl RecordHeader {
    pub fn total_len(&self) -> u64 {
        RECORD_HEADER_LEN as u64 + self.payload_len as u64
    }

    pub fn decode(b: &[u8]) -> Result<RecordHeader, Corrupt> {
        if b.len() < RECORD_HEADER_LEN {
            return Err(Corrupt::Truncated);
        }
        if u16::from_le_bytes([b[0], b[1]]) != RECORD_MAGIC {
            return Err(Corrupt::BadMagic);
        }
        if crc32fast::hash(&b[0..24]) != u32_at(b, 24) {
            return Err(Corrupt::HeaderCrc);
        }
        let kind = match b[2] {
            1 => Kind::Put,
            2 => Kind::Take,
            k => return Err(Corrupt::Kind(k)),
        };
        let payload_len = u32_at(b, 4);
        if payload_len as usize > MAX_PAYLOAD {
            return Err(Corrupt::Length(payload_len));
        }
        Ok(RecordHeader {
            kind,
            payload_len,
            seq: u64_at(b, 8),
            count: u32_at(b, 16),
            payload_crc: u32_at(b, 20),
        })
    }

    /// Whether `payload` is the one this header was written with.
    pub fn check(&self, payload: &[u8]) -> Result<(), Corrupt> {
        if payload.len() != self.payload_len as usize {
            return Err(Corrupt::Truncated);
        }
        if crc32fast::hash(payload) != self.payload_crc {
            return Err(Corrupt::PayloadCrc);
        }
        Ok(())
    }
}

/// A record being built: the header is left blank until [`Record::seal`] fills in what only the
/// log knows (the sequence number), so that the expensive part — copying and checksumming the
/// payload — happens before the log's lock is taken.
pub struct Record {
    pub bytes: Vec<u8>,
    kind: Kind,
    count: u32,
    payload_crc: u32,
}

impl Record {
    /// A put record of `events`, or `None` when they do not fit in one record.
    pub fn put(events: &[Event]) -> Option<Record> {
        let size = RECORD_HEADER_LEN + events.iter().map(encoded_len).sum::<usize>();
        if size - RECORD_HEADER_LEN > MAX_PAYLOAD {
            return None;
        }
        let mut bytes = Vec::with_capacity(size);
        bytes.resize(RECORD_HEADER_LEN, 0);
        for e in events {
            put_u32(&mut bytes, e.headers.len() as u32);
            for (k, v) in e.headers.iter() {
                put_u32(&mut bytes, k.len() as u32);
                bytes.extend_from_slice(k.as_bytes());
                put_u32(&mut bytes, v.len() as u32);
                bytes.extend_from_slice(v.as_bytes());
            }
            put_u32(&mut bytes, e.body.len() as u32);
            bytes.extend_from_slice(&e.body);
        }
        let payload_crc = crc32fast::hash(&bytes[RECORD_HEADER_LEN..]);
        Some(Record {
            bytes,
            kind: Kind::Put,
            count: events.len() as u32,
            payload_crc,
        })
    }

    /// A take record of delivered ranges `(first seq, length)`.
    pub fn take(ranges: &[(u64, u32)]) -> Record {
        let mut bytes = Vec::with_capacity(RECORD_HEADER_LEN + ranges.len() * TAKE_RANGE_LEN);
        bytes.resize(RECORD_HEADER_LEN, 0);
        for (seq, len) in ranges {
            bytes.extend_from_slice(&seq.to_le_bytes());
            put_u32(&mut bytes, *len);
        }
        let payload_crc = crc32fast::hash(&bytes[RECORD_HEADER_LEN..]);
        Record {
            bytes,
            kind: Kind::Take,
            count: ranges.len() as u32,
            payload_crc,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Fills in the header with the record's sequence number (the first event's, for a put).
    pub fn seal(&mut self, seq: u64) {
        let b = &mut self.bytes;
        b[0..2].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        b[2] = self.kind as u8;
        b[3] = 0;
        let payload_len = (b.len() - RECORD_HEADER_LEN) as u32;
        b[4..8].copy_from_slice(&payload_len.to_le_bytes());
        b[8..16].copy_from_slice(&seq.to_le_bytes());
        b[16..20].copy_from_slice(&self.count.to_le_bytes());
        b[20..24].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[0..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Bytes one event takes in a put payload.
pub fn encoded_len(e: &Event) -> usize {
    4 + e
        .headers
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum::<usize>()
        + 4
        + e.body.len()
}

/// The events of a put payload. Bodies are slices of `payload` (no copy).
pub fn decode_events(payload: &Bytes, count: u32) -> Result<Vec<Event>, Corrupt> {
    let mut events = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut at = 0usize;
    let p: &[u8] = payload;
    let take_u32 = |at: &mut usize| -> Result<usize, Corrupt> {
        let end = at.checked_add(4).ok_or(Corrupt::Payload)?;
        let v = p.get(*at..end).ok_or(Corrupt::Payload)?;
        *at = end;
        Ok(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
    };
    let take_str = |at: &mut usize| -> Result<String, Corrupt> {
        let len = take_u32(at)?;
        let end = at.checked_add(len).ok_or(Corrupt::Payload)?;
        let v = p.get(*at..end).ok_or(Corrupt::Payload)?;
        *at = end;
        String::from_utf8(v.to_vec()).map_err(|_| Corrupt::Payload)
    };
    for _ in 0..count {
        let n_headers = take_u32(&mut at)?;
        let mut headers = Headers::new();
        for _ in 0..n_headers {
            let k = take_str(&mut at)?;
            let v = take_str(&mut at)?;
            headers.insert(k, v);
        }
        let len = take_u32(&mut at)?;
        let end = at.checked_add(len).ok_or(Corrupt::Payload)?;
        if end > p.len() {
            return Err(Corrupt::Payload);
        }
        events.push(Event::with_headers(headers, payload.slice(at..end)));
        at = end;
    }
    if at != p.len() {
        return Err(Corrupt::Payload);
    }
    Ok(events)
}

/// The ranges of a take payload.
pub fn decode_ranges(payload: &[u8], count: u32) -> Result<Vec<(u64, u32)>, Corrupt> {
    if payload.len() != count as usize * TAKE_RANGE_LEN {
        return Err(Corrupt::Payload);
    }
    Ok(payload
        .chunks_exact(TAKE_RANGE_LEN)
        .map(|c| (u64_at(c, 0), u32_at(c, 8)))
        .collect())
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(headers: &[(&str, &str)], body: &[u8]) -> Event {
        Event::with_headers(headers.iter().copied().collect(), body.to_vec())
    }

    #[test]
    fn a_put_record_round_trips_headers_and_bodies() {
        let events = vec![
            event(&[("host", "h1"), ("file", "/var/log/a.log")], b"line one"),
            event(&[], b""),
            event(&[("k", "")], &[0, 255, 10, 13]),
        ];
        let mut r = Record::put(&events).expect("fits");
        r.seal(42);
        let h = RecordHeader::decode(&r.bytes).expect("header");
        assert_eq!((h.kind, h.seq, h.count), (Kind::Put, 42, 3));
        let payload = Bytes::copy_from_slice(&r.bytes[RECORD_HEADER_LEN..]);
        h.check(&payload).expect("crc");
        assert_eq!(decode_events(&payload, h.count).expect("decodes"), events);
        assert_eq!(h.total_len(), r.len());
    }

    #[test]
    fn a_take_record_round_trips_its_ranges() {
        let mut r = Record::take(&[(7, 3), (100, 1)]);
        r.seal(0);
        let h = RecordHeader::decode(&r.bytes).expect("header");
        assert_eq!(h.kind, Kind::Take);
        assert_eq!(
            decode_ranges(&r.bytes[RECORD_HEADER_LEN..], h.count).expect("ranges"),
            [(7, 3), (100, 1)]
        );
    }

    #[test]
    fn segment_header_round_trips_and_detects_damage() {
        let h = SegmentHeader {
            id: 9,
            first_seq: 1234,
        };
        let mut b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        b[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&b), Err(Corrupt::HeaderCrc));
        assert_eq!(SegmentHeader::decode(&b[..10]), Err(Corrupt::Truncated));
    }

    proptest! {
        /// Any single flipped bit and any truncation of a sealed record is detected.
        #[test]
        fn damage_is_always_detected(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
            cut in any::<prop::sample::Index>(),
        ) {
            let events: Vec<Event> = bodies.iter().map(|b| event(&[("h", "v")], b)).collect();
            let mut r = Record::put(&events).expect("fits");
            r.seal(5);
            let check = |b: &[u8]| -> Result<Vec<Event>, Corrupt> {
                let h = RecordHeader::decode(b)?;
                let end = RECORD_HEADER_LEN + h.payload_len as usize;
                let payload = b.get(RECORD_HEADER_LEN..end).ok_or(Corrupt::Truncated)?;
                h.check(payload)?;
                decode_events(&Bytes::copy_from_slice(payload), h.count)
            };
            let mut damaged = r.bytes.clone();
            let i = flip.index(damaged.len());
            damaged[i] ^= 1 << bit;
            prop_assert!(check(&damaged).is_err(), "flipped bit {bit} of byte {i}");
            let n = cut.index(r.bytes.len());
            prop_assert!(check(&r.bytes[..n]).is_err(), "cut at {n}");
            prop_assert_eq!(check(&r.bytes).expect("intact"), events);
        }
    }
}
