//! The other side of Flume's Avro RPC, implemented independently: npm's avsc (Avro IPC with
//! Netty framing and the stateful handshake), driven by the small Node scripts in `tests/node/`
//! — `client.js` (a Flume-protocol client: what an upstream agent's avro sink is to a source) and
//! `server.js` (a Flume-protocol server: what a collector's avro source is to a sink).
//!
//! avsc is installed on first use by `tests/node/avsc.sh` (pinned 5.7.9, into the tools cache);
//! `$RFLUME_NODE_PATH` (as `scripts/test.sh` exports it) skips the lookup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use super::process::Supervised;
use super::{path_printed_by, wait_until};

/// The `node_modules` directory holding avsc.
pub fn node_path() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(p) = std::env::var_os("RFLUME_NODE_PATH").map(PathBuf::from) {
            if p.join("avsc").is_dir() {
                return p;
            }
        }
        path_printed_by(
            &node_dir().join("avsc.sh"),
            "the avro RPC tests need npm's avsc",
        )
    })
}

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

fn node(script: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", node_path())
        .arg(node_dir().join(script));
    cmd
}

/// Runs `client.js PORT COUNT ARGS…` to completion: events `start..start+count` with bodies
/// `avsc event <i>` and headers `{seq: i, origin: avsc}`.
pub fn send_with_avsc(port: u16, count: usize, args: &[&str]) -> Output {
    node("client.js")
        .arg(port.to_string())
        .arg(count.to_string())
        .args(args)
        .output()
        .expect("cannot run node (the avro RPC tests need Node.js)")
}

/// `client.js` running in the background, with `--progress`: how many events were answered OK
/// so far can be read while it runs.
pub struct AvscClient {
    proc: Supervised,
    _dir: tempfile::TempDir,
}

#[derive(Deserialize)]
struct Acknowledged {
    acknowledged: usize,
}

impl AvscClient {
    pub fn start(port: u16, count: usize, args: &[&str]) -> AvscClient {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("avsc-client.log");
        let mut cmd = node("client.js");
        cmd.arg(port.to_string())
            .arg(count.to_string())
            .args(args)
            .arg("--progress");
        let proc = Supervised::spawn("avsc client", cmd, &log);
        AvscClient { proc, _dir: dir }
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

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

impl Drop for AvscClient {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// An event as the avsc server accepted it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Received {
    pub body: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Listening {
    listening: u16,
}

/// `server.js` running: an avsc Flume-protocol server on 127.0.0.1.
pub struct AvscServer {
    proc: Supervised,
    _dir: tempfile::TempDir,
    port: u16,
}

impl AvscServer {
    /// Starts the server (`--deflate`, `--fail N`, … in `args`) and waits until it listens.
    pub fn start(args: &[&str]) -> AvscServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("avsc-server.log");
        let mut cmd = node("server.js");
        cmd.args(args);
        let proc = Supervised::spawn("avsc server", cmd, &log);
        let mut port = 0;
        wait_until(Duration::from_secs(30), "the avsc server listens", || {
            port = proc
                .log()
                .lines()
                .find_map(|l| serde_json::from_str::<Listening>(l).ok())
                .map(|l| l.listening)
                .unwrap_or(0);
            port != 0
        });
        AvscServer {
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

impl Drop for AvscServer {
    fn drop(&mut self) {
        self.proc.kill();
    }
}
