//! Progress on disk: how far each file being read was delivered, so that a restart or a crash
//! neither re-reads a finished file nor skips a line.
//!
//! Two files in the tracker directory (`trackerDir`, `.flumespool` inside `spoolDir` by default),
//! both written atomically (temporary file, fsync, rename, fsync of the directory):
//! * `.rflume-spool.json` — rflume's: every file being read or waiting for its last delivery, by
//!   path, device and inode, with the offset up to which every line was delivered. The inode tells
//!   a resumed file from a new file that reuses the name;
//! * `.flumespool-main.meta` — Flume's own (`DurablePositionTracker`: an Avro object container
//!   file whose `file` metadata names the file and whose last `TransferStateFileMeta` record holds
//!   the offset), kept for the oldest file in flight, so that Flume resumes where rflume stopped.
//!
//! A directory left by Flume (its meta file, no rflume state, or a meta file newer than rflume's
//! state) resumes Flume's file at Flume's offset; files Flume already renamed are never
//! candidates. Flume commits its offset when a batch is in its channel, not when it was
//! delivered, so what Flume's channel held when it stopped is up to Flume's channel.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::source::taildir::position::fnv1a;

/// rflume's progress file, inside the tracker directory.
pub const STATE_FILE: &str = ".rflume-spool.json";
/// Flume's (`ReliableSpoolingFileEventReader.metaFileName`).
pub const FLUME_META_FILE: &str = ".flumespool-main.meta";

/// The writer schema Flume's Avro library stores in its meta file, as Java writes it.
const META_SCHEMA: &str = r#"{"type":"record","name":"TransferStateFileMeta","namespace":"org.apache.flume.serialization","fields":[{"name":"offset","type":"long"}]}"#;

#[derive(Debug, Error)]
pub enum TrackerError {
    #[error("tracker directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid progress file: {message}")]
    Format { path: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrackerError + '_ {
    move |source| TrackerError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One file being read: delivered up to `delivered` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub delivered: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: Vec<Entry>,
    /// FNV-1a of the Flume meta file rflume wrote with this state (0: none): a meta file with
    /// other contents was written by Flume after rflume stopped.
    #[serde(default)]
    flume_meta_hash: u64,
}

pub struct Tracker {
    dir: PathBuf,
}

impl Tracker {
    /// The tracker directory, created when missing (one level, as Flume's `mkdir`).
    pub fn open(dir: &Path) -> Result<Self, TrackerError> {
        if !dir.is_dir() {
            // 0700: the tracker names the files read and how far (the spool's own contents may
            // be private), like the other state rflume keeps.
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
        }
        Ok(Tracker {
            dir: dir.to_path_buf(),
        })
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What was in flight when the last agent stopped: rflume's state, or Flume's meta file
    /// when it is the only one or the newer one (Flume ran after rflume). The second value
    /// says the entries came from Flume.
    pub fn load(&self) -> Result<(Vec<Entry>, bool), TrackerError> {
        let state_path = self.dir.join(STATE_FILE);
        let meta = self.dir.join(FLUME_META_FILE);
        let state: Option<StateFile> = match std::fs::read(&state_path) {
            Ok(bytes) => {
                Some(
                    serde_json::from_slice(&bytes).map_err(|e| TrackerError::Format {
                        path: state_path.display().to_string(),
                        message: e.to_string(),
                    })?,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&state_path)(e)),
        };
        let meta_hash = std::fs::read(&meta).ok().map(|b| fnv1a(&b));
        let flume_wrote_meta = match (&state, meta_hash) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(s), Some(h)) => s.flume_meta_hash != h,
        };
        if flume_wrote_meta {
            if let Some((target, offset)) = read_flume_meta(&meta)? {
                let entry = std::fs::metadata(&target).ok().map(|m| Entry {
                    path: target.clone(),
                    dev: m.dev(),
                    ino: m.ino(),
                    delivered: offset,
                });
                return Ok((entry.into_iter().collect(), true));
            }
        }
        Ok((state.map(|s| s.files).unwrap_or_default(), false))
    }

