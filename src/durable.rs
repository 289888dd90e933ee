//! Durable small-file writes for the components that keep state on disk (TAILDIR's position
//! files, the file channel's checkpoint): a file is replaced atomically, so that a crash leaves
//! the old content or the new one, never a mix, and the directory entry is synced, so that the
//! replacement survives a power loss.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Makes a directory's entries (files created, renamed or deleted in it) durable.
#[cfg(not(test))]
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes a directory's entries durable, and notes which (see [`ledger`]).
#[cfg(test)]
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    ledger::sync_dir(dir)
}

/// `fdatasync(2)`: makes a file's data durable (and the size needed to read it back).
pub fn sync_data(f: &File) -> std::io::Result<()> {
    noted(f, File::sync_data)
}

/// `fsync(2)`: makes a file's data and metadata durable.
pub fn sync_all(f: &File) -> std::io::Result<()> {
    noted(f, File::sync_all)
}

/// Runs `sync`; in test builds also notes in the [`ledger`] what it covered.
fn noted(f: &File, sync: fn(&File) -> std::io::Result<()>) -> std::io::Result<()> {
    #[cfg(test)]
    let before = ledger::length(f);
    sync(f)?;
    #[cfg(test)]
    ledger::synced(before);
    Ok(())
}

/// Cuts a file back to `len` bytes, durably.
pub fn truncate_synced(f: &File, len: u64) -> std::io::Result<()> {
    f.set_len(len)?;
    f.sync_all()?;
    #[cfg(test)]
    ledger::truncated(f, len);
    Ok(())
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file beside it: write, fsync,
/// rename over `path`, fsync of the directory. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        #[cfg(test)]
        ledger::created(&f);
        f.write_all(bytes)?;
        sync_all(&f)?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Test-only: what the syncs above made durable, so that a test can model a power loss by
/// throwing away everything else (the page cache survives `kill -9`, so a test that only kills a
/// process can never notice a missing fsync). Files are known by device and inode, which a
/// rename keeps (a checkpoint is synced under its temporary name); a directory's durable
/// entries are those listed at its last sync. Compiled into test builds only: release builds
/// call the plain syscalls.
#[cfg(test)]
pub mod ledger {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::{LazyLock, Mutex, MutexGuard};

    type Key = (u64, u64);
    type DirKey = (PathBuf, Key);
    type Entries = HashMap<OsString, Key>;

    /// Per file, the length its last sync covered.
    static FILES: LazyLock<Mutex<HashMap<Key, u64>>> = LazyLock::new(Default::default);
    /// Per directory, its entries (name → file) as of its last sync. Known by path and inode:
    /// the inode of a directory another test deleted is soon reused (ext4), and a path alone
    /// could be a directory removed and made again.
    static DIRS: LazyLock<Mutex<HashMap<DirKey, Entries>>> = LazyLock::new(Default::default);

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(m: &std::fs::Metadata) -> Key {
        (m.dev(), m.ino())
    }

    fn dir_key(dir: &Path) -> std::io::Result<DirKey> {
        Ok((std::fs::canonicalize(dir)?, key(&std::fs::metadata(dir)?)))
    }

    /// The file and its length before a sync: what the sync is sure to cover. (Bytes another
    /// thread appends while the sync runs may or may not be covered; the later sync that a
    /// commit of them waits for records them.)
    pub(super) fn length(f: &File) -> Option<(Key, u64)> {
        f.metadata().ok().map(|m| (key(&m), m.len()))
    }

    pub(super) fn synced(before: Option<(Key, u64)>) {
        if let Some((k, len)) = before {
            let mut files = lock(&FILES);
            let e = files.entry(k).or_insert(0);
            // Two syncs of one file may finish in either order: the longer length stands.
            *e = (*e).max(len);
        }
    }

    pub(super) fn truncated(f: &File, len: u64) {
        if let Ok(m) = f.metadata() {
            lock(&FILES).insert(key(&m), len);
        }
    }

    /// A new (or emptied) file: nothing of it is durable yet, whatever an earlier file with the
    /// same inode number left in the ledger.
    pub fn created(f: &File) {
        if let Ok(m) = f.metadata() {
            lock(&FILES).insert(key(&m), 0);
        }
    }

    /// Lists the directory, then syncs it, holding the ledger's lock throughout: what was listed
    /// before the sync is durable after it, and a later sync (of an entry created meanwhile)
    /// lists after this one.
    pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
        let mut dirs = lock(&DIRS);
        let d = File::open(dir)?;
        let k = dir_key(dir)?;
        let mut entries = HashMap::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if let Ok(m) = std::fs::symlink_metadata(e.path()) {
                entries.insert(e.file_name(), key(&m));
            }
        }
        d.sync_all()?;
        dirs.insert(k, entries);
        Ok(())
    }

    /// How many bytes of the file at `path` a sync covered (0: none).
    pub fn synced_len(path: &Path) -> u64 {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| lock(&FILES).get(&key(&m)).copied())
            .unwrap_or(0)
    }

    /// What a power loss would leave of a directory entry.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Entry {
        /// The directory's last sync saw this name naming this file.
        Durable,
        /// The name was created after the directory's last sync (or it was never synced).
        Unsynced,
        /// The name was renamed over another file, and the directory was not synced since: the
        /// old file would be back, and the test cannot bring its bytes back.
        Replaced,
    }

    pub fn entry(dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<Entry> {
        let d = dir_key(dir)?;
        let now = key(&std::fs::symlink_metadata(dir.join(name))?);
        let dirs = lock(&DIRS);
        Ok(match dirs.get(&d).and_then(|entries| entries.get(name)) {
            Some(k) if *k == now => Entry::Durable,
            Some(_) => Entry::Replaced,
            None => Entry::Unsynced,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_replaced_file_has_the_new_content_mode_0600_and_no_temporary_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state");
        write_atomic(&p, b"old").expect("write");
        write_atomic(&p, b"new").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!dir.path().join("state.tmp").exists());
    }
}
