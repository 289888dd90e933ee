//! Stopping: sources first (they flush what they read into their channels), then sinks drain
//! the channels until the drain deadline; what is left is counted per channel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tracing::{error, info, warn};

use super::totals::log_totals;
use super::{Agent, Runner};
use crate::channel::Channel;
use crate::metrics::Group;
use crate::shutdown::Shutdown;

/// What was left behind by a stop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// (channel, events still in it) for channels that were not drained.
    pub undelivered: Vec<(String, usize)>,
    /// Sources whose positions could not be saved (TAILDIR: the position file is unwritable).
    pub unsaved_positions: Vec<String>,
}

impl Agent {
    /// Stops sources, drains channels through the sinks until `drain_timeout`, stops sinks.
    pub fn stop(self, drain_timeout: Duration) -> StopReport {
        // checked: a drain timeout near `Duration::MAX` (library callers) must not panic here.
        let far = Duration::from_secs(86_400 * 365);
        let deadline = Instant::now()
            .checked_add(drain_timeout.min(far))
            .unwrap_or_else(Instant::now);
        info!(agent = %self.name, "stopping: sources first, then draining channels (up to {:.1}s)", drain_timeout.as_secs_f64());
        for r in &self.sources {
            r.stop.trigger(deadline);
        }
        // Sources give up flushing at the deadline; a little grace covers process teardown.
        join_all(
            &self.done_rx,
            self.sources,
            deadline + Duration::from_secs(3),
            "Source",
        );
        for r in &self.sinks {
            r.stop.trigger(deadline);
        }
        join_all(
            &self.done_rx,
            self.sinks,
            deadline + Duration::from_secs(3),
            "Sink",
        );
        let mut report = StopReport::default();
        for c in &self.channels {
            c.close();
            c.counter().lifecycle.stopped();
            let left = c.len_including_in_flight();
            if left > 0 && c.is_durable() {
                warn!(channel = c.name(), "{left} events are still in channel {} ({}); they are kept on disk and delivered after the restart", c.name(), c.kind());
                report.undelivered.push((c.name().to_string(), left));
            } else if left > 0 {
                error!(channel = c.name(), "{left} events were still in channel {} ({}) when the drain deadline passed; they are lost with this {} channel", c.name(), c.kind(), c.kind());
                report.undelivered.push((c.name().to_string(), left));
            } else {
                info!(
                    channel = c.name(),
                    "channel {} drained: 0 events left",
                    c.name()
                );
            }
        }
        for g in self.registry.groups() {
            if let Group::Source(name, c) = g {
                if c.positions_unsaved.get() > 0 {
                    report.unsaved_positions.push(name);
                }
            }
        }
        drop(self.done_tx);
        log_totals(&self.registry);
        report
    }
}

/// A sink waits on an empty channel for up to [`crate::sink::EMPTY_CHANNEL_WAIT`]; its stop
/// ends that wait at once, so the wait can be long and an idle sink wakes rarely.
pub(super) fn wake_takes_on_stop(stop: &Shutdown, channels: Vec<Arc<dyn Channel>>) {
    stop.on_stop(move || {
        for c in &channels {
            c.wake_takers();
        }
    });
}

/// Waits until `deadline` for the runners' threads to end; joins those that did. `done` only
/// wakes the wait (any runner's end sends on it, also of runners not waited for here).
pub(super) fn join_all(done: &Receiver<()>, runners: Vec<Runner>, deadline: Instant, what: &str) {
    let mut pending: Vec<Runner> = runners;
    loop {
        let mut i = 0;
        while i < pending.len() {
            if pending[i].handle.is_finished() {
                let r = pending.swap_remove(i);
                let _ = r.handle.join();
                info!("{what} {} stopped", r.name);
            } else {
                i += 1;
            }
        }
        if pending.is_empty() {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            for r in &pending {
                warn!("{what} {} did not stop in time; abandoning it", r.name);
            }
            return;
        }
        // The message may be for a runner not in `pending`; a short cap re-checks regardless.
        let _ = done.recv_timeout((deadline - now).min(Duration::from_millis(200)));
    }
}
