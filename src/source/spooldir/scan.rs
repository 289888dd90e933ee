//! Which files of the spooling directory are candidates, and in which order they are read
//! (Flume's `getCandidateFiles` and `getNextFile`).
//!
//! A candidate is a regular file (or a link to one) whose name does not end with `fileSuffix`,
//! does not start with `.`, matches `includePattern` and not `ignorePattern` (whole-name
//! matches), and — with `trackingPolicy = tracker_dir` — has no `<trackerDir>/<path><suffix>`
//! marker. With `recursiveDirectorySearch`, subdirectories are searched too, except those whose
//! name starts with `.` or matches `ignorePattern`. Order: `oldest` / `youngest` by modification
//! time in milliseconds (Java's `File.lastModified`), ties broken by the smaller file name;
//! `random`: any.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{ConsumeOrder, SpoolDirSettings, TrackingPolicy};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub name: String,
    pub mtime_ms: i64,
}

/// The candidates in reading order, and the directories that could not be listed.
pub fn scan(s: &SpoolDirSettings, tracker: &Path) -> (VecDeque<Candidate>, Vec<String>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    walk(s, tracker, &s.spool_dir, &mut found, &mut errors);
    order(&mut found, s.consume_order);
    (found.into(), errors)
}

fn walk(
    s: &SpoolDirSettings,
    tracker: &Path,
    dir: &Path,
    out: &mut Vec<Candidate>,
    errors: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skip = !s.recursive
                || name.starts_with('.')
                || s.ignore_pattern.regex().is_match(&name)
                || path == tracker;
            if !skip {
                walk(s, tracker, &path, out, errors);
            }
            continue;
        }
        // A link counts for what it points to; a link to a directory is never read.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if name.ends_with(&s.file_suffix)
            || name.starts_with('.')
            || !s.include_pattern.regex().is_match(&name)
            || s.ignore_pattern.regex().is_match(&name)
        {
            continue;
        }
        if s.tracking_policy == TrackingPolicy::TrackerDir
            && marker(s, tracker, &path).is_some_and(|m| m.exists())
        {
            continue;
        }
        let mtime_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        out.push(Candidate {
            path,
            name,
            mtime_ms,
        });
    }
}

/// `trackingPolicy = tracker_dir`: the empty file that marks `path` as done,
/// `<trackerDir>/<path relative to spoolDir><fileSuffix>`.
pub fn marker(s: &SpoolDirSettings, tracker: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(&s.spool_dir).ok()?;
    let mut name = tracker.join(rel).into_os_string();
    name.push(&s.file_suffix);
    Some(PathBuf::from(name))
}

fn order(files: &mut [Candidate], order: ConsumeOrder) {
    match order {
        ConsumeOrder::Oldest => files.sort_by(|a, b| {
            a.mtime_ms
                .cmp(&b.mtime_ms)
                .then_with(|| a.name.cmp(&b.name))
        }),
        ConsumeOrder::Youngest => files.sort_by(|a, b| {
            b.mtime_ms
                .cmp(&a.mtime_ms)
                .then_with(|| a.name.cmp(&b.name))
        }),
        ConsumeOrder::Random => {
            // Fisher–Yates with the OS's randomness: no file is favoured.
            for i in (1..files.len()).rev() {
                let mut b = [0u8; 8];
                let r = getrandom::fill(&mut b).map(|()| u64::from_le_bytes(b));
                let j = (r.unwrap_or(i as u64) % (i as u64 + 1)) as usize;
                files.swap(i, j);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, mtime_ms: i64) -> Candidate {
        Candidate {
            path: PathBuf::from(name),
            name: name.into(),
            mtime_ms,
        }
    }

    #[test]
    fn oldest_and_youngest_break_ties_by_the_smaller_name() {
        let mut v = vec![c("b", 5), c("a", 5), c("z", 1), c("y", 9)];
        order(&mut v, ConsumeOrder::Oldest);
        let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b", "y"]);
        order(&mut v, ConsumeOrder::Youngest);
        let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["y", "a", "b", "z"]);
    }

    #[test]
    fn random_keeps_every_file() {
        let mut v: Vec<Candidate> = (0..50).map(|i| c(&format!("f{i:02}"), i)).collect();
        order(&mut v, ConsumeOrder::Random);
        let mut names: Vec<String> = v.iter().map(|c| c.name.clone()).collect();
        names.sort();
        assert_eq!(names.len(), 50);
        assert_eq!(names[0], "f00");
        assert_eq!(names[49], "f49");
    }
}
