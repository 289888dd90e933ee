//! The other side of Flume's Thrift RPC, implemented independently: PyPI's `thrift` (Apache's
//! Python library) with Flume's `flume.thrift` written out as the generated code would be —
//! `tests/python/flume_thrift.py`, a client (what an upstream agent's thrift sink is to a
//! source) and a server (what a collector's thrift source is to a sink).
//!
//! The library is installed on first use into its own venv by `tests/python/thrift-venv.sh`
//! (pinned 0.20.0, into the tools cache); `$RFLUME_THRIFT_PYTHON` skips the lookup.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use super::path_printed_by;
use super::rpc_peer::{PeerClient, PeerServer};

/// The python of the venv holding the `thrift` library.
pub fn thrift_python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Some(p) = std::env::var_os("RFLUME_THRIFT_PYTHON").map(PathBuf::from) {
            if p.is_file() {
                return p;
            }
        }
        path_printed_by(
            &python_dir().join("thrift-venv.sh"),
            "the thrift RPC tests need PyPI's thrift",
        )
    })
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

fn script(mode: &str) -> Command {
    let mut cmd = Command::new(thrift_python());
    cmd.arg(python_dir().join("flume_thrift.py")).arg(mode);
    cmd
}

/// Runs the client to completion: events `0..count`, bodies `thrift event <i>`, headers
/// `{seq: i, origin: python}`; `args` as `--protocol binary`, `--batch N`, `--single`.
pub fn send_with_python_thrift(port: u16, count: usize, args: &[&str]) -> Output {
    script("client")
        .arg(port.to_string())
        .arg(count.to_string())
        .args(args)
        .output()
        .expect("cannot run the thrift venv's python")
}

/// The client running in the background: how many events were answered OK so far can be read
/// while it runs (`acknowledged()`).
pub struct PythonThriftClient(PeerClient);

impl PythonThriftClient {
    pub fn start(port: u16, count: usize, args: &[&str]) -> PythonThriftClient {
        let mut cmd = script("client");
        cmd.arg(port.to_string()).arg(count.to_string()).args(args);
        PythonThriftClient(PeerClient::spawn("python thrift client", cmd))
    }
}

impl std::ops::Deref for PythonThriftClient {
    type Target = PeerClient;
    fn deref(&self) -> &PeerClient {
        &self.0
    }
}

impl std::ops::DerefMut for PythonThriftClient {
    fn deref_mut(&mut self) -> &mut PeerClient {
        &mut self.0
    }
}

/// The Python Flume-protocol server on 127.0.0.1. Starts with `--protocol binary`, `--fail N`
/// in `args` and waits until it listens.
pub struct PythonThriftServer(PeerServer);

impl PythonThriftServer {
    pub fn start(args: &[&str]) -> PythonThriftServer {
        let mut cmd = script("server");
        cmd.args(args);
        PythonThriftServer(PeerServer::spawn(
            "python thrift server",
            cmd,
            Duration::from_secs(60),
        ))
    }
}

impl std::ops::Deref for PythonThriftServer {
    type Target = PeerServer;
    fn deref(&self) -> &PeerServer {
        &self.0
    }
}
