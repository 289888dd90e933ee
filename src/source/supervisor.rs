//! Starting a source again when it fails, as Flume's `LifecycleSupervisor` does.
//!
//! Flume checks every 3 s that each component is in its desired state and starts a source again
//! whose start threw (a port in use, a spooling directory not mounted yet); the rest of the
//! agent runs meanwhile. rflume does the same from the source's own runner thread, which stays
//! alive while it waits (so systemd's watchdog does not kill the whole agent, and with it a
//! memory channel's events, over one source): 3 s after the first failure, then doubling up to
//! 60 s, so a port taken for hours is not an ERROR line every 3 s. While it fails the source is
//! reported as failing (`/health`, with the error); an attempt that has not failed after
//! [`STARTED_AFTER`] is taken as started, and a failure after a long run starts the waits from
//! 3 s again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info};

use super::processor::ChannelProcessor;
use super::SourceSettings;
use crate::metrics::SourceCounter;
use crate::shutdown::Shutdown;

/// Flume's supervisor interval: the first wait after a failure.
const FIRST_WAIT: Duration = Duration::from_secs(3);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Start failures (bind, open, connect) happen within this long of an attempt.
pub const STARTED_AFTER: Duration = Duration::from_secs(5);

/// Runs the source built from `settings` until `stop`, building it again after each failure.
pub fn run(
    name: &str,
    settings: &SourceSettings,
    mut processor: impl FnMut() -> ChannelProcessor,
    counter: &Arc<SourceCounter>,
    stop: &Shutdown,
) {
    let attempts = Arc::new(AtomicU64::new(0));
    let mut wait = FIRST_WAIT;
    loop {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt > 1 {
            mark_started_later(name, attempt, &attempts, counter, stop);
        }
        let began = Instant::now();
        let source = settings.spec().build(name);
        let Err(e) = source.run(processor(), stop.clone()) else {
            return;
        };
        if stop.is_stopping() {
            error!("{e}");
            return;
        }
        if began.elapsed() > LONGEST_WAIT {
            // It ran for a while: a new trouble, not the same start failing again.
            wait = FIRST_WAIT;
        }
        error!(
            "{e}; source {name} is started again in {} s, as Flume's supervisor does",
            wait.as_secs()
        );
        counter.runner.failed(&e.to_string());
        // Waiting for the retry is idle, not hung (the watchdog's view).
        counter.runner.waiting();
        if stop.sleep(wait) {
            return;
        }
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

/// After [`STARTED_AFTER`] without a new failure, attempt `attempt` is taken as started: the
/// source is no longer reported as failing. A short-lived thread, only after a failure.
fn mark_started_later(
    name: &str,
    attempt: u64,
    attempts: &Arc<AtomicU64>,
    counter: &Arc<SourceCounter>,
    stop: &Shutdown,
) {
    let (owned, attempts, counter, stop) = (
        name.to_string(),
        attempts.clone(),
        counter.clone(),
        stop.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name(format!("restart-{name}"))
        .spawn(move || {
            if !stop.sleep(STARTED_AFTER) && attempts.load(Ordering::SeqCst) == attempt {
                counter.runner.recovered();
                info!("source {owned} runs again");
            }
        });
    if let Err(e) = spawned {
        // Without the thread the source still runs; it is only reported failing until the
        // next start.
        error!("source {name}: cannot start the thread that notes a successful restart: {e}");
    }
}
