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

use serde::Deserialize;

use super::process::Supervised;
use super::{path_printed_by, wait_until};

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
/// while it runs.
pub struct PythonThriftClient {
    proc: Supervised,
    _dir: tempfile::TempDir,
}

#[derive(Deserialize)]
struct Acknowledged {
    acknowledged: usize,
}

impl PythonThriftClient {
    pub fn start(port: u16, count: usize, args: &[&str]) -> PythonThriftClient {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("thrift-client.log");
        let mut cmd = script("client");
        cmd.arg(port.to_string()).arg(count.to_string()).args(args);
        let proc = Supervised::spawn("python thrift client", cmd, &log);
        PythonThriftClient { proc, _dir: dir }
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

impl Drop for PythonThriftClient {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// An event as the Python server accepted it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Received {
    pub body: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Listening {
    listening: u16,
}

/// The Python Flume-protocol server on 127.0.0.1.
pub struct PythonThriftServer {
    proc: Supervised,
    _dir: tempfile::TempDir,
    port: u16,
}

impl PythonThriftServer {
    /// Starts the server (`--protocol binary`, `--fail N` in `args`) and waits until it listens.
    pub fn start(args: &[&str]) -> PythonThriftServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("thrift-server.log");
        let mut cmd = script("server");
        cmd.args(args);
        let proc = Supervised::spawn("python thrift server", cmd, &log);
        let mut port = 0;
        wait_until(
            Duration::from_secs(60),
            "the python thrift server listens",
            || {
                port = proc
                    .log()
                    .lines()
                    .find_map(|l| serde_json::from_str::<Listening>(l).ok())
                    .map(|l| l.listening)
                    .unwrap_or(0);
                port != 0
            },
        );
        PythonThriftServer {
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

impl Drop for PythonThriftServer {
    fn drop(&mut self) {
        self.proc.kill();
    }
}
