//! The second test tier's peers: real Apache Kafka and real Apache Flume, as child processes.
//!
//! `scripts/fetch-peers.sh` puts each peer's runtime jars into `<cache>/<set>/lib/` (Maven Central,
//! only when missing; see tests/peers/README.md for the coordinates, the start commands and the
//! start-up times measured here); this module starts them with plain `java -cp '<set>/lib/*' MAIN`
//! on free loopback ports with generated configs, waits for readiness with a deadline, and stops
//! them by pid through RAII guards (the same [`Supervised`] processes as the tansu harness).
//!
//! * [`Peers::get`] finds the cache (`RFLUME_PEERS`, exported by scripts/test.sh). Without it a
//!   test skips with a loud message on a developer's machine, but **fails when `CI` is set**: the
//!   tier must never pass in CI by not running.
//! * [`KafkaCluster`]: ZooKeeper 3.4.14 + Kafka 2.3.1 brokers (the seed's), or Kafka 3.9.1 nodes in
//!   KRaft mode (each node broker and controller). Brokers can be killed and restarted on their
//!   port and data directory, as an operator's host reboot would.
//! * [`FlumeAgent`]: `org.apache.flume.node.Application` of Flume 1.9.0 or 1.11.0, the oracle of
//!   the differential tests.
//!
//! JVMs start slowly on 2 cores: every peer gets a small heap and the serial collector (fewer
//! threads competing with the processes under test), and deadlines are generous but bounded.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tempfile::TempDir;

use super::process::{descendants, listens_on, wait_listening, ProcId, Supervised};
use super::{free_port, poll_until, wait_until_or_explain};

/// Peer sets, named as the folders of tests/peers/ and of the cache.
pub const ZOOKEEPER_3_4: &str = "zookeeper-3.4.14";
pub const KAFKA_2_3: &str = "kafka-2.3.1";
pub const KAFKA_3_9: &str = "kafka-3.9.1";
pub const FLUME_1_9: &str = "flume-1.9.0";
pub const FLUME_1_11: &str = "flume-1.11.0";
/// Spark Streaming 2.4's Flume receiver (spark-streaming-flume 2.4.7 and flume-ng-sdk); Spark
/// 2.4.8 itself comes from scripts/install-hadoop.sh (see [`spark_2_4_classpath`]).
pub const SPARK_2_4_FLUME: &str = "spark-2.4.8-flume";

/// A JVM broker on 2 busy cores: ~6 s for Kafka 2.3.1, ~3 s for a 3.9.1 KRaft node, measured here
/// alone; three at once plus a loaded machine take several times that.
const BROKER_START: Duration = Duration::from_secs(120);
/// ZooKeeper binds its port in well under a second.
const ZOOKEEPER_START: Duration = Duration::from_secs(60);
/// Flume's Application starts its components in 1–3 s here.
const FLUME_START: Duration = Duration::from_secs(90);
/// A one-shot tool JVM (kafka-topics, StorageTool): 1.5–2.5 s here.
const TOOL_DEADLINE: Duration = Duration::from_secs(120);
/// Graceful stop of a broker or agent before SIGKILL: a controlled shutdown moves leadership away,
/// which takes a few seconds; tests that need a crash use [`KafkaCluster::kill_broker`].
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Broker heap: a test broker holds a few MB of records.
const BROKER_HEAP_MB: u32 = 256;

// ---------------------------------------------------------------------------------------------
// Finding the peers
// ---------------------------------------------------------------------------------------------

/// The peer cache: `<root>/<set>/lib/*.jar` for each fetched set.
#[derive(Clone, Debug)]
pub struct Peers {
    root: PathBuf,
}

impl Peers {
    /// The cache named by `RFLUME_PEERS` (scripts/test.sh fetches the peers and exports it), or
    /// the default cache if every set in `sets` is complete there.
    ///
    /// Otherwise, or with `RFLUME_JVM_TIER=0`: in CI (`CI` set) this panics, so the tier can never pass by skipping; on a
    /// developer's machine it prints why `test` is skipped and how to run it, and returns `None`.
    pub fn get(test: &str, sets: &[&str]) -> Option<Peers> {
        // `RFLUME_JVM_TIER=0` runs the fast tier alone (scripts/test.sh then fetches nothing).
        if std::env::var_os("RFLUME_JVM_TIER").is_some_and(|v| v == "0") {
            if super::in_ci() {
                panic!("{test}: RFLUME_JVM_TIER=0 in CI; CI must run the JVM tier");
            }
            eprintln!("SKIPPED (RFLUME_JVM_TIER=0): {test}");
            return None;
        }
        let from_env = std::env::var_os("RFLUME_PEERS").map(PathBuf::from);
        let root = from_env.clone().unwrap_or_else(default_cache);
        let missing: Vec<&str> = sets
            .iter()
            .copied()
            .filter(|s| !root.join(s).join(".complete").is_file())
            .collect();
        if missing.is_empty() {
            return Some(Peers { root });
        }
        let why = format!(
            "JVM peers {missing:?} are not in {} (RFLUME_PEERS {}); fetch them with \
             `bash scripts/fetch-peers.sh` (Maven Central, ~2.5 min cold) or run `bash scripts/test.sh`",
            root.display(),
            if from_env.is_some() { "set" } else { "unset" },
        );
        if super::in_ci() {
            panic!("{test}: {why}. CI must run the JVM tier, not skip it.");
        }
        eprintln!(
            "\n#################### SKIPPED: {test} ####################\n{why}\n\
             ###########################################################\n"
        );
        None
    }

