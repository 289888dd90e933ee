//! Flume's Thrift RPC, both ways, against an independent implementation (PyPI's `thrift` with
//! Flume's IDL, see `common::thrift_py`) and against rflume itself as the other tier:
//!
//! * python client → rflume thrift source → Kafka: compact and binary, `appendBatch` and
//!   `append`; every event once, in order, headers exact (read back as Flume's `AvroFlumeEvent`);
//! * rflume thrift sink → python server: every event once, in order; `FAILED` answers roll the
//!   batch back and it is sent again; binary; TLS (`ssl = true` with a PEM truststore) to a
//!   python `TSSLServerSocket`, and a server the truststore does not vouch for gets nothing;
//! * rflume → rflume (thrift sink → thrift source → Kafka).
//!
//! Delivery is judged after the agents stopped, on the whole topic.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::process::listens_on;
use common::rpc_peer::{assert_each_number_once, assert_ok_only_after_commit};
use common::security::TestCa;
use common::thrift_py::{send_with_python_thrift, PythonThriftClient, PythonThriftServer};
use common::*;

const DELIVERY: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;

/// Starts an agent on `conf_for(port)` and returns it once it listens on `port` (another process
/// may take a port picked as free before the agent binds it: then another one is tried).
fn start_listening(conf_for: impl Fn(u16) -> String, name: &str) -> (Agent, u16) {
    let mut failures = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let agent = Agent::start(&conf_for(port), name);
        let pid = agent.pid();
        agent.wait_until(DELIVERY, "the thrift source listens or gives up", || {
            listens_on(pid, port)
                || agent.log().contains("cannot listen")
                || agent.log().contains("ended on its own")
        });
        if listens_on(pid, port) {
            return (agent, port);
        }
        failures.push(format!("port {port}: {}", agent.log()));
    }
    panic!(
        "the thrift source never got a port:\n{}",
        failures.join("\n")
    );
}

/// A collector: thrift source on `port` → memory → Kafka sink writing Flume's Avro events (so
/// that headers can be checked).
fn collector_conf(port: u16, bootstrap: &str, topic: &str, source_extra: &str) -> String {
    collector_with_channel(port, bootstrap, topic, source_extra, MEMORY)
}

const MEMORY: &str = "c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n";

fn collector_with_channel(
    port: u16,
    bootstrap: &str,
    topic: &str,
    source_extra: &str,
    channel: &str,
) -> String {
    format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = thrift\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{source_extra}{channel}\
         c.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\nc.sinks.k1.channel = ch\n\
         c.sinks.k1.kafka.bootstrap.servers = {bootstrap}\nc.sinks.k1.kafka.topic = {topic}\n\
         c.sinks.k1.useFlumeEventFormat = true\nc.sinks.k1.flumeBatchSize = 100\n"
    )
}

