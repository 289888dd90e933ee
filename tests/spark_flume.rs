//! The seed's "Spark Streaming pulls from Flume", as Spark 2.4 did it: Spark's push-based Flume
//! receiver (`FlumeUtils.createStream`, an Avro RPC server that implements Flume's
//! `AvroSourceProtocol`, written by the Spark project) receives from rflume's avro sink, and a
//! DStream job counts the lines, word-count style, while rflume is restarted in the middle of the
//! stream. A consumer of Flume's protocol that no one here wrote.
//!
//! Spark 2.4.8 comes from PyPI's pyspark==2.4.8 (scripts/install-hadoop.sh, shared with the HDFS
//! tests), the receiver (spark-streaming-flume 2.4.7, the last on Maven Central) and flume-ng-sdk
//! from tests/peers/spark-2.4.8-flume (scripts/fetch-peers.sh). The job is
//! tests/peers/spark-2.4.8-flume/FlumeLineCount.java, compiled here with `javac --release 8`
//! (pyspark 2.4 cannot be imported on Python 3.11), run on Java 17 with
//! [`SPARK_2_4_JAVA_17_OPTIONS`].
//!
//! At least once across the restart: the avro sink's take commits only after the receiver
//! answered `OK`, TAILDIR resumes from its position file. Judged after the agent stopped: Spark
//! has counted exactly the events the sink's two runs report delivered, every line written is
//! among them, and duplicates are counted and shown.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::hdfs::hadoop_jars;
use common::jvm::{
    java, javac_bin, run_tool, spark_2_4_classpath, Peers, SPARK_2_4_FLUME,
    SPARK_2_4_JAVA_17_OPTIONS,
};
use common::process::listens_on;
use common::*;

/// The receiver listens 20–25 s after `java` starts here alone; generous for 2 busy cores.
const SPARK_READY: Duration = Duration::from_secs(240);
const DELIVERY: Duration = Duration::from_secs(180);
const LINES_PER_PHASE: usize = 1500;
const JOB: &str = "FlumeLineCount";

#[test]
fn spark_flume_receiver_counts_every_line_across_an_agent_restart() {
    let test = "spark streaming 2.4 flume receiver line count";
    let Some(peers) = Peers::get(test, &[SPARK_2_4_FLUME]) else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("rflume-spark-flume-")
        .tempdir()
        .unwrap();
    let spark = Receiver::start(&peers, work.path(), false);
    let port = spark.port;

    let logs = work.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let log = logs.join("app.log");
    let config = format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = TAILDIR\n\
         a1.sources.r1.channels = c1\n\
         a1.sources.r1.positionFile = {}\n\
         a1.sources.r1.filegroups = f1\n\
         a1.sources.r1.filegroups.f1 = {}\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 10000\n\
         a1.sinks.k1.type = avro\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\n",
        work.path().join("taildir_position.json").display(),
        log.display(),
    );
    let counts = || spark.counts();

    let line = |i: usize| format!("{i:05} GET /index.html HTTP/1.1 200");
    let mut agent = Agent::start(&config, "a1");
    append_lines(&log, (0..LINES_PER_PHASE).map(line));
    spark
        .job
        .wait_until(DELIVERY, "Spark counted the first lines", || {
            counts().len() >= LINES_PER_PHASE / 2
        });
    // Restart the agent in the middle of the stream: lines keep arriving while it is down.
    append_lines(&log, (LINES_PER_PHASE..LINES_PER_PHASE + 500).map(line));
    agent.stop_cleanly();
    let first_run = delivered(&agent);
    append_lines(&log, (LINES_PER_PHASE + 500..2 * LINES_PER_PHASE).map(line));
    let mut agent = Agent::start(&config, "a1");
    append_lines(&log, (2 * LINES_PER_PHASE..3 * LINES_PER_PHASE).map(line));

    let total = 3 * LINES_PER_PHASE;
    spark
        .job
        .wait_until(DELIVERY, "Spark counted every line", || {
            counts().len() >= total
        });
    // Judged once nothing more can arrive: the agent stopped, and Spark has counted every event
    // the sink's two runs were answered OK for (a resent batch is counted by both the sink and
    // Spark, so duplicates show up on both sides).
    agent.stop_cleanly();
    let delivered = first_run + delivered(&agent);
    spark.wait_counted(delivered);

    let counts = counts();
    let written: BTreeSet<String> = (0..total).map(line).collect();
    let missing: Vec<&String> = written
        .iter()
        .filter(|l| !counts.contains_key(*l))
        .collect();
    let unknown: Vec<&String> = counts.keys().filter(|l| !written.contains(*l)).collect();
    let counted: u64 = counts.values().sum();
    let twice: Vec<(&String, &u64)> = counts.iter().filter(|(_, &n)| n > 1).collect();
    eprintln!(
        "spark flume receiver: {total} lines written, {delivered} events delivered by the avro \
         sink in two runs, {counted} counted by Spark, {} lines counted more than once",
        twice.len()
    );
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "Spark's counts: {} distinct lines of {total}; missing {:?}…; not written {:?}…",
        counts.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        unknown.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        counted,
        delivered,
        "Spark counted {counted} events, the avro sink delivered {delivered}; counted more than \
         once: {:?}…",
        twice.iter().take(5).collect::<Vec<_>>()
    );
}

