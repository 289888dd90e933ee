//! The stop signal every runner listens to (mini-redis style: one broadcast, many listeners).
//!
//! Threads check it with [`Shutdown::is_stopping`] or sleep on it with [`Shutdown::sleep`];
//! async code awaits [`Shutdown::stopped`]. It also carries the drain deadline, so a source
//! flushing its last batch into a full channel knows when to give up (and report the count).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A requested stop: until when work may go on normally (a sink keeps draining its channel), and
/// the hard deadline for what is in progress (in-flight acknowledgements, a last flush).
#[derive(Clone, Copy, Debug)]
struct Stop {
    drain_until: Instant,
    deadline: Instant,
}

/// Called once when the stop is requested.
type Waker = Box<dyn Fn() + Send + Sync>;

struct Inner {
    state: Mutex<Option<Stop>>,
    cv: Condvar,
    tx: watch::Sender<bool>,
    /// Threads inside [`Shutdown::sleep`] right now (lets a test trigger during a sleep).
    sleeping: AtomicUsize,
    /// Wakes waits that are not on this signal (a source blocked on its own notifications),
    /// so they need no periodic timer to notice a stop.
    wakers: Mutex<Vec<Waker>>,
}

/// `at + d`, saturating a year after `at`: every deadline a property or flag sets (a Java long
/// of seconds or milliseconds can be ~292 million years) goes through this, because `Instant`
/// arithmetic panics on overflow and a year is "never" for an agent.
pub fn later(at: Instant, d: Duration) -> Instant {
    const NEVER: Duration = Duration::from_secs(86_400 * 365);
    at.checked_add(d.min(NEVER)).unwrap_or(at)
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("state", &self.state)
            .field("sleeping", &self.sleeping)
            .finish_non_exhaustive()
    }
}

/// A cloneable stop signal with a deadline.
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, _) = watch::channel(false);
        Shutdown {
            inner: Arc::new(Inner {
                state: Mutex::new(None),
                cv: Condvar::new(),
                tx,
                sleeping: AtomicUsize::new(0),
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Requests a stop; work in progress may continue until `deadline`.
    pub fn trigger(&self, deadline: Instant) {
        self.request(Stop {
            drain_until: deadline,
            deadline,
        });
    }

    /// Requests a stop without a drain: a sink stops taking at once and gets until `deadline`
    /// to settle what is in flight (a reload replacing the sink while its channel stays).
    pub fn trigger_without_drain(&self, deadline: Instant) {
        self.request(Stop {
            drain_until: Instant::now(),
            deadline,
        });
    }

    fn request(&self, stop: Stop) {
        let mut s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_none() {
            *s = Some(stop);
        }
        self.inner.cv.notify_all();
        self.inner.tx.send_replace(true);
        drop(s);
        let wakers =
            std::mem::take(&mut *self.inner.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for wake in wakers {
            wake();
        }
    }

    /// Calls `wake` when the stop is requested (at once if it already was): for a thread that
    /// waits on something else than this signal and must notice the stop without polling.
    pub fn on_stop(&self, wake: impl Fn() + Send + Sync + 'static) {
        // Registered under the state lock, so a concurrent request either sees it or ran first.
        let s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_some() {
            drop(s);
            wake();
            return;
        }
        self.inner
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(wake));
    }

    pub fn is_stopping(&self) -> bool {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The drain deadline, once a stop was requested.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|s| s.deadline)
    }

    /// True once stopping and the drain period is over (at the deadline, or at once after
    /// [`Shutdown::trigger_without_drain`]).
    pub fn deadline_passed(&self) -> bool {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|s| Instant::now() >= s.drain_until)
    }

    /// Sleeps for `d` or until a stop is requested; returns true if stopping. A `d` too large
    /// for a deadline (`Duration::MAX`) sleeps until the stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now().checked_add(d);
        let mut s = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.sleeping.fetch_add(1, Ordering::SeqCst);
        let stopping = loop {
            if s.is_some() {
                break true;
            }
            let now = Instant::now();
            match end {
                Some(end) if now >= end => break false,
                Some(end) => {
                    s = self
                        .inner
                        .cv
                        .wait_timeout(s, end - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => s = self.inner.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
            }
        };
        self.inner.sleeping.fetch_sub(1, Ordering::SeqCst);
        stopping
    }

    /// Threads sleeping on this signal at this moment.
    pub fn sleepers(&self) -> usize {
        self.inner.sleeping.load(Ordering::SeqCst)
    }

    /// Completes once a stop is requested.
    pub async fn stopped(&self) {
        let mut rx = self.inner.tx.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = rx.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_returns_early_on_trigger() {
        let s = Shutdown::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.sleep(Duration::MAX));
        // Triggered while the thread sleeps (not before it started), with a sleep no deadline
        // could end.
        crate::testing::wait_for("the thread sleeps", || s.sleepers() == 1);
        s.trigger(Instant::now());
        assert!(t.join().expect("thread"));
        assert!(s.is_stopping());
        assert!(s.deadline_passed());
    }

    #[test]
    fn a_stop_without_drain_ends_the_drain_but_keeps_the_deadline() {
        let s = Shutdown::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        s.trigger_without_drain(deadline);
        assert!(s.deadline_passed());
        assert_eq!(s.deadline(), Some(deadline));
    }

    #[test]
    fn on_stop_wakes_once_at_the_request_or_at_once_after_it() {
        use std::sync::atomic::AtomicU32;
        let s = Shutdown::new();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        s.on_stop(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 0, "not before the stop");
        s.trigger(Instant::now());
        s.trigger(Instant::now());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "once, at the request");
        let c = calls.clone();
        s.on_stop(move || {
            c.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(
            calls.load(Ordering::SeqCst),
            11,
            "at once when already stopping"
        );
    }

    #[test]
    fn stopped_future_completes() {
        let s = Shutdown::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        s.trigger(Instant::now() + Duration::from_secs(1));
        rt.block_on(s.stopped());
    }

    #[test]
    fn later_saturates_a_year_on_where_plain_addition_would_panic() {
        let now = Instant::now();
        let year = Duration::from_secs(86_400 * 365);
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        // hdfs.rollInterval = Long.MAX_VALUE seconds, Duration::MAX: `now + d` panics.
        assert!(now.checked_add(Duration::MAX).is_none());
        assert_eq!(later(now, Duration::from_secs(i64::MAX as u64)), now + year);
        assert_eq!(later(now, Duration::MAX), now + year);
    }
}