    /// Writes rflume's state and Flume's meta file for the first entry (none: Flume's is
    /// removed, as Flume removes it once its file is done).
    pub fn save(&self, entries: &[Entry]) -> Result<(), TrackerError> {
        // Flume's file first: a crash between the two leaves a state whose hash does not match,
        // which is then read as Flume's — the same file at an offset no further than delivered.
        let meta = self.dir.join(FLUME_META_FILE);
        let flume_meta_hash = match entries.first() {
            Some(e) => {
                let bytes = flume_meta(&e.path, e.delivered);
                write_atomically(&self.dir, FLUME_META_FILE, &bytes)?;
                fnv1a(&bytes)
            }
            None => {
                match std::fs::remove_file(&meta) {
                    Ok(()) => sync_dir(&self.dir),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&meta)(e)),
                }
                0
            }
        };
        let state = StateFile {
            version: 1,
            files: entries.to_vec(),
            flume_meta_hash,
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| TrackerError::Format {
            path: STATE_FILE.into(),
            message: e.to_string(),
        })?;
        write_atomically(&self.dir, STATE_FILE, &json)
    }
}

fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> Result<(), TrackerError> {
    // Mode 0600, a temporary beside it, fsync, rename, fsync of the directory.
    let target = dir.join(name);
    crate::durable::write_atomic(&target, data).map_err(io(&target))
}

pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

// ---------------------------------------------------------------------------------------------
// Flume's meta file: an Avro object container file (Java's `DataFileWriter`), codec `null`.

