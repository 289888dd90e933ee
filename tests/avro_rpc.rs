//! Flume's Avro RPC, both ways, against an independent implementation (npm's avsc, see
//! `common::avsc`) and against rflume itself as the other tier:
//!
//! * avsc client → rflume avro source → Kafka: `appendBatch` and `append`, with and without
//!   deflate; every event once, headers intact (read back as Flume's `AvroFlumeEvent`);
//! * rflume avro sink → avsc server: every event once; `FAILED` answers roll back and are sent
//!   again; deflate;
//! * rflume → rflume (avro sink → avro source → file channel → Kafka) with `kill -9` of the
//!   collector in the middle of the stream: nothing lost;
//! * TLS both ways (Node's `tls` on avsc's side, certificates made by `openssl` for each test),
//!   alone and with deflate in both of Flume's layer orders (`ssl-deflate-order`); a sink that
//!   does not trust the collector's certificate fails loudly and keeps its events until a fixed
//!   truststore is loaded by SIGHUP.
//!
//! Delivery is judged after the agents stopped, on the whole topic.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::avsc::{send_with_avsc, AvscClient, AvscServer};
use common::process::listens_on;
use common::rpc_peer::{assert_each_number_once, assert_ok_only_after_commit};
use common::security::TestCa;
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
        agent.wait_until(DELIVERY, "the avro source listens or gives up", || {
            listens_on(pid, port) || agent.log().contains("cannot listen")
        });
        if listens_on(pid, port) {
            return (agent, port);
        }
        failures.push(format!("port {port}: {}", agent.log()));
    }
    panic!("the avro source never got a port:\n{}", failures.join("\n"));
}

/// A collector: avro source on `port` → `channel` → Kafka sink writing Flume's Avro events (so
/// that headers can be checked).
fn collector_conf(
    port: u16,
    bootstrap: &str,
    topic: &str,
    source_extra: &str,
    channel: &str,
) -> String {
    format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = avro\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{source_extra}\
         {channel}\
         c.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\nc.sinks.k1.channel = ch\n\
         c.sinks.k1.kafka.bootstrap.servers = {bootstrap}\nc.sinks.k1.kafka.topic = {topic}\n\
         c.sinks.k1.useFlumeEventFormat = true\nc.sinks.k1.flumeBatchSize = 100\n"
    )
}

const MEMORY: &str = "c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n";

