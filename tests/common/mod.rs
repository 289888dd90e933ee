//! The integration-test harness: a small DSL so that tests read like specifications.
//!
//! ```ignore
//! let broker = Broker::start();
//! broker.create_topic("events", 1);
//! let input = tempfile::tempdir().unwrap();
//! let log = input.path().join("app.log");
//! let agent = Agent::start(&config_for(&log, &broker), "a1");
//! append_lines(&log, ["one", "two"]);
//! let records = consume_all(&broker.bootstrap(), "events", 1, 2, Duration::from_secs(30));
//! assert_eq!(values(&records), ["one", "two"]);
//! ```
//!
//! Rules every helper here keeps, so that tests do not have to:
//! - **Nothing outlives its test.** Brokers, proxies and agents are RAII guards that stop their
//!   processes (and an agent's children) on drop, also when the test panics. Do not put a guard in
//!   a `static`: statics are never dropped, so its process would leak.
//! - **No sleep-and-hope.** Waiting is always for a condition with a deadline ([`wait_until`]), and a
//!   timeout panics with what was awaited plus the relevant process log.
//! - **Isolation.** Every broker gets its own free loopback port; tests never share one.
//! - **Count by consuming.** tansu's watermarks are wrong, so [`consume_all`] reads everything from
//!   the beginning until end-of-partition instead of trusting offsets.
//!
//! Each `tests/*.rs` file compiles its own copy of this module and uses only part of it, hence the
//! crate-wide `dead_code` allowance below.
#![allow(dead_code)]

pub mod agent;
pub mod avsc;
pub mod hdfs;
pub mod http;
pub mod jvm;
pub mod kafka;
pub mod mock;
pub mod process;
pub mod python;
pub mod rpc_peer;
pub mod security;
pub mod stream;
pub mod tally;
pub mod tansu;
pub mod thrift_py;

// The vocabulary tests import with `use common::*`; a given test file uses only some of it.
#[allow(unused_imports)]
pub use agent::{exec_tail_to_kafka, rflume_bin, run_rflume, taildir_to_kafka, Agent, SEED_CONF};
#[allow(unused_imports)]
pub use kafka::{
    consume_all, consume_all_with, create_topic, values, FlumeEvent, Record, TestProducer,
};
#[allow(unused_imports)]
pub use process::{connected_ports, listeners, pid_alive, process_read_offset};
#[allow(unused_imports)]
pub use tally::{numbered, LineStream, Tally};
#[allow(unused_imports)]
pub use tansu::{tansu_bin, Broker, Proxy};

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How often conditions are re-checked: short enough that waiting adds no visible latency to a
/// test, long enough not to steal a core from the processes under test on a 2-core machine.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Whether this run is CI's (`CI` set to anything but empty, `false` or `0`, as CI systems and
/// developers write it): there a test that cannot run must fail, never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Polls `cond` until it holds or `deadline` has passed; returns whether it held.
///
/// For assertions that something does *not* happen within a hold period
/// (`assert!(!poll_until(..))`); everything else should use [`wait_until`].
pub fn poll_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Waits until `cond` holds, panicking with `what` if it still does not after `deadline`.
#[track_caller]
pub fn wait_until(deadline: Duration, what: &str, cond: impl FnMut() -> bool) {
    if !poll_until(deadline, cond) {
        panic!("timed out after {deadline:?} waiting until {what}");
    }
}

/// Like [`wait_until`], but a timeout also prints `context()` (typically a process log), because a
/// bare "timed out" is useless when reading a CI log.
#[track_caller]
pub fn wait_until_or_explain(
    deadline: Duration,
    what: &str,
    cond: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    if !poll_until(deadline, cond) {
        panic!(
            "timed out after {deadline:?} waiting until {what}\n{}",
            context()
        );
    }
}

/// Appends `lines` (each followed by `\n`) to `path`, creating it if needed, and flushes before
/// returning so that a tailing source can see every line as soon as this returns.
pub fn append_lines<I, S>(path: impl AsRef<Path>, lines: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let path = path.as_ref();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {} for appending: {e}", path.display()));
    let mut out = BufWriter::new(file);
    for line in lines {
        out.write_all(line.as_ref().as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
    }
    out.flush()
        .unwrap_or_else(|e| panic!("cannot flush {}: {e}", path.display()));
}

/// Runs `bash SCRIPT` (an installer such as `scripts/install-tansu.sh` or
/// `tests/python/venv.sh`, which installs what is missing and prints the path of the tool on
/// stdout) and returns that path; panics with the script's stderr, saying what needs the tool,
/// if it fails.
pub fn path_printed_by(script: &Path, needed_for: &str) -> std::path::PathBuf {
    let out = std::process::Command::new("bash")
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if !out.status.success() {
        panic!(
            "{} failed ({}); {needed_for}:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!path.is_empty(), "{} printed no path", script.display());
    std::path::PathBuf::from(path)
}

/// A loopback port that was free a moment ago, and that this process has not handed out before.
///
/// Two things made the kernel's `bind(port 0)` a poor source of ports here (both seen in CI):
/// it may return the same port to two calls in a row once the first listener is closed (two
/// servers of one test then fight over it), and its ports come from the ephemeral range, where
/// every outgoing connection of every process (clients, brokers, JVMs) also takes its local
/// port. So ports come from below the ephemeral range instead, starting at a point that
/// differs per process, each one handed out once per process and checked bindable (TCP and
/// UDP) at that moment.
///
/// Another process can still take it before ours binds it, so whoever starts a server on it
/// must check that *its* process is the one listening (see [`process::wait_listening`]) and
/// retry on another port otherwise, as [`Broker::start`] does.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    // Below Linux's default ip_local_port_range (32768-60999), above the common services.
    const LOW: u32 = 12_000;
    const SPAN: u32 = 32_768 - LOW;
    static HANDED_OUT: Mutex<Option<(u32, HashSet<u16>)>> = Mutex::new(None);
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let (next, handed) = guard.get_or_insert_with(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
        (seed % SPAN, HashSet::new())
    });
    for _ in 0..SPAN {
        let port = (LOW + *next) as u16;
        *next = (*next + 1) % SPAN;
        if handed.contains(&port) {
            continue;
        }
        let tcp = TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            handed.insert(port);
            return port;
        }
    }
    panic!("no free loopback port left between {LOW} and 32767");
}

/// A loopback port on which nothing listens and nothing else can start listening while this
/// guard lives: a socket is bound to it but never `listen`s, so connecting gets "connection
/// refused" at once — a broker that is down, as opposed to a [`free_port`] that any process
/// (another test's broker, say) may pick up meanwhile.
pub struct ClosedPort {
    _socket: std::os::fd::OwnedFd,
    port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: plain socket calls on a descriptor this function owns; the sockaddr structs
        // live on the stack for the duration of each call and their sizes are passed.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket(): {}", std::io::Error::last_os_error());
            let socket = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(fd, std::ptr::addr_of!(addr).cast(), len);
            assert!(bound == 0, "bind(): {}", std::io::Error::last_os_error());
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            let named = libc::getsockname(fd, std::ptr::addr_of_mut!(got).cast(), &mut got_len);
            assert!(
                named == 0,
                "getsockname(): {}",
                std::io::Error::last_os_error()
            );
            ClosedPort {
                _socket: socket,
                port: u16::from_be(got.sin_port),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for a broker list.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
