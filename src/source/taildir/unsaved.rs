//! Telling the operator that positions cannot be saved: an ERROR the first time (at start, where
//! a misconfigured `positionFile` is found before any line is read), then a WARN at most once a
//! minute while it lasts — not every `writePosInterval` (3 s) — and an INFO when a write works
//! again. While it lasts the source's `positions_unsaved` gauge is 1 (a health failure) and
//! every failed write is counted (`position_write_fail`). Nothing is lost meanwhile: lines are
//! read and delivered as usual, but a restart resumes from the positions last saved, so lines
//! delivered since are shipped again.

use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use super::position::PositionError;
use crate::metrics::SourceCounter;

/// A failing position file is reported again at most this often.
const REPEAT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct SaveReport {
    /// When the current run of failures started.
    failing_since: Option<Instant>,
    last_logged: Option<Instant>,
    /// Failures since the last log line.
    suppressed: u64,
}

impl SaveReport {
    /// A write failed.
    pub(super) fn failed(&mut self, source: &str, e: &PositionError, counter: &SourceCounter) {
        counter.position_write_fail.inc();
        counter.positions_unsaved.set(1);
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        match self.last_logged {
            None => error!(
                source,
                "{e}: positions cannot be saved; lines are still read and delivered, but a \
                 restart will read them again from the last saved position (fix the path or its \
                 permissions; retrying every writePosInterval)"
            ),
            Some(last) if now.duration_since(last) >= REPEAT => warn!(
                source,
                suppressed = self.suppressed,
                "{e}: positions still cannot be saved (failing for {} s)",
                now.duration_since(since).as_secs()
            ),
            Some(_) => {
                self.suppressed += 1;
                debug!(source, "{e} (repeated; reported at most once a minute)");
                return;
            }
        }
        self.last_logged = Some(now);
        self.suppressed = 0;
    }

    /// A write worked.
    pub(super) fn saved(&mut self, source: &str, path: &Path, counter: &SourceCounter) {
        if let Some(since) = self.failing_since.take() {
            info!(
                source,
                "position file {} written again after {} s of failures",
                path.display(),
                since.elapsed().as_secs()
            );
        }
        self.last_logged = None;
        self.suppressed = 0;
        counter.positions_unsaved.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_the_gauge_follows_the_last_write() {
        let counter = SourceCounter::default();
        let mut r = SaveReport::default();
        let e = PositionError::Io {
            path: "/x/pos.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        for _ in 0..5 {
            r.failed("r1", &e, &counter);
        }
        assert!(r.failing_since.is_some());
        assert_eq!(counter.position_write_fail.get(), 5);
        assert_eq!(counter.positions_unsaved.get(), 1);
        assert_eq!(r.suppressed, 4, "logged once, the others within the minute");
        r.saved("r1", Path::new("/x/pos.json"), &counter);
        assert!(r.failing_since.is_none());
        assert_eq!(counter.positions_unsaved.get(), 0);
    }
}