/// avsc sends `count` events through the source; returns what the topic holds, decoded.
fn through_the_source(count: usize, client_args: &[&str], source_extra: &str) -> Vec<FlumeEvent> {
    let broker = Broker::start();
    broker.create_topic("avro-in", 1);
    let (mut agent, port) = start_listening(
        |port| collector_conf(port, &broker.bootstrap(), "avro-in", source_extra, MEMORY),
        "c",
    );
    let out = send_with_avsc(port, count, client_args);
    assert!(
        out.status.success(),
        "the avsc client failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        agent.log()
    );
    // Every call was answered OK, so every event is in the channel: the stop drains it.
    agent.stop_cleanly();
    consume_all(&broker.bootstrap(), "avro-in", 1, count, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect()
}

fn assert_each_avsc_event_once(events: &[FlumeEvent], count: usize) {
    let bodies: Vec<&str> = events.iter().map(|e| e.body_str()).collect();
    let expected: Vec<String> = (0..count).map(|i| format!("avsc event {i}")).collect();
    assert_eq!(bodies, expected, "each event once, in order");
    for (i, e) in events.iter().enumerate() {
        let want: BTreeMap<String, String> = [
            ("origin".to_string(), "avsc".to_string()),
            ("seq".to_string(), i.to_string()),
        ]
        .into();
        assert_eq!(e.header_map(), want, "headers of event {i}");
    }
}

#[test]
fn avsc_append_batch_reaches_kafka_through_the_avro_source() {
    let events = through_the_source(2_000, &["--batch", "100"], "");
    assert_each_avsc_event_once(&events, 2_000);
}

#[test]
fn avsc_append_one_event_at_a_time_reaches_kafka() {
    let events = through_the_source(200, &["--single"], "");
    assert_each_avsc_event_once(&events, 200);
}

#[test]
fn avsc_with_deflate_reaches_kafka_through_the_avro_source() {
    let events = through_the_source(
        2_000,
        &["--batch", "250", "--deflate"],
        "c.sources.r1.compression-type = deflate\n",
    );
    assert_each_avsc_event_once(&events, 2_000);
}

/// A collector's TLS keys: a PKCS#12 key store signed by a test CA, and the CA for the client.
struct SourceTls {
    ca: TestCa,
    keystore: std::path::PathBuf,
}

fn source_tls(pkcs12: bool) -> SourceTls {
    let ca = TestCa::new("rflume avro test CA");
    let (cert, key) = ca.server_cert("collector", None);
    let keystore = if pkcs12 {
        ca.pkcs12(&cert, &key, "changeit")
    } else {
        ca.pem_keystore(&cert, &key)
    };
    SourceTls { ca, keystore }
}

impl SourceTls {
    fn source_lines(&self, kind: &str) -> String {
        format!(
            "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\n\
             c.sources.r1.keystore-type = {kind}\nc.sources.r1.keystore-password = changeit\n",
            self.keystore.display()
        )
    }
    fn ca(&self) -> String {
        self.ca.cert().display().to_string()
    }
}

#[test]
fn avsc_over_tls_reaches_kafka_through_the_avro_source() {
    let tls = source_tls(true);
    let ca = tls.ca();
    let events = through_the_source(
        1_000,
        &["--batch", "100", "--tls", &ca],
        &tls.source_lines("PKCS12"),
    );
    assert_each_avsc_event_once(&events, 1_000);
}

/// TLS and deflate together, in both of Flume's layer orders: the default (Flume 1.10 and later,
/// the zlib stream on the wire) and `ssl-deflate-order = flume-1.9` (TLS on the wire). A client
/// layered the other way is refused: the order is really applied, not ignored.
#[test]
fn avsc_over_tls_with_deflate_in_both_layer_orders() {
    let tls = source_tls(false);
    let ca = tls.ca();
    for (order, key) in [("flume-1.10", ""), ("flume-1.9", "flume-1.9")] {
        let mut extra = tls.source_lines("PEM") + "c.sources.r1.compression-type = deflate\n";
        if !key.is_empty() {
            extra += &format!("c.sources.r1.ssl-deflate-order = {key}\n");
        }
        let events = through_the_source(
            1_000,
            &[
                "--batch",
                "250",
                "--deflate",
                "--tls",
                &ca,
                "--layering",
                order,
            ],
            &extra,
        );
        assert_each_avsc_event_once(&events, 1_000);

        let broker = Broker::start();
        let (mut agent, port) = start_listening(
            |port| collector_conf(port, &broker.bootstrap(), "avro-in", &extra, MEMORY),
            "c",
        );
        let other = if order == "flume-1.9" {
            "flume-1.10"
        } else {
            "flume-1.9"
        };
        let out = send_with_avsc(port, 10, &["--deflate", "--tls", &ca, "--layering", other]);
        assert!(
            !out.status.success(),
            "a client layered as {other} talked to a source layered as {order}"
        );
        agent.wait_for_log(DELIVERY, "TLS handshake failed");
        agent.stop_cleanly();
    }
}

/// `OK` means "committed to the channel", not "received". The broker is frozen (SIGSTOP) before
/// the agent starts, so the Kafka sink takes a batch but never commits it, and the channel (its
/// capacity counts taken events until their commit) holds one batch of [`CAPACITY`] in all: avsc
/// gets exactly one `OK` while the broker is frozen, none for the held batch during the hold,
/// then `FAILED` for it (it resends), and the rest once the broker resumes; every event then
/// reaches Kafka once, in order.
#[test]
fn ok_is_sent_only_after_the_batch_is_committed_to_the_channel() {
    const CAPACITY: usize = 100;
    const TOTAL: usize = 500;
    const HOLD: Duration = Duration::from_secs(2);
    let mut broker = Broker::start();
    broker.create_topic("avro-held", 1);
    broker.pause();
    let channel = format!(
        "c.channels.ch.type = memory\nc.channels.ch.capacity = {CAPACITY}\n\
         c.channels.ch.transactionCapacity = {CAPACITY}\nc.channels.ch.keep-alive = 1\n"
    );
    let (mut agent, port) = start_listening(
        |port| collector_conf(port, &broker.bootstrap(), "avro-held", "", &channel),
        "c",
    );
    let mut client = AvscClient::start(port, TOTAL, &["--batch", "100"]);
    assert_ok_only_after_commit(
        &mut client,
        &mut agent,
        &mut broker,
        CAPACITY,
        HOLD,
        DELIVERY,
    );
    let events: Vec<FlumeEvent> = consume_all(&broker.bootstrap(), "avro-held", 1, TOTAL, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect();
    assert_each_avsc_event_once(&events, TOTAL);
}

/// An agent: `seq` source (bodies "0", "1", …) → memory → avro sink to `port`.
fn sender_conf(port: u16, total: usize, sink_extra: &str) -> String {
    format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {total}\na1.sources.s1.batchSize = 50\n\
         a1.sources.s1.channels = c1\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 1000\n\
         a1.sinks.k1.type = avro\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\n{sink_extra}"
    )
}

#[test]
fn the_avro_sink_delivers_to_an_avsc_server() {
    const TOTAL: usize = 3_000;
    let server = AvscServer::start(&[]);
    let mut agent = Agent::start(
        &sender_conf(server.port(), TOTAL, "a1.sinks.k1.batch-size = 200\n"),
        "a1",
    );
    wait_until(DELIVERY, "the avsc server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
}

/// The collector's side for the sink tests: the avsc server's certificate and key (signed by
/// `ca`), and sink lines trusting `ca`.
fn server_tls(ca: &TestCa) -> (String, String) {
    let (cert, key) = ca.server_cert("avsc-server", None);
    (cert.display().to_string(), key.display().to_string())
}

fn sink_tls_lines(trusted: &TestCa) -> String {
    format!(
        "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = {}\na1.sinks.k1.truststore-type = PEM\n",
        trusted.cert().display()
    )
}

/// The avro sink over TLS to an avsc server, alone and with deflate in both layer orders.
#[test]
fn the_avro_sink_delivers_over_tls_to_an_avsc_server() {
    const TOTAL: usize = 1_000;
    let ca = TestCa::new("rflume avro sink test CA");
    let (cert, key) = server_tls(&ca);
    for (server_extra, sink_extra) in [
        (vec![], String::new()),
        (
            vec!["--deflate", "--layering", "flume-1.10"],
            "a1.sinks.k1.compression-type = deflate\n".to_string(),
        ),
        (
            vec!["--deflate", "--layering", "flume-1.9"],
            "a1.sinks.k1.compression-type = deflate\na1.sinks.k1.ssl-deflate-order = flume-1.9\n"
                .to_string(),
        ),
    ] {
        let mut args = vec!["--tls", cert.as_str(), key.as_str()];
        args.extend(server_extra.iter().copied());
        let server = AvscServer::start(&args);
        let mut agent = Agent::start(
            &sender_conf(
                server.port(),
                TOTAL,
                &format!(
                    "a1.sinks.k1.batch-size = 100\n{}{sink_extra}",
                    sink_tls_lines(&ca)
                ),
            ),
            "a1",
        );
        wait_until(DELIVERY, "the avsc server accepted every event", || {
            server.received().len() >= TOTAL
        });
        agent.stop_cleanly();
        assert_each_number_once(&server.received(), TOTAL);
        assert!(
            agent.log().contains("does not check that the certificate"),
            "the weaker-than-usual host name check is said at start"
        );
    }
}

/// A collector whose certificate the truststore does not vouch for: every call fails at ERROR,
/// nothing is delivered and nothing is lost; the fixed truststore, loaded by SIGHUP, delivers
/// every event once.
#[test]
fn an_untrusted_collector_certificate_fails_loudly_until_sighup_loads_the_right_truststore() {
    const TOTAL: usize = 500;
    let right = TestCa::new("the collector's CA");
    let wrong = TestCa::new("some other CA");
    let (cert, key) = server_tls(&right);
    let server = AvscServer::start(&["--tls", &cert, &key]);
    let conf = |ca: &TestCa| {
        sender_conf(
            server.port(),
            TOTAL,
            &format!("a1.sinks.k1.batch-size = 100\n{}", sink_tls_lines(ca)),
        )
    };
    let mut agent = Agent::start(&conf(&wrong), "a1");
    agent.wait_until(DELIVERY, "the TLS failure is logged at ERROR", || {
        agent
            .log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("TLS with") && l.contains("certificate"))
    });
    assert!(
        server.received().is_empty(),
        "nothing reached an untrusted collector"
    );
    std::fs::write(agent.conf_path(), conf(&right)).expect("rewrite the configuration");
    agent.signal(libc::SIGHUP);
    wait_until(DELIVERY, "the avsc server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
}

/// `FAILED` means "not stored": the sink rolls the batch back and sends it again, so every event
/// arrives once (the refused calls' events were not accepted) and in order.
#[test]
fn failed_answers_are_rolled_back_and_sent_again_with_deflate() {
    const TOTAL: usize = 1_000;
    let server = AvscServer::start(&["--deflate", "--fail", "3"]);
    let mut agent = Agent::start(
        &sender_conf(
            server.port(),
            TOTAL,
            "a1.sinks.k1.batch-size = 100\na1.sinks.k1.compression-type = deflate\n",
        ),
        "a1",
    );
    wait_until(DELIVERY, "the avsc server accepted every event", || {
        server.received().len() >= TOTAL
    });
    agent.stop_cleanly();
    assert_each_number_once(&server.received(), TOTAL);
    assert!(
        agent.log().contains("FAILED"),
        "the refused calls were reported: {}",
        agent.log()
    );
}

/// Two tiers of rflume: exec → memory → avro sink ⇒ avro source → file channel → Kafka. The
/// collector is killed (`kill -9`) while events flow and restarted on the same port and channel
/// directories; the first tier's sink fails over the outage (rolls back, retries) and every event
/// reaches Kafka: the collector answered OK only for events its file channel had synced.
#[test]
fn two_tiers_lose_nothing_when_the_collector_is_killed() {
    const TOTAL: usize = 60_000;
    let broker = Broker::start();
    broker.create_topic("two-tier", 1);
    let dirs = tempfile::tempdir().expect("temporary directory");
    let file_channel = format!(
        "c.channels.ch.type = file\nc.channels.ch.checkpointDir = {0}/checkpoint\n\
         c.channels.ch.dataDirs = {0}/data\nc.channels.ch.minimumRequiredSpace = 1048576\n\
         c.channels.ch.transactionCapacity = 1000\n",
        dirs.path().display()
    );
    let conf = |port| collector_conf(port, &broker.bootstrap(), "two-tier", "", &file_channel);
    let (mut collector, port) = start_listening(conf, "c");
    // A paced stream (about 6 s: 10 ms every 100 lines), so that the kill lands in its middle;
    // `seq` would hand all of it to the collector before the first record reached Kafka.
    let paced = format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = exec\na1.sources.s1.shell = /bin/bash -c\n\
         a1.sources.s1.command = for ((i = 0; i < {TOTAL}; i++)); do echo $i; \
         (( i % 100 == 99 )) && sleep 0.01; done\n\
         a1.sources.s1.channels = c1\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 100000\n\
         a1.channels.c1.transactionCapacity = 1000\n\
         a1.sinks.k1.type = avro\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 100\n"
    );
    let mut sender = Agent::start(&paced, "a1");
    // Kill once a part, not all, has gone through the collector.
    wait_until(DELIVERY, "the collector stored some events", || {
        consume_all(
            &broker.bootstrap(),
            "two-tier",
            1,
            0,
            Duration::from_secs(5),
        )
        .len()
            >= 2_000
    });
    collector.kill9();
    let (mut collector, _) = start_listening_on(conf(port), port);
    wait_until(
        Duration::from_secs(120),
        "every event reached Kafka",
        || {
            consume_all(
                &broker.bootstrap(),
                "two-tier",
                1,
                TOTAL,
                Duration::from_secs(5),
            )
            .iter()
            .map(|r| FlumeEvent::decode(&r.value).body_str().to_string())
            .collect::<std::collections::HashSet<_>>()
            .len()
                >= TOTAL
        },
    );
    sender.stop_cleanly();
    collector.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "two-tier", 1, TOTAL, DELIVERY);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for r in &records {
        *seen
            .entry(FlumeEvent::decode(&r.value).body_str().to_string())
            .or_default() += 1;
    }
    let missing: Vec<usize> = (0..TOTAL)
        .filter(|i| !seen.contains_key(&i.to_string()))
        .collect();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    println!(
        "two tiers, kill -9 of the collector: {} records, {duplicates} duplicates",
        records.len()
    );
    assert!(
        missing.is_empty(),
        "{} events lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        sender.log().contains("Failed to publish events"),
        "the outage was noticed by the first tier"
    );
}

/// Restarts a collector on the port it had (the first tier's sink is configured with it).
fn start_listening_on(conf: String, port: u16) -> (Agent, u16) {
    let agent = Agent::start(&conf, "c");
    let pid = agent.pid();
    agent.wait_until(DELIVERY, "the restarted collector listens", || {
        listens_on(pid, port)
    });
    (agent, port)
}
