//! A real Kafka-protocol broker per test: tansu 0.6.0 with in-memory storage on a loopback port,
//! and its proxy for outages. See shared/kafka-test-infra.md for why tansu and for its quirks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use super::kafka;
use super::process::{wait_listening, NotListening, Supervised};
use super::{free_port, path_printed_by};

/// tansu prints `ready` within ~0.2 s; the margin is for a loaded 2-core CI machine.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// Only another process taking the port between our pick and tansu's bind needs a retry, so a few
/// attempts are plenty.
const START_ATTEMPTS: usize = 5;
/// An idle tansu exits on SIGTERM in 1–2 s; with a client connected it never does. In-memory
/// storage has nothing to flush, so a test does not wait long before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The tansu binary: the one `scripts/install-tansu.sh` reports ($TANSU, `tansu` on PATH, or the
/// pinned cache path), installing it there first if none exists.
///
/// Resolved once per test process; the script itself serialises installs across processes with a
/// file lock, since nextest runs every test in its own process.
pub fn tansu_bin() -> &'static Path {
    static TANSU: OnceLock<PathBuf> = OnceLock::new();
    TANSU.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-tansu.sh");
        path_printed_by(&script, "cannot run broker tests without tansu")
    })
}

fn tansu_command(args: &[String]) -> Command {
    let mut cmd = Command::new(tansu_bin());
    cmd.args(args)
        // Plain logs are easier to read in a CI transcript than ANSI colours.
        .env("NO_COLOR", "1");
    cmd
}

/// Starts a tansu server (`args_for(port)`) on a fresh free port, retrying on another port when
/// someone else got there first.
fn start_on_free_port(
    name: &str,
    log_path: &Path,
    args_for: impl Fn(u16) -> Vec<String>,
) -> (Supervised, u16) {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let mut proc = Supervised::spawn(name, tansu_command(&args_for(port)), log_path);
        match wait_listening(&mut proc, port, START_DEADLINE) {
            Ok(()) => return (proc, port),
            Err(why) => {
                proc.kill();
                failures.push(format!("port {port}: {why:?}"));
            }
        }
    }
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    panic!("{name} did not start: {}\n{log}", failures.join("; "));
}

fn tcp(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// A tansu broker with `memory://` storage on its own loopback port, stopped on drop.
///
/// Start one per test: memory storage never frees anything, and a broker starts in milliseconds.
pub struct Broker {
    proc: Supervised,
    port: u16,
    _dir: TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("rflume-broker-")
            .tempdir()
            .expect("cannot create a temp dir for the broker");
        let log = dir.path().join("tansu-broker.log");
        let (proc, port) = start_on_free_port("tansu broker", &log, |port| {
            vec![
                "broker".into(),
                "--listener-url".into(),
                tcp(port),
                // Both URLs always: the advertised default is localhost:9092, which clients
                // would then try to reach after the first metadata response.
                "--advertised-listener-url".into(),
                tcp(port),
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ]
        });
        Broker {
            proc,
            port,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `kafka.bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `name` with `partitions` partitions and waits until metadata shows it.
    /// tansu never auto-creates topics, so every test creates its own.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        kafka::create_topic(&self.bootstrap(), name, partitions);
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Freezes the broker (SIGSTOP): connections stay open, requests time out — a hung broker.
    pub fn pause(&mut self) {
        self.proc.signal(libc::SIGSTOP);
    }

    /// Ends [`Broker::pause`]; the broker carries on with all its data.
    pub fn resume(&mut self) {
        self.proc.signal(libc::SIGCONT);
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(40));
        }
        self.proc.stop(STOP_GRACE);
    }
}

/// A `tansu proxy` in front of a broker: point a client at the proxy, [`Proxy::kill`] it for a
/// "connection refused" outage and [`Proxy::restart`] it on the same port to end the outage. The
/// broker keeps everything it acknowledged.
pub struct Proxy {
    proc: Supervised,
    port: u16,
    origin_port: u16,
    dir: TempDir,
}

impl Proxy {
    pub fn start(origin: &Broker) -> Proxy {
        let dir = tempfile::Builder::new()
            .prefix("rflume-proxy-")
            .tempdir()
            .expect("cannot create a temp dir for the proxy");
        let origin_port = origin.port();
        let log = dir.path().join("tansu-proxy.log");
        let (proc, port) =
            start_on_free_port("tansu proxy", &log, |port| proxy_args(port, origin_port));
        Proxy {
            proc,
            port,
            origin_port,
            dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT` of the proxy, for clients that should suffer the outages.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// SIGKILL: every connection through the proxy drops and new ones are refused.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// Starts the proxy again on the same port (killing it first if it still runs).
    ///
    /// The port stays ours in practice: nothing else on the machine picks ports that were free a
    /// moment ago at this rate, and a retry covers the short time the kernel may need to release
    /// the listening socket of the killed process.
    pub fn restart(&mut self) {
        self.proc.kill();
        let log = self.dir.path().join("tansu-proxy.log");
        let mut last = None;
        let restarted = super::poll_until(START_DEADLINE, || {
            let mut proc = Supervised::spawn(
                "tansu proxy",
                tansu_command(&proxy_args(self.port, self.origin_port)),
                &log,
            );
            match wait_listening(&mut proc, self.port, START_DEADLINE) {
                Ok(()) => {
                    self.proc = proc;
                    true
                }
                Err(why) => {
                    proc.kill();
                    last = Some(why);
                    false
                }
            }
        });
        if !restarted {
            let why = last.unwrap_or(NotListening::TimedOut);
            panic!(
                "tansu proxy did not restart on port {}: {why:?}\n{}",
                self.port,
                self.proc.log_tail(40)
            );
        }
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

fn proxy_args(port: u16, origin_port: u16) -> Vec<String> {
    vec![
        "proxy".into(),
        "--listener-url".into(),
        tcp(port),
        // Clients must keep talking to the proxy after the first metadata response, or killing
        // the proxy would not cut them off.
        "--advertised-listener-url".into(),
        tcp(port),
        "--origin-url".into(),
        tcp(origin_port),
    ]
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(40));
        }
        self.proc.stop(STOP_GRACE);
    }
}
