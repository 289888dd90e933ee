//! Real Apache Flume on the other end of rflume's Thrift RPC (the JVM tier, `tests/peers/`):
//!
//! * Flume's thrift sink (`ThriftRpcClient`) → rflume's thrift source → Kafka (tansu): every
//!   event once, in order, with the header Flume's static interceptor set;
//! * rflume's thrift sink → Flume's thrift source → Flume's logger sink: every event once, in
//!   order, with the header rflume's static interceptor set.
//!
//! Flume 1.9.0 (libthrift 0.9.3) with the default compact protocol, Flume 1.11.0 (libthrift
//! 0.14.1) with binary; and TLS (`ssl = true`) both ways with Flume 1.9: Flume's JKS stores (its
//! default type) on its side, PKCS#12 stores made by `keytool` on rflume's.

mod common;

use std::time::Duration;

use common::jvm::{logger_events, FlumeAgent, FlumeVersion, Peers};
use common::process::listens_on;
use common::security::TestCa;
use common::*;

const DELIVERY: Duration = Duration::from_secs(120);
const TOTAL: usize = 500;

fn protocol_line(prefix: &str, protocol: Option<&str>) -> String {
    protocol
        .map(|p| format!("{prefix}.protocol = {p}\n"))
        .unwrap_or_default()
}

const STORE_PASSWORD: &str = "changeit";

/// `source_extra` and `sink_extra`: more lines for the collector's source and the upstream sink
/// (their TLS keys).
fn flume_to_rflume(
    test: &str,
    version: FlumeVersion,
    protocol: Option<&str>,
    source_extra: &str,
    sink_extra: &str,
) {
    let Some(peers) = Peers::get(test, &[version.set()]) else {
        return;
    };
    let broker = Broker::start();
    broker.create_topic("from-flume", 1);
    let port = free_port();
    let collector = format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = thrift\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{}{source_extra}\
         c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n\
         c.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\nc.sinks.k1.channel = ch\n\
         c.sinks.k1.kafka.bootstrap.servers = {}\nc.sinks.k1.kafka.topic = from-flume\n\
         c.sinks.k1.useFlumeEventFormat = true\n",
        protocol_line("c.sources.r1", protocol),
        broker.bootstrap()
    );
    let mut rflume = Agent::start(&collector, "c");
    let pid = rflume.pid();
    rflume.wait_until(
        Duration::from_secs(60),
        "rflume's thrift source listens",
        || listens_on(pid, port),
    );
    let upstream = format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {TOTAL}\na1.sources.s1.channels = c1\n\
         a1.sources.s1.interceptors = i1\na1.sources.s1.interceptors.i1.type = static\n\
         a1.sources.s1.interceptors.i1.key = tier\na1.sources.s1.interceptors.i1.value = flume\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 100\n\
         a1.sinks.k1.type = thrift\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 50\n{}{sink_extra}",
        protocol_line("a1.sinks.k1", protocol)
    );
    let mut flume = FlumeAgent::start(&peers, version, &upstream, "a1");
    let bootstrap = broker.bootstrap();
    flume.wait_until(DELIVERY, "every event reached rflume's topic", || {
        consume_all(&bootstrap, "from-flume", 1, TOTAL, Duration::from_secs(5)).len() >= TOTAL
    });
    flume.stop(Duration::from_secs(30));
    rflume.stop_cleanly();
    let events: Vec<FlumeEvent> = consume_all(&bootstrap, "from-flume", 1, TOTAL, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect();
    let bodies: Vec<&str> = events.iter().map(|e| e.body_str()).collect();
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(bodies, expected, "{version:?}: each event once, in order");
    let want: std::collections::BTreeMap<String, String> =
        [("tier".to_string(), "flume".to_string())].into();
    assert!(
        events.iter().all(|e| e.header_map() == want),
        "{version:?}: exactly the header set in Flume arrived"
    );
}

