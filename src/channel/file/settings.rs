//! The file channel's properties, with Flume's names, defaults and fallbacks
//! (`FileChannelConfiguration`, `FileChannel.configure`).
//!
//! Flume reads numbers with `Context.getInteger`/`getLong`, which throw on a value that is not a
//! number: the channel is then dropped, and so it is here (an error). Where Flume quietly corrects
//! a value (a capacity ≤ 0, a `maxFileSize` above its maximum, a `minimumRequiredSpace` below its
//! floor) rflume applies the same correction and says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::reader::PropReader;
use crate::config::registry::Describe;

/// Flume's `capacity` default.
pub const DEFAULT_CAPACITY: i64 = 1_000_000;
/// Flume's `transactionCapacity` default.
pub const DEFAULT_TRANSACTION_CAPACITY: i64 = 10_000;
/// Flume's `checkpointInterval` default, milliseconds.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 30_000;
/// Flume's `maxFileSize` default, which is also its maximum: `Integer.MAX_VALUE - 500 MiB`.
pub const DEFAULT_MAX_FILE_SIZE: i64 = i32::MAX as i64 - 500 * 1024 * 1024;
/// Flume's `minimumRequiredSpace` default: 500 MiB.
pub const DEFAULT_MINIMUM_REQUIRED_SPACE: i64 = 500 * 1024 * 1024;
/// Flume raises a smaller `minimumRequiredSpace` to this floor: 1 MiB.
pub const FLOOR_MINIMUM_REQUIRED_SPACE: i64 = 1024 * 1024;
/// Flume's `keep-alive` default, seconds.
pub const DEFAULT_KEEP_ALIVE_SECS: i64 = 3;
/// Flume's `fsyncInterval` default, seconds (only used with `fsyncPerTransaction = false`).
pub const DEFAULT_FSYNC_INTERVAL_SECS: i64 = 5;

/// A segment rolls at `maxFileSize` or at this size, whichever is smaller: a segment's space is
/// returned only once every event in it was delivered, so smaller segments give space back
/// sooner (and bound how much a stale checkpoint makes a restart re-read).
pub const SEGMENT_ROLL_SIZE: u64 = 128 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSettings {
    pub checkpoint_dir: PathBuf,
    /// Set when `useDualCheckpoints = true` (Flume requires `backupCheckpointDir` then).
    pub backup_checkpoint_dir: Option<PathBuf>,
    pub use_dual_checkpoints: bool,
    pub data_dirs: Vec<PathBuf>,
    pub capacity: usize,
    pub transaction_capacity: usize,
    pub checkpoint_interval: Duration,
    pub max_file_size: u64,
    pub minimum_required_space: u64,
    pub keep_alive: Duration,
    pub checkpoint_on_close: bool,
    pub fsync_per_transaction: bool,
    pub fsync_interval: Duration,
}

/// Flume's defaults live under the user's home (`System.getProperty("user.home")`).
fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
}

/// Flume's default `checkpointDir`: `~/.flume/file-channel/checkpoint`.
pub fn default_checkpoint_dir() -> PathBuf {
    home().join(".flume/file-channel/checkpoint")
}

/// Flume's default `dataDirs`: `~/.flume/file-channel/data`.
pub fn default_data_dir() -> PathBuf {
    home().join(".flume/file-channel/data")
}

impl FileSettings {
    /// The settings for `checkpoint_dir` and one data dir, everything else at Flume's defaults
    /// (for tests and for channel types built on this one).
    pub fn in_dirs(checkpoint_dir: &Path, data_dir: &Path) -> Self {
        FileSettings {
            checkpoint_dir: checkpoint_dir.to_path_buf(),
            backup_checkpoint_dir: None,
            use_dual_checkpoints: false,
            data_dirs: vec![data_dir.to_path_buf()],
            capacity: DEFAULT_CAPACITY as usize,
            transaction_capacity: DEFAULT_TRANSACTION_CAPACITY as usize,
            checkpoint_interval: Duration::from_millis(DEFAULT_CHECKPOINT_INTERVAL_MS as u64),
            max_file_size: DEFAULT_MAX_FILE_SIZE as u64,
            minimum_required_space: DEFAULT_MINIMUM_REQUIRED_SPACE as u64,
            keep_alive: Duration::from_secs(DEFAULT_KEEP_ALIVE_SECS as u64),
            checkpoint_on_close: true,
            fsync_per_transaction: true,
            fsync_interval: Duration::from_secs(DEFAULT_FSYNC_INTERVAL_SECS as u64),
        }
    }

