//! Change notifications: when must the tailer look again? inotify (through `notify`) watches
//! each file group's directory and wakes the tailer when something there changes; a
//! notification says whether the directory must be listed again (a file appeared, went away or
//! was renamed) or only read (a file grew), and one that concerns no file group (another file in
//! the same directory, our own position file) is ignored, so a busy neighbour does not keep the
//! tailer spinning. Where inotify is unavailable, waiting is plain polling with Flume's back-off;
//! where it is blind (NFS), the tailer's periodic rescan is the safety net.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use notify::{EventKind, RecursiveMode, Watcher};
use tracing::{debug, warn};

use super::settings::{FileGroupSettings, TaildirSettings};
use crate::shutdown::Shutdown;

type Notification = notify::Result<notify::Event>;

/// What inotify told us since the last look.
#[derive(Default)]
pub(super) struct Wakeup {
    /// A file may have appeared, gone away or been renamed: list the directories again.
    pub(super) rescan: bool,
    /// Something concerning a file group happened: read again before waiting.
    pub(super) any: bool,
}

/// The watcher of the file groups' directories and the notifications it delivers.
pub(super) struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    /// Per file group: whether its directory is watched (one that does not exist yet is tried
    /// again at every scan).
    watched: Vec<bool>,
    events: Receiver<Notification>,
    /// Puts back the notification that ended a wait, for the next drain to see it.
    events_tx: Sender<Notification>,
}

impl Watch {
    /// Starts watching the groups' directories; without inotify, says that the tailer polls.
    pub(super) fn new(source: &str, s: &TaildirSettings) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut w = Watch {
            watcher: None,
            watched: vec![false; s.groups.len()],
            events: rx,
            events_tx: tx,
        };
        let tx = w.events_tx.clone();
        match notify::recommended_watcher(move |res| {
            let _ = tx.send(res);
        }) {
            Ok(watcher) => w.watcher = Some(watcher),
            Err(e) => {
                warn!(source = %source, "inotify unavailable ({e}); polling every {} ms", s.max_backoff_sleep.as_millis())
            }
        }
        w.watch_dirs(&s.groups);
        w
    }

    /// A way for another thread to end the read loop's wait (a delivery moved a position): a
    /// notification about no path, which concerns every file group and rescans none.
    pub(super) fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let tx = self.events_tx.clone();
        move || {
            let _ = tx.send(Ok(notify::Event::new(EventKind::Other)));
        }
    }

    /// Watches the directories not watched yet (created since the last try).
    pub(super) fn watch_dirs(&mut self, groups: &[FileGroupSettings]) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for (i, g) in groups.iter().enumerate() {
            if self.watched[i] {
                continue;
            }
            match w.watch(&g.dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched[i] = true,
                Err(e) => debug!("cannot watch {}: {e}", g.dir.display()),
            }
        }
    }

    /// Takes every notification received since the last look, without waiting.
    pub(super) fn drain_events(&mut self, groups: &[FileGroupSettings]) -> Wakeup {
        let mut w = Wakeup::default();
        while let Ok(ev) = self.events.try_recv() {
            if let Ok(ev) = &ev {
                // A busy file that no group matches (or our own position file) in a watched
                // directory must not keep the reader spinning.
                if irrelevant(groups, ev) {
                    continue;
                }
            }
            w.any = true;
            match ev {
                Ok(ev) => match ev.kind {
                    EventKind::Create(_) | EventKind::Remove(_) => w.rescan = true,
                    EventKind::Modify(notify::event::ModifyKind::Name(_)) => w.rescan = true,
                    _ if ev.need_rescan() => w.rescan = true,
                    _ => {}
                },
                Err(_) => w.rescan = true,
            }
        }
        w
    }

    /// Waits up to `backoff` for a notification (or a stop: the tailer registers
    /// [`Watch::waker`] with the shutdown, so an idle source wakes only for work, not on a
    /// timer). The notification that ends the wait is kept for the next [`Watch::drain_events`].
    /// Returns whether a notification ended the wait.
    pub(super) fn wait(
        &mut self,
        backoff: Duration,
        shutdown: &Shutdown,
        groups: &[FileGroupSettings],
    ) -> bool {
        let until = Instant::now() + backoff;
        while !shutdown.is_stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.events.recv_timeout(left) {
                // Our own position file being written, or a neighbour no group reads: not a
                // reason to wake (drain_events would ignore it anyway).
                Ok(Ok(ev)) if irrelevant(groups, &ev) => {}
                Ok(ev) => {
                    let _ = self.events_tx.send(ev);
                    return true;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        false
    }
}

/// Whether a path from a change notification concerns a file group.
/// A notification about paths none of which a file group reads (no rescan asked for).
fn irrelevant(groups: &[FileGroupSettings], ev: &notify::Event) -> bool {
    !ev.need_rescan() && !ev.paths.is_empty() && !ev.paths.iter().any(|p| relevant(groups, p))
}

fn relevant(groups: &[FileGroupSettings], path: &Path) -> bool {
    groups.iter().any(|g| {
        path == g.dir
            || (path.parent() == Some(g.dir.as_path())
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| g.regex.is_match(n)))
    })
}
