//! Helpers for the unit tests of every module (compiled only for tests).
#![cfg(test)]

use std::time::{Duration, Instant};

/// Waits until `cond` holds, for another thread to reach a state; panics after 10 s. Spins with
/// `yield_now` rather than sleeping: unit tests wait microseconds, not a poll interval.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::yield_now();
    }
}