fn zigzag(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn avro_bytes(out: &mut Vec<u8>, b: &[u8]) {
    zigzag(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Flume's meta file for `target` at `offset`: header (schema, codec, `file`), one block with
/// one record.
pub fn flume_meta(target: &str, offset: u64) -> Vec<u8> {
    let mut sync = [0u8; 16];
    if getrandom::fill(&mut sync).is_err() {
        // Any marker works as long as it is the same in the header and after each block.
        sync = *b"rflume-spooldir!";
    }
    let mut out = b"Obj\x01".to_vec();
    zigzag(&mut out, 3);
    for (k, v) in [
        ("avro.schema", META_SCHEMA.as_bytes()),
        ("avro.codec", b"null".as_slice()),
        ("file", target.as_bytes()),
    ] {
        avro_bytes(&mut out, k.as_bytes());
        avro_bytes(&mut out, v);
    }
    zigzag(&mut out, 0);
    out.extend_from_slice(&sync);
    let mut record = Vec::new();
    zigzag(&mut record, offset as i64);
    zigzag(&mut out, 1);
    zigzag(&mut out, record.len() as i64);
    out.extend_from_slice(&record);
    out.extend_from_slice(&sync);
    out
}

struct AvroReader<'a> {
    b: &'a [u8],
    i: usize,
}

impl AvroReader<'_> {
    fn long(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.b.get(self.i)?;
            self.i += 1;
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = usize::try_from(self.long()?).ok()?;
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
}

/// Flume's meta file: (target path, last offset); `None` when it is absent or empty (Flume
/// deletes an empty one). A file that is not a meta file Flume could read is an error.
pub fn read_flume_meta(path: &Path) -> Result<Option<(String, u64)>, TrackerError> {
    let bytes = match std::fs::read(path) {
        Ok(b) if b.is_empty() => return Ok(None),
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let bad = |message: &str| TrackerError::Format {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    let mut r = AvroReader { b: &bytes, i: 0 };
    if r.take(4) != Some(b"Obj\x01".as_slice()) {
        return Err(bad("not an Avro object container file"));
    }
    let (mut target, mut codec) = (None, None);
    loop {
        let mut count = r.long().ok_or_else(|| bad("truncated header"))?;
        if count == 0 {
            break;
        }
        if count < 0 {
            count = count.checked_neg().ok_or_else(|| bad("bad header"))?;
            r.long().ok_or_else(|| bad("truncated header"))?;
        }
        for _ in 0..count {
            let k = r.bytes().ok_or_else(|| bad("truncated header"))?.to_vec();
            let v = r.bytes().ok_or_else(|| bad("truncated header"))?.to_vec();
            match k.as_slice() {
                b"file" => target = Some(String::from_utf8_lossy(&v).into_owned()),
                b"avro.codec" => codec = Some(v),
                _ => {}
            }
        }
    }
    if codec.as_deref().is_some_and(|c| c != b"null") {
        return Err(bad(
            "compressed meta files are not written by Flume's spooldir source",
        ));
    }
    let target = target.ok_or_else(|| bad("no `file` entry in its header"))?;
    let sync = r.take(16).ok_or_else(|| bad("truncated header"))?.to_vec();
    let mut offset = 0u64;
    // Blocks until the end; a torn last block (a crash while Flume appended) is ignored, as
    // Flume's reader stops at it too.
    while r.i < bytes.len() {
        let (Some(count), Some(size)) = (r.long(), r.long()) else {
            break;
        };
        let Some(data) = usize::try_from(size).ok().and_then(|n| r.take(n)) else {
            break;
        };
        let mut block = AvroReader { b: data, i: 0 };
        for _ in 0..count {
            match block.long() {
                Some(o) if o >= 0 => offset = o as u64,
                _ => break,
            }
        }
        if r.take(16) != Some(sync.as_slice()) {
            break;
        }
    }
    Ok(Some((target, offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flume_meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FLUME_META_FILE);
        std::fs::write(&p, flume_meta("/spool/a.log", 12345)).unwrap();
        assert_eq!(
            read_flume_meta(&p).unwrap(),
            Some(("/spool/a.log".to_string(), 12345))
        );
    }

    #[test]
    fn the_last_record_of_several_blocks_wins_and_a_torn_block_is_ignored() {
        let mut b = flume_meta("/s/f", 10);
        let sync = b[b.len() - 16..].to_vec();
        let mut block = Vec::new();
        zigzag(&mut block, 2);
        let mut recs = Vec::new();
        zigzag(&mut recs, 20);
        zigzag(&mut recs, 30);
        zigzag(&mut block, recs.len() as i64);
        block.extend_from_slice(&recs);
        block.extend_from_slice(&sync);
        b.extend_from_slice(&block);
        b.extend_from_slice(&[2, 4, 1]); // torn
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FLUME_META_FILE);
        std::fs::write(&p, &b).unwrap();
        assert_eq!(read_flume_meta(&p).unwrap(), Some(("/s/f".into(), 30)));
    }

    #[test]
    fn the_tracker_directory_is_0700_and_its_files_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tracker_dir = dir.path().join(".flumespool");
        let t = Tracker::open(&tracker_dir).unwrap();
        t.save(&[Entry {
            path: "/spool/a.log".into(),
            dev: 1,
            ino: 2,
            delivered: 3,
        }])
        .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tracker_dir), 0o700);
        let files: Vec<PathBuf> = std::fs::read_dir(&tracker_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(!files.is_empty());
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
            assert!(!f.to_string_lossy().ends_with(".tmp"), "{}", f.display());
        }
    }

    #[test]
    fn state_is_saved_and_loaded_and_flume_meta_follows_the_first_entry() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracker::open(&dir.path().join(".flumespool")).unwrap();
        let e = Entry {
            path: "/s/a".into(),
            dev: 1,
            ino: 2,
            delivered: 3,
        };
        t.save(std::slice::from_ref(&e)).unwrap();
        assert_eq!(t.load().unwrap(), (vec![e], false));
        let meta = t.dir().join(FLUME_META_FILE);
        assert_eq!(read_flume_meta(&meta).unwrap(), Some(("/s/a".into(), 3)));
        t.save(&[]).unwrap();
        assert!(!meta.exists());
        assert_eq!(t.load().unwrap(), (vec![], false));
    }
}