fn rflume_to_flume(
    test: &str,
    version: FlumeVersion,
    protocol: Option<&str>,
    source_extra: &str,
    sink_extra: &str,
) {
    let Some(peers) = Peers::get(test, &[version.set()]) else {
        return;
    };
    let port = free_port();
    let collector = format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = thrift\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{}{source_extra}\
         c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n\
         c.sinks.k1.type = logger\nc.sinks.k1.channel = ch\n",
        protocol_line("c.sources.r1", protocol)
    );
    let flume = FlumeAgent::start(&peers, version, &collector, "c");
    let upstream = format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {TOTAL}\na1.sources.s1.channels = c1\n\
         a1.sources.s1.interceptors = i1\na1.sources.s1.interceptors.i1.type = static\n\
         a1.sources.s1.interceptors.i1.key = tier\na1.sources.s1.interceptors.i1.value = rflume\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 100\n\
         a1.sinks.k1.type = thrift\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 50\n{}{sink_extra}",
        protocol_line("a1.sinks.k1", protocol)
    );
    let mut rflume = Agent::start(&upstream, "a1");
    // The logger sink prints the headers and the body's last characters.
    let events = |log: &str| -> Vec<(String, String)> {
        logger_events(log)
            .iter()
            .map(|e| {
                let headers = e
                    .strip_prefix("Event: { headers:")
                    .and_then(|r| r.split(" body:").next())
                    .unwrap_or_default()
                    .to_string();
                let number = e
                    .trim_end_matches(" }")
                    .rsplit(' ')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (headers, number)
            })
            .collect()
    };
    flume.wait_until(DELIVERY, "Flume's logger sink printed every event", || {
        events(&flume.log()).len() >= TOTAL
    });
    rflume.stop_cleanly();
    let expected: Vec<(String, String)> = (0..TOTAL)
        .map(|i| ("{tier=rflume}".to_string(), i.to_string()))
        .collect();
    assert_eq!(
        events(&flume.log()),
        expected,
        "{version:?}: each event once, in order, with its header\n{}",
        rflume.log()
    );
}

#[test]
fn flume_1_9_thrift_sink_to_rflume_thrift_source() {
    flume_to_rflume(
        "flume_1_9_thrift_sink_to_rflume_thrift_source",
        FlumeVersion::V1_9_0,
        None,
        "",
        "",
    );
}

#[test]
fn flume_1_11_thrift_sink_to_rflume_thrift_source_binary() {
    flume_to_rflume(
        "flume_1_11_thrift_sink_to_rflume_thrift_source_binary",
        FlumeVersion::V1_11_0,
        Some("binary"),
        "",
        "",
    );
}

#[test]
fn rflume_thrift_sink_to_flume_1_9_thrift_source_binary() {
    rflume_to_flume(
        "rflume_thrift_sink_to_flume_1_9_thrift_source_binary",
        FlumeVersion::V1_9_0,
        Some("binary"),
        "",
        "",
    );
}

#[test]
fn rflume_thrift_sink_to_flume_1_11_thrift_source() {
    rflume_to_flume(
        "rflume_thrift_sink_to_flume_1_11_thrift_source",
        FlumeVersion::V1_11_0,
        None,
        "",
        "",
    );
}

/// Flume 1.9's thrift sink with `ssl = true` and a JKS truststore → rflume's thrift source with a
/// PKCS#12 keystore.
#[test]
fn flume_1_9_thrift_sink_over_tls_to_rflume_thrift_source() {
    let ca = TestCa::new("rflume flume-thrift CA");
    let (cert, key) = ca.server_cert("rflume-source", None);
    let keystore = ca.pkcs12(&cert, &key, STORE_PASSWORD);
    let truststore = ca.truststore("JKS", STORE_PASSWORD);
    flume_to_rflume(
        "flume_1_9_thrift_sink_over_tls_to_rflume_thrift_source",
        FlumeVersion::V1_9_0,
        None,
        &format!(
            "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\nc.sources.r1.keystore-type = PKCS12\n\
             c.sources.r1.keystore-password = {STORE_PASSWORD}\n",
            keystore.display()
        ),
        &format!(
            "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = {}\n\
             a1.sinks.k1.truststore-password = {STORE_PASSWORD}\n",
            truststore.display()
        ),
    );
}

/// rflume's thrift sink with `ssl = true` and a PKCS#12 truststore (made by keytool) → Flume 1.9's
/// thrift source with a JKS keystore (Flume's default type).
#[test]
fn rflume_thrift_sink_over_tls_to_flume_1_9_thrift_source() {
    let ca = TestCa::new("rflume thrift-flume CA");
    let (cert, key) = ca.server_cert("flume-source", None);
    let keystore = ca.jks_keystore(&ca.pkcs12(&cert, &key, STORE_PASSWORD), STORE_PASSWORD);
    let truststore = ca.truststore("PKCS12", STORE_PASSWORD);
    rflume_to_flume(
        "rflume_thrift_sink_over_tls_to_flume_1_9_thrift_source",
        FlumeVersion::V1_9_0,
        None,
        &format!(
            "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\n\
             c.sources.r1.keystore-password = {STORE_PASSWORD}\n",
            keystore.display()
        ),
        &format!(
            "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = {}\n\
             a1.sinks.k1.truststore-type = PKCS12\na1.sinks.k1.truststore-password = {STORE_PASSWORD}\n",
            truststore.display()
        ),
    );
}
