//! The Kafka source's `zookeeperConnect` (Flume 1.9's broker lookup) on a real Apache Kafka 2.3.1
//! cluster and its real ZooKeeper 3.4.14 (the JVM tier): the file names no
//! `kafka.bootstrap.servers`, the source finds the brokers in ZooKeeper's `/brokers/ids` when it
//! starts and reads its topic through them.
//!
//! * plain: ZooKeeper's root holds the registrations; every record arrives once;
//! * chroot: the brokers register under `/kafka` (`zookeeper.connect = …/kafka`); a source with
//!   `zookeeperConnect = …/kafka` reads every record once, and a source that forgot the chroot
//!   fails its start at ERROR ("no Kafka broker is registered") with the file and line;
//! * ZooKeeper down (a closed port): the start fails at ERROR naming the file, the line and the
//!   fix, after Flume's 30 s session wait (no JVM needed).
//!
//! Judged after the agent stopped, by reading the output topic to its end.

mod common;

use std::time::Duration;

use common::jvm::{KafkaCluster, KafkaVersion, Peers};
use common::*;

const DEADLINE: Duration = Duration::from_secs(120);
const RECORDS: usize = 2000;

/// topic `input` → Kafka source (brokers looked up in `zookeeper`) → memory → Kafka sink →
/// `out` (on `bootstrap`, named explicitly: the sink has no ZooKeeper lookup in Flume either).
fn agent_conf(zookeeper: &str, bootstrap: &str, input: &str, out: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.channels = c1
a1.sources.r1.zookeeperConnect = {zookeeper}
a1.sources.r1.kafka.topics = {input}
a1.sources.r1.kafka.consumer.group.id = {input}-group
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.batchSize = 200
a1.sources.r1.batchDurationMillis = 200
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 200
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {out}
"
    )
}

/// Writes `RECORDS` numbered records to `input`, runs an agent whose source only knows
/// `zookeeper`, and judges `out` after the agent stopped: every record exactly once.
fn every_record_once(cluster: &KafkaCluster, zookeeper: &str, input: &str, out: &str) {
    cluster.create_topic(input, 2);
    cluster.create_topic(out, 1);
    let producer = TestProducer::new(&cluster.bootstrap(), &[]);
    for n in 0..RECORDS {
        producer.send(input, None, numbered(n).as_bytes(), &[]);
    }
    producer.flush(DEADLINE);

    let mut agent = Agent::start(
        &agent_conf(zookeeper, &cluster.bootstrap(), input, out),
        "a1",
    );
    // The lookup's INFO line names what ZooKeeper had: the cluster's one broker.
    agent.wait_for_log(DEADLINE, "Kafka brokers found in ZooKeeper");
    let found = agent
        .log()
        .lines()
        .find(|l| l.contains("Kafka brokers found in ZooKeeper"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        found.contains(&format!("{zookeeper}: {} ", cluster.bootstrap())),
        "{found}"
    );
    agent.wait_until(DEADLINE, "every record in out", || {
        Tally::of(
            &consume_all(&cluster.bootstrap(), out, 1, 0, DEADLINE),
            RECORDS,
        )
        .missing
        .is_empty()
    });
    agent.stop_cleanly();
    let t = Tally::of(
        &consume_all(&cluster.bootstrap(), out, 1, RECORDS, DEADLINE),
        RECORDS,
    );
    assert!(t.missing.is_empty(), "{}", t.summary());
    assert_eq!(t.duplicates, 0, "{}", t.summary());
}

#[test]
fn brokers_found_in_zookeeper_deliver_every_record_once() {
    let test = "kafka source zookeeperConnect on kafka 2.3.1";
    let Some(peers) = Peers::get(test, KafkaVersion::V2_3_1.sets()) else {
        return;
    };
    let cluster = KafkaCluster::start(&peers, KafkaVersion::V2_3_1, 1, &[]);
    let zk = cluster
        .zookeeper_connect()
        .expect("2.3.1 runs on ZooKeeper");
    every_record_once(&cluster, &zk, "zk-in", "zk-out");
}

#[test]
fn a_chroot_is_followed_and_a_missing_chroot_fails_the_start() {
    let test = "kafka source zookeeperConnect with a chroot on kafka 2.3.1";
    let Some(peers) = Peers::get(test, KafkaVersion::V2_3_1.sets()) else {
        return;
    };
    let cluster = KafkaCluster::start(
        &peers,
        KafkaVersion::V2_3_1,
        1,
        &[("zookeeper.connect", "{zookeeper}/kafka")],
    );
    let zk = cluster
        .zookeeper_connect()
        .expect("2.3.1 runs on ZooKeeper");
    every_record_once(&cluster, &format!("{zk}/kafka"), "chroot-in", "chroot-out");

    // The same ZooKeeper without the chroot: its root has no /brokers/ids.
    let mut agent = Agent::start(
        &agent_conf(&zk, &cluster.bootstrap(), "chroot-in", "chroot-out2"),
        "a1",
    );
    agent.wait_for_log(DEADLINE, "no Kafka broker is registered");
    let log = agent.log();
    let error = log
        .lines()
        .find(|l| l.contains("no Kafka broker is registered"))
        .unwrap_or_default();
    assert!(error.contains("ERROR"), "{error}");
    // The zookeeperConnect line of the file (line 6).
    assert!(error.contains("flume.conf:6: zookeeperConnect"), "{error}");
    agent.stop_cleanly();
}

#[test]
fn zookeeper_down_at_start_is_a_clear_error() {
    let zk = ClosedPort::new();
    let mut agent = Agent::start(
        &agent_conf(
            &format!("127.0.0.1:{}", zk.port()),
            "127.0.0.1:1",
            "in",
            "out",
        ),
        "a1",
    );
    // Flume's ZooKeeper session wait is 30 s; the error follows it.
    agent.wait_for_log(Duration::from_secs(90), "cannot reach ZooKeeper");
    let log = agent.log();
    let error = log
        .lines()
        .find(|l| l.contains("cannot reach ZooKeeper"))
        .unwrap_or_default();
    assert!(error.contains("ERROR"), "{error}");
    assert!(error.contains("flume.conf:6: zookeeperConnect"), "{error}");
    assert!(error.contains("kafka.bootstrap.servers"), "{error}");
    assert!(!log.contains("Kafka source subscribed"), "{log}");
    agent.stop_cleanly();
}