    /// Where a segment rolls to the next one.
    pub fn segment_roll_size(&self) -> u64 {
        self.max_file_size.min(SEGMENT_ROLL_SIZE)
    }

    /// Every directory the channel locks: checkpoint, backup checkpoint, data.
    pub fn all_dirs(&self) -> Vec<&Path> {
        let mut dirs = vec![self.checkpoint_dir.as_path()];
        dirs.extend(self.backup_checkpoint_dir.as_deref());
        dirs.extend(self.data_dirs.iter().map(PathBuf::as_path));
        dirs
    }

    /// Flume's `FileChannel.configure`, value for value.
    pub fn parse(r: &mut PropReader) -> Option<Self> {
        Self::parse_with(r, None)
    }

    /// The overflow of a spillable memory channel: Flume's `SpillableMemoryChannel.configure`
    /// puts `capacity = overflowCapacity` and `keep-alive = 0` into the context before the file
    /// channel reads it, so those two keys of the user's are not read here.
    pub fn parse_overflow(r: &mut PropReader, overflow_capacity: i64) -> Option<Self> {
        Self::parse_with(r, Some(overflow_capacity))
    }

    fn parse_with(r: &mut PropReader, overflow_capacity: Option<i64>) -> Option<Self> {
        let use_dual_checkpoints = r.bool("useDualCheckpoints", false);
        let checkpoint_dir = match r.opt_string("checkpointDir") {
            Some(d) => absolute(r, "checkpointDir", d.trim()),
            None => default_checkpoint_dir(),
        };
        let backup = r.opt_string("backupCheckpointDir");
        let backup = backup.as_deref().map(str::trim).unwrap_or("");
        let mut backup_checkpoint_dir = None;
        if use_dual_checkpoints {
            if backup.is_empty() {
                r.error(
                    "backupCheckpointDir",
                    r.line("useDualCheckpoints"),
                    "Dual checkpointing is enabled, but the backup directory is not set",
                    Some("set backupCheckpointDir to a directory on another disk".to_string()),
                );
            } else {
                let dir = absolute(r, "backupCheckpointDir", backup);
                if dir == checkpoint_dir {
                    r.error(
                        "backupCheckpointDir",
                        r.line("backupCheckpointDir"),
                        "The checkpoint backup directory and the checkpoint directory are configured to be the same",
                        Some("use a directory of its own, ideally on another disk".to_string()),
                    );
                }
                backup_checkpoint_dir = Some(dir);
            }
        } else if !backup.is_empty() {
            r.warn(
                "backupCheckpointDir",
                r.line("backupCheckpointDir"),
                "backupCheckpointDir is set but useDualCheckpoints is not true, so no backup is written (as in Flume)",
                Some("add useDualCheckpoints = true to keep a backup checkpoint".to_string()),
            );
        }
        // Flume: `Splitter.on(",").trimResults().omitEmptyStrings()`.
        let data_dirs: Vec<PathBuf> = match r.opt_string("dataDirs") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| absolute(r, "dataDirs", d))
                .collect(),
            None => vec![default_data_dir()],
        };
        if data_dirs.is_empty() {
            r.error(
                "dataDirs",
                r.line("dataDirs"),
                "no directory is listed",
                Some("list one or more directories separated by commas".to_string()),
            );
        }
        let mut seen: Vec<&Path> = vec![checkpoint_dir.as_path()];
        seen.extend(backup_checkpoint_dir.as_deref());
        for d in &data_dirs {
            if seen.contains(&d.as_path()) {
                r.error(
                    "dataDirs",
                    r.line("dataDirs"),
                    format!("{} is listed twice among checkpointDir, backupCheckpointDir and dataDirs; Flume cannot lock one directory twice and does not start the channel", d.display()),
                    Some("give every directory once".to_string()),
                );
            }
            seen.push(d);
        }

        let mut capacity = match overflow_capacity {
            Some(c) => c,
            None => java_int(r, "capacity", DEFAULT_CAPACITY),
        };
        if capacity <= 0 {
            // An overflow of 0 disables it: Flume's file channel still opens, with its default.
            if overflow_capacity.is_none() {
                fallback(r, "capacity", capacity, DEFAULT_CAPACITY);
            }
            capacity = DEFAULT_CAPACITY;
        }
        let keep_alive = match overflow_capacity {
            Some(_) => 0,
            None => java_int(r, "keep-alive", DEFAULT_KEEP_ALIVE_SECS),
        };
        crate::channel::warn_negative_keep_alive(r, keep_alive);
        let mut transaction_capacity =
            java_int(r, "transactionCapacity", DEFAULT_TRANSACTION_CAPACITY);
        if transaction_capacity <= 0 {
            fallback(
                r,
                "transactionCapacity",
                transaction_capacity,
                DEFAULT_TRANSACTION_CAPACITY,
            );
            transaction_capacity = DEFAULT_TRANSACTION_CAPACITY;
        }
        if transaction_capacity > capacity {
            let capacity_key = match overflow_capacity {
                Some(_) => "overflowCapacity",
                None => "capacity",
            };
            let line = r
                .line("transactionCapacity")
                .or_else(|| r.line(capacity_key));
            r.error(
                "transactionCapacity",
                line,
                format!("File Channel transaction capacity cannot be greater than the capacity of the channel ({transaction_capacity} > {capacity})"),
                Some(format!("set transactionCapacity <= {capacity} or raise {capacity_key}")),
            );
        }
        let mut checkpoint_interval =
            java_long(r, "checkpointInterval", DEFAULT_CHECKPOINT_INTERVAL_MS);
        if checkpoint_interval <= 0 {
            fallback(
                r,
                "checkpointInterval",
                checkpoint_interval,
                DEFAULT_CHECKPOINT_INTERVAL_MS,
            );
            checkpoint_interval = DEFAULT_CHECKPOINT_INTERVAL_MS;
        }
        let mut max_file_size = java_long(r, "maxFileSize", DEFAULT_MAX_FILE_SIZE);
        if max_file_size > DEFAULT_MAX_FILE_SIZE {
            let line = r.line("maxFileSize");
            r.warn(
                "maxFileSize",
                line,
                format!("{max_file_size} is above Flume's maximum; {DEFAULT_MAX_FILE_SIZE} is used, as in Flume"),
                Some(format!("use at most {DEFAULT_MAX_FILE_SIZE}")),
            );
            max_file_size = DEFAULT_MAX_FILE_SIZE;
        } else if max_file_size <= 0 {
            // Flume's `Log` refuses it (`maxFileSize <= 0`) and the channel does not start.
            let line = r.line("maxFileSize");
            r.error(
                "maxFileSize",
                line,
                format!("must be greater than 0, got {max_file_size}; Flume's file channel does not start with it"),
                Some(format!("Flume's default is {DEFAULT_MAX_FILE_SIZE}")),
            );
        }
        let mut minimum_required_space =
            java_long(r, "minimumRequiredSpace", DEFAULT_MINIMUM_REQUIRED_SPACE);
        if minimum_required_space < FLOOR_MINIMUM_REQUIRED_SPACE {
            let line = r.line("minimumRequiredSpace");
            r.warn(
                "minimumRequiredSpace",
                line,
                format!("{minimum_required_space} is below Flume's floor; {FLOOR_MINIMUM_REQUIRED_SPACE} (1 MiB) is used, as in Flume"),
                Some(format!("use at least {FLOOR_MINIMUM_REQUIRED_SPACE}")),
            );
            minimum_required_space = FLOOR_MINIMUM_REQUIRED_SPACE;
        }
        let checkpoint_on_close = r.bool("checkpointOnClose", true);
        let fsync_per_transaction = r.bool("fsyncPerTransaction", true);
        let fsync_interval = java_int(r, "fsyncInterval", DEFAULT_FSYNC_INTERVAL_SECS);
        if !fsync_per_transaction {
            if fsync_interval <= 0 {
                let line = r.line("fsyncInterval");
                r.error(
                    "fsyncInterval",
                    line,
                    format!("must be greater than 0 with fsyncPerTransaction = false, got {fsync_interval}; Flume's file channel does not start with it"),
                    Some(format!("Flume's default is {DEFAULT_FSYNC_INTERVAL_SECS}")),
                );
            } else {
                let line = r.line("fsyncPerTransaction");
                r.warn(
                    "fsyncPerTransaction",
                    line,
                    format!("commits are written but synced to disk only every {fsync_interval} s: a power loss (not a crash of the agent) can lose up to that much committed data, as in Flume"),
                    Some("leave fsyncPerTransaction at true; rflume shares one fsync between concurrent commits".to_string()),
                );
            }
        }
        for key in ["use-log-replay-v1", "use-fast-replay"] {
            if let Some((_, line)) = r.ignored(key) {
                r.warn(
                    key,
                    Some(line),
                    "selects one of Flume's replay strategies; rflume has its own on-disk format and one replay (which is fast); ignored",
                    None,
                );
            }
        }
        if let Some((_, line)) = r.ignored("compressBackupCheckpoint") {
            r.warn(
                "compressBackupCheckpoint",
                Some(line),
                "rflume's checkpoint is a few dozen bytes; there is nothing to compress; ignored",
                None,
            );
        }
        let encryption = r.with_prefix("encryption.");
        if let Some((key, _, line)) = encryption.first() {
            r.unsupported(
                &format!("encryption.{key}"),
                Some(*line),
                "rflume's file channel does not encrypt its files",
                Some("keep this channel on Flume, or put the directories on an encrypted filesystem and remove encryption.*".to_string()),
            );
        }
        if r.failed() {
            return None;
        }
        Some(FileSettings {
            checkpoint_dir,
            backup_checkpoint_dir,
            use_dual_checkpoints,
            data_dirs,
            capacity: capacity as usize,
            transaction_capacity: transaction_capacity as usize,
            checkpoint_interval: Duration::from_millis(checkpoint_interval as u64),
            max_file_size: max_file_size.max(1) as u64,
            minimum_required_space: minimum_required_space as u64,
            keep_alive: Duration::from_secs(keep_alive.max(0) as u64),
            checkpoint_on_close,
            fsync_per_transaction,
            fsync_interval: Duration::from_secs(fsync_interval.max(1) as u64),
        })
    }
}

