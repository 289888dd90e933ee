//! Change notifications: when must the tailer look again? inotify watches each file group's
//! directory and wakes the tailer when something there changes; a notification says whether
//! the directory must be listed again (a file appeared, went away or was renamed) or only read
//! (a file grew), and one that concerns no file group (another file in the same directory, our
//! own position file) is ignored, so a busy neighbour does not keep the tailer spinning. Where
//! inotify is unavailable, waiting is plain polling with Flume's back-off; where it is blind
//! (NFS), the tailer's periodic rescan is the safety net.
//!
//! The tailer's own thread reads the inotify descriptor, in `poll(2)` together with a waker
//! (a delivery moved a position, or a stop), rather than a watcher thread forwarding each
//! event through a channel. That is what makes a steady stream cheap: while the tailer reads
//! or gathers, the kernel coalesces the identical `IN_MODIFY` events of a file being appended
//! to into one queued event, so an application writing 10,000 lines a second, one `write(2)`
//! each, costs one wake-up per read pass instead of 10,000 wake-ups of a forwarding thread.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, warn};

use super::settings::{FileGroupSettings, TaildirSettings};
use crate::shutdown::Shutdown;

const INOTIFY: Token = Token(0);
const WAKER: Token = Token(1);

/// Room for a few hundred events per `read(2)`; a pass with more reads again.
const EVENT_BUFFER: usize = 16 * 1024;

/// What inotify told us since the last look.
#[derive(Default, Debug, PartialEq)]
pub(super) struct Wakeup {
    /// A file may have appeared, gone away or been renamed: list the directories again.
    pub(super) rescan: bool,
    /// Something concerning a file group happened: read again before waiting.
    pub(super) any: bool,
}

/// The inotify descriptor and the watches on it.
struct Notifier {
    inotify: Inotify,
    /// Which file groups each watched directory serves (groups may share a directory).
    dirs: HashMap<WatchDescriptor, Vec<usize>>,
    buffer: Box<[u8]>,
}

/// The watches on the file groups' directories and the tailer's way to wait for them.
pub(super) struct Watch {
    notifier: Option<Notifier>,
    /// Per file group: whether its directory is watched (one that does not exist yet is tried
    /// again at every scan).
    watched: Vec<bool>,
    poll: Option<Poll>,
    events: Events,
    waker: Option<Arc<Waker>>,
    /// Seen while waiting, handed out by the next [`Watch::drain_events`].
    pending: Wakeup,
    /// The names of the files that notifications said grew (or were truncated) since the last
    /// [`Watch::take_changed`], so that a pass reads those instead of every file; `all` when
    /// a notification could concern any file (a listing change, a lost event, the directory).
    /// Names, not paths: hashing a `Path` walks its components, and the tailer finds the
    /// files by name (a name shared by two watched directories only costs an extra read).
    changed: HashSet<OsString>,
    changed_all: bool,
}

impl Watch {
    /// Starts watching the groups' directories; without inotify, says that the tailer polls.
    pub(super) fn new(source: &str, s: &TaildirSettings) -> Self {
        let mut w = Watch {
            notifier: None,
            watched: vec![false; s.groups.len()],
            poll: None,
            events: Events::with_capacity(4),
            waker: None,
            pending: Wakeup::default(),
            changed: HashSet::new(),
            changed_all: false,
        };
        let poll = match Poll::new() {
            Ok(p) => p,
            Err(e) => {
                warn!(source = %source, "cannot create a poller ({e}); polling every {} ms", s.max_backoff_sleep.as_millis());
                return w;
            }
        };
        match Waker::new(poll.registry(), WAKER) {
            Ok(waker) => w.waker = Some(Arc::new(waker)),
            Err(e) => warn!(source = %source, "cannot create a waker ({e})"),
        }
        match Inotify::init().and_then(|ino| {
            poll.registry().register(
                &mut SourceFd(&ino.as_raw_fd()),
                INOTIFY,
                Interest::READABLE,
            )?;
            Ok(ino)
        }) {
            Ok(inotify) => {
                w.notifier = Some(Notifier {
                    inotify,
                    dirs: HashMap::new(),
                    buffer: vec![0; EVENT_BUFFER].into_boxed_slice(),
                })
            }
            Err(e) => {
                warn!(source = %source, "inotify unavailable ({e}); polling every {} ms", s.max_backoff_sleep.as_millis())
            }
        }
        w.poll = Some(poll);
        w.watch_dirs(&s.groups);
        w
    }

