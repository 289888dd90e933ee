//! Listing: which files does each file group match right now, and what does a listing change?
//! A group's directory is listed again only when its modification time moved (a file was
//! created, removed or renamed in it; `cachePatternMatching`) or when a rescan is forced, so
//! plain appends never cost a listing. What a listing finds is tracked by device and inode: a
//! known file under a new name was renamed and continues where it was, an unknown one is new.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use tracing::{debug, info};

use super::tailer::Tailer;
use super::tailfile::{FileId, TailFile};

/// A regular file that matches a file group, as listed.
pub(super) struct Listed {
    pub(super) group: usize,
    pub(super) path: PathBuf,
    pub(super) id: FileId,
    pub(super) size: u64,
    pub(super) mtime: i64,
}

impl Tailer {
    /// The file group a saved file's path belongs to, if any still does.
    pub(super) fn group_of(&self, file: &str) -> Option<usize> {
        let p = Path::new(file);
        let (dir, name) = (p.parent()?, p.file_name()?.to_str()?);
        self.s
            .groups
            .iter()
            .position(|g| g.dir == dir && g.regex.is_match(name))
    }

    /// Every matching regular file.
    pub(super) fn list_all(&mut self) -> Vec<Listed> {
        let mut out = Vec::new();
        for g in 0..self.s.groups.len() {
            out.extend(self.list_group(g));
        }
        out
    }

    /// One group's matching regular files; an unreadable directory has none (yet).
    fn list_group(&mut self, g: usize) -> Vec<Listed> {
        let group = &self.s.groups[g];
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&group.dir) {
            Ok(e) => e,
            Err(e) => {
                debug!("cannot list {}: {e}", group.dir.display());
                return out;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !group.regex.is_match(name) {
                continue;
            }
            let path = entry.path();
            // Follow symlinks, as Flume does.
            let Ok(m) = std::fs::metadata(&path) else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            out.push(Listed {
                group: g,
                path,
                id: FileId::of(&m),
                size: m.len(),
                mtime: m.mtime(),
            });
        }
        out
    }

    /// The directory's modification time: unchanged, its listing is too (`cachePatternMatching`).
    fn dir_mtime(&self, g: usize) -> Option<SystemTime> {
        std::fs::metadata(&self.s.groups[g].dir)
            .ok()
            .and_then(|m| m.modified().ok())
    }

    /// Rescans the groups whose directory changed (or all, when forced). Only a pass that listed
    /// every group counts as the forced rescan's safety net: a pass that the cache let skip a
    /// group must not postpone it (otherwise, with passes every few seconds, it never comes and a
    /// file inotify cannot see is never found).
    pub(super) fn scan(&mut self, force: bool) {
        self.watch.watch_dirs(&self.s.groups);
        let mut listed_all = true;
        for g in 0..self.s.groups.len() {
            let mtime = self.dir_mtime(g);
            if !force
                && self.s.cache_pattern_matching
                && mtime.is_some()
                && mtime == self.dir_mtimes[g]
            {
                listed_all = false;
                continue;
            }
            self.dir_mtimes[g] = mtime;
            let listed = self.list_group(g);
            for t in self.files.values_mut().filter(|t| t.group == g) {
                t.listed = false;
            }
            for found in listed {
                self.track(found);
            }
        }
        if listed_all {
            self.last_scan = Instant::now();
        }
    }

    /// Follows a listed file: a known inode under a new name is a rename (not read again), an
    /// unknown one a new file, and a known inode whose file was deleted names a new file (the
    /// old one is drained as a ghost).
    fn track(&mut self, found: Listed) {
        let Listed {
            group,
            path,
            id,
            mtime,
            ..
        } = found;
        if let Some(t) = self.files.get_mut(&id) {
            let ghost = t.stat().is_some_and(|s| s.nlink == 0);
            if !ghost {
                if t.path != path {
                    info!(source = %self.name, "{} was renamed to {}; continuing at offset {} (not read again)", t.path.display(), path.display(), t.next_offset);
                    t.path = path;
                    self.names.invalidate();
                }
                t.listed = true;
                t.mtime = mtime;
                t.group = group;
                return;
            }
            // Our handle is to a deleted file and its inode now names a new one.
            if let Some(old) = self.files.remove(&id) {
                self.ghosts.push(old);
            }
        }
        // A new file: read from its first line, once it is told apart from a copy of a file
        // we know (see `classify`).
        debug!(source = %self.name, "tracking new file {} (inode {})", path.display(), id.ino);
        let mut t = TailFile::new(path, group, id, 0, mtime);
        t.classified = false;
        self.files.insert(id, t);
        self.names.invalidate();
    }
}
