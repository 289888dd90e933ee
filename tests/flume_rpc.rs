//! Real Apache Flume on the other end of rflume's Avro RPC (the JVM tier, `tests/peers/`): a node
//! can switch to rflume only if the Flume agents that stay speak with it, in both directions.
//!
//! * Flume's avro sink (`NettyAvroRpcClient`) → rflume's avro source → Kafka (tansu): every event
//!   once, in order, with the header Flume's static interceptor set;
//! * rflume's avro sink → Flume's avro source → Flume's logger sink: every event once.
//!
//! On Flume 1.9.0 (Avro 1.7.4, Netty 3) and 1.11.0 (Avro 1.11, Netty 4), without and with
//! `compression-type = deflate` on both ends, and with TLS (`ssl = true`; Flume's stores are JKS,
//! made with the JDK's `keytool` from a CA `openssl` makes for each test). With TLS and deflate
//! together the two Flume versions stack the layers in opposite orders: each test sets rflume's
//! `ssl-deflate-order` as the Flume peer needs (nothing for 1.11, the default; `flume-1.9` for
//! 1.9), so each would fail with the other order.

mod common;

use std::time::Duration;

use common::jvm::{logger_events, FlumeAgent, FlumeVersion, Peers};
use common::process::listens_on;
use common::security::TestCa;
use common::*;

const DELIVERY: Duration = Duration::from_secs(120);
const TOTAL: usize = 500;

fn deflate_line(prefix: &str, deflate: bool) -> String {
    if deflate {
        format!("{prefix}.compression-type = deflate\n")
    } else {
        String::new()
    }
}

const STORE_PASSWORD: &str = "changeit";

/// rflume's `ssl-deflate-order` for a Flume peer of `version` (only with TLS and deflate).
fn order_line(prefix: &str, version: FlumeVersion, tls: bool, deflate: bool) -> String {
    match version {
        FlumeVersion::V1_9_0 if tls && deflate => {
            format!("{prefix}.ssl-deflate-order = flume-1.9\n")
        }
        _ => String::new(),
    }
}

/// The TLS lines of each end when `tls`: (rflume's, Flume's), with the CA kept alive.
struct Tls {
    _ca: TestCa,
    rflume: String,
    flume: String,
}

/// Flume's avro sink (JKS truststore) → rflume's avro source (PKCS#12 keystore).
fn tls_flume_sink_rflume_source(tls: bool) -> Tls {
    let ca = TestCa::new("flume rpc test CA");
    if !tls {
        return Tls {
            _ca: ca,
            rflume: String::new(),
            flume: String::new(),
        };
    }
    let (cert, key) = ca.server_cert("collector", None);
    let keystore = ca.pkcs12(&cert, &key, STORE_PASSWORD);
    let truststore = ca.truststore("JKS", STORE_PASSWORD);
    Tls {
        rflume: format!(
            "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\nc.sources.r1.keystore-type = PKCS12\n\
             c.sources.r1.keystore-password = {STORE_PASSWORD}\n",
            keystore.display()
        ),
        flume: format!(
            "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = {}\n\
             a1.sinks.k1.truststore-password = {STORE_PASSWORD}\n",
            truststore.display()
        ),
        _ca: ca,
    }
}

/// rflume's avro sink (a PKCS#12 truststore made by keytool) → Flume's avro source (JKS
/// keystore, Flume's default type).
fn tls_rflume_sink_flume_source(tls: bool) -> Tls {
    let ca = TestCa::new("flume rpc test CA");
    if !tls {
        return Tls {
            _ca: ca,
            rflume: String::new(),
            flume: String::new(),
        };
    }
    let (cert, key) = ca.server_cert("collector", None);
    let keystore = ca.jks_keystore(&ca.pkcs12(&cert, &key, STORE_PASSWORD), STORE_PASSWORD);
    let truststore = ca.truststore("PKCS12", STORE_PASSWORD);
    Tls {
        rflume: format!(
            "a1.sinks.k1.ssl = true\na1.sinks.k1.truststore = {}\na1.sinks.k1.truststore-type = PKCS12\n\
             a1.sinks.k1.truststore-password = {STORE_PASSWORD}\n",
            truststore.display()
        ),
        flume: format!(
            "c.sources.r1.ssl = true\nc.sources.r1.keystore = {}\n\
             c.sources.r1.keystore-password = {STORE_PASSWORD}\n",
            keystore.display()
        ),
        _ca: ca,
    }
}