    /// `java -cp` value for a set: its lib folder's jars.
    pub fn classpath(&self, set: &str) -> String {
        let lib = self.root.join(set).join("lib");
        assert!(lib.is_dir(), "peer set {set} missing: {}", lib.display());
        format!("{}/*", lib.display())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn default_cache() -> PathBuf {
    let tools = std::env::var_os("RFLUME_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/rflume")
        });
    tools.join("peers")
}

/// `$JAVA_HOME/bin/java` when set, else `java` from PATH (Java 17 on the project's machines).
fn java_bin() -> PathBuf {
    jdk_tool("java")
}

/// `$JAVA_HOME/bin/javac` when set, else `javac` from PATH: for the small Java jobs under
/// tests/peers/ that a test compiles against a peer's jars.
pub fn javac_bin() -> PathBuf {
    jdk_tool("javac")
}

fn jdk_tool(name: &str) -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin").join(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// `java` with the options every peer gets: a small heap, the serial collector (one GC thread
/// instead of one per core), C1 only (JIT warm-up dominates a test-length run), IPv4 loopback.
pub fn java(classpath: &str, heap_mb: u32) -> Command {
    let mut cmd = Command::new(java_bin());
    cmd.arg(format!("-Xmx{heap_mb}m"))
        .arg("-XX:+UseSerialGC")
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-XX:-UsePerfData")
        .arg("-Djava.awt.headless=true")
        .arg("-Djava.net.preferIPv4Stack=true")
        .arg("-cp")
        .arg(classpath);
    cmd
}

/// A log4j 1.x configuration printing everything at INFO to stdout (the process log file), with
/// the chattiest Kafka loggers at WARN.
fn write_log4j1(dir: &Path) -> PathBuf {
    let path = dir.join("log4j.properties");
    fs::write(
        &path,
        "log4j.rootLogger=INFO, stdout\n\
         log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.stdout.layout.ConversionPattern=%d{ISO8601} %p [%t] %c{1}: %m%n\n\
         log4j.logger.kafka.log=WARN\n\
         log4j.logger.state.change.logger=WARN\n\
         log4j.logger.org.apache.kafka.clients=WARN\n\
         log4j.logger.org.apache.zookeeper=WARN\n",
    )
    .expect("cannot write log4j.properties");
    path
}

/// A log4j 1.x configuration for command-line tools: warnings only, on stderr, because the
/// console consumer prints the records on stdout and log lines there would count as records.
fn write_log4j1_tools(dir: &Path) -> PathBuf {
    let path = dir.join("log4j-tools.properties");
    fs::write(
        &path,
        "log4j.rootLogger=WARN, stderr\n\
         log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.stderr.Target=System.err\n\
         log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.stderr.layout.ConversionPattern=%d{ISO8601} %p [%t] %c{1}: %m%n\n",
    )
    .expect("cannot write log4j-tools.properties");
    path
}

/// The same for log4j 2 (Flume 1.11).
fn write_log4j2(dir: &Path) -> PathBuf {
    let path = dir.join("log4j2.xml");
    fs::write(
        &path,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="ERROR">
  <Appenders>
    <Console name="Console" target="SYSTEM_OUT">
      <PatternLayout pattern="%d{ISO8601} %p [%t] %c{1}: %m%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="Console"/></Root>
  </Loggers>
</Configuration>
"#,
    )
    .expect("cannot write log4j2.xml");
    path
}

/// Runs a one-shot JVM tool to completion with a deadline; panics with its output on failure.
pub fn run_tool(what: &str, mut cmd: Command, dir: &Path) -> String {
    let log = dir.join(format!(
        "tool-{}.log",
        what.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    ));
    let _ = fs::remove_file(&log);
    cmd.current_dir(dir);
    let mut proc = Supervised::spawn(what, cmd, &log);
    let status = proc.wait_exit(TOOL_DEADLINE);
    let output = proc.log();
    match status {
        Some(s) if s.success() => output,
        Some(s) => panic!("{what} failed ({s}):\n{output}"),
        None => {
            proc.kill();
            panic!("{what} still running after {TOOL_DEADLINE:?}:\n{output}");
        }
    }
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("cannot create a temp dir")
}

// ---------------------------------------------------------------------------------------------
// ZooKeeper
// ---------------------------------------------------------------------------------------------

/// A standalone ZooKeeper 3.4.14 on a loopback port, stopped on drop.
pub struct ZooKeeper {
    proc: Supervised,
    port: u16,
    _dir: TempDir,
}

