//! The exec source's line framer against a model of Java's `BufferedReader.readLine` plus
//! rflume's long-line rule: for any bytes, any read sizes and any limit, the framer emits exactly
//! the model's events, reports exactly the model's long lines, and never holds more than the
//! limit of one line after a drain.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rflume::source::framer::{LineFramer, LineLimit, LongLine, LongLines};

#[derive(Arbitrary, Debug)]
struct Input {
    max: u8,
    truncate: bool,
    /// Read sizes (each at least 1), cycled over the data.
    reads: Vec<u8>,
    data: Vec<u8>,
}

/// Lines as `readLine` returns them: `\n`, `\r\n` or a lone `\r` end a line; a non-empty rest
/// at the end is a line.
fn lines(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                out.push(&data[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                out.push(&data[start..i]);
                i += 1;
                if data.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

fuzz_target!(|input: Input| {
    let max = usize::from(input.max.max(1));
    let policy = if input.truncate {
        LongLines::Truncate
    } else {
        LongLines::Split
    };
    let limit = LineLimit { max, policy };
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut expected_long: Vec<LongLine> = Vec::new();
    for line in lines(&input.data) {
        if line.len() <= max {
            expected.push(line.to_vec());
            continue;
        }
        match policy {
            LongLines::Split => {
                let pieces: Vec<Vec<u8>> = line.chunks(max).map(<[u8]>::to_vec).collect();
                expected_long.push(LongLine {
                    len: line.len() as u64,
                    events: pieces.len() as u64,
                    dropped: 0,
                });
                expected.extend(pieces);
            }
            LongLines::Truncate => {
                expected.push(line[..max].to_vec());
                expected_long.push(LongLine {
                    len: line.len() as u64,
                    events: 1,
                    dropped: (line.len() - max) as u64,
                });
            }
        }
    }

    let mut framer = LineFramer::with_limit(limit);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut long = Vec::new();
    let mut rest = &input.data[..];
    let mut reads = input.reads.iter().cycle();
    while !rest.is_empty() {
        let n = reads
            .next()
            .map_or(rest.len(), |r| usize::from(*r).max(1))
            .min(rest.len());
        framer.buf_mut().extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        framer.drain_lines(|l| got.push(l.to_vec()));
        assert!(framer.pending() <= max, "holds {} bytes", framer.pending());
        long.extend(framer.take_long_lines());
    }
    if let Some(last) = framer.finish() {
        got.push(last.to_vec());
    }
    long.extend(framer.take_long_lines());
    assert_eq!(got, expected);
    assert_eq!(long, expected_long);
});
