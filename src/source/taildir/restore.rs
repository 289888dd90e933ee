//! Restoring positions at start: where does each file resume? Flume's position file says, by
//! inode, how far each file was delivered; rflume's sidecar adds the device and fingerprints of
//! the file's head and of the bytes before that position, so a file whose inode was reused by a
//! new file is told apart and read from its first line instead of from a stranger's offset.
//! Without a sidecar (a migration from Flume) Flume's own rule applies. Files rotated away while
//! the agent was stopped are found by inode in their directory and drained from their position;
//! a file with no saved position starts at its first line (at its end with `skipToEnd`).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

use super::position::{self, FpEntry, PosEntry};
use super::tailer::Tailer;
use super::tailfile::{FileId, TailFile};

impl Tailer {
    /// Loads Flume's position file (and rflume's fingerprints) and tracks every file found.
    pub(super) fn restore(&mut self) {
        let path = self.s.position_file.clone();
        let entries = match position::load(&path) {
            Ok(e) => e,
            Err(e) => {
                // Flume starts over on an unreadable file; so does rflume (duplicates rather
                // than loss), but it keeps the bad file for inspection and says so.
                let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
                match std::fs::rename(&path, &aside) {
                    Ok(()) => {
                        error!(source = %self.name, "{e}; moved to {} and starting without positions (files are read from the start)", aside.display())
                    }
                    Err(why) => {
                        error!(source = %self.name, "{e}; it could not be kept aside as {} ({why}) and will be overwritten by the next position write; starting without positions (files are read from the start)", aside.display())
                    }
                }
                Vec::new()
            }
        };
        let fps = position::load_sidecar(&path);
        info!(source = %self.name, "position file {}: {} entr{}", path.display(), entries.len(), if entries.len() == 1 { "y" } else { "ies" });
        let mut saved: HashMap<u64, PosEntry> = entries.into_iter().map(|e| (e.inode, e)).collect();
        // Files that match the patterns now.
        for found in self.list_all() {
            let ino = found.id.ino;
            let pos = match saved.remove(&ino) {
                Some(entry) => self.verified_position(
                    &entry,
                    fps.get(&ino),
                    &found.path,
                    found.id.dev,
                    found.size,
                ),
                None if self.s.skip_to_end => found.size,
                None => 0,
            };
            let mut t = TailFile::new(found.path, found.group, found.id, pos, found.mtime);
            t.fingerprint = fps.get(&ino).filter(|f| f.pos == pos).cloned();
            self.files.insert(found.id, t);
        }
        // Saved files that no longer match: rotated away while the agent was stopped. Find them
        // by inode in their directory and drain them from their saved position.
        for (ino, entry) in saved {
            // Only for files of a group that still exists: a group removed from the
            // configuration is not tailed from its old positions.
            let Some(group) = self.group_of(&entry.file) else {
                continue;
            };
            let dir = Path::new(&entry.file).parent().map(Path::to_path_buf);
            let Some(found) = dir.and_then(|d| find_inode(&d, ino)) else {
                continue;
            };
            let Ok(m) = std::fs::metadata(&found) else {
                continue;
            };
            // Without rflume's fingerprints nothing proves that this inode is still the saved
            // file: Flume does not resume it (the path differs), and neither does rflume.
            if fps.get(&ino).is_none_or(|f| f.dev != m.dev()) {
                continue;
            }
            let pos = self.verified_position(&entry, fps.get(&ino), &found, m.dev(), m.len());
            if pos == 0 && m.len() > 0 && entry.pos > 0 {
                // Not the same file after all: not ours to read.
                continue;
            }
            info!(source = %self.name, "{} was rotated to {} while the agent was stopped; reading it from offset {pos}", entry.file, found.display());
            let id = FileId { dev: m.dev(), ino };
            let mut t = TailFile::new(found, group, id, pos, m.mtime());
            t.listed = false;
            self.files.insert(id, t);
        }
        self.counter.open_files.set(0);
        self.names.invalidate();
    }

    /// The position to resume a saved file at: the saved one when the file is provably the same
    /// (fingerprints, or Flume's inode + size rule when only Flume's file exists), else 0.
    fn verified_position(
        &self,
        entry: &PosEntry,
        fp: Option<&FpEntry>,
        path: &Path,
        dev: u64,
        size: u64,
    ) -> u64 {
        match fp.filter(|f| f.dev == dev) {
            Some(fp) => {
                let same = std::fs::File::open(path)
                    .and_then(|f| {
                        position::matches(
                            &f,
                            size,
                            &FpEntry {
                                pos: entry.pos,
                                ..fp.clone()
                            },
                        )
                    })
                    .unwrap_or(false);
                if same {
                    entry.pos
                } else if fp.pos != entry.pos {
                    // The sidecar describes another position (written by Flume since?): fall
                    // back to Flume's rule.
                    flume_rule(entry, path, size)
                } else {
                    warn!(source = %self.name, "{}: inode {} now belongs to a different file than the one saved in the position file; reading it from its first line", path.display(), entry.inode);
                    0
                }
            }
            None => flume_rule(entry, path, size),
        }
    }
}

/// Flume's rule without fingerprints (`TailFile.updatePos`): an entry applies only to the file
/// with the same inode **and** the same path; a matching inode under another name may be a new
/// file that got a deleted one's inode, whose head would be skipped. Then resume unless the file
/// is now shorter.
fn flume_rule(entry: &PosEntry, path: &Path, size: u64) -> u64 {
    if Path::new(&entry.file) != path {
        info!(
            "{}: the position file's entry for inode {} names {}; as in Flume, it does not apply \
             to another path, so the file is read from its first line",
            path.display(),
            entry.inode,
            entry.file
        );
        return 0;
    }
    if size >= entry.pos {
        entry.pos
    } else {
        warn!(
            "{}: file is shorter than its saved position {}; reading it from the start",
            entry.file, entry.pos
        );
        0
    }
}

/// The path in `dir` whose inode is `ino`.
fn find_inode(dir: &Path, ino: u64) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| {
            e.metadata()
                .map(|m| m.ino() == ino && m.is_file())
                .unwrap_or(false)
        })
        .map(|e| e.path())
}