/// rflume's deflate (`compression-type = deflate`) against Spark's own decompression
/// (`enableDecompression`, Netty's zlib codec in the receiver's server pipeline).
#[test]
fn spark_flume_receiver_decompresses_the_avro_sinks_deflate() {
    let test = "spark streaming 2.4 flume receiver with deflate";
    let Some(peers) = Peers::get(test, &[SPARK_2_4_FLUME]) else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("rflume-spark-flume-deflate-")
        .tempdir()
        .unwrap();
    let spark = Receiver::start(&peers, work.path(), true);
    let total = 3000;
    let mut agent = Agent::start(
        &format!(
            "a1.sources = r1\n\
             a1.channels = c1\n\
             a1.sinks = k1\n\
             a1.sources.r1.type = seq\n\
             a1.sources.r1.totalEvents = {total}\n\
             a1.sources.r1.channels = c1\n\
             a1.channels.c1.type = memory\n\
             a1.channels.c1.capacity = 10000\n\
             a1.sinks.k1.type = avro\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.hostname = 127.0.0.1\n\
             a1.sinks.k1.port = {}\n\
             a1.sinks.k1.compression-type = deflate\n\
             a1.sinks.k1.compression-level = 9\n",
            spark.port
        ),
        "a1",
    );
    spark
        .job
        .wait_until(DELIVERY, "Spark counted every event", || {
            spark.counts().len() >= total
        });
    agent.stop_cleanly();
    let delivered = delivered(&agent);
    spark.wait_counted(delivered);
    let counts = spark.counts();
    let expected: BTreeMap<String, u64> = (0..total).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(delivered, total as u64, "{}", agent.log());
    assert!(
        counts == expected,
        "Spark's counts differ from seq's 0..{total} once each: {} distinct, {} counted; first \
         differences {:?}",
        counts.len(),
        counts.values().sum::<u64>(),
        counts
            .iter()
            .filter(|(k, n)| expected.get(*k) != Some(n))
            .take(5)
            .collect::<Vec<_>>()
    );
}

/// Events the avro sink was answered `OK` for in one run of the agent (its stop totals).
fn delivered(agent: &Agent) -> u64 {
    agent.stop_totals("SINK.k1")["EventDrainSuccessCount"]
}

/// The job with Spark's receiver on a free loopback port, stopped (process tree) on drop.
struct Receiver {
    job: Agent,
    port: u16,
    out: std::path::PathBuf,
}

impl Receiver {
    /// Compiles the job against Spark 2.4.8 with the receiver, starts it on `127.0.0.1:port` and
    /// waits until the receiver listens; `deflate`: the receiver's `enableDecompression`.
    fn start(peers: &Peers, work: &Path, deflate: bool) -> Receiver {
        let classpath = spark_2_4_classpath(peers, hadoop_jars());
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(SPARK_2_4_FLUME)
            .join(format!("{JOB}.java"));
        let classes = work.join("classes");
        fs::create_dir_all(&classes).unwrap();
        let mut javac = std::process::Command::new(javac_bin());
        // Java 8 class files: Spark 2.4's ClosureCleaner reads the job's classes with ASM 6.
        javac
            .args(["--release", "8", "-nowarn", "-cp", &classpath, "-d"])
            .arg(&classes)
            .arg(&source);
        run_tool("javac FlumeLineCount", javac, work);

        let out = work.join("spark-out");
        fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let mut cmd = java(&format!("{}:{classpath}", classes.display()), SPARK_HEAP_MB);
        cmd.args(SPARK_2_4_JAVA_17_OPTIONS)
            .arg(JOB)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(&out)
            .args(deflate.then_some("deflate"))
            // Spark picks the host's first non-loopback address otherwise (and warns).
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env_remove("SPARK_HOME");
        // The agent guard runs any command and kills its process tree on drop.
        let dir = tempfile::Builder::new()
            .prefix("rflume-spark-driver-")
            .tempdir()
            .unwrap();
        let job = Agent::spawn(dir, cmd);
        job.wait_until(SPARK_READY, "Spark's Flume receiver listens", || {
            listens_on(job.pid(), port)
        });
        Receiver { job, port, out }
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        read_counts(&self.out.join("counts.tsv"))
    }

    /// Waits until Spark has counted `delivered` events (or more).
    fn wait_counted(&self, delivered: u64) {
        self.job.wait_until(
            DELIVERY,
            &format!("Spark counted all {delivered} events the avro sink delivered"),
            || self.counts().values().sum::<u64>() >= delivered,
        );
    }
}

/// Driver, executor and receiver in one JVM: a few thousand short lines need little.
const SPARK_HEAP_MB: u32 = 512;

/// `count\tline` rows of the job's running table; missing or half-written means nothing yet
/// (the job replaces the file atomically, so a partial table is never read).
fn read_counts(path: &Path) -> BTreeMap<String, u64> {
    let Ok(text) = fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|row| row.split_once('\t'))
        .filter_map(|(n, line)| Some((line.to_string(), n.parse().ok()?)))
        .collect()
}
