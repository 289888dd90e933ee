//! Flume's `AvroFlumeEvent` as the Kafka sink writes it with `useFlumeEventFormat = true` (and the
//! Kafka channel with `parseAsFlumeEvent = true`), and as the Kafka source and channel read it.
//!
//! Flume's `KafkaSink.serializeEvent` wraps the event in the Avro record
//! `org.apache.flume.source.avro.AvroFlumeEvent { map<string> headers; bytes body; }`
//! (`flume-ng-sdk/src/main/avro/flume.avdl`) and writes it with a `SpecificDatumWriter` into a
//! `directBinaryEncoder`: a **bare Avro binary datum** — no container file, no schema id, no length
//! prefix. Consumers (Flume's Kafka source and channel with `useFlumeEventFormat`, or any Avro
//! reader with the schema) decode it with the schema alone, so the bytes must match exactly:
//!
//! * the map is written as one block: zigzag-varint entry count, then for each entry the key and the
//!   value as Avro strings (zigzag-varint byte length + UTF-8), then a `0` terminator; an empty map
//!   is just the `0`;
//! * the body follows as Avro bytes (zigzag-varint length + bytes).
//!
//! The entry order is the iteration order of the `java.util.HashMap` Flume builds in `toCharSeqMap`
//! (`new HashMap<>()`, then one `put` per header). rflume keeps headers in insertion order and
//! replays those `put`s on the model of `HashMap` in `crate::java`.

use crate::event::Headers;
use crate::java::{java_hashmap_order_into, KeySource, U32Buf};

/// Appends the Avro binary datum of `AvroFlumeEvent { headers, body }` to `out`, byte for byte what
/// Flume 1.9–1.11's Kafka sink sends with `useFlumeEventFormat = true`.
pub fn encode_flume_event(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    let count = headers.len();
    if count > 0 {
        // Java's BinaryEncoder writes the whole map as a single block.
        write_long(out, count as i64);
        let mut order = U32Buf::new(count);
        let keys = KeyList(headers);
        java_hashmap_order_into(&keys, order.as_mut_slice());
        for &i in order.as_mut_slice().iter() {
            let (k, v) = keys.entry(i as usize);
            write_bytes(out, k.as_bytes());
            write_bytes(out, v.as_bytes());
        }
    }
    write_long(out, 0);
    write_bytes(out, body);
}

/// Why a record value is not an `AvroFlumeEvent` datum.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the value ends inside the Avro datum (at byte {0})")]
    Truncated(usize),
    #[error("a length or count at byte {0} is negative or larger than the value")]
    BadLength(usize),
    #[error("a header name or value at byte {0} is not UTF-8")]
    NotUtf8(usize),
    #[error("a varint at byte {0} is longer than 10 bytes")]
    BadVarint(usize),
    #[error("{0} bytes follow the datum")]
    TrailingBytes(usize),
}

/// Reads the bare Avro datum of `AvroFlumeEvent` that Flume's `SpecificDatumReader` reads with
/// `directBinaryDecoder` (map blocks of any size, negative block counts with their byte size, as
/// Avro allows), returning the headers in the order written and the body's byte range in
/// `value` (so the caller copies the body once). Flume ignores bytes after the datum; rflume
/// refuses them, since a value that is longer than its datum is not what a Flume writer sends.
pub fn decode_flume_event(value: &[u8]) -> Result<(Headers, std::ops::Range<usize>), DecodeError> {
    let mut pos = 0usize;
    let mut headers = Headers::new();
    loop {
        let mut count = read_long(value, &mut pos)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            let _size = read_long(value, &mut pos)?;
            count = count.checked_neg().ok_or(DecodeError::BadLength(pos))?;
        }
        for _ in 0..count {
            let k = read_str(value, &mut pos)?;
            let v = read_str(value, &mut pos)?;
            headers.insert(k, v);
        }
    }
    let body = read_bytes(value, &mut pos)?;
    if pos != value.len() {
        return Err(DecodeError::TrailingBytes(value.len() - pos));
    }
    Ok((headers, body))
}

fn read_long(b: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    let start = *pos;
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*pos).ok_or(DecodeError::Truncated(*pos))?;
        *pos += 1;
        z |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(DecodeError::BadVarint(start))
}

fn read_bytes(b: &[u8], pos: &mut usize) -> Result<std::ops::Range<usize>, DecodeError> {
    let at = *pos;
    let len = read_long(b, pos)?;
    let len = usize::try_from(len).map_err(|_| DecodeError::BadLength(at))?;
    let end = pos.checked_add(len).filter(|e| *e <= b.len());
    let end = end.ok_or(DecodeError::BadLength(at))?;
    let range = *pos..end;
    *pos = end;
    Ok(range)
}

fn read_str<'a>(b: &'a [u8], pos: &mut usize) -> Result<&'a str, DecodeError> {
    let at = *pos;
    let range = read_bytes(b, pos)?;
    std::str::from_utf8(&b[range]).map_err(|_| DecodeError::NotUtf8(at))
}

/// Indexed access to `Headers` without collecting them: `Headers::iter` is the only accessor, and
/// header sets are small, so `nth` is cheap enough and avoids a per-event allocation.
struct KeyList<'a>(&'a Headers);

impl KeyList<'_> {
    fn entry(&self, i: usize) -> (&str, &str) {
        self.0.iter().nth(i).unwrap_or(("", ""))
    }
}

impl KeySource for KeyList<'_> {
    fn key(&self, i: usize) -> &str {
        self.entry(i).0
    }
}