fn flume_to_rflume(test: &str, version: FlumeVersion, deflate: bool) {
    flume_to_rflume_with(test, version, deflate, false)
}

fn flume_to_rflume_with(test: &str, version: FlumeVersion, deflate: bool, tls: bool) {
    let Some(peers) = Peers::get(test, &[version.set()]) else {
        return;
    };
    let broker = Broker::start();
    broker.create_topic("from-flume", 1);
    let keys = tls_flume_sink_rflume_source(tls);
    let port = free_port();
    let collector = format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = avro\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{}{}{}\
         c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n\
         c.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\nc.sinks.k1.channel = ch\n\
         c.sinks.k1.kafka.bootstrap.servers = {}\nc.sinks.k1.kafka.topic = from-flume\n\
         c.sinks.k1.useFlumeEventFormat = true\n",
        deflate_line("c.sources.r1", deflate),
        keys.rflume,
        order_line("c.sources.r1", version, tls, deflate),
        broker.bootstrap()
    );
    let mut rflume = Agent::start(&collector, "c");
    let pid = rflume.pid();
    rflume.wait_until(
        Duration::from_secs(60),
        "rflume's avro source listens",
        || listens_on(pid, port),
    );
    // Flume's own seq source numbers the events; its static interceptor adds a header.
    let upstream = format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {TOTAL}\na1.sources.s1.channels = c1\n\
         a1.sources.s1.interceptors = i1\na1.sources.s1.interceptors.i1.type = static\n\
         a1.sources.s1.interceptors.i1.key = tier\na1.sources.s1.interceptors.i1.value = flume\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 100\n\
         a1.sinks.k1.type = avro\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 50\n{}{}",
        deflate_line("a1.sinks.k1", deflate),
        keys.flume
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
    assert!(
        events
            .iter()
            .all(|e| e.header_map().get("tier").map(String::as_str) == Some("flume")),
        "{version:?}: the header set in Flume arrived"
    );
}

fn rflume_to_flume(test: &str, version: FlumeVersion, deflate: bool) {
    rflume_to_flume_with(test, version, deflate, false)
}

fn rflume_to_flume_with(test: &str, version: FlumeVersion, deflate: bool, tls: bool) {
    let Some(peers) = Peers::get(test, &[version.set()]) else {
        return;
    };
    let keys = tls_rflume_sink_flume_source(tls);
    let port = free_port();
    let collector = format!(
        "c.sources = r1\nc.channels = ch\nc.sinks = k1\n\
         c.sources.r1.type = avro\nc.sources.r1.bind = 127.0.0.1\nc.sources.r1.port = {port}\n\
         c.sources.r1.channels = ch\n{}{}\
         c.channels.ch.type = memory\nc.channels.ch.capacity = 10000\nc.channels.ch.transactionCapacity = 1000\n\
         c.sinks.k1.type = logger\nc.sinks.k1.channel = ch\n",
        deflate_line("c.sources.r1", deflate),
        keys.flume
    );
    let flume = FlumeAgent::start(&peers, version, &collector, "c");
    let upstream = format!(
        "a1.sources = s1\na1.channels = c1\na1.sinks = k1\n\
         a1.sources.s1.type = seq\na1.sources.s1.totalEvents = {TOTAL}\na1.sources.s1.channels = c1\n\
         a1.channels.c1.type = memory\na1.channels.c1.capacity = 10000\na1.channels.c1.transactionCapacity = 100\n\
         a1.sinks.k1.type = avro\na1.sinks.k1.channel = c1\na1.sinks.k1.hostname = 127.0.0.1\n\
         a1.sinks.k1.port = {port}\na1.sinks.k1.batch-size = 50\n{}{}{}",
        deflate_line("a1.sinks.k1", deflate),
        keys.rflume,
        order_line("a1.sinks.k1", version, tls, deflate)
    );
    let mut rflume = Agent::start(&upstream, "a1");
    // The logger sink prints the body's last characters at the end of each line.
    let numbers = |log: &str| -> Vec<String> {
        logger_events(log)
            .iter()
            .filter_map(|e| {
                e.trim_end_matches(" }")
                    .rsplit(' ')
                    .next()
                    .map(str::to_string)
            })
            .collect()
    };
    flume.wait_until(DELIVERY, "Flume's logger sink printed every event", || {
        numbers(&flume.log()).len() >= TOTAL
    });
    rflume.stop_cleanly();
    let expected: Vec<String> = (0..TOTAL).map(|i| i.to_string()).collect();
    assert_eq!(
        numbers(&flume.log()),
        expected,
        "{version:?}: each event once, in order\n{}",
        rflume.log()
    );
}

