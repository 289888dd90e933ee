//! Self-tests of the test harness (tests/common): if these fail, no other integration test's
//! result means anything. They need tansu but not rflume.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::*;

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn broker_round_trips_records_in_order_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("harness-order", 1);

    let producer = TestProducer::new(&broker.bootstrap(), &[]);
    let sent: Vec<String> = (0..1000).map(|i| format!("record-{i:04}")).collect();
    for value in &sent {
        producer.send_value("harness-order", value);
    }
    producer.flush(DEADLINE);
    assert_eq!(
        producer.delivered(),
        1000,
        "failed: {:?}",
        producer.failed()
    );

    let records = consume_all(&broker.bootstrap(), "harness-order", 1, 1000, DEADLINE);
    assert_eq!(values(&records), sent);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (0..1000).collect::<Vec<i64>>(),
        "offsets are dense"
    );
}

#[test]
fn keys_headers_and_timestamps_round_trip_across_partitions() {
    let broker = Broker::start();
    broker.create_topic("harness-partitions", 3);

    let producer = TestProducer::new(&broker.bootstrap(), &[]);
    for i in 0..300 {
        let key = format!("key-{}", i % 7);
        let value = format!("value-{i}");
        producer.send(
            "harness-partitions",
            Some(key.as_bytes()),
            value.as_bytes(),
            &[("seq", i.to_string().as_bytes()), ("origin", b"harness")],
        );
    }
    producer.flush(DEADLINE);

    let records = consume_all(&broker.bootstrap(), "harness-partitions", 3, 300, DEADLINE);
    assert_eq!(records.len(), 300);
    let partitions: HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "7 keys spread over 3 partitions: {partitions:?}"
    );
    for r in &records {
        let seq: usize = r.header_str("seq").unwrap().parse().unwrap();
        assert_eq!(r.value_str(), format!("value-{seq}"));
        assert_eq!(r.key_str(), Some(format!("key-{}", seq % 7).as_str()));
        assert_eq!(r.header_str("origin"), Some("harness"));
        assert!(r.timestamp.is_some_and(|t| t > 0), "{r:?}");
    }
    // Per partition, records come back in the order they were sent.
    for p in partitions {
        let seqs: Vec<usize> = records
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| r.header_str("seq").unwrap().parse().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {seqs:?}"
        );
    }
    let distinct: HashSet<usize> = records
        .iter()
        .map(|r| r.header_str("seq").unwrap().parse().unwrap())
        .collect();
    assert_eq!(distinct.len(), 300, "no duplicates");
}

#[test]
fn consuming_an_empty_topic_returns_at_end_of_partition() {
    let broker = Broker::start();
    broker.create_topic("harness-empty", 2);
    let records = consume_all(&broker.bootstrap(), "harness-empty", 2, 0, DEADLINE);
    assert!(records.is_empty());
}

#[test]
fn records_sent_through_a_proxy_outage_arrive_after_restart() {
    let broker = Broker::start();
    broker.create_topic("harness-outage", 1);
    let mut proxy = Proxy::start(&broker);

    let producer = TestProducer::new(
        &proxy.bootstrap(),
        &[
            // Much longer than the outage: records must wait, not fail.
            ("message.timeout.ms", "120000"),
            // Reconnect promptly once the proxy is back (the default backs off up to 10 s).
            ("reconnect.backoff.max.ms", "500"),
        ],
    );
    for i in 0..500 {
        producer.send_value("harness-outage", format!("record-{i:04}"));
    }
    producer.flush(DEADLINE);
    assert_eq!(producer.delivered(), 500, "the proxy passes traffic");

    assert!(producer.errors().is_empty(), "{:?}", producer.errors());
    proxy.kill();
    wait_until(DEADLINE, "the producer notices the outage", || {
        !producer.errors().is_empty()
    });
    for i in 500..1000 {
        producer.send_value("harness-outage", format!("record-{i:04}"));
    }
    // A negative check needs a hold period: nothing may get through while the proxy is down
    // (if the client had learnt the broker's own address, it would bypass the proxy).
    assert!(
        !poll_until(Duration::from_secs(1), || producer.delivered() > 500),
        "records were delivered during the outage"
    );

    proxy.restart();
    wait_until(DEADLINE, "all 1000 records are acknowledged", || {
        producer.delivered() == 1000
    });
    assert!(producer.failed().is_empty(), "{:?}", producer.failed());

    let expected: Vec<String> = (0..1000).map(|i| format!("record-{i:04}")).collect();
    let records = consume_all(&broker.bootstrap(), "harness-outage", 1, 1000, DEADLINE);
    assert_eq!(values(&records), expected, "in order, exactly once");
}