    /// A way for another thread to end the read loop's wait (a delivery moved a position): it
    /// concerns every file group and rescans none.
    pub(super) fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let waker = self.waker.clone();
        move || {
            if let Some(w) = &waker {
                let _ = w.wake();
            }
        }
    }

    /// Whether inotify watches every file group's directory.
    pub(super) fn watches_all(&self) -> bool {
        self.notifier.is_some() && self.watched.iter().all(|&w| w)
    }

    /// Watches the directories not watched yet (created since the last try).
    pub(super) fn watch_dirs(&mut self, groups: &[FileGroupSettings]) {
        let Some(n) = self.notifier.as_mut() else {
            return;
        };
        let mask = WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF;
        for (i, g) in groups.iter().enumerate() {
            if self.watched[i] {
                continue;
            }
            match n.inotify.watches().add(&g.dir, mask) {
                Ok(wd) => {
                    // The same directory gives the same descriptor: one list of groups for it.
                    let served = n.dirs.entry(wd).or_default();
                    if !served.contains(&i) {
                        served.push(i);
                    }
                    self.watched[i] = true;
                }
                Err(e) => debug!("cannot watch {}: {e}", g.dir.display()),
            }
        }
    }

    /// The files named by notifications so far (those received since the wait ended
    /// included), without taking them; None when any file may have changed.
    pub(super) fn changed(&mut self, groups: &[FileGroupSettings]) -> Option<&HashSet<OsString>> {
        self.read_inotify(groups);
        (!self.changed_all && self.notifier.is_some()).then_some(&self.changed)
    }

    /// The files named by notifications since the last call, or None when any file may have
    /// changed (the pass must then look at all of them).
    pub(super) fn take_changed(&mut self) -> Option<HashSet<OsString>> {
        if std::mem::take(&mut self.changed_all) || self.notifier.is_none() {
            self.changed.clear();
            return None;
        }
        Some(std::mem::take(&mut self.changed))
    }

    /// Takes every notification received since the last look, without waiting.
    pub(super) fn drain_events(&mut self, groups: &[FileGroupSettings]) -> Wakeup {
        self.read_inotify(groups);
        std::mem::take(&mut self.pending)
    }

    /// Reads what the inotify descriptor holds into `pending`.
    fn read_inotify(&mut self, groups: &[FileGroupSettings]) {
        let Some(n) = self.notifier.as_mut() else {
            return;
        };
        loop {
            let mut lost_dirs = Vec::new();
            let read = match n.inotify.read_events(&mut n.buffer) {
                Ok(events) => {
                    let mut count = 0;
                    for ev in events {
                        count += 1;
                        let served = n.dirs.get(&ev.wd).map_or(&[][..], Vec::as_slice);
                        let w = classify(served, groups, ev.mask, ev.name);
                        self.pending.rescan |= w.rescan;
                        self.pending.any |= w.any;
                        // A named file that grew: that file only. Anything else that asks for
                        // a look: every file.
                        // (Looked up first: most events name a file already in the set.)
                        match (w.any && !w.rescan, ev.name) {
                            (true, Some(name)) if self.changed.contains(name) => {}
                            (true, Some(name)) => {
                                self.changed.insert(name.to_os_string());
                            }
                            _ if w.any => self.changed_all = true,
                            _ => {}
                        }
                        if ev.mask.contains(EventMask::IGNORED) {
                            lost_dirs.push(ev.wd.clone());
                        }
                    }
                    count
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A failing descriptor: fall back to the rescan, as for an overflow.
                    debug!("reading inotify events: {e}");
                    self.pending.rescan = true;
                    self.pending.any = true;
                    self.changed_all = true;
                    0
                }
            };
            // A watched directory was deleted or moved away (the watch is gone): watch it
            // again once it exists, at the next scan.
            for wd in lost_dirs {
                if let Some(served) = n.dirs.remove(&wd) {
                    for i in served {
                        self.watched[i] = false;
                    }
                }
            }
            if read == 0 {
                return;
            }
        }
    }

    /// Waits up to `backoff` for a notification that concerns a file group, a delivery or a
    /// stop (the tailer registers [`Watch::waker`] with the shutdown, so an idle source wakes
    /// only for work, not on a timer). What ended the wait is kept for the next
    /// [`Watch::drain_events`]. Returns whether a notification ended the wait.
    pub(super) fn wait(
        &mut self,
        backoff: Duration,
        shutdown: &Shutdown,
        groups: &[FileGroupSettings],
    ) -> bool {
        if self.poll.is_none() {
            shutdown.sleep(backoff);
            return false;
        }
        let until = Instant::now() + backoff;
        while !shutdown.is_stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(poll) = self.poll.as_mut() else {
                break;
            };
            if let Err(e) = poll.poll(&mut self.events, Some(left)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                debug!("waiting for inotify: {e}");
                shutdown.sleep(left);
                break;
            }
            let mut woken = false;
            let mut notified = false;
            for ev in self.events.iter() {
                match ev.token() {
                    WAKER => woken = true,
                    _ => notified = true,
                }
            }
            if woken {
                self.pending.any = true;
            }
            if notified {
                // Our own position file being written, or a neighbour no group reads, is read
                // and dropped here: not a reason to wake.
                self.read_inotify(groups);
            }
            if woken || self.pending.any {
                return true;
            }
        }
        false
    }
}

