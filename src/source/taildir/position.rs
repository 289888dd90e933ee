//! TAILDIR's position file, in Flume's exact format, plus rflume's fingerprint sidecar.
//!
//! `positionFile` holds `[{"inode":N,"pos":N,"file":"/abs/path"}]` — Flume's Gson layout, key
//! order and all — so a node migrating from Flume resumes where Flume stopped, and a node going
//! back to Flume would too. What Flume's format cannot say (which device, and whether the file
//! behind an inode is still the same file) goes into a sidecar, `<positionFile>.rflume`:
//! the device, a fingerprint of the file's head and a fingerprint of the bytes just before the
//! saved position. A file whose inode was reused by a new file fails that check and is read from
//! its first line instead of from the old offset (the silent loss Fluent Bit and Filebeat users
//! report).
//!
//! Both files are written atomically: temporary file, fsync, rename, fsync of the directory.
//! A crash leaves either the old or the new version, never a torn one. They are created 0600,
//! and directories rflume creates for them 0700.

use std::collections::HashMap;
use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bytes of a file's head that identify it.
pub const HEAD_LEN: u64 = 1024;
/// Bytes before the saved position that identify it.
pub const TAIL_LEN: u64 = 256;

#[derive(Debug, Error)]
pub enum PositionError {
    #[error("position file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("position file {path} is not a valid Flume TAILDIR position file: {message}")]
    Format { path: String, message: String },
}

/// One entry of Flume's position file; field order is Flume's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosEntry {
    pub inode: u64,
    pub pos: u64,
    pub file: String,
}

/// Hash of a byte range, with its length (0 = nothing known).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

/// One entry of the sidecar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FpEntry {
    pub inode: u64,
    pub dev: u64,
    pub pos: u64,
    pub head: Fingerprint,
    pub tail: Fingerprint,
}

/// FNV-1a: stable across builds and platforms (std's hasher is not), and fast enough for the
/// at most 1.3 KiB hashed per file and position write.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read_range(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let mut done = 0usize;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    Ok(buf)
}

/// Fingerprint of the file's first `min(size, HEAD_LEN)` bytes.
pub fn head_fingerprint(file: &File, size: u64) -> std::io::Result<Fingerprint> {
    let data = read_range(file, 0, size.min(HEAD_LEN))?;
    Ok(Fingerprint {
        len: data.len() as u64,
        hash: fnv1a(&data),
    })
}

/// Fingerprint of the `min(pos, TAIL_LEN)` bytes just before `pos`.
pub fn tail_fingerprint(file: &File, pos: u64) -> std::io::Result<Fingerprint> {
    let len = pos.min(TAIL_LEN);
    let data = read_range(file, pos - len, len)?;
    if (data.len() as u64) < len {
        // The file is shorter than the position: it cannot be the same file.
        return Ok(Fingerprint {
            len,
            hash: fnv1a(&data) ^ 1,
        });
    }
    Ok(Fingerprint {
        len,
        hash: fnv1a(&data),
    })
}

/// Whether `file` (of `size` bytes) is the file a sidecar entry describes at its position.
pub fn matches(file: &File, size: u64, fp: &FpEntry) -> std::io::Result<bool> {
    // rflume never writes longer fingerprints; a damaged or hand-edited sidecar must not make
    // the agent read (and allocate) gigabytes of a log file at start (found by fuzzing).
    if fp.head.len > HEAD_LEN || fp.tail.len > TAIL_LEN {
        return Ok(false);
    }
    if size < fp.pos || size < fp.head.len {
        return Ok(false);
    }
    let head = read_range(file, 0, fp.head.len)?;
    if fnv1a(&head) != fp.head.hash {
        return Ok(false);
    }
    Ok(tail_fingerprint(file, fp.pos)? == fp.tail)
}

pub fn sidecar_path(position_file: &Path) -> PathBuf {
    let mut s = position_file.as_os_str().to_owned();
    s.push(".rflume");
    PathBuf::from(s)
}

