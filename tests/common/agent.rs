//! The `rflume` binary as a black box: an agent process with its config in a temp dir, its output
//! in a log file, and signals as an operator (or a crashing machine) would send them.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

use tempfile::TempDir;

use super::process::{catches_signal, descendants, ProcId, Supervised};
use super::{poll_until, wait_until_or_explain};

/// The original setup's configuration, as shipped (`conf/flume_kafka.conf`): tests that need the
/// seed start from the very file users copy, redirecting only its paths and hosts.
pub const SEED_CONF: &str = include_str!("../../conf/flume_kafka.conf");

/// The pipeline most tests run: exec `tail -n +1 -F LOG` → memory channel c1 (capacity 10000,
/// transactionCapacity 1000) → Kafka sink k1 (`flumeBatchSize` 100) on `topic` at `bootstrap`, in
/// Flume's property names. `tail -n +1` reads the file from its first line, so lines appended
/// before `tail` opened it are not skipped: a test does not race the agent's start-up.
///
/// `settings` are `(key after "a1.", value)`: one for a key of the base replaces its value (no
/// duplicate-key warning in the agent's log), any other is appended.
pub fn exec_tail_to_kafka(
    log: &Path,
    bootstrap: &str,
    topic: &str,
    settings: &[(&str, &str)],
) -> String {
    let base = format!(
        "a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {log}
{}",
        memory_to_kafka(bootstrap, topic),
        log = log.display()
    );
    with_settings(&base, settings)
}

/// The part every test pipeline shares: source r1 → memory channel c1 (capacity 10000,
/// transactionCapacity 1000) → Kafka sink k1 (`flumeBatchSize` 100) on `topic` at `bootstrap`.
fn memory_to_kafka(bootstrap: &str, topic: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 100
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {topic}
"
    )
}

/// TAILDIR on `LOGS/app.log` (positions in `pos`, written every 200 ms) → memory channel c1
/// (capacity 10000, transactionCapacity 1000) → Kafka sink k1 on `topic` at `bootstrap`: the
/// restart-safe pipeline (a restarted agent resumes from delivered positions). `settings` as in
/// [`exec_tail_to_kafka`]: `(key after "a1.", value)`, replacing or appending.
pub fn taildir_to_kafka(
    logs: &Path,
    pos: &Path,
    bootstrap: &str,
    topic: &str,
    settings: &[(&str, &str)],
) -> String {
    let base = format!(
        "a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = {logs}/app\\.log
a1.sources.r1.positionFile = {pos}
a1.sources.r1.writePosInterval = 200
{}",
        memory_to_kafka(bootstrap, topic),
        logs = logs.display(),
        pos = pos.display(),
    );
    with_settings(&base, settings)
}

/// `base` with each `(key after "a1.", value)` replacing the line of that key, or appended.
fn with_settings(base: &str, settings: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
    for (key, value) in settings {
        let line = format!("a1.{key} = {value}");
        let prefix = format!("a1.{key} =");
        match lines.iter_mut().find(|l| l.starts_with(&prefix)) {
            Some(existing) => *existing = line,
            None => lines.push(line),
        }
    }
    lines.join("\n") + "\n"
}

/// Name of the config file written into the agent's directory.
pub const CONF_FILE: &str = "flume.conf";
/// rflume's default `--drain-timeout`: how long a graceful stop may legitimately take to drain.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits for an agent to exit after SIGTERM: longer than any drain timeout the
/// tests use (the default included), so that a drain using its whole timeout on a loaded 2-core
/// runner is not mistaken for a hang; what follows the drain (stopping sinks, writing positions,
/// exiting) gets the rest.
pub const STOP_DEADLINE: Duration = Duration::from_secs(DEFAULT_DRAIN_TIMEOUT.as_secs() + 30);
/// How long `run_rflume` lets a one-shot command (`check`, `version`) run before calling it hung.
const ONE_SHOT_DEADLINE: Duration = Duration::from_secs(60);

/// The rflume binary cargo built for this test run (the test profile's, i.e. debug).
pub fn rflume_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rflume"))
}