impl ZooKeeper {
    pub fn start(peers: &Peers) -> ZooKeeper {
        let dir = temp_dir("rflume-zk-");
        let log4j = write_log4j1(dir.path());
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            let cfg = dir.path().join("zoo.cfg");
            // clientPortAddress keeps it on loopback (the port-only form binds every interface);
            // a short tick makes session expiry of a killed broker quick.
            fs::write(
                &cfg,
                format!(
                    "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                     tickTime=500\nmaxClientCnxns=0\n",
                    dir.path().join("data").display()
                ),
            )
            .expect("cannot write zoo.cfg");
            let mut cmd = java(&peers.classpath(ZOOKEEPER_3_4), 128);
            cmd.arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                .arg(&cfg)
                .current_dir(dir.path());
            let mut proc = Supervised::spawn("zookeeper", cmd, &dir.path().join("zookeeper.log"));
            match wait_listening(&mut proc, port, ZOOKEEPER_START) {
                Ok(()) => {
                    return ZooKeeper {
                        proc,
                        port,
                        _dir: dir,
                    }
                }
                Err(why) => {
                    proc.kill();
                    failures.push(format!("port {port}: {why:?}"));
                }
            }
        }
        panic!(
            "zookeeper did not start: {}\n{}",
            failures.join("; "),
            fs::read_to_string(dir.path().join("zookeeper.log")).unwrap_or_default()
        );
    }

    pub fn connect(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Writes what a ZooKeeper-based Kafka broker registers when it starts — Kafka's broker JSON
    /// (version 4, one `PLAINTEXT` endpoint) at `CHROOT/brokers/ids/ID` — for a broker that is
    /// not a ZooKeeper-based Kafka (tansu), so that a Kafka source with `zookeeperConnect` finds
    /// it. `chroot` is `""` for the root. Persistent, not ephemeral as Kafka's: the node must
    /// outlive the client that wrote it.
    pub fn register_broker(&self, chroot: &str, id: i32, address: &str) {
        let (host, port) = address
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{address} is not host:port"));
        let json = format!(
            r#"{{"listener_security_protocol_map":{{"PLAINTEXT":"PLAINTEXT"}},"endpoints":["PLAINTEXT://{address}"],"jmx_port":-1,"host":"{host}","timestamp":"0","port":{port},"version":4}}"#
        );
        let dir = format!("{chroot}/brokers/ids");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build a tokio runtime");
        runtime.block_on(async {
            let client = zookeeper_client::Client::connector()
                .with_session_timeout(ZOOKEEPER_START)
                // 3.4 has no `create2` (the client's default create request).
                .with_server_version(3, 4, 14)
                .connect(&self.connect())
                .await
                .unwrap_or_else(|e| panic!("cannot connect to ZooKeeper {}: {e}", self.connect()));
            let persistent = zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all());
            client
                .mkdir(&dir, &persistent)
                .await
                .unwrap_or_else(|e| panic!("cannot create {dir} in ZooKeeper: {e}"));
            client
                .create(&format!("{dir}/{id}"), json.as_bytes(), &persistent)
                .await
                .unwrap_or_else(|e| panic!("cannot register broker {id} under {dir}: {e}"));
        });
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(30));
        }
        self.proc.stop(STOP_GRACE);
    }
}

// ---------------------------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------------------------

/// Which Apache Kafka a cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaVersion {
    /// 2.3.1 with ZooKeeper 3.4.14: the seed's cluster.
    V2_3_1,
    /// 3.9.1 in KRaft mode (no ZooKeeper): the last 3.x line.
    V3_9_1Kraft,
}

impl KafkaVersion {
    fn set(self) -> &'static str {
        match self {
            KafkaVersion::V2_3_1 => KAFKA_2_3,
            KafkaVersion::V3_9_1Kraft => KAFKA_3_9,
        }
    }

    /// The peer sets a cluster of this version needs.
    pub fn sets(self) -> &'static [&'static str] {
        match self {
            KafkaVersion::V2_3_1 => &[ZOOKEEPER_3_4, KAFKA_2_3],
            KafkaVersion::V3_9_1Kraft => &[KAFKA_3_9],
        }
    }

    fn topic_command(self) -> &'static str {
        match self {
            KafkaVersion::V2_3_1 => "kafka.admin.TopicCommand",
            KafkaVersion::V3_9_1Kraft => "org.apache.kafka.tools.TopicCommand",
        }
    }

    fn console_consumer(self) -> &'static str {
        match self {
            KafkaVersion::V2_3_1 => "kafka.tools.ConsoleConsumer",
            KafkaVersion::V3_9_1Kraft => "org.apache.kafka.tools.consumer.ConsoleConsumer",
        }
    }
}

struct BrokerNode {
    id: i32,
    port: u16,
    /// KRaft only: the node's controller listener.
    controller_port: u16,
    config: PathBuf,
    log: PathBuf,
    proc: Option<Supervised>,
}

/// A real Kafka cluster on loopback: `brokers` nodes (ids 1..=n), each with its own port and data
/// directory under one temp dir. Stopped (brokers, then ZooKeeper) on drop.
pub struct KafkaCluster {
    version: KafkaVersion,
    peers: Peers,
    dir: TempDir,
    log4j: PathBuf,
    log4j_tools: PathBuf,
    zookeeper: Option<ZooKeeper>,
    // Behind a mutex so a cluster shared by several tests (`shared`) can still restart a broker.
    nodes: Mutex<Vec<BrokerNode>>,
}