#[test]
fn flume_1_9_avro_sink_to_rflume_avro_source() {
    flume_to_rflume(
        "flume_1_9_avro_sink_to_rflume_avro_source",
        FlumeVersion::V1_9_0,
        false,
    );
}

#[test]
fn flume_1_11_avro_sink_to_rflume_avro_source_with_deflate() {
    flume_to_rflume(
        "flume_1_11_avro_sink_to_rflume_avro_source_with_deflate",
        FlumeVersion::V1_11_0,
        true,
    );
}

#[test]
fn flume_1_11_avro_sink_to_rflume_avro_source() {
    flume_to_rflume(
        "flume_1_11_avro_sink_to_rflume_avro_source",
        FlumeVersion::V1_11_0,
        false,
    );
}

#[test]
fn rflume_avro_sink_to_flume_1_9_avro_source_with_deflate() {
    rflume_to_flume(
        "rflume_avro_sink_to_flume_1_9_avro_source_with_deflate",
        FlumeVersion::V1_9_0,
        true,
    );
}

#[test]
fn rflume_avro_sink_to_flume_1_11_avro_source() {
    rflume_to_flume(
        "rflume_avro_sink_to_flume_1_11_avro_source",
        FlumeVersion::V1_11_0,
        false,
    );
}

#[test]
fn flume_1_9_avro_sink_over_tls_with_deflate_to_rflume_avro_source() {
    flume_to_rflume_with(
        "flume_1_9_avro_sink_over_tls_with_deflate_to_rflume_avro_source",
        FlumeVersion::V1_9_0,
        true,
        true,
    );
}

#[test]
fn flume_1_11_avro_sink_over_tls_with_deflate_to_rflume_avro_source() {
    flume_to_rflume_with(
        "flume_1_11_avro_sink_over_tls_with_deflate_to_rflume_avro_source",
        FlumeVersion::V1_11_0,
        true,
        true,
    );
}

#[test]
fn rflume_avro_sink_over_tls_to_flume_1_9_avro_source_with_deflate() {
    rflume_to_flume_with(
        "rflume_avro_sink_over_tls_to_flume_1_9_avro_source_with_deflate",
        FlumeVersion::V1_9_0,
        true,
        true,
    );
}

#[test]
fn rflume_avro_sink_over_tls_to_flume_1_11_avro_source() {
    rflume_to_flume_with(
        "rflume_avro_sink_over_tls_to_flume_1_11_avro_source",
        FlumeVersion::V1_11_0,
        false,
        true,
    );
}

#[test]
fn rflume_avro_sink_over_tls_to_flume_1_11_avro_source_with_deflate() {
    rflume_to_flume_with(
        "rflume_avro_sink_over_tls_to_flume_1_11_avro_source_with_deflate",
        FlumeVersion::V1_11_0,
        true,
        true,
    );
}
