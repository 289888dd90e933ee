//! The read rate TAILDIR measures, and the waits it sizes: how long a pass waits for company
//! before it reads (a pass costs a read, a put, a sink wake-up and a produce request, ~300-500
//! µs of CPU on these machines whether it carries one line or a hundred) and how long position
//! writes are coalesced.

use std::time::{Duration, Instant};

/// How often the read rate is measured.
const RATE_WINDOW: Duration = Duration::from_millis(500);
/// Within a window, a rate above the last measured one is taken as soon as this much of the
/// window has passed: the rate rises within a pass or two (a stream starting after a pause
/// gets short waits at once) and falls only at the window's end, so the waits err short.
const RISE_AFTER: Duration = Duration::from_millis(50);

/// Lines read per second, measured over [`RATE_WINDOW`]s; and the same rate taken sooner when
/// it rises, for the waits that must shrink at once when a stream starts.
#[derive(Debug)]
pub struct ReadRate {
    lines: usize,
    since: Instant,
    per_second: f64,
    rising: f64,
}

impl Default for ReadRate {
    fn default() -> Self {
        Self::new()
    }
}

impl ReadRate {
    pub fn new() -> Self {
        ReadRate {
            lines: 0,
            since: Instant::now(),
            per_second: 0.0,
            rising: 0.0,
        }
    }

    /// A rate already measured (tests of what depends on it).
    #[cfg(test)]
    pub fn at(per_second: f64) -> Self {
        ReadRate {
            per_second,
            rising: per_second,
            ..Self::new()
        }
    }

    pub fn add(&mut self, lines: usize) {
        self.lines += lines;
        let elapsed = self.since.elapsed();
        if elapsed >= RATE_WINDOW {
            self.per_second = self.lines as f64 / elapsed.as_secs_f64();
            self.rising = self.per_second;
            self.lines = 0;
            self.since = Instant::now();
        } else if elapsed >= RISE_AFTER {
            self.rising = self.rising.max(self.lines as f64 / elapsed.as_secs_f64());
        }
    }

    /// Lines per second over the last full window; 0 before one ended.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// How long `lines` take to arrive at the last window's rate, within `min..=max`; `max`
    /// when nothing was measured yet.
    pub fn time_for(&self, lines: usize, min: Duration, max: Duration) -> Duration {
        Self::wait(self.per_second, lines, min, max)
    }

    /// The same at the rising rate: shorter as soon as the rate climbs within a window.
    pub fn soonest_time_for(&self, lines: usize, min: Duration, max: Duration) -> Duration {
        Self::wait(self.rising, lines, min, max)
    }

    fn wait(per_second: f64, lines: usize, min: Duration, max: Duration) -> Duration {
        if per_second <= 0.0 {
            return max;
        }
        Duration::from_secs_f64((lines as f64 / per_second).min(86_400.0)).clamp(min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wait is the time the lines take at the rate, the bounds beyond it, the longest
    /// wait when nothing has been measured.
    #[test]
    fn the_wait_is_the_time_the_lines_take_within_bounds() {
        let (min, max) = (Duration::from_millis(2), Duration::from_millis(200));
        assert_eq!(ReadRate::at(0.0).time_for(100, min, max), max);
        assert_eq!(
            ReadRate::at(10_000.0).time_for(100, min, max),
            Duration::from_millis(10)
        );
        assert_eq!(ReadRate::at(1_000_000.0).time_for(100, min, max), min);
        assert_eq!(ReadRate::at(100.0).time_for(100, min, max), max);
        assert_eq!(ReadRate::at(f64::MAX).time_for(usize::MAX, min, max), min);
        assert_eq!(
            ReadRate::at(1e-300).time_for(1, Duration::ZERO, Duration::MAX),
            Duration::from_secs(86_400)
        );
    }

    /// The rate is lines over the measuring window, taken once the window is over.
    #[test]
    fn the_read_rate_is_measured_over_its_window() {
        let mut r = ReadRate::new();
        r.add(1000);
        assert_eq!(r.per_second(), 0.0, "not measured before the window ends");
        r.since = Instant::now() - Duration::from_secs(1);
        r.add(1000);
        assert!(
            (1900.0..=2001.0).contains(&r.per_second()),
            "2000 lines in ~1 s: {}",
            r.per_second()
        );
        assert_eq!(r.lines, 0);
    }

    /// A faster rate is taken within the window, once a little of it has passed, by the
    /// waits that use the rising rate; a slower one only at the window's end.
    #[test]
    fn the_rising_rate_rises_at_once_and_falls_at_the_end_of_the_window() {
        let (min, max) = (Duration::from_micros(1), Duration::from_millis(200));
        let mut r = ReadRate::at(100.0);
        r.add(10_000);
        assert_eq!(r.soonest_time_for(100, min, max), max, "too soon to tell");
        r.since = Instant::now() - Duration::from_millis(100);
        r.add(0);
        let soonest = r.soonest_time_for(100, min, max);
        assert!(
            (Duration::from_micros(900)..=Duration::from_micros(1100)).contains(&soonest),
            "10,000 lines in ~100 ms: 100 lines in ~1 ms, not {soonest:?}"
        );
        assert_eq!(r.per_second(), 100.0, "the window's rate waits for its end");
        let mut slower = ReadRate::at(10_000.0);
        slower.since = Instant::now() - Duration::from_millis(100);
        slower.add(1);
        assert_eq!(
            slower.soonest_time_for(100, min, max),
            Duration::from_millis(10),
            "a lull keeps the rate until the window ends"
        );
    }
}
