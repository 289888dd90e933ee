//! When and how a file is retired: once it was read to its end and the sinks delivered every
//! line of it, it is renamed (`fileSuffix`), deleted (`deletePolicy = immediate`) or marked in
//! the tracker directory; a file that cannot be retired is reported and set aside.

use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

use super::scan;
use super::spooler::Spooler;
use super::{DeletePolicy, TrackingPolicy};

impl Spooler {
    /// Retires every fully read file whose lines were all delivered.
    pub(super) fn retire_delivered(&mut self) {
        let mut i = 0;
        let mut retired = false;
        while i < self.files.len() {
            let f = &self.files[i];
            let delivered = f.end.is_some_and(|end| f.acks.delivered() >= end);
            if !delivered || (f.stuck && f.path.exists()) {
                i += 1;
                continue;
            }
            if f.stuck || self.retire(i) {
                self.files.remove(i);
                retired = true;
            } else {
                self.files[i].stuck = true;
                let p = self.files[i].path.clone();
                self.set_aside.insert(p);
                i += 1;
            }
        }
        if retired {
            self.save(true);
        }
    }

    /// Renames, deletes or marks a file all of whose lines were delivered; false (reported)
    /// when that is not possible.
    fn retire(&mut self, i: usize) -> bool {
        let path = self.files[i].path.clone();
        let reused = |dest: &Path| {
            format!("File name has been re-used with different files. Spooling assumptions violated for {} (Flume throws IllegalStateException and stops the source). Everything in {} was delivered; it is left as it is and the other files go on: rename one of the two, then restart", dest.display(), path.display())
        };
        match (self.s.delete_policy, self.s.tracking_policy) {
            (DeletePolicy::Immediate, _) => {
                info!(source = %self.name, "Preparing to delete file {}", path.display());
                match std::fs::remove_file(&path) {
                    Ok(()) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        warn!(source = %self.name, "Unable to delete nonexistent file: {}", path.display());
                        true
                    }
                    Err(e) => {
                        error!(source = %self.name, "Unable to delete spool file: {}: {e}", path.display());
                        false
                    }
                }
            }
            (DeletePolicy::Never, TrackingPolicy::Rename) => {
                let mut dest = path.clone().into_os_string();
                dest.push(&self.s.file_suffix);
                let dest = PathBuf::from(dest);
                info!(source = %self.name, "Preparing to move file {} to {}", path.display(), dest.display());
                if dest.exists() {
                    error!(source = %self.name, "{}", reused(&dest));
                    return false;
                }
                match std::fs::rename(&path, &dest) {
                    Ok(()) => {
                        if let Some(parent) = dest.parent() {
                            super::tracker::sync_dir(parent);
                        }
                        true
                    }
                    Err(e) => {
                        error!(source = %self.name, "Unable to move {} to {}: {e}. Please verify that rflume has sufficient permissions to perform these operations; the file is left as it is until a restart", path.display(), dest.display());
                        false
                    }
                }
            }
            (DeletePolicy::Never, TrackingPolicy::TrackerDir) => {
                let Some(marker) = scan::marker(&self.s, &self.s.tracker_path(), &path) else {
                    return false;
                };
                info!(source = %self.name, "Preparing to create tracker file for {} at {}", path.display(), marker.display());
                if marker.exists() {
                    error!(source = %self.name, "{}", reused(&marker));
                    return false;
                }
                let made = marker
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&marker)
                            .map(|_| ())
                    });
                match made {
                    Ok(()) => {
                        if let Some(parent) = marker.parent() {
                            super::tracker::sync_dir(parent);
                        }
                        true
                    }
                    Err(e) => {
                        error!(source = %self.name, "Could not create tracker file: {}: {e}", marker.display());
                        false
                    }
                }
            }
        }
    }
}