impl KafkaCluster {
    /// Starts `brokers` nodes of `version` with `extra` broker properties, and waits until every
    /// broker is registered in the cluster's metadata.
    pub fn start(
        peers: &Peers,
        version: KafkaVersion,
        brokers: usize,
        extra: &[(&str, &str)],
    ) -> KafkaCluster {
        let dir = temp_dir("rflume-kafka-");
        let log4j = write_log4j1(dir.path());
        let log4j_tools = write_log4j1_tools(dir.path());
        let zookeeper = (version == KafkaVersion::V2_3_1).then(|| ZooKeeper::start(peers));
        let ports: Vec<(u16, u16)> = (0..brokers).map(|_| (free_port(), free_port())).collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let replication = brokers.min(3).to_string();
        let mut nodes = Vec::new();
        for (i, &(port, controller_port)) in ports.iter().enumerate() {
            let id = i as i32 + 1;
            let data = dir.path().join(format!("data-{id}"));
            let mut props: Vec<(String, String)> = vec![
                ("log.dirs".into(), data.display().to_string()),
                ("num.partitions".into(), "1".into()),
                // The seed creates its topic with kafka-topics; a typo must not create another.
                ("auto.create.topics.enable".into(), "false".into()),
                (
                    "offsets.topic.replication.factor".into(),
                    replication.clone(),
                ),
                ("offsets.topic.num.partitions".into(), "4".into()),
                (
                    "transaction.state.log.replication.factor".into(),
                    replication.clone(),
                ),
                ("transaction.state.log.min.isr".into(), "1".into()),
                ("group.initial.rebalance.delay.ms".into(), "0".into()),
                // Fewer threads per broker: three brokers share 2 cores with the tests.
                ("num.network.threads".into(), "2".into()),
                ("num.io.threads".into(), "2".into()),
                ("background.threads".into(), "2".into()),
                ("num.replica.fetchers".into(), "1".into()),
                ("log.cleaner.threads".into(), "1".into()),
                ("log.cleaner.dedupe.buffer.size".into(), "2097152".into()),
            ];
            match version {
                KafkaVersion::V2_3_1 => {
                    props.extend([
                        ("broker.id".into(), id.to_string()),
                        ("listeners".into(), format!("PLAINTEXT://127.0.0.1:{port}")),
                        (
                            "zookeeper.connect".into(),
                            zookeeper.as_ref().unwrap().connect(),
                        ),
                        // The 2.3.1 default; named because failover time hangs on it: a killed
                        // broker's session expires after it and the controller moves leadership.
                        ("zookeeper.session.timeout.ms".into(), "6000".into()),
                    ]);
                }
                KafkaVersion::V3_9_1Kraft => {
                    props.extend([
                        ("process.roles".into(), "broker,controller".into()),
                        ("node.id".into(), id.to_string()),
                        ("controller.quorum.voters".into(), voters.clone()),
                        (
                            "listeners".into(),
                            format!(
                                "PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
                            ),
                        ),
                        (
                            "advertised.listeners".into(),
                            format!("PLAINTEXT://127.0.0.1:{port}"),
                        ),
                        ("controller.listener.names".into(), "CONTROLLER".into()),
                        (
                            "listener.security.protocol.map".into(),
                            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
                        ),
                        ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
                    ]);
                }
            }
            // `{port}` in a value is this node's PLAINTEXT port (for a `listeners` list that
            // adds secured listeners beside the one the harness talks to); `{zookeeper}` is the
            // ZooKeeper's `127.0.0.1:PORT` (for a `zookeeper.connect` with a chroot).
            let zk_connect = zookeeper.as_ref().map(|z| z.connect()).unwrap_or_default();
            for (k, v) in extra {
                props.retain(|(pk, _)| pk != k);
                props.push((
                    k.to_string(),
                    v.replace("{port}", &port.to_string())
                        .replace("{zookeeper}", &zk_connect),
                ));
            }
            let config = dir.path().join(format!("server-{id}.properties"));
            let text: String = props.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            fs::write(&config, text).expect("cannot write server.properties");
            nodes.push(BrokerNode {
                id,
                port,
                controller_port,
                config,
                log: dir.path().join(format!("broker-{id}.log")),
                proc: None,
            });
        }
        let cluster = KafkaCluster {
            version,
            peers: peers.clone(),
            dir,
            log4j,
            log4j_tools,
            zookeeper,
            nodes: Mutex::new(nodes),
        };
        if version == KafkaVersion::V3_9_1Kraft {
            cluster.format_kraft_storage();
        }
        // Start every node first, then wait: the JVMs warm up in parallel.
        let ids: Vec<i32> = cluster.nodes.lock().unwrap().iter().map(|n| n.id).collect();
        for &id in &ids {
            cluster.spawn_broker(id);
        }
        for &id in &ids {
            cluster.wait_broker_listening(id);
        }
        cluster.wait_brokers_registered(&ids.iter().copied().collect());
        cluster
    }

    /// One cluster for every test of this test binary that runs while another holds it: JVM
    /// brokers cost seconds each to start on 2 cores, and tests stay isolated by topic. Only a
    /// [`Weak`] is kept in the static, so the cluster is stopped when the last test holding it
    /// ends (statics are never dropped; a guard in one would leak the processes).
    pub fn shared(peers: &Peers, version: KafkaVersion, brokers: usize) -> Arc<KafkaCluster> {
        type Slot = Mutex<Vec<(KafkaVersion, usize, Weak<KafkaCluster>)>>;
        static SHARED: OnceLock<Slot> = OnceLock::new();
        let slot = SHARED.get_or_init(|| Mutex::new(Vec::new()));
        let mut clusters = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clusters
            .iter()
            .filter(|(v, n, _)| *v == version && *n == brokers)
            .find_map(|(_, _, w)| w.upgrade())
        {
            return c;
        }
        let cluster = Arc::new(KafkaCluster::start(peers, version, brokers, &[]));
        clusters.retain(|(_, _, w)| w.strong_count() > 0);
        clusters.push((version, brokers, Arc::downgrade(&cluster)));
        cluster
    }

    pub fn version(&self) -> KafkaVersion {
        self.version
    }