/// A running agent process, killed (with every process it started) on drop.
pub struct Agent {
    proc: Supervised,
    dir: TempDir,
    /// Descendants seen when the test signalled the agent: once the agent is gone, its orphans
    /// can no longer be found through their parent, so they are remembered for cleanup.
    seen_descendants: HashSet<ProcId>,
}

impl Agent {
    /// `rflume agent --conf-file <tmp>/flume.conf --name NAME -Dflume.root.logger=INFO,console`,
    /// the way Flume's own service scripts start `flume-ng agent`.
    pub fn start(config: &str, name: &str) -> Agent {
        Agent::start_with_args(config, name, &[])
    }

    /// Like [`Agent::start`], with `extra_args` appended (more `-D` properties, flags).
    pub fn start_with_args(config: &str, name: &str, extra_args: &[&str]) -> Agent {
        Agent::start_with_env(config, name, extra_args, &[])
    }

    /// Like [`Agent::start_with_args`], with environment variables set for the agent: the
    /// machine's setup a config relies on (`HOME` for a default position file,
    /// `HADOOP_CONF_DIR` for the `fs.defaultFS` of an HDFS path without a NameNode).
    pub fn start_with_env(
        config: &str,
        name: &str,
        extra_args: &[&str],
        env: &[(&str, &OsStr)],
    ) -> Agent {
        let dir = agent_dir();
        let conf = dir.path().join(CONF_FILE);
        fs::write(&conf, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        let mut cmd = Command::new(rflume_bin());
        cmd.arg("agent")
            .arg("--conf-file")
            .arg(&conf)
            .arg("--name")
            .arg(name)
            .arg("-Dflume.root.logger=INFO,console")
            .args(extra_args)
            .envs(env.iter().copied());
        Agent::spawn(dir, cmd)
    }

    /// Runs any command under the same guard, in `dir` (which the agent then owns): for rflume
    /// started another way (e.g. through a `flume-ng` symlink) and for the harness's self-tests.
    pub fn spawn(dir: TempDir, mut cmd: Command) -> Agent {
        cmd.current_dir(dir.path());
        let log = dir.path().join("agent.log");
        let proc = Supervised::spawn("rflume agent", cmd, &log);
        Agent {
            proc,
            dir,
            seen_descendants: HashSet::new(),
        }
    }

    /// The agent's directory (its working directory; holds the config and the log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join(CONF_FILE)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Pids of the processes the agent started (e.g. an exec source's `tail -F`) that are alive now.
    pub fn descendant_pids(&self) -> Vec<u32> {
        descendants(self.pid()).iter().map(|p| p.pid).collect()
    }

    /// Graceful stop, as `systemctl stop` or Ctrl-C would ask.
    pub fn sigterm(&mut self) {
        self.remember_descendants();
        self.proc.signal(libc::SIGTERM);
    }

    /// SIGTERM, then waits (up to [`STOP_DEADLINE`]) for the agent to exit 0; panics with the
    /// log otherwise. After it returns, everything the agent delivered is in Kafka, so a test
    /// can read the topic to its end and judge "exactly once" on the final content.
    ///
    /// SIGTERM is sent once the agent handles it (`SigCgt`): a SIGTERM in the milliseconds
    /// before rflume installs its handler (process start-up) kills it outright. A test that
    /// stops an agent right after spawning it must not trip on that.
    #[track_caller]
    pub fn stop_cleanly(&mut self) {
        let pid = self.pid();
        let proc = &mut self.proc;
        poll_until(STOP_DEADLINE, || {
            catches_signal(pid, libc::SIGTERM) || proc.try_wait().is_some()
        });
        self.sigterm();
        match self.wait_exit(STOP_DEADLINE) {
            Some(status) if status.success() => {}
            Some(status) => panic!(
                "the agent exited with {status} after SIGTERM\n{}",
                self.proc.log_tail(60)
            ),
            None => panic!(
                "the agent still runs {STOP_DEADLINE:?} after SIGTERM\n{}",
                self.proc.log_tail(60)
            ),
        }
    }

    /// The lifetime counters of `component` (`SOURCE.r1`, `CHANNEL.c1`, `SINK.k1`) from the
    /// totals line the agent logs when it stops, with Flume's counter names:
    /// `SINK.k1: EventDrainSuccessCount=500 RollbackCount=0 …`. Panics if there is no such line.
    #[track_caller]
    pub fn stop_totals(&self, component: &str) -> BTreeMap<String, u64> {
        let log = self.log();
        let marker = format!("{component}: ");
        let Some(line) = log.lines().rev().find(|l| l.contains(&marker)) else {
            panic!(
                "no totals line for {component} in the log\n{}",
                self.proc.log_tail(60)
            );
        };
        let after = &line[line.find(&marker).expect("found above") + marker.len()..];
        after
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let n = v
                    .parse()
                    .unwrap_or_else(|_| panic!("counter {k} is not a number in {line:?}"));
                (k.to_string(), n)
            })
            .collect()
    }

    /// Sends any signal (SIGHUP, SIGSTOP, …) to the agent process only.
    pub fn signal(&mut self, signal: libc::c_int) {
        self.remember_descendants();
        self.proc.signal(signal);
    }

    /// A crash: SIGKILL to the agent alone, which gets no chance to clean up. Its children are
    /// left running, as they would be; they are killed when this guard drops.
    pub fn kill9(&mut self) -> ExitStatus {
        self.remember_descendants();
        self.proc.kill()
    }

    /// The exit status once the agent has exited, or `None` if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }

    /// Everything the agent wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }

    /// Waits until the log contains `needle`; on timeout panics with the log's tail (and says if
    /// the agent died meanwhile, the usual reason).
    #[track_caller]
    pub fn wait_for_log(&mut self, deadline: Duration, needle: &str) {
        let proc = &mut self.proc;
        let mut exited = None;
        let found = poll_until(deadline, || {
            // Read the log *after* checking for exit, so lines written just before exiting count.
            exited = exited.or_else(|| proc.try_wait());
            proc.log().contains(needle) || exited.is_some()
        });
        if found && self.proc.log().contains(needle) {
            return;
        }
        let why = match exited {
            Some(status) => format!("the agent exited first ({status})"),
            None => format!("timed out after {deadline:?}"),
        };
        panic!(
            "agent log never showed {needle:?}: {why}\n{}",
            self.proc.log_tail(60)
        );
    }

    /// Waits until `cond` holds; a timeout panics with `what` and the agent's log.
    #[track_caller]
    pub fn wait_until(&self, deadline: Duration, what: &str, cond: impl FnMut() -> bool) {
        wait_until_or_explain(deadline, what, cond, || self.proc.log_tail(60));
    }

    fn remember_descendants(&mut self) {
        if self.proc.is_running() {
            self.seen_descendants.extend(descendants(self.pid()));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(60));
        }
        // Freeze the agent first so it cannot start a child between our look and the kill; once
        // it is dead its children are re-parented and can no longer be found through it.
        self.proc.signal(libc::SIGSTOP);
        self.remember_descendants();
        self.proc.kill();
        for p in &self.seen_descendants {
            p.kill();
        }
        // SIGKILL is delivered asynchronously: wait, so that "nothing left running" holds when
        // the guard is gone.
        let gone = poll_until(Duration::from_secs(10), || {
            self.seen_descendants.iter().all(|p| !p.alive())
        });
        if !gone && !std::thread::panicking() {
            panic!(
                "processes started by the agent survived SIGKILL: {:?}",
                self.seen_descendants
            );
        }
    }
}

fn agent_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("rflume-agent-")
        .tempdir()
        .expect("cannot create a temp dir for the agent")
}

/// Runs `rflume ARGS…` to completion (for `check`, `version`, `--help`) and returns its output.
/// Panics if it runs longer than a minute: a one-shot command that hangs is a bug.
pub fn run_rflume<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let dir = agent_dir();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let stdout = fs::File::create(&out_path).expect("cannot create a stdout file");
    let stderr = fs::File::create(&err_path).expect("cannot create a stderr file");
    let mut cmd = Command::new(rflume_bin());
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // Files rather than pipes: no reader threads are needed to wait with a deadline.
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut status = None;
    poll_until(ONE_SHOT_DEADLINE, || {
        status = child.try_wait().expect("waitpid failed");
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} still running after {ONE_SHOT_DEADLINE:?}; stderr so far:\n{}",
            fs::read_to_string(&err_path).unwrap_or_default()
        );
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
    }
}
