//! Sleeping until librdkafka has something to say, instead of polling in steps.
//!
//! rdkafka's `BaseProducer::poll(timeout)` always runs to its deadline, so the sink served
//! ready events with `poll(0)` and slept 200 µs between tries while batches were in flight:
//! about 20 wake-ups per batch, 2,000 a second for a source writing 100 lines a second.
//! librdkafka can instead write a byte to a file descriptor whenever its main queue (delivery
//! reports, errors, statistics) goes from empty to non-empty
//! (`rd_kafka_queue_io_event_enable`); the sink waits in `poll(2)` on a pipe for that byte.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// The pipe librdkafka signals, and the queue handle that keeps the signalling set up.
pub(super) struct QueueWakeup {
    queue: QueueHandle,
    read: OwnedFd,
    /// Kept open for librdkafka to write to, until Drop has disabled that.
    _write: OwnedFd,
}

/// A reference to the producer's main queue (librdkafka's queues are thread-safe).
struct QueueHandle(*mut rdsys::rd_kafka_queue_t);
// SAFETY: librdkafka queue handles may be used and destroyed from any thread.
unsafe impl Send for QueueHandle {}

impl QueueWakeup {
    /// Sets up the signalling; `None` (and the sink falls back to short sleeps) if a pipe or
    /// the queue cannot be had.
    pub(super) fn enable<C: ProducerContext>(producer: &BaseProducer<C>) -> Option<QueueWakeup> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills both descriptors on success; each is owned exactly once below.
        let (read, write) = unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) != 0 {
                return None;
            }
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        // SAFETY: the client pointer is valid while `producer` lives; the handle is a new
        // reference to its main queue, released in Drop.
        let queue = unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) };
        if queue.is_null() {
            return None;
        }
        static PAYLOAD: [u8; 1] = [1];
        // SAFETY: the queue handle is valid; `write` stays open until Drop disables the event.
        unsafe {
            rdsys::rd_kafka_queue_io_event_enable(
                queue,
                write.as_raw_fd(),
                PAYLOAD.as_ptr().cast(),
                PAYLOAD.len(),
            );
        }
        Some(QueueWakeup {
            queue: QueueHandle(queue),
            read,
            _write: write,
        })
    }

    /// Forgets earlier signals: call before serving the queue, so that a signal seen by the
    /// next `wait` is for an event that came after.
    pub(super) fn clear(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reading into a local buffer from our own non-blocking descriptor.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return;
            }
        }
    }

    /// Sleeps until librdkafka queues an event or `max` passes (rounded up to a millisecond).
    pub(super) fn wait(&self, max: Duration) {
        let ms = max.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut pfd = libc::pollfd {
            fd: self.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; an interrupted or failed poll only ends the wait early.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
        }
    }
}

impl Drop for QueueWakeup {
    fn drop(&mut self) {
        // Stop the signalling before the pipe closes: the producer may outlive this (health
        // probes hold it), and a byte written to a reused descriptor number would land in
        // someone else's file.
        // SAFETY: the handle is valid until destroyed here, once.
        unsafe {
            rdsys::rd_kafka_queue_io_event_enable(self.queue.0, -1, std::ptr::null(), 0);
            rdsys::rd_kafka_queue_destroy(self.queue.0);
        }
    }
}
