//! A real HDFS for the HDFS sink's tests: Hadoop 2.7.3's own NameNode and DataNode(s), started as
//! child processes from the jars `scripts/install-hadoop.sh` caches (PyPI's `pyspark==2.4.8`
//! ships them; see `../shared/hdfs-test-infra.md`), on free loopback ports with generated
//! configs, stopped by PID on drop. What a sink wrote is read back with Hadoop's own `FsShell`
//! (`-cat`, `-text`, `-ls`) from the same jars, an independent implementation of the reading side.
//!
//! Starting one costs ~8 s and ~310 MB on 2 cores, so [`Hdfs::shared`] gives every test of a
//! test binary the same one while any test holds it; tests stay isolated by directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tempfile::TempDir;

use super::agent::Agent;
use super::jvm::java;
use super::process::{wait_listening, NotListening, Supervised};
use super::{free_port, path_printed_by, poll_until, wait_until_or_explain};

/// NameNode + DataNode are ready in ~8 s on an idle machine; the margin is for a loaded CI box.
const START_DEADLINE: Duration = Duration::from_secs(90);
/// Only another process taking a picked port before Hadoop binds it needs a retry.
const START_ATTEMPTS: usize = 3;
/// One FsShell run is a JVM start plus an RPC or two: ~1.5 s.
const SHELL_DEADLINE: Duration = Duration::from_secs(60);
/// How long a sink may take to make what it was given durable in HDFS (tests' delivery waits).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);
/// The line a DataNode logs once the NameNode knows its blocks: from then on writes succeed.
const DATANODE_READY: &str = "Successfully sent block report";

/// The folder with Hadoop's jars, installed on first use.
pub fn hadoop_jars() -> &'static Path {
    static JARS: OnceLock<PathBuf> = OnceLock::new();
    JARS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-hadoop.sh");
        path_printed_by(&script, "cannot run HDFS tests without Hadoop's jars")
    })
}

/// Ports of one DataNode.
#[derive(Clone, Copy, Debug)]
struct DataNodePorts {
    data: u16,
    http: u16,
    ipc: u16,
}

/// A NameNode and its DataNodes on loopback, stopped on drop.
pub struct Hdfs {
    dir: TempDir,
    classpath: String,
    namenode_port: u16,
    namenode: Mutex<Supervised>,
    datanodes: Mutex<Vec<(Supervised, DataNodePorts)>>,
}

