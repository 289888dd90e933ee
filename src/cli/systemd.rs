//! systemd's notification protocol (`sd_notify(3)`), in the few lines it takes: one datagram of
//! `KEY=VALUE` lines to the `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the
//! abstract namespace). Without the variable every call does nothing, so the agent behaves the
//! same by hand, under another supervisor and under `Type=notify`.
//!
//! The watchdog (`WatchdogSec=`) is read from `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, which must
//! be this process when set); the agent pings at half the interval, as sd_watchdog_enabled(3)
//! advises, and only while its runners show progress.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tracing::debug;

/// The notification socket, when systemd (or a test) gave one.
pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|p| !p.is_empty())
            .and_then(|path| {
                // Non-blocking, as libsystemd's sd_notify (MSG_DONTWAIT): the notifications are
                // sent from the agent's event loop, and a receiver that does not drain its queue
                // (10 datagrams by default) must not stop it from handling SIGTERM.
                let s = UnixDatagram::unbound().ok()?;
                s.set_nonblocking(true).ok()?;
                Some((s, path))
            });
        Notifier { socket }
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines). Failures are logged at debug only:
    /// a supervisor that went away must not stop the agent.
    pub fn notify(&self, state: &str) {
        let Some((socket, path)) = &self.socket else {
            return;
        };
        let sent = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
            }
            None => socket.send_to(state.as_bytes(), path),
        };
        if let Err(e) = sent {
            debug!("sd_notify to {path} failed: {e}");
        }
    }

    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={status}"));
    }

    /// Before a reload: systemd shows `reloading` until the next `READY=1`.
    pub fn reloading(&self) {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    pub fn stopping(&self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={status}"));
    }

    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={status}"));
    }

    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }

    /// Asks systemd to treat the agent as hung now (the watchdog's own verdict).
    pub fn watchdog_trigger(&self, why: &str) {
        self.notify(&format!("WATCHDOG=trigger\nSTATUS=watchdog: {why}"));
    }
}

/// `WatchdogSec=` as systemd passes it, when it is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// `CLOCK_MONOTONIC` in microseconds, which `RELOADING=1` carries (systemd 253+).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct passed by pointer and nothing else.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier {
            socket: Some((
                UnixDatagram::unbound().expect("socket"),
                path.display().to_string(),
            )),
        };
        n.ready("running");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=running");
    }

    #[test]
    fn without_the_variable_nothing_is_sent() {
        let n = Notifier { socket: None };
        n.ready("x");
    }
}
