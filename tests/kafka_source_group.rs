//! The Kafka source's consumer group on a real Apache Kafka 2.3.1 broker (the JVM tier, issue 22):
//! two rflume agents in one group share a 4-partition topic; one is killed (`kill -9`) while
//! records stream in, the other takes over its partitions and delivers everything written after
//! the kill; the killed agent is restarted afterwards only to drain its file channel (what it had
//! put and committed before it died). Judged after both stopped, by reading `out` to its end:
//! nothing lost, duplicates counted and bounded.
//!
//! On real Kafka rather than tansu: the group rebalance (revocation, reassignment, the dead
//! member's session expiry) is the broker's coordinator at work, and tansu's coordinator is not
//! the one users run (its first join alone takes ~23 s).

mod common;

use std::time::Duration;

use common::jvm::{KafkaCluster, KafkaVersion, Peers};
use common::*;

const DEADLINE: Duration = Duration::from_secs(180);
const PARTITIONS: i32 = 4;

fn agent_conf(bootstrap: &str, channel_dir: &std::path::Path, input: &str, out: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = org.apache.flume.source.kafka.KafkaSource
a1.sources.r1.channels = c1
a1.sources.r1.kafka.bootstrap.servers = {bootstrap}
a1.sources.r1.kafka.topics = {input}
a1.sources.r1.kafka.consumer.group.id = {input}-group
a1.sources.r1.kafka.consumer.auto.offset.reset = earliest
a1.sources.r1.kafka.consumer.session.timeout.ms = 6000
a1.sources.r1.kafka.consumer.heartbeat.interval.ms = 1000
a1.sources.r1.batchSize = 200
a1.sources.r1.batchDurationMillis = 200
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = {dir}/checkpoint
a1.channels.c1.dataDirs = {dir}/data
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.flumeBatchSize = 200
a1.sinks.k1.allowTopicOverride = false
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = {out}
",
        dir = channel_dir.display()
    )
}

/// Partitions an agent's log says it was assigned (the last assignment wins).
fn assigned(agent: &Agent) -> usize {
    agent
        .log()
        .lines()
        .filter(|l| l.contains("assigned.") || l.contains("revoked."))
        .fold(std::collections::BTreeSet::new(), |mut owned, l| {
            let p = l
                .split("partition ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(p) = p {
                if l.contains("assigned.") {
                    owned.insert(p);
                } else {
                    owned.remove(&p);
                }
            }
            owned
        })
        .len()
}

#[test]
fn two_agents_share_a_group_and_the_survivor_takes_over_a_killed_ones_partitions() {
    let test = "kafka source consumer group takeover on kafka 2.3.1";
    let Some(peers) = Peers::get(test, KafkaVersion::V2_3_1.sets()) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let (input, out) = ("group-in", "group-out");
    cluster.create_topic(input, PARTITIONS);
    cluster.create_topic(out, 1);
    let dirs = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let conf = |i: usize| agent_conf(&cluster.bootstrap(), dirs[i].path(), input, out);
    let a = Agent::start(&conf(0), "a1");
    let mut b = Agent::start(&conf(1), "a1");
    a.wait_until(DEADLINE, "both agents own partitions", || {
        assigned(&a) > 0 && assigned(&b) > 0 && assigned(&a) + assigned(&b) == PARTITIONS as usize
    });

    let producer = TestProducer::new(&cluster.bootstrap(), &[]);
    let send = |range: std::ops::Range<usize>| {
        for n in range {
            // Keyed by line: the records spread over all four partitions.
            let key = n.to_string();
            producer.send(input, Some(key.as_bytes()), numbered(n).as_bytes(), &[]);
        }
        producer.flush(DEADLINE);
    };
    send(0..4000);
    a.wait_until(DEADLINE, "some lines delivered", || {
        consume_all(&cluster.bootstrap(), out, 1, 0, DEADLINE).len() >= 1000
    });
    b.kill9();
    send(4000..8000);
    a.wait_until(DEADLINE, "the survivor owns every partition", || {
        assigned(&a) == PARTITIONS as usize
    });
    // Everything written after the kill arrives through the survivor alone.
    a.wait_until(DEADLINE, "lines 4000..8000 in out", || {
        let t = Tally::of(
            &consume_all(&cluster.bootstrap(), out, 1, 0, DEADLINE),
            8000,
        );
        t.missing.iter().all(|&n| n < 4000)
    });
    // The killed agent's file channel still holds what it had put: a restart drains it.
    let mut b = Agent::start(&conf(1), "a1");
    a.wait_until(DEADLINE, "all 8000 lines in out", || {
        let t = Tally::of(
            &consume_all(&cluster.bootstrap(), out, 1, 0, DEADLINE),
            8000,
        );
        t.missing.is_empty()
    });
    b.stop_cleanly();
    let mut a = a;
    a.stop_cleanly();
    let t = Tally::of(
        &consume_all(&cluster.bootstrap(), out, 1, 8000, DEADLINE),
        8000,
    );
    eprintln!("{}", t.summary());
    assert!(t.missing.is_empty(), "{}", t.summary());
    // Re-read by the survivor: what the killed agent had put but not committed (its batch in
    // flight), and a rebalance's uncommitted batches; never more than the records written.
    assert!(t.duplicates < 8000, "{}", t.summary());
}