impl Hdfs {
    /// One HDFS with a single DataNode for every test of this binary that runs while another
    /// holds it. Only a [`Weak`] is kept in the static, so it stops when the last holder ends.
    pub fn shared() -> Arc<Hdfs> {
        static SHARED: OnceLock<Mutex<Weak<Hdfs>>> = OnceLock::new();
        let slot = SHARED.get_or_init(|| Mutex::new(Weak::new()));
        let mut weak = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hdfs) = weak.upgrade() {
            return hdfs;
        }
        let hdfs = Arc::new(Hdfs::start(1));
        *weak = Arc::downgrade(&hdfs);
        hdfs
    }

    /// A fresh HDFS with `datanodes` DataNodes (replication = their number).
    pub fn start(datanodes: usize) -> Hdfs {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Hdfs::try_start(datanodes) {
                Ok(hdfs) => return hdfs,
                Err(why) => last = why,
            }
        }
        panic!("HDFS did not start after {START_ATTEMPTS} attempts:\n{last}");
    }

    fn try_start(datanodes: usize) -> Result<Hdfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("rflume-hdfs-")
            .tempdir()
            .expect("cannot create a temp dir");
        let base = dir.path();
        let conf = base.join("conf");
        // Hadoop's HTTP servers look their (empty) web apps up on the classpath and refuse to
        // start without them.
        for d in ["conf", "extra/webapps/hdfs", "extra/webapps/datanode"] {
            fs::create_dir_all(base.join(d)).expect("cannot create HDFS folders");
        }
        let namenode_port = free_port();
        write_configs(&conf, namenode_port, datanodes.max(1));
        let classpath = format!(
            "{}:{}:{}/*",
            conf.display(),
            base.join("extra").display(),
            hadoop_jars().display()
        );

        let mut format = hadoop_java(&classpath, base, 256);
        format.args([
            "org.apache.hadoop.hdfs.server.namenode.NameNode",
            "-format",
            "-nonInteractive",
        ]);
        let mut formatting =
            Supervised::spawn("namenode -format", format, &base.join("format.log"));
        match formatting.wait_exit(START_DEADLINE) {
            Some(s) if s.success() => {}
            other => {
                formatting.kill();
                return Err(format!("namenode -format: {other:?}\n{}", formatting.log()));
            }
        }

        let namenode = start_namenode(&classpath, base, namenode_port)?;
        let hdfs = Hdfs {
            dir,
            classpath,
            namenode_port,
            namenode: Mutex::new(namenode),
            datanodes: Mutex::new(Vec::new()),
        };
        for i in 0..datanodes.max(1) {
            hdfs.add_datanode(i)?;
        }
        Ok(hdfs)
    }

    /// Starts DataNode number `i` on fresh ports and waits until its first block report.
    fn add_datanode(&self, i: usize) -> Result<(), String> {
        let ports = DataNodePorts {
            data: free_port(),
            http: free_port(),
            ipc: free_port(),
        };
        let mut dn = self.datanode_process(i, ports);
        let ready = poll_until(START_DEADLINE, || {
            dn.log().contains(DATANODE_READY) || !dn.is_running()
        });
        if !ready || !dn.is_running() {
            let tail = dn.log_tail(40);
            dn.kill();
            return Err(format!("datanode {i} not ready\n{tail}"));
        }
        self.lock_datanodes().push((dn, ports));
        Ok(())
    }

    fn datanode_process(&self, i: usize, ports: DataNodePorts) -> Supervised {
        let base = self.dir.path();
        let mut cmd = hadoop_java(&self.classpath, base, 256);
        // Generic options after the class name (Hadoop's GenericOptionsParser): a JVM `-D`
        // before it only feeds `${…}` expansion and would leave the DataNode on its default
        // ports 50010/50020/50075, which another HDFS on the machine may hold.
        cmd.arg("org.apache.hadoop.hdfs.server.datanode.DataNode");
        for (key, value) in [
            (
                "dfs.datanode.data.dir",
                base.join(format!("data{i}")).display().to_string(),
            ),
            ("dfs.datanode.address", format!("127.0.0.1:{}", ports.data)),
            (
                "dfs.datanode.http.address",
                format!("127.0.0.1:{}", ports.http),
            ),
            (
                "dfs.datanode.ipc.address",
                format!("127.0.0.1:{}", ports.ipc),
            ),
        ] {
            cmd.arg("-D").arg(format!("{key}={value}"));
        }
        Supervised::spawn(
            &format!("datanode{i}"),
            cmd,
            &base.join(format!("datanode{i}.log")),
        )
    }

    fn lock_datanodes(&self) -> std::sync::MutexGuard<'_, Vec<(Supervised, DataNodePorts)>> {
        self.datanodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `kill -9` of the NameNode, as a crash: clients get "connection refused" until
    /// [`Hdfs::restart_namenode`]. Only for an HDFS of the test's own, never [`Hdfs::shared`].
    pub fn kill_namenode(&self) {
        self.namenode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kill();
    }

    /// Starts the NameNode again on its port and metadata (its log goes on in the same file)
    /// and waits until it has left safe mode, i.e. the DataNodes reported their blocks again.
    pub fn restart_namenode(&self) {
        let base = self.dir.path();
        let namenode = start_namenode(&self.classpath, base, self.namenode_port)
            .unwrap_or_else(|e| panic!("the NameNode did not start again:\n{e}"));
        *self.namenode.lock().unwrap_or_else(|e| e.into_inner()) = namenode;
        let out = self
            .tool(
                "org.apache.hadoop.hdfs.tools.DFSAdmin",
                &["-safemode", "wait"],
            )
            .unwrap_or_else(|e| panic!("dfsadmin -safemode wait failed:\n{e}"));
        assert!(
            String::from_utf8_lossy(&out).contains("OFF"),
            "the NameNode is still in safe mode: {}",
            String::from_utf8_lossy(&out)
        );
    }

    /// `kill -9` of DataNode `i`, as a lost machine.
    pub fn kill_datanode(&self, i: usize) {
        let mut dns = self.lock_datanodes();
        let (dn, _) = dns
            .get_mut(i)
            .unwrap_or_else(|| panic!("there is no DataNode {i}"));
        dn.kill();
    }

    /// The DataNode port of each DataNode (the address clients write blocks to).
    pub fn datanode_ports(&self) -> Vec<u16> {
        self.lock_datanodes().iter().map(|(_, p)| p.data).collect()
    }

    /// `hdfs://127.0.0.1:PORT`, the filesystem's URI (Flume's `fs.defaultFS`).
    pub fn uri(&self) -> String {
        format!("hdfs://127.0.0.1:{}", self.namenode_port)
    }

    /// The folder with `core-site.xml` and `hdfs-site.xml` (what `HADOOP_CONF_DIR` names).
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// A fresh absolute HDFS folder name for one test (nothing is created).
    pub fn unique_dir(&self, test: &str) -> String {
        format!("/{test}-{}", super::jvm::unique())
    }

    /// Runs Hadoop's `FsShell` with `args`; its stdout, or `Err(stderr)` when it failed.
    pub fn shell(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        self.tool("org.apache.hadoop.fs.FsShell", args)
    }

    /// Runs one of Hadoop's command-line tools (`FsShell`, `DFSAdmin`) against this HDFS.
    pub fn tool(&self, class: &str, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut cmd = hadoop_java(&self.classpath, self.dir.path(), 128);
        cmd.arg(format!("-Dfs.defaultFS={}", self.uri()))
            // Log lines on stderr only: stdout is the file's bytes.
            .arg("-Dhadoop.root.logger=WARN,console")
            .arg(class)
            .args(args)
            .stdin(std::process::Stdio::null());
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start FsShell: {e}"));
        let out = wait_output(child, SHELL_DEADLINE)
            .unwrap_or_else(|| panic!("FsShell {args:?} still running after {SHELL_DEADLINE:?}"));
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `FsShell -cat PATH`: the file's bytes as stored.
    pub fn cat(&self, path: &str) -> Vec<u8> {
        self.shell(&["-cat", path])
            .unwrap_or_else(|e| panic!("FsShell -cat {path} failed:\n{e}"))
    }

    /// `FsShell -cat` of several files in one JVM: their bytes concatenated in the given order.
    pub fn cat_all(&self, paths: &[&str]) -> Vec<u8> {
        if paths.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["-cat"];
        args.extend_from_slice(paths);
        self.shell(&args)
            .unwrap_or_else(|e| panic!("FsShell -cat {paths:?} failed:\n{e}"))
    }

    /// `FsShell -text PATH`: the file decoded by Hadoop (SequenceFile records as `key\tvalue`,
    /// compressed streams inflated).
    pub fn text(&self, path: &str) -> Vec<u8> {
        self.shell(&["-text", path])
            .unwrap_or_else(|e| panic!("FsShell -text {path} failed:\n{e}"))
    }

    /// Every file under `dir` as (path, length), sorted by path; empty if `dir` does not exist.
    /// The length of a file being written is what its writer last synced. Asked over the
    /// NameNode's RPC (hdfs-native, milliseconds) rather than `FsShell -ls` (a JVM, seconds):
    /// tests poll this; the bytes themselves are always read back with Hadoop's own shell.
    pub fn files(&self, dir: &str) -> Vec<(String, u64)> {
        let client = hdfs_native::sync::ClientBuilder::new()
            .with_url(self.uri())
            .build()
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.uri()));
        let statuses = match client.list_status(dir, true) {
            Ok(s) => s,
            Err(hdfs_native::HdfsError::FileNotFound(_)) => return Vec::new(),
            Err(e) => panic!("listing {dir} failed: {e}"),
        };
        let mut files: Vec<(String, u64)> = statuses
            .into_iter()
            .filter(|s| !s.isdir)
            .map(|s| (s.path, s.length as u64))
            .collect();
        files.sort();
        files
    }

    /// Waits until the files under `dir` hold `bytes` bytes in all (the length HDFS reports for
    /// a file being written is what the sink's last hsync made durable), so that a test stops
    /// `agent` only after everything was written; one listing per poll.
    #[track_caller]
    pub fn wait_bytes(&self, agent: &Agent, dir: &str, bytes: usize) {
        let total = || {
            self.files(dir)
                .iter()
                .map(|(_, n)| *n as usize)
                .sum::<usize>()
        };
        wait_until_or_explain(
            DELIVERY_DEADLINE,
            &format!("{bytes} bytes are in HDFS under {dir}"),
            || total() >= bytes,
            || {
                format!(
                    "{:?}\n{}\n{}",
                    self.files(dir),
                    agent.log(),
                    self.logs_tail(20)
                )
            },
        );
    }

    /// Concatenated `-cat` of every final (not in-use) file under `dir`, in name order (one
    /// JVM), and the listing; panics if any file still carries the in-use suffix `.tmp`.
    pub fn read_closed(&self, dir: &str) -> (Vec<(String, u64)>, String) {
        let files = self.files(dir);
        assert!(
            files.iter().all(|(p, _)| !p.ends_with(".tmp")),
            "in-use files left after a clean stop: {files:?}"
        );
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        let text = String::from_utf8(self.cat_all(&paths)).expect("UTF-8 files");
        (files, text)
    }

    /// Logs of the NameNode and DataNodes, for panic messages.
    pub fn logs_tail(&self, n: usize) -> String {
        let mut out = self
            .namenode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log_tail(n);
        for (dn, _) in self.lock_datanodes().iter() {
            out.push('\n');
            out.push_str(&dn.log_tail(n));
        }
        out
    }
}

