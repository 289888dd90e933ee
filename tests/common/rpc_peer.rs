//! What the independent RPC peers (`avsc.rs`: npm's avsc over Avro IPC; `thrift_py.rs`: PyPI's
//! thrift) have in common: a client or server run as a child process that reports what it did as
//! JSON lines in its log — `{"acknowledged": N}` (a client: events answered OK so far),
//! `{"listening": PORT}` (a server: it is ready) and one `{"body": …, "headers": {…}}` per event
//! a server accepted. Each peer's module builds the command; this one reads the log.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use serde::Deserialize;

use super::agent::Agent;
use super::process::Supervised;
use super::tansu::Broker;
use super::{poll_until, wait_until};

#[derive(Deserialize)]
struct Acknowledged {
    acknowledged: usize,
}

#[derive(Deserialize)]
struct Listening {
    listening: u16,
}

/// An event as a peer's server accepted it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Received {
    pub body: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The bodies a sink test sends are `0`, `1`, …: each arrived once, in order.
pub fn assert_each_number_once(received: &[Received], total: usize) {
    let bodies: Vec<&str> = received.iter().map(|r| r.body.as_str()).collect();
    let expected: Vec<String> = (0..total).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected, "each event once, in order");
}

/// The held-batch scenario of the avro and thrift sources: `OK` means "committed to the
/// channel", not "received". With `broker` frozen before the agent started, the Kafka sink takes
/// a batch but never commits it, so the channel (whose capacity counts taken events until their
/// commit) holds one batch of `capacity` in all. The `client` (sending batches of `capacity`)
/// gets exactly one `OK` while the broker is frozen and none more during `hold`, then `FAILED`
/// for the held batch after the source's put timeout (5 s, before the client's own timeout, so
/// it resends and nothing is stored twice); once the broker resumes it finishes. The agent is
/// stopped at the end; what reached the topic is the caller's to check.
pub fn assert_ok_only_after_commit(
    client: &mut PeerClient,
    agent: &mut Agent,
    broker: &mut Broker,
    capacity: usize,
    hold: Duration,
    deadline: Duration,
) {
    agent.wait_for_log(deadline, "backpressure");
    assert!(
        !poll_until(hold, || client.acknowledged() > capacity),
        "a batch the full channel cannot hold was answered OK: {}",
        client.log()
    );
    assert_eq!(
        client.acknowledged(),
        capacity,
        "the stored batch was answered"
    );
    wait_until(deadline, "the held batch is answered FAILED", || {
        client.log().contains("retrying: FAILED")
    });
    assert_eq!(client.acknowledged(), capacity, "FAILED is not OK");
    broker.resume();
    let status = client
        .wait_exit(deadline)
        .expect("the client finishes once the broker is back");
    assert!(status.success(), "{}", client.log());
    agent.stop_cleanly();
}

/// A peer's client running in the background; killed on drop.
pub struct PeerClient {
    proc: Supervised,
    _dir: tempfile::TempDir,
}

impl PeerClient {
    /// Starts `cmd` (named `what` in failures), its output in a log of its own.
    pub fn spawn(what: &str, cmd: Command) -> PeerClient {
        let dir = tempfile::tempdir().expect("temporary directory");
        let proc = Supervised::spawn(what, cmd, &log_in(dir.path(), what));
        PeerClient { proc, _dir: dir }
    }

    /// Events answered OK so far.
    pub fn acknowledged(&self) -> usize {
        self.proc
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Acknowledged>(l).ok())
            .map(|a| a.acknowledged)
            .max()
            .unwrap_or(0)
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

impl Drop for PeerClient {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// A peer's server on 127.0.0.1; killed on drop.
pub struct PeerServer {
    proc: Supervised,
    _dir: tempfile::TempDir,
    port: u16,
}

impl PeerServer {
    /// Starts `cmd` (named `what` in failures) and waits up to `ready` until it says it listens.
    pub fn spawn(what: &str, cmd: Command, ready: Duration) -> PeerServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let proc = Supervised::spawn(what, cmd, &log_in(dir.path(), what));
        let mut port = 0;
        wait_until(ready, &format!("the {what} listens"), || {
            port = proc
                .log()
                .lines()
                .find_map(|l| serde_json::from_str::<Listening>(l).ok())
                .map(|l| l.listening)
                .unwrap_or(0);
            port != 0
        });
        PeerServer {
            proc,
            _dir: dir,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every event the server accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.proc
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Received>(l).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// `avsc client` → `<dir>/avsc-client.log`.
fn log_in(dir: &Path, what: &str) -> std::path::PathBuf {
    dir.join(format!("{}.log", what.replace(' ', "-")))
}
