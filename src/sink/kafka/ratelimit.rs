//! Rate limits for log lines that could otherwise repeat per record or per reconnect attempt
//! (a broker outage makes librdkafka report the same error several times a second).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per interval; counts what it suppressed in between.
#[derive(Debug)]
pub struct RateLimit {
    origin: Instant,
    interval_ms: u64,
    /// Milliseconds since `origin` of the last allowed line, plus one (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub fn new(interval: Duration) -> Self {
        RateLimit {
            origin: Instant::now(),
            interval_ms: interval.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be logged now (`n` = lines suppressed since the last one).
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(self.origin.elapsed())
    }

    /// [`RateLimit::allow`] at `elapsed` since the limit was made (the clock, injectable).
    fn allow_at(&self, elapsed: Duration) -> Option<u64> {
        let now = elapsed.as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now - last < self.interval_ms {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // Two callers racing may both log once; harmless.
        self.last.store(now, Ordering::Relaxed);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// One [`RateLimit`] per key (librdkafka error code, log facility).
#[derive(Debug)]
pub struct KeyedRateLimit {
    interval: Duration,
    limits: Mutex<HashMap<String, RateLimit>>,
}

impl KeyedRateLimit {
    pub fn new(interval: Duration) -> Self {
        KeyedRateLimit {
            interval,
            limits: Mutex::new(HashMap::new()),
        }
    }

    pub fn allow(&self, key: &str) -> Option<u64> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = limits.get(key) {
            return l.allow();
        }
        let l = RateLimit::new(self.interval);
        let verdict = l.allow();
        limits.insert(key.to_string(), l);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_once_per_interval_and_counts_the_rest() {
        let l = RateLimit::new(Duration::from_millis(50));
        let at = Duration::from_millis;
        assert_eq!(l.allow_at(at(0)), Some(0));
        assert_eq!(l.allow_at(at(10)), None);
        assert_eq!(l.allow_at(at(49)), None);
        assert_eq!(l.allow_at(at(51)), Some(2));
        assert_eq!(l.allow_at(at(60)), None);
        let k = KeyedRateLimit::new(Duration::from_secs(60));
        assert_eq!(k.allow("a"), Some(0));
        assert_eq!(k.allow("b"), Some(0));
        assert_eq!(k.allow("a"), None);
    }
}