/// Each run of the python client (`args` each) sends `count` events through one source; returns
/// what the topic holds, decoded.
fn through_the_source(count: usize, runs: &[&[&str]], source_extra: &str) -> Vec<FlumeEvent> {
    let broker = Broker::start();
    broker.create_topic("thrift-in", 1);
    let (mut agent, port) = start_listening(
        |port| collector_conf(port, &broker.bootstrap(), "thrift-in", source_extra),
        "c",
    );
    for args in runs {
        let out = send_with_python_thrift(port, count, args);
        assert!(
            out.status.success(),
            "the python thrift client failed: {}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            agent.log()
        );
    }
    // Every call was answered OK, so every event is in the channel: the stop drains it.
    agent.stop_cleanly();
    let total = count * runs.len();
    consume_all(&broker.bootstrap(), "thrift-in", 1, total, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect()
}

/// `runs` runs of events 0..count each, in order, with their headers exactly.
fn assert_each_python_event_once(events: &[FlumeEvent], count: usize, runs: usize) {
    let bodies: Vec<&str> = events.iter().map(|e| e.body_str()).collect();
    let expected: Vec<String> = (0..runs)
        .flat_map(|_| (0..count).map(|i| format!("thrift event {i}")))
        .collect();
    assert_eq!(bodies, expected, "each event once, in order");
    for (i, e) in events.iter().enumerate() {
        let want: BTreeMap<String, String> = [
            ("origin".to_string(), "python".to_string()),
            ("seq".to_string(), (i % count).to_string()),
        ]
        .into();
        assert_eq!(e.header_map(), want, "headers of event {i}");
    }
}

#[test]
fn python_append_batch_reaches_kafka_through_the_compact_thrift_source() {
    let events = through_the_source(2_000, &[&["--batch", "100"]], "");
    assert_each_python_event_once(&events, 2_000, 1);
}

#[test]
fn python_append_one_event_at_a_time_reaches_kafka() {
    let events = through_the_source(200, &[&["--single"]], "");
    assert_each_python_event_once(&events, 200, 1);
}

#[test]
fn python_binary_protocol_append_batch_and_append_reach_kafka() {
    let events = through_the_source(
        500,
        &[
            &["--protocol", "binary", "--batch", "70"],
            &["--protocol", "binary", "--single"],
        ],
        "c.sources.r1.protocol = binary\n",
    );
    assert_each_python_event_once(&events, 500, 2);
}

/// TLS under the framing (Flume's `TSSLTransportFactory` server socket): a client that verifies
/// the certificate against the test CA gets every event through, with a PEM keystore.
#[test]
fn python_over_tls_reaches_kafka_through_the_thrift_source() {
    let ca = TestCa::new("rflume thrift CA");
    let (cert, key) = ca.server_cert("source", None);
    let keystore = cert.with_file_name("keystore.pem");
    // The key first: source/tls.rs hands the whole file to native-tls's from_pkcs8, which wants
    // the file to begin with the PKCS#8 key (the certificates are found after it).
    let mut pem = std::fs::read(&key).expect("key");
    pem.extend(std::fs::read(&cert).expect("cert"));
    std::fs::write(&keystore, pem).expect("keystore");
    let ca_path = ca.cert();
    let extra = format!(
        "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\nc.sources.r1.keystore-type = PEM\n",
        keystore.display()
    );
    let events = through_the_source(
        300,
        &[&[
            "--batch",
            "50",
            "--tls-ca",
            ca_path.to_str().expect("utf-8 path"),
        ]],
        &extra,
    );
    assert_each_python_event_once(&events, 300, 1);
}

/// `OK` means "committed to the channel", not "received". The broker is frozen (SIGSTOP)
/// before the agent starts, so the Kafka sink takes a batch but never commits it, and the
/// channel holds one batch of [`CAPACITY`] in all: the client gets exactly one `OK` while the
/// broker is frozen, then `FAILED` for the next batch (it resends), and the rest once the broker
/// resumes; every event then reaches Kafka once, in order.
#[test]
fn ok_is_sent_only_after_the_batch_is_committed_to_the_channel() {
    const CAPACITY: usize = 100;
    const TOTAL: usize = 500;
    const HOLD: Duration = Duration::from_secs(2);
    let mut broker = Broker::start();
    broker.create_topic("thrift-held", 1);
    broker.pause();
    let channel = format!(
        "c.channels.ch.type = memory\nc.channels.ch.capacity = {CAPACITY}\n\
         c.channels.ch.transactionCapacity = {CAPACITY}\nc.channels.ch.keep-alive = 1\n"
    );
    let (mut agent, port) = start_listening(
        |port| collector_with_channel(port, &broker.bootstrap(), "thrift-held", "", &channel),
        "c",
    );
    let mut client = PythonThriftClient::start(port, TOTAL, &["--batch", "100"]);
    assert_ok_only_after_commit(
        &mut client,
        &mut agent,
        &mut broker,
        CAPACITY,
        HOLD,
        DELIVERY,
    );
    let events: Vec<FlumeEvent> =
        consume_all(&broker.bootstrap(), "thrift-held", 1, TOTAL, DELIVERY)
            .iter()
            .map(|r| FlumeEvent::decode(&r.value))
            .collect();
    assert_each_python_event_once(&events, TOTAL, 1);
}

/// An agent: `seq` source (bodies "0", "1", …) → memory → thrift sink to `port`.
fn sender_conf(port: u16, total: usize, sink_extra: &str) -> String {
    format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {total}\na1.sources.s1.batchSize = 50\n\
         a1.sources.s1.channels = c1\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 1000\n\
         a1.sinks.k1.type = thrift\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\n{sink_extra}"
    )
}

