//! Flume's `SinkRunner` and `SinkProcessor`: the loop that drives a sink on its own thread, its
//! back-off after failures and its drain on stop, and the processor that picks the sink of a
//! group that runs (only Flume's default processor, one sink, exists yet; failover and load
//! balancing plug in as further [`SinkProcessor`]s).

use std::time::{Duration, Instant};

use tracing::{error, info};

use super::{Failure, Sink, SinkError, Status};
use crate::shutdown::Shutdown;

/// Longest pause between retries of a failing sink (Flume's SinkRunner sleeps 5 s).
const MAX_SINK_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_SINK_BACKOFF: Duration = Duration::from_millis(250);

/// Flume's `SinkProcessor`: decides which sink of a group runs.
pub trait SinkProcessor: Send {
    fn name(&self) -> &str;
    fn start(&mut self) -> Result<(), SinkError>;
    fn process(&mut self) -> Result<Status, SinkError>;
    /// True when the channels it reads are empty and nothing is in flight: draining is done.
    fn drained(&self) -> bool;
    fn stop(&mut self, deadline: Instant);
    /// Events whose take transactions committed so far: "recovered" means this moved, not merely
    /// that `process` returned `Ok` (a pipelined sink returns `Ok` after enqueueing).
    fn committed_events(&self) -> u64;
    /// Whether the running sink logs its own recovery line ([`Sink::reports_recovery`]).
    fn reports_recovery(&self) -> bool {
        false
    }
}

/// Flume's `DefaultSinkProcessor`: exactly one sink. Keeps the sink's lifecycle counters.
pub struct DefaultSinkProcessor {
    sink: Box<dyn Sink>,
}

impl DefaultSinkProcessor {
    pub fn new(sink: Box<dyn Sink>) -> Self {
        DefaultSinkProcessor { sink }
    }
}

impl SinkProcessor for DefaultSinkProcessor {
    fn name(&self) -> &str {
        self.sink.name()
    }
    fn start(&mut self) -> Result<(), SinkError> {
        self.sink.start()?;
        self.sink.core().counter.lifecycle.started();
        Ok(())
    }
    fn process(&mut self) -> Result<Status, SinkError> {
        self.sink.process()
    }
    fn drained(&self) -> bool {
        !self.sink.has_in_flight() && self.sink.core().channel.len_including_in_flight() == 0
    }
    fn stop(&mut self, deadline: Instant) {
        self.sink.stop(deadline);
        self.sink.core().counter.lifecycle.stopped();
    }
    fn committed_events(&self) -> u64 {
        self.sink.core().counter.event_drain_success.get()
    }
    fn reports_recovery(&self) -> bool {
        self.sink.reports_recovery()
    }
}

/// Flume's `SinkRunner` loop with a growing back-off on failure and a drain on stop.
pub fn run(mut processor: Box<dyn SinkProcessor>, stop: &Shutdown) {
    let name = processor.name().to_string();
    let mut backoff = FIRST_SINK_BACKOFF;
    loop {
        match processor.start() {
            Ok(()) => break,
            Err(e) => {
                error!(sink = %name, "{e}; retrying in {}s", backoff.as_secs());
                if stop.sleep(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_SINK_BACKOFF);
            }
        }
    }
    let mut failures: u32 = 0;
    loop {
        if stop.is_stopping() && (processor.drained() || stop.deadline_passed()) {
            break;
        }
        let committed_before = processor.committed_events();
        match processor.process() {
            Ok(Status::Ready) | Ok(Status::Backoff) => {
                if failures > 0 && processor.committed_events() > committed_before {
                    if !processor.reports_recovery() {
                        info!(sink = %name, "delivery recovered after {failures} failed attempt(s)");
                    }
                    failures = 0;
                }
            }
            Err(e) => {
                failures += 1;
                let wait = FIRST_SINK_BACKOFF
                    .saturating_mul(1 << failures.min(5))
                    .min(MAX_SINK_BACKOFF);
                // First failure and then every 10th: a long outage should not flood the log.
                if failures == 1 || failures % 10 == 0 {
                    log_failure(&name, &e, failures, wait);
                }
                let until = Instant::now() + wait;
                let until = match stop.deadline() {
                    Some(d) => until.min(d),
                    None => until,
                };
                sleep_until_or_stop(until, stop);
            }
        }
    }
    let deadline = stop
        .deadline()
        .unwrap_or_else(Instant::now)
        .max(Instant::now());
    processor.stop(deadline);
}

fn log_failure(name: &str, e: &SinkError, attempt: u32, wait: Duration) {
    let retry = format!(
        "attempt {attempt}, events rolled back to the channel, retrying in {:.1}s",
        wait.as_secs_f64()
    );
    match e {
        SinkError::Delivery {
            failure: Failure::Rejected { code },
            ..
        } => {
            error!(sink = %name, "Unable to deliver event: the downstream rejected it ({code}), which retrying does not fix ({retry}): {e}")
        }
        _ => error!(sink = %name, "Unable to deliver event ({retry}): {e}"),
    }
}

/// Sleeps until `until`; wakes early when a stop is first requested (the drain deadline then
/// bounds the rest).
fn sleep_until_or_stop(until: Instant, stop: &Shutdown) {
    let now = Instant::now();
    if until <= now {
        return;
    }
    if !stop.is_stopping() {
        stop.sleep(until - now);
        return;
    }
    std::thread::sleep(until - now);
}