    /// Every broker's `127.0.0.1:PORT`, comma-separated (for `brokerList`/`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.nodes
            .lock()
            .unwrap()
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The cluster's ZooKeeper, `127.0.0.1:PORT` (2.3.1 only; `None` in KRaft mode).
    pub fn zookeeper_connect(&self) -> Option<String> {
        self.zookeeper.as_ref().map(|z| z.connect())
    }

    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes.lock().unwrap().iter().map(|n| n.id).collect()
    }

    fn format_kraft_storage(&self) {
        // The cluster id is any 16 bytes in URL-safe base64 without padding (what
        // `kafka-storage random-uuid` prints); derived from time and pid, unique enough here.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            ^ (u128::from(std::process::id()) << 64);
        let mut cluster_id = base64url(&seed.to_le_bytes());
        // A leading '-' would be read as an option by the tool's argument parser ("argument
        // --cluster-id/-t: expected one argument", 1 run in 64); Kafka's own random-uuid
        // avoids it the same way. Any other first character keeps 16 valid bytes.
        if cluster_id.starts_with('-') {
            cluster_id.replace_range(..1, "A");
        }
        let configs: Vec<PathBuf> = self
            .nodes
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.config.clone())
            .collect();
        // One StorageTool JVM per node, run in parallel.
        let handles: Vec<_> = configs
            .into_iter()
            .map(|config| {
                let mut cmd = java(&self.peers.classpath(KAFKA_3_9), 128);
                cmd.arg(format!(
                    "-Dlog4j.configuration=file:{}",
                    self.log4j_tools.display()
                ))
                .arg("kafka.tools.StorageTool")
                .args(["format", "--ignore-formatted", "-t", &cluster_id, "-c"])
                .arg(&config);
                let dir = self.dir.path().to_path_buf();
                let what = format!("kafka-storage format {}", config.display());
                std::thread::spawn(move || run_tool(&what, cmd, &dir))
            })
            .collect();
        for h in handles {
            h.join().expect("kafka-storage format panicked");
        }
    }

    fn spawn_broker(&self, id: i32) {
        let mut nodes = self.nodes.lock().unwrap();
        let node = nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such broker");
        let mut cmd = java(&self.peers.classpath(self.version.set()), BROKER_HEAP_MB);
        cmd.arg(format!(
            "-Dlog4j.configuration=file:{}",
            self.log4j.display()
        ))
        .arg("kafka.Kafka")
        .arg(&node.config)
        .current_dir(self.dir.path());
        node.proc = Some(Supervised::spawn(
            &format!("kafka broker {id}"),
            cmd,
            &node.log,
        ));
    }

    fn wait_broker_listening(&self, id: i32) {
        let mut nodes = self.nodes.lock().unwrap();
        let node = nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such broker");
        let port = node.port;
        let proc = node.proc.as_mut().expect("broker not started");
        if let Err(why) = wait_listening(proc, port, BROKER_START) {
            panic!(
                "kafka broker {id} ({:?}) did not listen on {port}: {why:?}\n{}",
                self.version,
                proc.log_tail(60)
            );
        }
    }

    /// Waits until the cluster's metadata lists exactly the brokers `ids`.
    fn wait_brokers_registered(&self, ids: &BTreeSet<i32>) {
        let bootstrap = self.bootstrap();
        let mut seen = BTreeSet::new();
        let ok = poll_until(BROKER_START, || {
            seen = metadata_brokers(&bootstrap);
            &seen == ids
        });
        if !ok {
            panic!(
                "cluster metadata lists brokers {seen:?}, expected {ids:?}\n{}",
                self.logs_tail(40)
            );
        }
    }

    /// Creates `topic` with Kafka's own `kafka-topics` (its main class through `java -cp`, as the
    /// seed's setup does with kafka-topics.sh), then waits until every partition has a leader and
    /// `replication` in-sync replicas.
    pub fn create_topic_with_tool(
        &self,
        topic: &str,
        partitions: i32,
        replication: usize,
        configs: &[(&str, &str)],
    ) {
        let mut cmd = java(&self.peers.classpath(self.version.set()), 128);
        cmd.arg(format!(
            "-Dlog4j.configuration=file:{}",
            self.log4j_tools.display()
        ))
        .arg(self.version.topic_command())
        .args(["--bootstrap-server", &self.bootstrap()])
        .args(["--create", "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .args(["--replication-factor", &replication.to_string()]);
        for (k, v) in configs {
            cmd.args(["--config", &format!("{k}={v}")]);
        }
        run_tool(
            &format!("kafka-topics --create {topic}"),
            cmd,
            self.dir.path(),
        );
        self.wait_partitions_in_sync(topic, partitions, replication);
    }

    /// Adds a SCRAM user (SHA-256 and SHA-512 credentials) with Kafka's own `kafka-configs`
    /// through ZooKeeper, as an operator of a 2.3 cluster does.
    pub fn add_scram_user(&self, user: &str, password: &str) {
        let zk = self
            .zookeeper
            .as_ref()
            .expect("SCRAM users through ZooKeeper need the 2.3.1 cluster")
            .connect();
        let mut cmd = java(&self.peers.classpath(self.version.set()), 128);
        cmd.arg(format!(
            "-Dlog4j.configuration=file:{}",
            self.log4j_tools.display()
        ))
        .arg("kafka.admin.ConfigCommand")
        .args(["--zookeeper", &zk, "--alter"])
        .args([
            "--add-config",
            &format!("SCRAM-SHA-256=[password={password}],SCRAM-SHA-512=[password={password}]"),
        ])
        .args(["--entity-type", "users", "--entity-name", user]);
        run_tool(&format!("kafka-configs SCRAM {user}"), cmd, self.dir.path());
    }

    /// Creates `topic` through the admin API (faster than a tool JVM; for the differential tests).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        super::kafka::create_topic(&self.bootstrap(), topic, partitions);
        self.wait_partitions_in_sync(topic, partitions, 1);
    }

    /// Waits until each of the topic's `partitions` partitions has a leader and at least
    /// `replication` replicas in sync.
    pub fn wait_partitions_in_sync(&self, topic: &str, partitions: i32, replication: usize) {
        let bootstrap = self.bootstrap();
        wait_until_or_explain(
            BROKER_START,
            &format!(
                "{topic}: {partitions} partitions with a leader and {replication} in-sync replicas"
            ),
            || {
                let parts = partition_states(&bootstrap, topic);
                parts.len() == partitions as usize
                    && parts
                        .iter()
                        .all(|p| p.leader > 0 && p.isr.len() >= replication)
            },
            || self.logs_tail(30),
        );
    }

    /// The leader of `topic`'s partition `partition` per the metadata, if it has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        partition_states(&self.bootstrap(), topic)
            .into_iter()
            .find(|p| p.id == partition)
            .map(|p| p.leader)
            .filter(|&l| l > 0)
    }

    /// The in-sync replicas of `topic`'s partition per the metadata.
    pub fn isr(&self, topic: &str, partition: i32) -> Vec<i32> {
        partition_states(&self.bootstrap(), topic)
            .into_iter()
            .find(|p| p.id == partition)
            .map(|p| p.isr)
            .unwrap_or_default()
    }

    /// SIGKILL of one broker: a crashed host. Its data directory stays for [`Self::restart_broker`].
    pub fn kill_broker(&self, id: i32) {
        let mut nodes = self.nodes.lock().unwrap();
        let node = nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("no such broker");
        if let Some(p) = node.proc.as_mut() {
            p.kill();
        }
    }

    /// Starts a killed broker again on its port and data directory, and waits until it is back
    /// in the cluster's metadata.
    pub fn restart_broker(&self, id: i32) {
        // The killed JVM's listening socket is gone once it is reaped; Kafka binds with
        // SO_REUSEADDR, so no TIME_WAIT stands in the way. A retry covers a slow release anyway.
        let (port, old_pid) = {
            let nodes = self.nodes.lock().unwrap();
            let n = nodes.iter().find(|n| n.id == id).expect("no such broker");
            (n.port, n.proc.as_ref().map(|p| p.pid()))
        };
        if let Some(pid) = old_pid {
            assert!(
                !listens_on(pid, port),
                "broker {id} still runs; kill it first"
            );
        }
        self.spawn_broker(id);
        self.wait_broker_listening(id);
        self.wait_brokers_registered(&self.broker_ids().into_iter().collect());
    }

    /// Reads `topic` with Kafka's own console consumer (`--from-beginning`), which exits once no
    /// record came for `idle` (`--timeout-ms`), and returns the values it printed, one per line.
    pub fn console_consume(&self, topic: &str, idle: Duration) -> Vec<String> {
        let mut cmd = java(&self.peers.classpath(self.version.set()), 256);
        cmd.arg(format!(
            "-Dlog4j.configuration=file:{}",
            self.log4j_tools.display()
        ))
        .arg(self.version.console_consumer())
        .args(["--bootstrap-server", &self.bootstrap()])
        .args(["--topic", topic, "--from-beginning"])
        .args(["--timeout-ms", &idle.as_millis().to_string()])
        // Its group's offsets are irrelevant; each call reads from the start.
        .args(["--group", &format!("console-{topic}-{}", unique())]);
        let out_path = self
            .dir
            .path()
            .join(format!("console-{topic}-{}.out", unique()));
        let out = fs::File::create(&out_path).expect("cannot create console consumer output");
        let err_path = out_path.with_extension("err");
        let err = fs::File::create(&err_path).expect("cannot create console consumer log");
        cmd.stdout(out)
            .stderr(err)
            .stdin(std::process::Stdio::null());
        let mut child = cmd.spawn().expect("cannot start the console consumer");
        // It runs at least `idle` after the last record; the deadline bounds a hung consumer.
        let deadline = Instant::now() + idle + TOOL_DEADLINE;
        let status = loop {
            if let Some(s) = child.try_wait().expect("waitpid failed") {
                break Some(s);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = fs::read_to_string(&err_path).unwrap_or_default();
        // It exits 0 after "Processed a total of N messages" also when the timeout ends it.
        match status {
            Some(s) if s.success() => {}
            other => panic!("console consumer on {topic} failed ({other:?}):\n{log}"),
        }
        fs::read_to_string(&out_path)
            .expect("cannot read console consumer output")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The last lines of every broker's log, for panic messages.
    pub fn logs_tail(&self, n: usize) -> String {
        self.nodes
            .lock()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|node| node.proc.as_ref().map(|p| p.log_tail(n)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if std::thread::panicking() {
            for n in nodes.iter() {
                if let Some(p) = &n.proc {
                    eprintln!("{}", p.log_tail(30));
                }
            }
        }
        // SIGTERM to all first, then wait for each: a controlled shutdown of one broker waits
        // for the others, so stopping them one by one would take the sum of the waits.
        for n in nodes.iter_mut() {
            if let Some(p) = n.proc.as_mut() {
                p.signal(libc::SIGTERM);
            }
        }
        for n in nodes.iter_mut() {
            if let Some(p) = n.proc.as_mut() {
                p.stop(STOP_GRACE);
            }
        }
        // ZooKeeper last (its field drops after this), so the brokers could deregister.
    }
}

struct PartitionState {
    id: i32,
    leader: i32,
    isr: Vec<i32>,
}

fn metadata_consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        // Quiet: brokers that are down are expected in failover tests.
        .set("log_level", "3")
        .create()
        .expect("cannot create an rdkafka consumer")
}

fn metadata_brokers(bootstrap: &str) -> BTreeSet<i32> {
    metadata_consumer(bootstrap)
        .fetch_metadata(None, Duration::from_secs(5))
        .map(|m| m.brokers().iter().map(|b| b.id()).collect())
        .unwrap_or_default()
}

fn partition_states(bootstrap: &str, topic: &str) -> Vec<PartitionState> {
    let Ok(m) = metadata_consumer(bootstrap).fetch_metadata(Some(topic), Duration::from_secs(5))
    else {
        return Vec::new();
    };
    m.topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions())
        .filter(|p| p.error().is_none())
        .map(|p| PartitionState {
            id: p.id(),
            leader: p.leader(),
            isr: p.isr().to_vec(),
        })
        .collect()
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A process-wide counter for unique names (topics, groups, files).
pub fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------------
// Flume
// ---------------------------------------------------------------------------------------------

/// Which Apache Flume runs as the oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlumeVersion {
    V1_9_0,
    V1_11_0,
}

impl FlumeVersion {
    pub fn set(self) -> &'static str {
        match self {
            FlumeVersion::V1_9_0 => FLUME_1_9,
            FlumeVersion::V1_11_0 => FLUME_1_11,
        }
    }
}