/// A directory as written, which must be absolute: a relative one would depend on the directory
/// the service happens to start in (Flume resolves it against the JVM's working directory).
fn absolute(r: &mut PropReader, key: &str, dir: &str) -> PathBuf {
    let path = PathBuf::from(dir);
    if path.is_relative() {
        let line = r.line(key);
        r.warn(
            key,
            line,
            format!("{dir} is a relative path: it is resolved against the agent's working directory, as in Flume"),
            Some(format!(
                "use an absolute path such as /var/lib/rflume/file-channel/{}",
                if key == "dataDirs" { "data" } else { "checkpoint" }
            )),
        );
    }
    path
}

/// A Java `int` as Flume's `Context.getInteger` reads it: anything that is not one (garbage,
/// beyond ±2147483647) throws, and the channel is dropped.
fn java_int(r: &mut PropReader, key: &str, default: i64) -> i64 {
    let v = java_long(r, key, default);
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        let line = r.line(key);
        r.error(
            key,
            line,
            format!("{v} is not a Java int, which Flume cannot read"),
            Some(format!("Flume's default is {default}")),
        );
        return default;
    }
    v
}

/// A Java `long` as Flume's `Context.getLong` reads it (`Long.parseLong` of the trimmed value).
fn java_long(r: &mut PropReader, key: &str, default: i64) -> i64 {
    let Some((v, line)) = r.raw(key) else {
        return default;
    };
    match v.trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            r.error(
                key,
                Some(line),
                format!("'{v}' is not an integer; Flume cannot configure the channel"),
                Some(format!("Flume's default is {default}")),
            );
            default
        }
    }
}

