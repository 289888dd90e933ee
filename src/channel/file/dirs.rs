//! The channel's directories: created private (0700, files 0600), locked against a second agent,
//! checked for a Flume file channel that must not be touched, and watched for free space.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The lock file in every directory of a channel.
pub const LOCK_FILE: &str = "rflume.lock";

#[derive(Debug, Error)]
pub enum DirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} is in use by another file channel{holder} (lock file {dir}/{LOCK_FILE}); two channels must not share a directory — give this one its own checkpointDir and dataDirs, or stop the other agent first")]
    Locked { dir: PathBuf, holder: String },
    #[error("{dir} holds an Apache Flume file channel ({files}), which rflume cannot read and will not overwrite. Drain it first: run Flume once with this channel and its sinks but no sources (remove them from the agent's sources list) until the channel is empty (ChannelSize 0), stop Flume, then move the directory away or point checkpointDir/dataDirs at new directories")]
    FlumeChannel { dir: PathBuf, files: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
    move |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and its missing parents with mode 0700 (directories that exist keep theirs: an
/// operator may have set them up on purpose).
pub fn create_private(dir: &Path) -> Result<(), DirError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

/// Opens (creating with mode 0600) a file for appending data.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    #[cfg(test)]
    crate::durable::ledger::created(&f);
    Ok(f)
}

/// A held lock on one directory, released when dropped (or when the process dies, which is why
/// it is a `flock` and not a marker file: `kill -9` must not leave the directory locked).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    pub dir: PathBuf,
}

/// Locks `dir` (creating it) for this channel, or says who holds it.
pub fn lock(dir: &Path) -> Result<DirLock, DirError> {
    create_private(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    // flock(2): exclusive, non-blocking. Another open file description — another process, or
    // another channel of this process — holding it makes this fail at once.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = pid.trim();
            let holder = if pid.is_empty() {
                String::new()
            } else if pid == std::process::id().to_string() {
                " of this same agent".to_string()
            } else {
                format!(" (process {pid})")
            };
            return Err(DirError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(fs4::TryLockError::Error(e)) => return Err(io(&path)(e)),
    }
    // Who holds it, for the message another agent gets.
    file.set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
        .map_err(io(&path))?;
    Ok(DirLock {
        _file: file,
        dir: dir.to_path_buf(),
    })
}

/// Refuses a directory that holds a Flume file channel: `log-N` data files (and their `.meta`),
/// or a checkpoint (`checkpoint`, `checkpoint.meta`, `inflightputs`, `inflighttakes`,
/// `queueset`).
pub fn refuse_flume_channel(dir: &Path) -> Result<(), DirError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_flume_file(n))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    let shown: Vec<&str> = found.iter().take(4).map(String::as_str).collect();
    let more = if found.len() > 4 { ", …" } else { "" };
    Err(DirError::FlumeChannel {
        dir: dir.to_path_buf(),
        files: format!("{}{more}", shown.join(", ")),
    })
}

fn is_flume_file(name: &str) -> bool {
    if matches!(
        name,
        "checkpoint" | "checkpoint.meta" | "inflightputs" | "inflighttakes" | "queueset"
    ) {
        return true;
    }
    let Some(rest) = name.strip_prefix("log-") else {
        return false;
    };
    let digits = rest.strip_suffix(".meta").unwrap_or(rest);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Bytes available to this (unprivileged) process on the filesystem of `dir`.
pub fn usable_space(dir: &Path) -> std::io::Result<u64> {
    fs4::available_space(dir)
}

pub use crate::durable::{sync_data, sync_dir, truncate_synced, write_atomic};

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_released() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cp");
        let first = lock(&dir).expect("first lock");
        let err = lock(&dir).expect_err("second lock");
        let msg = err.to_string();
        assert!(
            msg.contains("in use by another file channel of this same agent"),
            "{msg}"
        );
        drop(first);
        lock(&dir).expect("free again");
    }

    #[test]
    fn directories_and_files_are_created_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b");
        let _l = lock(&dir).expect("lock");
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
        let f = dir.join("x");
        create_private_file(&f).expect("create");
        assert_eq!(mode(&f), 0o600);
        write_atomic(&dir.join("y"), b"y").expect("write");
        assert_eq!(mode(&dir.join("y")), 0o600);
    }

    #[test]
    fn flume_channel_files_are_recognised() {
        for name in [
            "log-1",
            "log-12.meta",
            "checkpoint",
            "inflighttakes",
            "queueset",
        ] {
            assert!(is_flume_file(name), "{name}");
        }
        for name in [
            "log-",
            "log-x",
            "rflume-wal-00000000000000000001",
            LOCK_FILE,
            "in_use.lock",
        ] {
            assert!(!is_flume_file(name), "{name}");
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        refuse_flume_channel(tmp.path()).expect("empty is fine");
        std::fs::write(tmp.path().join("log-3"), b"").expect("write");
        let msg = refuse_flume_channel(tmp.path())
            .expect_err("flume")
            .to_string();
        assert!(msg.contains("log-3") && msg.contains("no sources"), "{msg}");
    }
}