/// A real Flume agent (`org.apache.flume.node.Application --no-reload-conf`), killed with every
/// process it started (an exec source's `tail -F`) on drop.
pub struct FlumeAgent {
    proc: Supervised,
    dir: TempDir,
    version: FlumeVersion,
    seen_descendants: Vec<ProcId>,
}

impl FlumeAgent {
    /// `flume-ng agent --conf-file <tmp>/flume.conf --name NAME -Dflume.root.logger=INFO,console`
    /// without the start script: `java -cp '<flume>/lib/*' org.apache.flume.node.Application`.
    pub fn start(peers: &Peers, version: FlumeVersion, config: &str, name: &str) -> FlumeAgent {
        Self::start_with(peers, version, config, name, &[])
    }

    /// As `start`, with more `-D` options before the main class (e.g. Flume's monitoring flags).
    pub fn start_with(
        peers: &Peers,
        version: FlumeVersion,
        config: &str,
        name: &str,
        jvm_options: &[String],
    ) -> FlumeAgent {
        Self::start_with_sets(peers, version, config, name, jvm_options, &[])
    }

    /// As `start_with`, with the jars of more peer sets after Flume's own (a Flume module the
    /// version's set lacks, e.g. `flume-kafka-channel`).
    pub fn start_with_sets(
        peers: &Peers,
        version: FlumeVersion,
        config: &str,
        name: &str,
        jvm_options: &[String],
        extra_sets: &[&str],
    ) -> FlumeAgent {
        let dir = temp_dir("rflume-flume-");
        let conf = dir.path().join("flume.conf");
        fs::write(&conf, config).expect("cannot write the Flume config");
        let mut classpath = peers.classpath(version.set());
        for set in extra_sets {
            classpath.push(':');
            classpath.push_str(&peers.classpath(set));
        }
        let mut cmd = java(&classpath, 256);
        match version {
            FlumeVersion::V1_9_0 => {
                let log4j = write_log4j1(dir.path());
                cmd.arg(format!("-Dlog4j.configuration=file:{}", log4j.display()));
            }
            FlumeVersion::V1_11_0 => {
                let log4j = write_log4j2(dir.path());
                cmd.arg(format!("-Dlog4j.configurationFile={}", log4j.display()));
            }
        }
        cmd.arg("-Dflume.root.logger=INFO,console")
            .args(jvm_options)
            .arg("org.apache.flume.node.Application")
            .arg("--name")
            .arg(name)
            .arg("--conf-file")
            .arg(&conf)
            .arg("--no-reload-conf")
            .current_dir(dir.path());
        let log = dir.path().join("flume.log");
        let proc = Supervised::spawn(&format!("flume {version:?}"), cmd, &log);
        let mut agent = FlumeAgent {
            proc,
            dir,
            version,
            seen_descendants: Vec::new(),
        };
        // Application starts channels, then sinks, then sources, and logs each; an agent without
        // sinks (a source filling a Kafka channel) has sources last.
        let last = if config.lines().any(|l| l.contains(".sinks =")) {
            "Starting Sink"
        } else {
            "Starting Source"
        };
        agent.wait_for_log(FLUME_START, last);
        agent
    }