fn fallback(r: &mut PropReader, key: &str, got: i64, default: i64) {
    let line = r.line(key);
    r.warn(
        key,
        line,
        format!("{got} is invalid; Flume's default of {default} is used, as Flume does"),
        Some("use a positive number".to_string()),
    );
}

impl Describe for FileSettings {
    fn describe(&self) -> Vec<(String, String)> {
        let dirs = |d: &[PathBuf]| {
            d.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        vec![
            (
                "checkpointDir".into(),
                self.checkpoint_dir.display().to_string(),
            ),
            (
                "useDualCheckpoints".into(),
                self.use_dual_checkpoints.to_string(),
            ),
            (
                "backupCheckpointDir".into(),
                self.backup_checkpoint_dir
                    .as_ref()
                    .map_or_else(|| "(none)".to_string(), |d| d.display().to_string()),
            ),
            ("dataDirs".into(), dirs(&self.data_dirs)),
            ("capacity".into(), self.capacity.to_string()),
            (
                "transactionCapacity".into(),
                self.transaction_capacity.to_string(),
            ),
            (
                "checkpointInterval".into(),
                self.checkpoint_interval.as_millis().to_string(),
            ),
            ("maxFileSize".into(), self.max_file_size.to_string()),
            (
                "minimumRequiredSpace".into(),
                self.minimum_required_space.to_string(),
            ),
            ("keep-alive".into(), self.keep_alive.as_secs().to_string()),
            (
                "checkpointOnClose".into(),
                self.checkpoint_on_close.to_string(),
            ),
            (
                "fsyncPerTransaction".into(),
                self.fsync_per_transaction.to_string(),
            ),
            (
                "fsyncInterval".into(),
                self.fsync_interval.as_secs().to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reader::ComponentProps;
    use crate::config::Diagnostics;
    use std::sync::Arc;

    use crate::config::reader::parse_for_test;

    fn parse(pairs: &[(&str, &str)]) -> (Option<FileSettings>, Vec<String>) {
        let (s, d) = parse_for_test(pairs, Some("the file channel"), FileSettings::parse);
        (s, d.lines())
    }

    #[test]
    fn flume_defaults_under_the_home_directory() {
        let (s, diags) = parse(&[]);
        let s = s.expect("parses");
        assert!(diags.is_empty(), "{diags:?}");
        let home = home();
        assert_eq!(
            s.checkpoint_dir,
            home.join(".flume/file-channel/checkpoint")
        );
        assert_eq!(s.data_dirs, vec![home.join(".flume/file-channel/data")]);
        assert_eq!(
            (s.capacity, s.transaction_capacity),
            (1_000_000, 10_000),
            "Flume's FileChannelConfiguration defaults"
        );
        assert_eq!(s.checkpoint_interval, Duration::from_secs(30));
        // Flume's code says `Integer.MAX_VALUE - 500 MiB`; its 1.9 user guide says 2146435071.
        assert_eq!(s.max_file_size, 1_623_195_647);
        assert_eq!(s.minimum_required_space, 524_288_000);
        assert_eq!(s.keep_alive, Duration::from_secs(3));
        assert!(s.checkpoint_on_close && s.fsync_per_transaction && !s.use_dual_checkpoints);
        assert_eq!(s.segment_roll_size(), SEGMENT_ROLL_SIZE);
    }

    #[test]
    fn data_dirs_are_split_on_commas_and_trimmed_as_flume_does() {
        let (s, diags) = parse(&[("dataDirs", " /d1 , ,/d2,")]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            s.expect("parses").data_dirs,
            vec![PathBuf::from("/d1"), PathBuf::from("/d2")]
        );
    }

    /// Where Flume corrects a value quietly, rflume corrects it the same way and says so.
    #[test]
    fn flumes_corrections_are_applied_with_a_warning() {
        /// (properties, the value they set, what Flume makes of it)
        type Case = (
            &'static [(&'static str, &'static str)],
            fn(&FileSettings) -> u64,
            u64,
        );
        let cases: &[Case] = &[
            (&[("capacity", "0")], |s| s.capacity as u64, 1_000_000),
            (
                &[("transactionCapacity", "-5")],
                |s| s.transaction_capacity as u64,
                10_000,
            ),
            (
                &[("checkpointInterval", "0")],
                |s| s.checkpoint_interval.as_millis() as u64,
                30_000,
            ),
            (
                &[("maxFileSize", "9000000000")],
                |s| s.max_file_size,
                1_623_195_647,
            ),
            (
                &[("minimumRequiredSpace", "10")],
                |s| s.minimum_required_space,
                1_048_576,
            ),
            (&[("keep-alive", "-1")], |s| s.keep_alive.as_secs(), 0),
        ];
        for (pairs, get, want) in cases {
            let (s, diags) = parse(pairs);
            let s = s.unwrap_or_else(|| panic!("{pairs:?} dropped the channel: {diags:?}"));
            assert_eq!(get(&s), *want, "{pairs:?}");
            assert_eq!(diags.len(), 1, "{pairs:?}: {diags:?}");
            assert!(!diags[0].contains("error"), "{diags:?}");
        }
    }

    /// Where Flume's `configure` throws (or its `Log` refuses to start), the channel is dropped.
    #[test]
    fn what_flume_refuses_drops_the_channel() {
        for pairs in [
            &[("capacity", "lots")][..],
            &[("capacity", "3000000000")],
            &[("checkpointInterval", "1e3")],
            &[("capacity", "10"), ("transactionCapacity", "20")],
            &[("useDualCheckpoints", "true")],
            &[
                ("useDualCheckpoints", "true"),
                ("checkpointDir", "/c"),
                ("backupCheckpointDir", "/c"),
            ],
            &[("maxFileSize", "0")],
            &[("fsyncPerTransaction", "false"), ("fsyncInterval", "0")],
            &[("checkpointDir", "/c"), ("dataDirs", "/d,/c")],
            &[("dataDirs", " , ")],
        ] {
            let (s, diags) = parse(pairs);
            assert!(s.is_none(), "{pairs:?} should drop the channel: {diags:?}");
            assert!(
                diags.iter().any(|d| d.contains("f.conf:")),
                "{pairs:?}: {diags:?}"
            );
        }
    }

    #[test]
    fn flume_only_keys_are_accepted_and_encryption_is_unsupported() {
        let (s, diags) = parse(&[
            ("use-fast-replay", "true"),
            ("use-log-replay-v1", "false"),
            ("compressBackupCheckpoint", "true"),
        ]);
        assert!(s.is_some());
        assert_eq!(diags.len(), 3, "{diags:?}");
        assert!(
            diags.iter().all(|d| !d.contains("unknown property")),
            "{diags:?}"
        );
        let c = ComponentProps::sink_for_test(&[("encryption.activeKey", "key-0")]);
        let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
        let mut r = PropReader::new(&c, &mut d);
        assert!(FileSettings::parse(&mut r).is_none());
        assert!(
            r.is_unsupported(),
            "an encrypted Flume channel is something rflume cannot run"
        );
    }

    #[test]
    fn dual_checkpoints_need_a_backup_dir_of_their_own() {
        let (s, diags) = parse(&[
            ("useDualCheckpoints", "true"),
            ("checkpointDir", "/c"),
            ("backupCheckpointDir", " /b "),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            s.expect("parses").backup_checkpoint_dir,
            Some(PathBuf::from("/b"))
        );
        let (s, diags) = parse(&[("backupCheckpointDir", "/b")]);
        assert_eq!(s.expect("parses").backup_checkpoint_dir, None);
        assert_eq!(
            diags.len(),
            1,
            "a backup dir without useDualCheckpoints is unused: {diags:?}"
        );
    }
}