/// Reads Flume's position file; a missing file is an empty one.
pub fn load(path: &Path) -> Result<Vec<PosEntry>, PositionError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(PositionError::Io {
                path: path.display().to_string(),
                source: e,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text).map_err(|e| PositionError::Format {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Reads the sidecar; missing or unreadable means "no fingerprints" (Flume's own file still
/// works, with Flume's inode + path rule).
pub fn load_sidecar(position_file: &Path) -> HashMap<u64, FpEntry> {
    let path = sidecar_path(position_file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return HashMap::new();
    };
    match serde_json::from_str::<Vec<FpEntry>>(&text) {
        Ok(v) => v.into_iter().map(|e| (e.inode, e)).collect(),
        Err(e) => {
            tracing::warn!(
                "ignoring unreadable fingerprint file {}: {e}",
                path.display()
            );
            HashMap::new()
        }
    }
}

/// Writes `bytes` to `path` atomically and durably, creating its directory (Flume creates the
/// position file's parent directories).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Directories rflume creates are private (0700), like the files (0600): positions name
    // every tailed path. Existing directories keep their mode.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            // EEXIST for "a file is in the way" says nothing to an operator; say which.
            match dir.ancestors().find(|a| a.exists()) {
                Some(a) if !a.is_dir() => {
                    std::io::Error::new(e.kind(), format!("{} is not a directory", a.display()))
                }
                _ => e,
            }
        })?;
    crate::durable::write_atomic(path, bytes)
}

/// The bytes of both files: Flume's position file and the sidecar.
#[derive(Debug, PartialEq, Eq)]
pub struct Encoded {
    json: Vec<u8>,
    side: Vec<u8>,
}

/// What [`save`] would write, without writing it (the tailer skips a write that would not
/// change the files).
pub fn encode(
    path: &Path,
    entries: &[PosEntry],
    fps: &[FpEntry],
) -> Result<Encoded, PositionError> {
    let format = |e: serde_json::Error| PositionError::Format {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    Ok(Encoded {
        json: serde_json::to_vec(entries).map_err(format)?,
        side: serde_json::to_vec(fps).map_err(format)?,
    })
}

/// Writes the position file (Flume's format) and then the sidecar.
pub fn write(path: &Path, encoded: &Encoded) -> Result<(), PositionError> {
    let io = |e| PositionError::Io {
        path: path.display().to_string(),
        source: e,
    };
    write_atomic(path, &encoded.json).map_err(io)?;
    write_atomic(&sidecar_path(path), &encoded.side).map_err(io)
}

/// Writes the position file (Flume's format) and then the sidecar.
pub fn save(path: &Path, entries: &[PosEntry], fps: &[FpEntry]) -> Result<(), PositionError> {
    write(path, &encode(path, entries, fps)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flume_layout_round_trips_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("taildir_position.json");
        let flume = r#"[{"inode":2496411,"pos":12,"file":"/var/log/test1/example.log"}]"#;
        std::fs::write(&p, flume).expect("write");
        let entries = load(&p).expect("loads");
        assert_eq!(entries[0].inode, 2496411);
        save(&p, &entries, &[]).expect("saves");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), flume);
    }

    #[test]
    fn missing_or_empty_file_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pos.json");
        assert!(load(&p).expect("missing ok").is_empty());
        std::fs::write(&p, "").expect("write");
        assert!(load(&p).expect("empty ok").is_empty());
        std::fs::write(&p, "[{\"inode\":1}").expect("write");
        assert!(matches!(load(&p), Err(PositionError::Format { .. })));
    }

    #[test]
    fn fingerprints_tell_a_reused_inode_from_the_same_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, "first line\nsecond line\n").expect("write");
        let f = File::open(&p).expect("open");
        let fp = FpEntry {
            inode: 1,
            dev: 1,
            pos: 11,
            head: head_fingerprint(&f, 23).expect("head"),
            tail: tail_fingerprint(&f, 11).expect("tail"),
        };
        assert!(matches(&f, 23, &fp).expect("io"));
        std::fs::write(&p, "other line\nsecond line\n").expect("write");
        let f = File::open(&p).expect("open");
        assert!(!matches(&f, 23, &fp).expect("io"));
        std::fs::write(&p, "first").expect("write");
        let f = File::open(&p).expect("open");
        assert!(
            !matches(&f, 5, &fp).expect("io"),
            "shorter than the position"
        );
    }

    /// fuzz/artifacts/position_file/crash-536d7312…: a sidecar entry claiming a 72 PB head
    /// fingerprint, checked with a stale size, allocated that much and aborted.
    #[test]
    fn a_hostile_fingerprint_length_is_a_mismatch_not_an_allocation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.log");
        std::fs::write(&p, "").expect("write");
        let f = File::open(&p).expect("open");
        let fp = FpEntry {
            inode: 1,
            dev: 1,
            pos: 281_470_681_743_360,
            head: Fingerprint {
                len: 72_057_589_742_960_640,
                hash: 0,
            },
            tail: Fingerprint { len: 0, hash: 0 },
        };
        assert!(!matches(&f, u64::MAX, &fp).expect("no I/O error"));
        let fp = FpEntry {
            pos: 0,
            head: Fingerprint { len: 0, hash: 0 },
            tail: Fingerprint {
                len: TAIL_LEN + 1,
                hash: 0,
            },
            ..fp
        };
        assert!(!matches(&f, u64::MAX, &fp).expect("no I/O error"));
    }
}
