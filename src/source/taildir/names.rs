//! The followed files by name: what a pass woken by inotify looks up, since notifications
//! name files, not inodes.

use std::collections::HashMap;
use std::ffi::OsString;

use super::tailfile::{FileId, TailFile};

/// The followed files (not ghosts) by the last component of their path. Paths change and files
/// are added only by a listing (`scan.rs`) or at start (`restore.rs`), which mark the index
/// stale; it is rebuilt at the next pass that uses it. A file forgotten since is skipped by
/// the lookup (it is no longer in `files`).
pub(super) struct NameIndex {
    by_name: HashMap<OsString, Vec<FileId>>,
    stale: bool,
}

impl NameIndex {
    /// Stale until the first pass builds it.
    pub(super) fn new() -> Self {
        NameIndex {
            by_name: HashMap::new(),
            stale: true,
        }
    }

    /// Whether a listing or the start changed the followed files since the last rebuild.
    pub(super) fn is_stale(&self) -> bool {
        self.stale
    }

    /// A file was added, or a file's path changed.
    pub(super) fn invalidate(&mut self) {
        self.stale = true;
    }

    pub(super) fn rebuild(&mut self, files: &HashMap<FileId, TailFile>) {
        self.by_name.clear();
        for (id, t) in files {
            self.by_name
                .entry(base_name(&t.path).to_os_string())
                .or_default()
                .push(*id);
        }
        self.stale = false;
    }

    /// The followed files named `name` (in any watched directory).
    pub(super) fn get(&self, name: &std::ffi::OsStr) -> &[FileId] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The last component of a followed file's path, by bytes (`Path::file_name` parses every
/// component): the key of the name index, rebuilt for every followed file after a listing.
fn base_name(path: &std::path::Path) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let start = memchr::memrchr(b'/', bytes).map_or(0, |i| i + 1);
    std::ffi::OsStr::from_bytes(&bytes[start..])
}
