//! Child processes that never outlive a test.
//!
//! [`Supervised`] owns one spawned process whose stdout and stderr both go to a log file (one file,
//! so the interleaving is the real one), and it remembers whether the process has been reaped:
//! signalling a pid after `wait()` could hit an unrelated process that reused it.
//!
//! Children stay in the test's process group on purpose: Ctrl-C on `cargo test`, and nextest's
//! timeout kill, signal the whole group and so reach them even when no destructor runs.
//!
//! The `/proc` readers answer two questions no std API does: "is *this* process the one listening
//! on that port?" (a free port can be taken by someone else between picking and binding it) and
//! "which processes did this agent start?" (so its `tail -F` children can be cleaned up too).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::poll_until;

/// A running (or finished) child process with its output captured in a log file.
pub struct Supervised {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    log_path: PathBuf,
}

impl Supervised {
    /// Spawns `cmd` with stdin closed and stdout+stderr appended to `log_path` (appended, so a
    /// restarted process keeps the history of the previous one in the same file).
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Supervised {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("{name}: cannot open log {}: {e}", log_path.display()));
        let log2 = log.try_clone().expect("cannot duplicate a log file handle");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        Supervised {
            name: name.to_string(),
            child,
            status: None,
            log_path: log_path.to_path_buf(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote so far (lossy UTF-8).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log, labelled, for panic messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(n)..];
        format!(
            "--- last {} lines of {} ({}) ---\n{}\n--- end of {} log ---",
            tail.len(),
            self.name,
            self.log_path.display(),
            tail.join("\n"),
            self.name
        )
    }

    /// The exit status if the process has exited (reaping it), `None` while it runs.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("{}: waitpid failed: {e}", self.name));
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.try_wait().is_some());
        self.status
    }

    /// Sends `signal` unless the process has already been reaped (its pid may belong to someone
    /// else by now).
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.is_running() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{}: still alive 30 s after SIGKILL", self.name))
    }

    /// SIGTERM, and SIGKILL if it has not exited after `grace` (tansu, for one, ignores SIGTERM
    /// while a client is connected). SIGCONT first, in case a test left it stopped.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        match self.wait_exit(grace) {
            Some(status) => status,
            None => self.kill(),
        }
    }
}

/// Why a server did not come up: the caller decides whether to retry on another port.
#[derive(Debug)]
pub enum NotListening {
    /// The process exited (for example with "Address in use").
    Exited(ExitStatus),
    TimedOut,
}

/// Waits until the process owns a listening TCP socket on `port`.
///
/// Checking ownership rather than "can I connect?" matters: if another process grabbed the port
/// first, a connect would succeed against the wrong server.
pub fn wait_listening(
    proc: &mut Supervised,
    port: u16,
    deadline: Duration,
) -> Result<(), NotListening> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(status) = proc.try_wait() {
            return Err(NotListening::Exited(status));
        }
        if listens_on(proc.pid(), port) {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(NotListening::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` holds a socket listening on TCP `port` (IPv4 or IPv6).
pub fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .ok()
            .and_then(|target| {
                let target = target.to_string_lossy().into_owned();
                let inode = target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string();
                Some(inodes.contains(&inode))
            })
            .unwrap_or(false)
    })
}

/// Socket inodes in LISTEN state (st = 0A) on `port`, from /proc/net/tcp{,6}.
fn listening_inodes(port: u16) -> Vec<String> {
    listeners(port)
        .into_iter()
        .map(|(_, inode)| inode)
        .collect()
}

/// The sockets in LISTEN state on TCP `port`, from /proc/net/tcp{,6}: (the local address, socket
/// inode). An IPv4 address is written as usual (`127.0.0.1`, `0.0.0.0` for every interface), an
/// IPv6 one as the kernel's 32 hex digits.
pub fn listeners(port: u16) -> Vec<(String, String)> {
    let want = format!(":{port:04X}");
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[1].ends_with(&want) && f[3] == "0A" {
                let hex = &f[1][..f[1].len() - want.len()];
                // IPv4: one 32-bit word in host (little-endian) byte order.
                let address = match u32::from_str_radix(hex, 16) {
                    Ok(v) if hex.len() == 8 => std::net::Ipv4Addr::from(v.swap_bytes()).to_string(),
                    _ => hex.to_string(),
                };
                found.push((address, f[9].to_string()));
            }
        }
    }
    found
}

/// A process identity that survives pid reuse: (pid, start time in clock ticks since boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcId {
    pub pid: u32,
    start_time: u64,
}

impl ProcId {
    /// Whether this very process still exists and is not a zombie.
    pub fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }

    /// SIGKILL, only if the pid still names the same process.
    pub fn kill(&self) {
        if self.alive() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

struct Stat {
    state: char,
    ppid: u32,
    start_time: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')': parse after the
    // last ')'. What follows starts at field 3 (state); ppid is field 4, starttime field 22.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

/// All living descendants of `pid` (children, grandchildren, …), found through /proc.
pub fn descendants(pid: u32) -> Vec<ProcId> {
    let mut children: HashMap<u32, Vec<ProcId>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(s) = stat(p) {
                if s.state != 'Z' {
                    children.entry(s.ppid).or_default().push(ProcId {
                        pid: p,
                        start_time: s.start_time,
                    });
                }
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in children.remove(&parent).unwrap_or_default() {
            queue.push(child.pid);
            found.push(child);
        }
    }
    found
}

/// How far process `pid` has read `path` (`pos` of its open file description), if it has it open.
pub fn process_read_offset(pid: u32, path: &Path) -> Option<u64> {
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    for fd in fds.flatten() {
        if fs::read_link(fd.path()).ok().as_deref() != Some(path) {
            continue;
        }
        let info =
            fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?)).ok()?;
        return info
            .lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}

/// Whether process `pid` has a handler installed for `signal` (`SigCgt` in /proc/PID/status).
/// rflume installs its SIGTERM/SIGINT/SIGHUP handlers first thing in `rflume agent`; a signal in
/// the few milliseconds before that (process start-up) gets the default action, so tests that
/// signal an agent right after spawning it wait for this first.
pub fn catches_signal(pid: u32, signal: libc::c_int) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// The loopback ports process `pid` has established TCP connections to (the remote ends), from
/// /proc/net/tcp{,6} and the process's socket descriptors: which broker or proxy an agent is
/// talking to right now.
pub fn connected_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: Vec<String> = fds
        .flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            let target = target.to_string_lossy();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Field 2 is the remote address (hex ip:port), 3 the state (01 = ESTABLISHED).
            if f.len() > 9 && f[3] == "01" && inodes.iter().any(|i| i == f[9]) {
                if let Some(port) = f[2]
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                {
                    ports.push(port);
                }
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}