/// What one inotify event asks of the tailer.
/// `served`: the file groups of the directory the event is about.
fn classify(
    served: &[usize],
    groups: &[FileGroupSettings],
    mask: EventMask,
    name: Option<&OsStr>,
) -> Wakeup {
    let all = Wakeup {
        rescan: true,
        any: true,
    };
    if mask.intersects(EventMask::Q_OVERFLOW | EventMask::IGNORED | EventMask::UNMOUNT)
        || mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF)
    {
        // Events were lost, or a watched directory itself went away: look at everything.
        return all;
    }
    let Some(name) = name else {
        // About the directory itself (its attributes): read again, nothing to list.
        return Wakeup {
            rescan: false,
            any: true,
        };
    };
    // A busy file that no group matches (or our own position file) in a watched directory
    // must not keep the reader spinning.
    let relevant = name.to_str().is_some_and(|n| {
        served
            .iter()
            .any(|&i| groups.get(i).is_some_and(|g| g.regex.is_match(n)))
    });
    if !relevant {
        return Wakeup::default();
    }
    let listing =
        EventMask::CREATE | EventMask::DELETE | EventMask::MOVED_FROM | EventMask::MOVED_TO;
    Wakeup {
        rescan: mask.intersects(listing),
        any: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::Path;

    fn settings(dir: &Path) -> TaildirSettings {
        TaildirSettings {
            groups: vec![FileGroupSettings {
                name: "f1".into(),
                dir: dir.to_path_buf(),
                pattern: "app.*\\.log".into(),
                regex: Regex::new("^(?:app.*\\.log)$").expect("regex"),
                headers: vec![],
            }],
            position_file: dir.join("taildir_position.json"),
            byte_offset_header: false,
            skip_to_end: false,
            idle_timeout: Duration::from_secs(120),
            write_pos_interval: Duration::from_secs(3),
            batch_size: 100,
            max_batch_count: u64::MAX,
            backoff_sleep_increment: Duration::from_millis(10),
            max_backoff_sleep: Duration::from_millis(50),
            cache_pattern_matching: true,
            file_header: false,
            file_header_key: "file".into(),
            line_limit: Default::default(),
        }
    }

    fn append(path: &Path, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        f.write_all(text.as_bytes()).expect("write");
    }

    /// Long enough that a missed notification fails the test rather than a timer ending it.
    const LONG: Duration = Duration::from_secs(20);

    #[test]
    fn an_append_to_a_matching_file_wakes_the_wait_and_asks_for_a_read_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let app = dir.path().join("app.log");
        append(&app, "first\n");
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        assert_eq!(w.drain_events(&s.groups), Wakeup::default());

        append(&app, "second\n");
        let started = Instant::now();
        assert!(
            w.wait(LONG, &shutdown, &s.groups),
            "the append ended the wait"
        );
        assert!(started.elapsed() < LONG);
        assert_eq!(
            w.drain_events(&s.groups),
            Wakeup {
                rescan: false,
                any: true
            }
        );
        assert_eq!(
            w.drain_events(&s.groups),
            Wakeup::default(),
            "handed out once"
        );
    }

    #[test]
    fn the_position_file_and_other_files_do_not_wake_the_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        for i in 0..50 {
            append(&s.position_file, &format!("[{i}]"));
            append(&dir.path().join("other.log"), "x\n");
        }
        let tmp = dir.path().join(".taildir_position.json.tmp");
        append(&tmp, "[]");
        std::fs::rename(&tmp, &s.position_file).expect("rename");
        assert!(
            !w.wait(Duration::from_millis(300), &shutdown, &s.groups),
            "no notification concerned a file group"
        );
        assert_eq!(w.drain_events(&s.groups), Wakeup::default());
    }

    /// Appends name their files, so a pass reads those only; a new file (a listing change)
    /// means every file; files no group matches are not named.
    #[test]
    fn appends_name_the_files_that_grew_and_a_new_file_asks_for_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let (a, b) = (dir.path().join("app-a.log"), dir.path().join("app-b.log"));
        append(&a, "");
        append(&b, "");
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        assert_eq!(
            w.take_changed(),
            Some(HashSet::new()),
            "nothing happened yet"
        );

        append(&a, "one\n");
        append(&dir.path().join("other.log"), "x\n");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        w.drain_events(&s.groups);
        let names = w.take_changed().expect("only named files changed");
        assert_eq!(names, HashSet::from([OsString::from("app-a.log")]));
        assert_eq!(w.take_changed(), Some(HashSet::new()), "taken once");

        append(&dir.path().join("app-c.log"), "new\n");
        append(&b, "two\n");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        w.drain_events(&s.groups);
        assert_eq!(w.take_changed(), None, "a new file: look at every file");
    }

    #[test]
    fn a_new_a_deleted_and_a_renamed_file_ask_for_a_rescan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        let app = dir.path().join("app.log");
        let all = Wakeup {
            rescan: true,
            any: true,
        };

        append(&app, "line\n");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        assert_eq!(w.drain_events(&s.groups), all, "created");

        std::fs::rename(&app, dir.path().join("app.log.1")).expect("rename");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        assert_eq!(w.drain_events(&s.groups), all, "renamed away");

        std::fs::remove_file(dir.path().join("app.log.1")).expect("delete");
        // app.log.1 matches no group (`app.*\.log`): its deletion is not a reason to look.
        assert!(!w.wait(Duration::from_millis(300), &shutdown, &s.groups));

        append(&dir.path().join("app-2.log"), "x\n");
        std::fs::remove_file(dir.path().join("app-2.log")).expect("delete");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        assert_eq!(w.drain_events(&s.groups), all, "created and deleted");
    }

    #[test]
    fn many_appends_before_a_look_are_one_wakeup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let app = dir.path().join("app.log");
        append(&app, "");
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        for i in 0..10_000 {
            append(&app, &format!("line {i}\n"));
        }
        assert!(w.drain_events(&s.groups).any);
        // Everything queued was read by that one look (the kernel coalesced the appends).
        assert!(!w.wait(Duration::from_millis(200), &shutdown, &s.groups));
    }

    #[test]
    fn the_waker_and_a_stop_end_the_wait_from_another_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(dir.path());
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        let wake = w.waker();
        let t = std::thread::spawn(wake);
        assert!(w.wait(LONG, &shutdown, &s.groups), "woken");
        t.join().expect("join");
        assert_eq!(
            w.drain_events(&s.groups),
            Wakeup {
                rescan: false,
                any: true
            }
        );

        shutdown.on_stop(w.waker());
        let stopper = shutdown.clone();
        let t = std::thread::spawn(move || stopper.trigger(Instant::now()));
        let started = Instant::now();
        w.wait(LONG, &shutdown, &s.groups);
        t.join().expect("join");
        assert!(started.elapsed() < LONG);
        assert!(shutdown.is_stopping());
    }

    #[test]
    fn a_directory_created_after_the_start_is_watched_at_the_next_try() {
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("later");
        let s = settings(&dir);
        let mut w = Watch::new("r1", &s);
        let shutdown = Shutdown::new();
        std::fs::create_dir(&dir).expect("mkdir");
        w.watch_dirs(&s.groups);
        append(&dir.join("app.log"), "x\n");
        assert!(w.wait(LONG, &shutdown, &s.groups));
        assert!(w.drain_events(&s.groups).rescan);
    }
}
