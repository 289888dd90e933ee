//! TAILDIR's position-file reader: any bytes in Flume's position file and in rflume's sidecar
//! load without a panic (an error for garbage, never a crash), whatever loads is written back
//! and reads the same, and a fingerprint from a hostile sidecar is checked against a real file
//! without reading or allocating beyond it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rflume::source::taildir::position::{self, Fingerprint, FpEntry};

#[derive(Arbitrary, Debug)]
struct Input {
    position_file: Vec<u8>,
    sidecar: Vec<u8>,
    /// Fingerprint fields as a hostile sidecar could hold them.
    fp: (u64, u64, u64, u64, u64),
    file: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let Ok(dir) = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()) else {
        return;
    };
    let path = dir.path().join("taildir_position.json");
    if std::fs::write(&path, &input.position_file).is_err()
        || std::fs::write(position::sidecar_path(&path), &input.sidecar).is_err()
    {
        return;
    }
    if let Ok(entries) = position::load(&path) {
        let fps: Vec<FpEntry> = position::load_sidecar(&path).into_values().collect();
        position::save(&path, &entries, &fps).expect("save what was loaded");
        assert_eq!(position::load(&path).expect("reload"), entries);
    } else {
        let _ = position::load_sidecar(&path);
    }

    let log = dir.path().join("a.log");
    if std::fs::write(&log, &input.file).is_err() {
        return;
    }
    let Ok(f) = std::fs::File::open(&log) else {
        return;
    };
    let (pos, head_len, head_hash, tail_len, tail_hash) = input.fp;
    let fp = FpEntry {
        inode: 1,
        dev: 1,
        pos,
        head: Fingerprint {
            len: head_len,
            hash: head_hash,
        },
        tail: Fingerprint {
            len: tail_len,
            hash: tail_hash,
        },
    };
    // The size a caller passes may be stale (the file grew or shrank since the stat).
    for size in [input.file.len() as u64, pos, head_len, u64::MAX] {
        let _ = position::matches(&f, size, &fp);
    }
    let _ = position::head_fingerprint(&f, input.file.len() as u64);
    let _ = position::tail_fingerprint(&f, pos);
});