    pub fn version(&self) -> FlumeVersion {
        self.version
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }

    /// Pids of the processes the agent started (exec sources' commands) that are alive now.
    pub fn descendant_pids(&self) -> Vec<u32> {
        descendants(self.pid()).iter().map(|p| p.pid).collect()
    }

    #[track_caller]
    pub fn wait_for_log(&mut self, deadline: Duration, needle: &str) {
        let proc = &mut self.proc;
        let mut exited = None;
        poll_until(deadline, || {
            exited = exited.or_else(|| proc.try_wait());
            proc.log().contains(needle) || exited.is_some()
        });
        if !self.proc.log().contains(needle) {
            panic!(
                "Flume {:?} never logged {needle:?} ({})\n{}",
                self.version,
                match exited {
                    Some(s) => format!("it exited: {s}"),
                    None => format!("timed out after {deadline:?}"),
                },
                self.proc.log_tail(80)
            );
        }
    }

    /// Waits until `cond` holds; a timeout panics with `what` and Flume's log.
    #[track_caller]
    pub fn wait_until(&self, deadline: Duration, what: &str, cond: impl FnMut() -> bool) {
        wait_until_or_explain(deadline, what, cond, || self.proc.log_tail(80));
    }

    /// SIGTERM (Flume's shutdown hook stops sources, sinks, channels; TAILDIR writes its
    /// positions) and waits up to `grace` for the JVM to exit, then SIGKILL. Returns whether it
    /// exited by itself.
    ///
    /// Flume's own stop can hang: an exec source run through `shell = /bin/sh -c` destroys the
    /// shell, but its `tail` child keeps the pipe open and Flume's reader thread waits on it, so
    /// callers that only need the agent gone pass a short grace.
    pub fn stop(&mut self, grace: Duration) -> bool {
        self.seen_descendants.extend(descendants(self.pid()));
        self.proc.signal(libc::SIGTERM);
        let exited = self.proc.wait_exit(grace).is_some();
        if !exited {
            self.proc.kill();
        }
        exited
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.is_running()
    }
}

