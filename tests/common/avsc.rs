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

use super::path_printed_by;
use super::rpc_peer::{PeerClient, PeerServer};

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
/// so far can be read while it runs (`acknowledged()`).
pub struct AvscClient(PeerClient);

impl AvscClient {
    pub fn start(port: u16, count: usize, args: &[&str]) -> AvscClient {
        let mut cmd = node("client.js");
        cmd.arg(port.to_string())
            .arg(count.to_string())
            .args(args)
            .arg("--progress");
        AvscClient(PeerClient::spawn("avsc client", cmd))
    }
}

impl std::ops::Deref for AvscClient {
    type Target = PeerClient;
    fn deref(&self) -> &PeerClient {
        &self.0
    }
}

impl std::ops::DerefMut for AvscClient {
    fn deref_mut(&mut self) -> &mut PeerClient {
        &mut self.0
    }
}

/// `server.js` running: an avsc Flume-protocol server on 127.0.0.1. Starts with `--deflate`,
/// `--fail N`, … in `args` and waits until it listens.
pub struct AvscServer(PeerServer);

impl AvscServer {
    pub fn start(args: &[&str]) -> AvscServer {
        let mut cmd = node("server.js");
        cmd.args(args);
        AvscServer(PeerServer::spawn(
            "avsc server",
            cmd,
            Duration::from_secs(30),
        ))
    }
}

impl std::ops::Deref for AvscServer {
    type Target = PeerServer;
    fn deref(&self) -> &PeerServer {
        &self.0
    }
}