/// `FAILED` means "not stored": the sink rolls the batch back and sends it again, so every event
/// arrives once (the refused calls' events were not accepted) and in order.
#[test]
fn the_thrift_sink_resends_what_a_python_server_answered_failed() {
    const TOTAL: usize = 2_000;
    let server = PythonThriftServer::start(&["--fail", "3"]);
    let mut agent = Agent::start(
        &sender_conf(server.port(), TOTAL, "a1.sinks.k1.batch-size = 200\n"),
        "a1",
    );
    wait_until(DELIVERY, "the python server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
    assert!(
        agent.log().contains("returned status : FAILED"),
        "the refused calls were reported: {}",
        agent.log()
    );
}

#[test]
fn the_thrift_sink_speaks_binary_to_a_python_server() {
    const TOTAL: usize = 1_000;
    let server = PythonThriftServer::start(&["--protocol", "binary"]);
    let mut agent = Agent::start(
        &sender_conf(
            server.port(),
            TOTAL,
            "a1.sinks.k1.batch-size = 100\na1.sinks.k1.protocol = binary\n",
        ),
        "a1",
    );
    wait_until(DELIVERY, "the python server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
}

/// `ssl = true`: TLS under the framing to Python's `TSSLServerSocket` (Python's `ssl` module),
/// the server's certificate checked against the truststore: every event once, in order.
#[test]
fn the_thrift_sink_speaks_tls_to_a_python_server() {
    const TOTAL: usize = 1_000;
    let ca = TestCa::new("rflume thrift sink CA");
    let (cert, key) = ca.server_cert("collector", None);
    let server = PythonThriftServer::start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ]);
    let tls = format!(
        "a1.sinks.k1.batch-size = 100
a1.sinks.k1.ssl = true
         a1.sinks.k1.truststore = {}
a1.sinks.k1.truststore-type = PEM
",
        ca.cert().display()
    );
    let mut agent = Agent::start(&sender_conf(server.port(), TOTAL, &tls), "a1");
    wait_until(DELIVERY, "the python server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
    assert!(
        agent.log().contains("compact protocol, TLS"),
        "{}",
        agent.log()
    );
}

/// A collector whose certificate another CA signed: the handshake fails, every attempt, and not
/// one event is sent in the clear or counted as delivered (the channel keeps them).
#[test]
fn the_thrift_sink_sends_nothing_to_a_server_its_truststore_does_not_vouch_for() {
    let ca = TestCa::new("rflume thrift real CA");
    let other = TestCa::new("rflume thrift other CA");
    let (cert, key) = ca.server_cert("collector", None);
    let server = PythonThriftServer::start(&[
        "--tls-cert",
        cert.to_str().expect("utf-8 path"),
        "--tls-key",
        key.to_str().expect("utf-8 path"),
    ]);
    let tls = format!(
        "a1.sinks.k1.ssl = true
a1.sinks.k1.truststore = {}
a1.sinks.k1.truststore-type = PEM
",
        other.cert().display()
    );
    let mut agent = Agent::start(&sender_conf(server.port(), 100, &tls), "a1");
    wait_until(DELIVERY, "two refused handshakes", || {
        agent.log().matches("TLS with 127.0.0.1").count() >= 2
    });
    agent.stop_cleanly();
    assert!(server.received().is_empty(), "{}", server.log());
    assert!(
        agent.log().contains("certificate verify failed"),
        "{}",
        agent.log()
    );
    let totals = agent.stop_totals("SINK.k1");
    assert_eq!(
        totals.get("EventDrainSuccessCount").copied().unwrap_or(0),
        0,
        "{totals:?}"
    );
}

/// Two tiers of rflume: seq → memory → thrift sink ⇒ thrift source → memory → Kafka, every event
/// once, in order.
#[test]
fn two_rflume_tiers_over_thrift_deliver_every_event_once() {
    const TOTAL: usize = 5_000;
    let broker = Broker::start();
    broker.create_topic("thrift-tiers", 1);
    let (mut collector, port) = start_listening(
        |port| collector_conf(port, &broker.bootstrap(), "thrift-tiers", ""),
        "c",
    );
    let mut sender = Agent::start(
        &sender_conf(port, TOTAL, "a1.sinks.k1.batch-size = 100\n"),
        "a1",
    );
    wait_until(DELIVERY, "every event reached Kafka", || {
        consume_all(
            &broker.bootstrap(),
            "thrift-tiers",
            1,
            TOTAL,
            Duration::from_secs(5),
        )
        .len()
            >= TOTAL
    });
    sender.stop_cleanly();
    collector.stop_cleanly();
    let bodies: Vec<String> = consume_all(&broker.bootstrap(), "thrift-tiers", 1, TOTAL, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value).body_str().to_string())
        .collect();
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected, "each event once, in order");
}
