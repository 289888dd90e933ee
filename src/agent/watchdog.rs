//! Whether the agent still does what its configuration says: runners that panic stop the agent
//! (the FATAL flag, a non-zero exit), runners that end unasked or stop going round fail the
//! systemd watchdog check, and each sink round is reported as the watchdog's heartbeat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::error;

use crate::metrics::{Group, Registry, RunnerState, SinkCounter};
use crate::sink::{SinkError, SinkProcessor, Status};

/// Set when a runner panicked: the agent stops and exits non-zero.
static FATAL: AtomicBool = AtomicBool::new(false);

/// Whether a runner died of a panic (the process should exit non-zero so that a supervisor such
/// as systemd's `Restart=on-failure` starts a fresh agent).
pub fn fatal_error_occurred() -> bool {
    FATAL.load(Ordering::SeqCst)
}

/// Runs a runner's body; a panic is not allowed to leave a silently dead source or sink behind
/// in a process that otherwise looks healthy. Events it had taken are rolled back by
/// `TakeTransaction`'s drop during unwinding; the agent then stops (SIGTERM to itself, so the
/// ordinary drain runs) and exits non-zero.
pub(super) fn supervised(what: &str, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        error!("{what} failed unexpectedly ({msg}); stopping the agent so that it can be restarted cleanly");
        FATAL.store(true, Ordering::SeqCst);
        // SAFETY: raise(2) only sends a signal to this process; the main thread handles it.
        unsafe {
            libc::raise(libc::SIGTERM);
        }
    }
}

/// See [`Agent::check_responsive`](super::Agent::check_responsive).
pub(super) fn responsive(registry: &Registry, max_silence: Duration) -> Result<(), String> {
    let silent_for = |r: &RunnerState| r.since_beat().filter(|s| *s > max_silence);
    for g in registry.groups() {
        let (kind, name, runner) = match &g {
            Group::Source(name, c) => ("source", name, &c.runner),
            Group::Sink(name, c) => ("sink", name, &c.runner),
            Group::Channel(..) => continue,
        };
        if runner.has_ended() {
            return Err(format!(
                "{kind} {name} ended on its own and does not run any more"
            ));
        }
        // A stopped runner is not a hung one; a waiting source may be silent for as long as
        // its input is.
        if !runner.is_running() || runner.is_waiting() {
            continue;
        }
        if let Some(silent) = silent_for(runner) {
            return Err(format!(
                "{kind} {name} has not completed a round for {:.0}s",
                silent.as_secs_f64()
            ));
        }
    }
    Ok(())
}

/// What `spawn_runner` marks running and ended: a source's or a sink's counter group.
pub(super) trait HasRunner: Send + 'static {
    fn runner(&self) -> &RunnerState;
}

impl HasRunner for Arc<crate::metrics::SourceCounter> {
    fn runner(&self) -> &RunnerState {
        &self.runner
    }
}

impl HasRunner for Arc<SinkCounter> {
    fn runner(&self) -> &RunnerState {
        &self.runner
    }
}

/// A sink processor that reports each round of its runner (the watchdog's heartbeat) and
/// whether deliveries fail (`/health`), without changing what it does.
pub(super) struct Watched {
    inner: Box<dyn SinkProcessor>,
    counter: Arc<SinkCounter>,
}

impl Watched {
    pub(super) fn new(inner: Box<dyn SinkProcessor>, counter: Arc<SinkCounter>) -> Self {
        Watched { inner, counter }
    }
}

impl SinkProcessor for Watched {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn start(&mut self) -> Result<(), SinkError> {
        self.counter.runner.beat();
        let r = self.inner.start();
        if let Err(e) = &r {
            self.counter.runner.failed(&e.to_string());
        }
        r
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        let state = &self.counter.runner;
        state.beat();
        let before = self.inner.committed_events();
        let r = self.inner.process();
        match &r {
            Err(e) => state.failed(&e.to_string()),
            // Recovered: something committed, or nothing is left to deliver.
            Ok(Status::Backoff) => state.recovered(),
            Ok(Status::Ready) if self.inner.committed_events() > before => state.recovered(),
            Ok(Status::Ready) => {}
        }
        r
    }
    fn drained(&self) -> bool {
        self.inner.drained()
    }
    fn stop(&mut self, deadline: Instant) {
        self.inner.stop(deadline)
    }
    fn committed_events(&self) -> u64 {
        self.inner.committed_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_silent_for_too_long_fails_the_watchdog_check() {
        let registry = Registry::default();
        let k = registry.sink("k1");
        k.runner.set_running(true);
        assert!(responsive(&registry, Duration::from_secs(60)).is_ok());
        crate::testing::wait_for("a millisecond passes", || {
            k.runner.since_beat() > Some(Duration::from_millis(1))
        });
        let err = responsive(&registry, Duration::from_millis(1)).expect_err("silent");
        assert!(err.contains("sink k1"), "{err}");
        // A stopped sink is not a hung one.
        k.runner.set_running(false);
        assert!(responsive(&registry, Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn a_runner_that_ended_unasked_fails_the_watchdog_check() {
        fn judged(registry: &Registry, runner: &RunnerState, kind: &str) {
            runner.set_running(true);
            assert!(responsive(registry, Duration::from_secs(60)).is_ok());
            runner.set_ended();
            let err = responsive(registry, Duration::from_secs(60)).expect_err("ended");
            assert!(
                err.contains(&format!("{kind} r1 ended on its own")),
                "{err}"
            );
            // Started again (a reload restarts it): alive again.
            runner.set_running(true);
            assert!(responsive(registry, Duration::from_secs(60)).is_ok());
        }
        let registry = Registry::default();
        judged(&registry, &registry.source("r1").runner, "source");
        let registry = Registry::default();
        judged(&registry, &registry.sink("r1").runner, "sink");
    }

    #[test]
    fn a_working_source_must_go_round_and_a_waiting_one_may_be_silent() {
        let registry = Registry::default();
        let r = registry.source("r1");
        r.runner.set_running(true);
        r.runner.working();
        crate::testing::wait_for("a millisecond passes", || {
            r.runner.since_beat() > Some(Duration::from_millis(1))
        });
        let err = responsive(&registry, Duration::from_millis(1)).expect_err("stuck");
        assert!(err.contains("source r1 has not completed a round"), "{err}");
        // Waiting for input is healthy for as long as the input takes.
        r.runner.waiting();
        assert!(responsive(&registry, Duration::from_millis(1)).is_ok());
        // Woken: judged again, from the wake-up on.
        r.runner.working();
        assert!(responsive(&registry, Duration::from_secs(60)).is_ok());
    }
}
