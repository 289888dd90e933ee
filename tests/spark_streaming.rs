//! The seed's last hop: "Spark Streaming pulls from Kafka". A Spark 3.5 Structured Streaming job
//! (PyPI `pyspark` plus Maven Central's `spark-sql-kafka-0-10`, fetched by scripts/fetch-peers.sh)
//! counts the lines of the topic rflume feeds, word-count style, while rflume is restarted in the
//! middle of the stream. Every line must be counted exactly once: nothing lost, nothing shipped
//! twice across the restart (TAILDIR resumes from its position file), as seen by a consumer that
//! is not a test helper.
//!
//! The broker is a real Kafka 2.3.1 (the seed's); Spark's Kafka client is 3.4.1.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::jvm::{jars_not_bundled, KafkaCluster, KafkaVersion, Peers};
use common::*;

const SPARK: &str = "spark-3.5.1";
/// Spark's first micro-batch comes 15–40 s after `python3` starts on 2 busy cores.
const SPARK_READY: Duration = Duration::from_secs(240);
const DELIVERY: Duration = Duration::from_secs(180);
const LINES_PER_PHASE: usize = 1500;

#[test]
fn spark_counts_every_line_once_across_an_agent_restart() {
    let test = "spark structured streaming line count";
    let Some(peers) = Peers::get(test, &[SPARK, "zookeeper-3.4.14", "kafka-2.3.1"]) else {
        return;
    };
    let cluster = KafkaCluster::start(&peers, KafkaVersion::V2_3_1, 1, &[]);
    let topic = "HelloKafka";
    cluster.create_topic(topic, 2);

    let work = tempfile::Builder::new()
        .prefix("rflume-spark-")
        .tempdir()
        .unwrap();
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
         a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.kafka.bootstrap.servers = {}\n\
         a1.sinks.k1.kafka.topic = {topic}\n",
        work.path().join("taildir_position.json").display(),
        log.display(),
        cluster.bootstrap()
    );

    let out = work.path().join("spark-out");
    fs::create_dir_all(&out).unwrap();
    let spark = start_spark(&peers, &cluster.bootstrap(), topic, &out, work.path());
    let counts = || read_counts(&out.join("counts.json"));
    spark.wait_until(SPARK_READY, "Spark's first micro-batch", || {
        out.join("counts.json").exists()
    });

    let line = |i: usize| format!("{i:05} GET /index.html HTTP/1.1 200");
    let mut agent = Agent::start(&config, "a1");
    append_lines(&log, (0..LINES_PER_PHASE).map(line));
    spark.wait_until(DELIVERY, "Spark counted the first lines", || {
        counts().len() >= LINES_PER_PHASE / 2
    });
    // Restart the agent in the middle of the stream: lines keep arriving while it is down.
    append_lines(&log, (LINES_PER_PHASE..LINES_PER_PHASE + 500).map(line));
    agent.sigterm();
    assert!(
        agent
            .wait_exit(Duration::from_secs(60))
            .is_some_and(|s| s.success()),
        "the agent stops cleanly"
    );
    append_lines(&log, (LINES_PER_PHASE + 500..2 * LINES_PER_PHASE).map(line));
    let mut agent = Agent::start(&config, "a1");
    append_lines(&log, (2 * LINES_PER_PHASE..3 * LINES_PER_PHASE).map(line));

    let total = 3 * LINES_PER_PHASE;
    spark.wait_until(DELIVERY, "Spark counted every line", || {
        counts().values().sum::<u64>() >= total as u64
    });
    // Judged once nothing more can arrive: the agent stopped, and Spark has counted every record
    // the topic holds (a duplicate would be one more record, and so one more count).
    agent.sigterm();
    assert!(
        agent
            .wait_exit(Duration::from_secs(60))
            .is_some_and(|s| s.success()),
        "the agent stops cleanly"
    );
    let in_kafka = consume_all(&cluster.bootstrap(), topic, 2, total, DELIVERY).len();
    spark.wait_until(
        DELIVERY,
        &format!("Spark counted all {in_kafka} records of the topic"),
        || counts().values().sum::<u64>() >= in_kafka as u64,
    );

    let counts = counts();
    let missing: Vec<String> = (0..total)
        .map(line)
        .filter(|l| !counts.contains_key(l))
        .collect();
    let twice: Vec<(&String, &u64)> = counts.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        missing.is_empty() && twice.is_empty() && counts.len() == total,
        "Spark's counts: {} distinct lines of {total}; missing {:?}…; counted more than once {:?}…",
        counts.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        twice.iter().take(5).collect::<Vec<_>>()
    );
}

/// `python3 count_lines.py` with the pip-installed pyspark and the Kafka connector's jars that
/// pyspark does not already ship (same artifact in another version would clash).
fn start_spark(peers: &Peers, bootstrap: &str, topic: &str, out: &Path, work: &Path) -> Agent {
    let set = peers.root().join(SPARK);
    let site = set.join("site");
    let jars = jars_not_bundled(&set.join("lib"), &site.join("pyspark/jars"));
    let jars: Vec<String> = jars.iter().map(|p| p.display().to_string()).collect();
    assert!(
        jars.iter().any(|j| j.contains("spark-sql-kafka-0-10")),
        "the Kafka connector is not among {jars:?}"
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/spark-3.5.1/count_lines.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(bootstrap)
        .arg(topic)
        .arg(out)
        .arg(work.join("checkpoint"))
        .env("PYTHONPATH", &site)
        .env(
            "PYSPARK_SUBMIT_ARGS",
            format!(
                "--jars {} --driver-memory 768m --conf spark.driver.extraJavaOptions=-XX:+UseSerialGC pyspark-shell",
                jars.join(",")
            ),
        )
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("PYSPARK_PYTHON", "python3")
        .env_remove("SPARK_HOME");
    // The agent guard runs any command and kills its whole process tree (python3 → java) on drop.
    let dir = tempfile::Builder::new()
        .prefix("rflume-spark-driver-")
        .tempdir()
        .unwrap();
    Agent::spawn(dir, cmd)
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn read_counts(path: &Path) -> BTreeMap<String, u64> {
    read_json(path)
        .and_then(|v| {
            v.get("counts")?.as_object().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
        })
        .unwrap_or_default()
}