impl Drop for FlumeAgent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_tail(60));
        }
        self.proc.signal(libc::SIGSTOP);
        if self.proc.is_running() {
            self.seen_descendants.extend(descendants(self.pid()));
        }
        self.proc.kill();
        for p in &self.seen_descendants {
            p.kill();
        }
        poll_until(Duration::from_secs(10), || {
            self.seen_descendants.iter().all(|p| !p.alive())
        });
    }
}

/// The `Event: { headers:{…} body: … }` text of every logger-sink line in a Flume or rflume log,
/// in order (the prefix before `Event:` and rflume's trailing span fields removed).
pub fn logger_events(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let start = line.find("Event: { headers:")?;
            let rest = &line[start..];
            let end = rest.rfind(" }")?;
            Some(rest[..end + 2].to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Spark 2.4 on Java 17
// ---------------------------------------------------------------------------------------------

/// What Spark 2.4.8 needs to run on Java 17 (it supports Java 8 only), measured here by adding
/// one option per failure until 5000 events went through the Flume receiver and a counting job:
/// * `java.lang`: the first task dies with `InaccessibleObjectException: Unable to make field
///   private final byte[] java.lang.String.value accessible` (SizeEstimator).
/// * `java.util`: the receiver's block pushing thread dies on `java.util.AbstractMap.keySet`.
/// * `java.nio`: then on `java.nio.Buffer.segment` (the events' body buffers).
///
/// One more limit no option lifts: Spark 2.4's ClosureCleaner reads class files with ASM 6,
/// which stops at Java 10's, so a closure that calls a method of its enclosing RDD (`collect()`
/// does) fails with `Unsupported class file major version 61` once the walk reaches
/// `java.lang.Object`. The Java jobs under tests/peers/ avoid such actions.
pub const SPARK_2_4_JAVA_17_OPTIONS: &[&str] = &[
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
];

/// `java -cp` value for a Spark 2.4.8 job with the Flume receiver: the whole of Spark 2.4.8
/// (PyPI pyspark==2.4.8's deps/jars, the same install as the HDFS tests', `jars`), then the
/// [`SPARK_2_4_FLUME`] set's jars that Spark does not already ship in some version.
pub fn spark_2_4_classpath(peers: &Peers, spark_jars: &Path) -> String {
    let extra = jars_not_bundled(&peers.root().join(SPARK_2_4_FLUME).join("lib"), spark_jars);
    assert!(
        extra
            .iter()
            .any(|j| j.to_string_lossy().contains("spark-streaming-flume_")),
        "the Flume receiver is not among {extra:?}"
    );
    let mut cp = vec![format!("{}/*", spark_jars.display())];
    cp.extend(extra.iter().map(|p| p.display().to_string()));
    cp.join(":")
}

/// The jars of `lib` whose artifact is not in `bundled` (a distribution's jars folder): the same
/// artifact twice in two versions would clash on one classpath, and the distribution's wins.
pub fn jars_not_bundled(lib: &Path, bundled: &Path) -> Vec<PathBuf> {
    let names = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jar"))
            .collect();
        v.sort();
        v
    };
    let file = |p: &Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let have: BTreeSet<String> = names(bundled)
        .iter()
        .map(|p| artifact_name(&file(p)))
        .collect();
    names(lib)
        .into_iter()
        .filter(|p| !have.contains(&artifact_name(&file(p))))
        .collect()
}

/// `kafka-clients-3.4.1.jar` → `kafka-clients`.
pub fn artifact_name(file: &str) -> String {
    let stem = file.strip_suffix(".jar").unwrap_or(file);
    match stem
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)
    {
        Some(i) => stem[..i].to_string(),
        None => stem.to_string(),
    }
}