impl Drop for Hdfs {
    fn drop(&mut self) {
        for (dn, _) in self.lock_datanodes().iter_mut() {
            dn.kill();
        }
        self.namenode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kill();
    }
}

/// Starts the NameNode of `base` on `port` and waits until it listens.
fn start_namenode(classpath: &str, base: &Path, port: u16) -> Result<Supervised, String> {
    let mut cmd = hadoop_java(classpath, base, 256);
    cmd.arg("org.apache.hadoop.hdfs.server.namenode.NameNode");
    let mut namenode = Supervised::spawn("namenode", cmd, &base.join("namenode.log"));
    match wait_listening(&mut namenode, port, START_DEADLINE) {
        Ok(()) => Ok(namenode),
        Err(NotListening::Exited(s)) => {
            Err(format!("namenode exited ({s})\n{}", namenode.log_tail(40)))
        }
        Err(NotListening::TimedOut) => {
            namenode.kill();
            Err(format!("namenode not listening\n{}", namenode.log_tail(40)))
        }
    }
}

/// `java` for a Hadoop daemon or tool: `${test.base}` in the generated configs expands to `base`.
fn hadoop_java(classpath: &str, base: &Path, heap_mb: u32) -> Command {
    let mut cmd = java(classpath, heap_mb);
    cmd.arg(format!("-Dtest.base={}", base.display()));
    cmd
}