#[test]
fn wait_until_panics_with_what_was_awaited() {
    let panic = std::panic::catch_unwind(|| {
        wait_until(Duration::from_millis(50), "pigs fly", || false);
    })
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("pigs fly"), "{message}");
}

#[test]
fn append_lines_appends_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    append_lines(&file, ["one", "two"]);
    append_lines(&file, vec![String::from("three")]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\ntwo\nthree\n");
}

/// The agent guard must leave nothing behind, even what the agent itself started (an exec
/// source's `tail -F`) and even after the agent was killed with SIGKILL.
#[test]
fn agent_guard_kills_the_whole_process_tree() {
    let script = "sleep 300 & sleep 300 & echo children started; wait";

    let mut agent = spawn_shell(script);
    agent.wait_for_log(DEADLINE, "children started");
    let children = agent.descendant_pids();
    assert_eq!(children.len(), 2, "{children:?}");
    drop(agent);
    for pid in &children {
        assert!(!pid_alive(*pid), "child {pid} survived the guard");
    }

    let mut agent = spawn_shell(script);
    agent.wait_for_log(DEADLINE, "children started");
    let orphans = agent.descendant_pids();
    agent.kill9();
    assert!(
        orphans.iter().all(|&pid| pid_alive(pid)),
        "a crash leaves children running"
    );
    drop(agent);
    for pid in &orphans {
        assert!(!pid_alive(*pid), "orphan {pid} survived the guard");
    }
}

#[test]
fn agent_guard_reports_exit_status_and_log() {
    let mut agent =
        spawn_shell("trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
    agent.wait_for_log(DEADLINE, "ready");
    assert!(agent.is_running());
    agent.sigterm();
    let status = agent
        .wait_exit(DEADLINE)
        .expect("the shell exits on SIGTERM");
    assert_eq!(status.code(), Some(3));
    assert!(agent.log().contains("got TERM"), "{}", agent.log());
}

#[test]
fn agent_start_writes_the_config_and_runs_rflume() {
    let mut agent = Agent::start("a1.sources = r1\n", "a1");
    assert_eq!(
        std::fs::read_to_string(agent.conf_path()).unwrap(),
        "a1.sources = r1\n"
    );
    // What rflume does with it is other tests' business; the guard must cope either way.
    let _ = agent.wait_exit(Duration::from_millis(100));
    let output = run_rflume(["--help"]);
    let _ = output.status;
}

fn spawn_shell(script: &str) -> Agent {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    Agent::spawn(tempfile::tempdir().unwrap(), cmd)
}

/// A [`ClosedPort`] stands for a broker that is down: connecting is refused at once, and nobody
/// else can listen on it while the guard lives (unlike a port that was merely free a moment ago).
#[test]
fn a_closed_port_refuses_connections_and_cannot_be_taken() {
    let closed = ClosedPort::new();
    let refused = std::net::TcpStream::connect(("127.0.0.1", closed.port()))
        .expect_err("nothing listens on a closed port");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", closed.port())).is_err(),
        "another server cannot take the port"
    );
}

/// The Avro decoder keeps the wire order of the headers and agrees with `apache_avro`.
#[test]
fn flume_event_decoder_reads_headers_in_wire_order() {
    // {headers: {"b": "2", "a": "1"}, body: "hi"} written by hand: block of 2 entries (zig-zag 4),
    // end of map (0), bytes of length 2 (zig-zag 4).
    let datum = b"\x04\x02b\x022\x02a\x021\x00\x04hi";
    let event = FlumeEvent::decode(datum);
    assert_eq!(
        event.headers,
        [
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string())
        ]
    );
    assert_eq!(event.body, b"hi");
    let trailing = std::panic::catch_unwind(|| FlumeEvent::decode(b"\x00\x04hi!"));
    assert!(trailing.is_err(), "bytes after the datum are an error");
}
