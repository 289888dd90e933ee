//! TAILDIR's line reader (`TailFile::read_lines` / `take_partial`) on a real file that grows in
//! arbitrary appends, against a model of Flume's `TailFile.readLine` (lines end at `\n`, one `\r`
//! before it is removed, the unterminated rest is a line when the file goes idle) plus rflume's
//! long-line rule: same events, same offsets, every byte accounted for, bounded memory.
#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rflume::source::framer::{LineLimit, LongLines};
use rflume::source::taildir::tailfile::{identity, TailFile};

#[derive(Arbitrary, Debug)]
struct Input {
    max: u8,
    truncate: bool,
    max_lines: u8,
    appends: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let max = usize::from(input.max.max(1));
    let policy = if input.truncate {
        LongLines::Truncate
    } else {
        LongLines::Split
    };
    let limit = LineLimit { max, policy };
    let data: Vec<u8> = input.appends.concat();

    // The model: (body, offset) per event.
    let mut expected: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut start = 0usize;
    let push_line = |body: &[u8], offset: usize, expected: &mut Vec<(Vec<u8>, u64)>| {
        if body.len() <= max {
            expected.push((body.to_vec(), offset as u64));
        } else if policy == LongLines::Split {
            for (i, piece) in body.chunks(max).enumerate() {
                expected.push((piece.to_vec(), (offset + i * max) as u64));
            }
        } else {
            expected.push((body[..max].to_vec(), offset as u64));
        }
    };
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            let mut end = i;
            if end > start && data[end - 1] == b'\r' {
                end -= 1;
            }
            push_line(&data[start..end], start, &mut expected);
            start = i + 1;
        }
    }
    if start < data.len() {
        let mut end = data.len();
        if data[end - 1] == b'\r' {
            end -= 1;
        }
        push_line(&data[start..end], start, &mut expected);
    }

    let Ok(dir) = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()) else {
        return;
    };
    let path = dir.path().join("a.log");
    let Ok(mut file) = std::fs::File::create(&path) else {
        return;
    };
    let Ok(id) = identity(&path) else { return };
    let mut t = TailFile::new(path.clone(), 0, id.id, 0, id.mtime);
    assert!(t.open().unwrap_or(false));
    let mut got: Vec<(Vec<u8>, u64)> = Vec::new();
    let max_lines = usize::from(input.max_lines.max(1));
    for append in input.appends.iter().chain(std::iter::once(&Vec::new())) {
        if file.write_all(append).is_err() {
            return;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        loop {
            let r = t.read_lines(max_lines, size, &limit).expect("read");
            got.extend(r.lines.into_iter().map(|l| (l.body.to_vec(), l.offset)));
            if r.at_eof {
                assert!(
                    t.partial_len() <= max + 1,
                    "holds {} bytes",
                    t.partial_len()
                );
                break;
            }
        }
    }
    got.extend(
        t.take_partial(&limit)
            .into_iter()
            .map(|l| (l.body.to_vec(), l.offset)),
    );
    assert_eq!(t.next_offset, data.len() as u64, "every byte accounted for");
    assert_eq!(got, expected);
});