/// Avro `long`: zigzag, then base-128 varint, least significant group first.
fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Avro `bytes` / `string`: length as a long, then the bytes.
fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value;
    use apache_avro::Schema;

    /// The record from `flume-ng-sdk/src/main/avro/flume.avdl`, as JSON schema.
    const FLUME_EVENT_SCHEMA: &str = r#"{
        "type": "record", "name": "AvroFlumeEvent", "namespace": "org.apache.flume.source.avro",
        "fields": [
            {"name": "headers", "type": {"type": "map", "values": "string"}},
            {"name": "body", "type": "bytes"}
        ]}"#;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn encode(h: &Headers, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_flume_event(h, body, &mut out);
        out
    }

    #[test]
    fn empty_event_is_two_zero_longs_plus_body() {
        assert_eq!(encode(&Headers::new(), b""), vec![0, 0]);
        assert_eq!(encode(&Headers::new(), b"hi"), vec![0, 4, b'h', b'i']);
    }

    #[test]
    fn single_header_layout() {
        // count 1 → zigzag 2; "k" → len 1 → 2; "v" → 2; end 0; body "x" → 2.
        assert_eq!(
            encode(&headers(&[("k", "v")]), b"x"),
            vec![2, 2, b'k', 2, b'v', 0, 2, b'x']
        );
    }

    #[test]
    fn long_varint_and_utf8_lengths() {
        let mut out = Vec::new();
        write_long(&mut out, 64);
        assert_eq!(out, vec![0x80, 0x01]);
        out.clear();
        write_long(&mut out, -1);
        assert_eq!(out, vec![0x01]);
        out.clear();
        write_long(&mut out, 150);
        assert_eq!(out, vec![0xac, 0x02]);
        // Avro strings are length-prefixed by UTF-8 bytes, not chars.
        let bytes = encode(&headers(&[("é", "中")]), b"");
        assert_eq!(bytes, vec![2, 4, 0xc3, 0xa9, 6, 0xe4, 0xb8, 0xad, 0, 0]);
    }

    #[test]
    fn bytes_follow_java_order() {
        let h = headers(&[("timestamp", "1"), ("a", "2")]);
        // "a" (bucket 1) before "timestamp" (bucket 15).
        let mut expected = vec![4, 2, b'a', 2, b'2', 18];
        expected.extend_from_slice(b"timestamp");
        expected.extend_from_slice(&[2, b'1', 0, 0]);
        assert_eq!(encode(&h, b""), expected);
    }

    #[test]
    fn decode_reads_what_encode_wrote_and_what_apache_avro_writes() {
        let h = headers(&[("timestamp", "1"), ("a", "2"), ("é", "中")]);
        let bytes = encode(&h, b"body");
        let (got, body) = decode_flume_event(&bytes).expect("decodes");
        assert_eq!(&bytes[body], b"body");
        for (k, v) in h.iter() {
            assert_eq!(got.get(k), Some(v));
        }
        assert_eq!(got.len(), 3);
        // An independent writer (apache_avro), with a map of many entries.
        let schema = Schema::parse_str(FLUME_EVENT_SCHEMA).expect("schema");
        let map: std::collections::HashMap<String, Value> = (0..100)
            .map(|i| (format!("h{i}"), Value::String(format!("v{i}"))))
            .collect();
        let record = Value::Record(vec![
            ("headers".into(), Value::Map(map)),
            ("body".into(), Value::Bytes(vec![1, 2, 3])),
        ]);
        let bytes = apache_avro::to_avro_datum(&schema, record).expect("encode");
        let (got, body) = decode_flume_event(&bytes).expect("decodes");
        assert_eq!(got.len(), 100);
        assert_eq!(got.get("h57"), Some("v57"));
        assert_eq!(&bytes[body], &[1, 2, 3]);
    }

    #[test]
    fn decode_refuses_what_is_not_a_flume_event() {
        assert_eq!(decode_flume_event(b""), Err(DecodeError::Truncated(0)));
        // Plain text: 'h' = 104 → count 52, then runs out.
        assert!(decode_flume_event(b"hello world").is_err());
        assert_eq!(
            decode_flume_event(&[0, 2, b'x', 9]),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(decode_flume_event(&[0, 1]), Err(DecodeError::BadLength(1)));
        assert_eq!(
            decode_flume_event(&[0x80; 11]),
            Err(DecodeError::BadVarint(0))
        );
        assert_eq!(
            decode_flume_event(&[2, 2, 0xff, 0, 0, 0]),
            Err(DecodeError::NotUtf8(1))
        );
        // A count near i64::MAX must not make it allocate or loop: it runs out of bytes.
        let mut huge = Vec::new();
        write_long(&mut huge, i64::MAX);
        assert!(decode_flume_event(&huge).is_err());
        let mut min = Vec::new();
        write_long(&mut min, i64::MIN);
        assert!(decode_flume_event(&min).is_err());
    }

    #[test]
    fn decodes_with_flume_schema() {
        let schema = Schema::parse_str(FLUME_EVENT_SCHEMA).expect("schema");
        let pairs: Vec<(String, String)> = (0..40)
            .map(|i| (format!("header-{i}"), format!("value {i} ✓")))
            .collect();
        let h: Headers = pairs.iter().cloned().collect();
        let body: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let bytes = encode(&h, &body);
        let mut reader = &bytes[..];
        let value = apache_avro::from_avro_datum(&schema, &mut reader, None).expect("decode");
        assert!(reader.is_empty(), "datum must be exactly the bytes written");
        let Value::Record(fields) = value else {
            panic!("not a record: {value:?}")
        };
        assert_eq!(fields[0].0, "headers");
        let Value::Map(map) = &fields[0].1 else {
            panic!("headers not a map")
        };
        assert_eq!(map.len(), 40);
        for (k, v) in &pairs {
            assert_eq!(map.get(k), Some(&Value::String(v.clone())), "{k}");
        }
        assert_eq!(fields[1], ("body".to_string(), Value::Bytes(body)));
    }
}