/// Waits for `child` with a deadline, reading its output meanwhile (a full pipe would block it).
fn wait_output(child: std::process::Child, deadline: Duration) -> Option<std::process::Output> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => Some(out.expect("FsShell: wait failed")),
        Err(_) => {
            // SAFETY: kill(2) has no memory-safety preconditions; the child is not reaped yet
            // (the waiting thread has not returned), so its pid is still ours.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            None
        }
    }
}

fn property(name: &str, value: &str) -> String {
    format!("  <property><name>{name}</name><value>{value}</value></property>\n")
}

fn write_configs(conf: &Path, namenode_port: u16, replication: usize) {
    let site = |props: &[(&str, String)]| {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
        for (k, v) in props {
            xml.push_str(&property(k, v));
        }
        xml.push_str("</configuration>\n");
        xml
    };
    let nn = format!("127.0.0.1:{namenode_port}");
    let core = site(&[
        ("fs.defaultFS", format!("hdfs://{nn}")),
        ("hadoop.tmp.dir", "${test.base}/tmp".into()),
    ]);
    let hdfs = site(&[
        ("dfs.replication", replication.to_string()),
        ("dfs.namenode.name.dir", "${test.base}/name".into()),
        ("dfs.namenode.rpc-address", nn),
        (
            "dfs.namenode.http-address",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("dfs.namenode.secondary.http-address", "127.0.0.1:0".into()),
        ("dfs.datanode.hostname", "127.0.0.1".into()),
        ("dfs.webhdfs.enabled", "false".into()),
        ("dfs.permissions.enabled", "false".into()),
        (
            "dfs.namenode.datanode.registration.ip-hostname-check",
            "false".into(),
        ),
        ("dfs.namenode.safemode.extension", "0".into()),
        // A test HDFS has one to three DataNodes: never ask for a node it does not have when a
        // pipeline is rebuilt.
        (
            "dfs.client.block.write.replace-datanode-on-failure.enable",
            "false".into(),
        ),
        // 1 MiB blocks (Hadoop's smallest): a DataNode accepts a block only with a block's size
        // free per open file, so 128 MiB blocks would fail tests on a nearly full disk; small
        // blocks also make block boundaries reachable by a test.
        ("dfs.blocksize", "1048576".into()),
        // Heartbeats every second, and a DataNode silent for 2 × 2 s + 10 heartbeats declared
        // dead (Hadoop's default takes 10.5 minutes), so that a killed DataNode is noticed, and
        // left out of new pipelines, within a test.
        ("dfs.heartbeat.interval", "1".into()),
        ("dfs.namenode.heartbeat.recheck-interval", "2000".into()),
    ]);
    fs::write(conf.join("core-site.xml"), core).expect("cannot write core-site.xml");
    fs::write(conf.join("hdfs-site.xml"), hdfs).expect("cannot write hdfs-site.xml");
    fs::write(
        conf.join("log4j.properties"),
        "log4j.rootLogger=${hadoop.root.logger}\n\
         hadoop.root.logger=INFO,console\n\
         log4j.appender.console=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.console.target=System.err\n\
         log4j.appender.console.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n\
         log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR\n\
         log4j.logger.org.apache.hadoop.metrics2=WARN\n",
    )
    .expect("cannot write log4j.properties");
}
