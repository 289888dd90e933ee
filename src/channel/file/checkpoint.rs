//! The checkpoint: where a restart begins reading the log, so that start-up time is bounded by
//! what the channel holds rather than by everything it ever held.
//!
//! It says two things: every event with a sequence number below `watermark` was delivered, and
//! no record before `read` is needed any more (the oldest event not yet delivered is at or after
//! it). Everything else — which later events were delivered, how many are waiting — is found by
//! reading the log from `read` on, so a checkpoint that is stale, missing or damaged costs only a
//! longer replay, never an event: without one the whole log is read. It is a few dozen bytes,
//! written atomically (temporary file, fsync, rename) to `checkpointDir` and, with
//! `useDualCheckpoints`, to `backupCheckpointDir` too.

use std::path::{Path, PathBuf};

use super::dirs;
use super::format::{u32_at, u64_at, Pos};

pub const CHECKPOINT_FILE: &str = "rflume-checkpoint";
const MAGIC: &[u8; 8] = b"RFLUMCKP";
const VERSION: u32 = 1;
const LEN: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// No record before this position is needed to rebuild the channel.
    pub read: Pos,
    /// Every event with a lower sequence number was delivered.
    pub watermark: u64,
    /// The next sequence number a put would get (a floor for the one replay finds).
    pub next_seq: u64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.read.segment.to_le_bytes());
        b[24..32].copy_from_slice(&self.read.offset.to_le_bytes());
        b[32..40].copy_from_slice(&self.watermark.to_le_bytes());
        b[40..48].copy_from_slice(&self.next_seq.to_le_bytes());
        let written_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        b[48..56].copy_from_slice(&written_ms.to_le_bytes());
        let crc = crc32fast::hash(&b[0..56]);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Checkpoint, &'static str> {
        if b.len() != LEN || &b[0..8] != MAGIC {
            return Err("not an rflume checkpoint");
        }
        if crc32fast::hash(&b[0..56]) != u32_at(b, 56) {
            return Err("its CRC does not match (damaged)");
        }
        if u32_at(b, 8) != VERSION {
            return Err("written by a newer rflume");
        }
        Ok(Checkpoint {
            read: Pos {
                segment: u64_at(b, 16),
                offset: u64_at(b, 24),
            },
            watermark: u64_at(b, 32),
            next_seq: u64_at(b, 40),
        })
    }
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// Writes the checkpoint into every directory, the primary first.
pub fn save(dirs: &[&Path], cp: &Checkpoint) -> std::io::Result<()> {
    let bytes = cp.encode();
    for dir in dirs {
        dirs::write_atomic(&path_in(dir), &bytes)?;
    }
    Ok(())
}

/// The checkpoint to start from: the primary's, else the backup's. Also returns what was wrong
/// with those that could not be used (a missing checkpoint is not wrong: a new channel has none).
pub fn load(dirs: &[&Path]) -> (Option<Checkpoint>, Vec<String>) {
    let mut problems = Vec::new();
    for dir in dirs {
        let path = path_in(dir);
        match std::fs::read(&path) {
            Ok(b) => match Checkpoint::decode(&b) {
                Ok(cp) => return (Some(cp), problems),
                Err(why) => problems.push(format!("{}: {why}", path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    (None, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_is_used_when_the_primary_is_damaged() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let cp = Checkpoint {
            read: Pos {
                segment: 3,
                offset: 4096,
            },
            watermark: 77,
            next_seq: 100,
        };
        let both = [a.path(), b.path()];
        assert_eq!(load(&both), (None, vec![]), "a new channel has none");
        save(&both, &cp).expect("save");
        assert_eq!(load(&both).0, Some(cp));
        let mut damaged = std::fs::read(path_in(a.path())).expect("read");
        damaged[33] ^= 0x10;
        std::fs::write(path_in(a.path()), damaged).expect("write");
        let (loaded, problems) = load(&both);
        assert_eq!(loaded, Some(cp), "from the backup");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("CRC"), "{problems:?}");
        let (loaded, problems) = load(&[a.path()]);
        assert_eq!((loaded, problems.len()), (None, 1));
    }
}
