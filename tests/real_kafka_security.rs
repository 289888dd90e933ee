//! TLS and SASL against a real Apache Kafka 2.3.1 broker (the seed's version): one broker with a
//! PLAINTEXT listener (for the test's own consumer), a SASL_PLAINTEXT listener offering PLAIN,
//! SCRAM-SHA-256 and SCRAM-SHA-512 (users created with Kafka's own `kafka-configs`), an SSL
//! listener with a certificate from a CA the test generates with `openssl`, a SASL_SSL
//! listener (the same mechanisms inside TLS with that certificate), and a second SSL listener
//! that requires client certificates signed by that CA (`ssl.client.auth = required`). rflume's Kafka sink
//! is configured through Flume's `kafka.producer.*` properties exactly as a Flume user writes them
//! (`security.protocol`, `sasl.mechanism`, `sasl.jaas.config`, `ssl.truststore.*`).
//!
//! Asserted: every line arrives over each mechanism, over SCRAM-SHA-512 inside TLS with the
//! seed's style of settings, and over mutual TLS with the agent's certificate as a PEM keystore
//! and as a PKCS#12 keystore; a wrong SCRAM password, an untrusted CA and a missing client
//! certificate each give a clear ERROR and deliver nothing, then the same lines arrive once the config is
//! fixed and the agent reloads it (SIGHUP) — nothing lost while it was failing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::jvm::{unique, KafkaCluster, KafkaVersion, Peers};
use common::security::TestCa;
use common::*;

const LINES: usize = 100;
const DELIVERY: Duration = Duration::from_secs(120);
const KEYSTORE_PASSWORD: &str = "broker-store-pw";
const PLAIN_USER: (&str, &str) = ("alice", "alice-plain-secret");
const SCRAM_USER: (&str, &str) = ("bob", "bob-scram-secret");
const CLIENT_STORE_PASSWORD: &str = "agent-store-pw";

/// A CA and what it signed: the broker's certificate (in the broker's PKCS#12 keystore), a
/// PKCS#12 trust store for the broker to check client certificates with, and an agent's client
/// certificate both as a PEM keystore and as a PKCS#12 keystore; and a second CA that signed
/// nothing (the "wrong CA"). Made with the shared test PKI ([`TestCa`]).
struct Pki {
    ca: PathBuf,
    other_ca: PathBuf,
    keystore: PathBuf,
    truststore: PathBuf,
    client_pem: PathBuf,
    client_p12: PathBuf,
    _cas: (TestCa, TestCa),
}

fn make_pki() -> Pki {
    let ca = TestCa::new("rflume test ca");
    let other = TestCa::new("rflume test other-ca");
    let (broker_cert, broker_key) = ca.server_cert("broker", None);
    let (client_cert, client_key) = ca.server_cert("client", None);
    Pki {
        ca: ca.cert(),
        other_ca: other.cert(),
        keystore: ca.pkcs12(&broker_cert, &broker_key, KEYSTORE_PASSWORD),
        // Kafka 2.3.1 reads JKS or PKCS#12 trust stores only (PEM came with 2.7).
        truststore: ca.truststore("PKCS12", KEYSTORE_PASSWORD),
        client_pem: ca.pem_keystore(&client_cert, &client_key),
        client_p12: ca.pkcs12(&client_cert, &client_key, CLIENT_STORE_PASSWORD),
        _cas: (ca, other),
    }
}

struct Secured {
    cluster: KafkaCluster,
    sasl_port: u16,
    ssl_port: u16,
    sasl_ssl_port: u16,
    /// The SSL listener that requires a client certificate.
    mtls_port: u16,
    pki: Pki,
}

fn start(test: &str) -> Option<Secured> {
    let peers = Peers::get(test, &["zookeeper-3.4.14", "kafka-2.3.1"])?;
    let pki = make_pki();
    let (sasl_port, ssl_port, sasl_ssl_port, mtls_port) =
        (free_port(), free_port(), free_port(), free_port());
    let listeners = format!(
        "PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port},\
         SSL://127.0.0.1:{ssl_port},SASL_SSL://127.0.0.1:{sasl_ssl_port},\
         MTLS://127.0.0.1:{mtls_port}"
    );
    let plain_jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_{}=\"{}\";",
        PLAIN_USER.0, PLAIN_USER.1
    );
    let scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    let keystore = pki.keystore.display().to_string();
    let truststore = pki.truststore.display().to_string();
    let cluster = KafkaCluster::start(
        &peers,
        KafkaVersion::V2_3_1,
        1,
        &[
            ("listeners", &listeners),
            ("inter.broker.listener.name", "PLAINTEXT"),
            // MTLS is a second SSL listener, the one that requires client certificates.
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL",
            ),
            ("listener.name.mtls.ssl.client.auth", "required"),
            ("listener.name.mtls.ssl.truststore.location", &truststore),
            ("listener.name.mtls.ssl.truststore.type", "PKCS12"),
            (
                "listener.name.mtls.ssl.truststore.password",
                KEYSTORE_PASSWORD,
            ),
            (
                "sasl.enabled.mechanisms",
                "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            ),
            (
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                &plain_jaas,
            ),
            (
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config",
                scram_jaas,
            ),
            (
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config",
                scram_jaas,
            ),
            // Each SASL listener needs a login module for every enabled mechanism, or the
            // broker does not start.
            ("listener.name.sasl_ssl.plain.sasl.jaas.config", &plain_jaas),
            (
                "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
                scram_jaas,
            ),
            (
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                scram_jaas,
            ),
            ("ssl.keystore.location", &keystore),
            ("ssl.keystore.type", "PKCS12"),
            ("ssl.keystore.password", KEYSTORE_PASSWORD),
            ("ssl.key.password", KEYSTORE_PASSWORD),
            ("ssl.client.auth", "none"),
        ],
    );
    cluster.add_scram_user(SCRAM_USER.0, SCRAM_USER.1);
    Some(Secured {
        cluster,
        sasl_port,
        ssl_port,
        sasl_ssl_port,
        mtls_port,
        pki,
    })
}

/// How one Kafka sink reaches the broker, in Flume's property names.
enum Access<'a> {
    Sasl {
        mechanism: &'a str,
        user: &'a str,
        password: &'a str,
    },
    Tls {
        ca: &'a Path,
    },
    /// TLS to the listener that requires a client certificate, presenting `client`.
    MutualTls {
        client: ClientCert<'a>,
    },
    /// SASL inside TLS (SASL_SSL), trusting `ca`.
    SaslTls {
        mechanism: &'a str,
        user: &'a str,
        password: &'a str,
        ca: &'a Path,
    },
}

/// The client certificate a sink presents, in the forms Flume's users write it.
enum ClientCert<'a> {
    None,
    /// `ssl.keystore.type = PEM`: the certificate and its key in one file.
    Pem(&'a Path),
    /// `ssl.keystore.location` + `ssl.keystore.password` (PKCS#12).
    Pkcs12(&'a Path, &'a str),
}

fn sink_lines(s: &Secured, name: &str, topic: &str, access: &Access) -> String {
    let p = format!("a1.sinks.{name}");
    let mut out = format!(
        "{p}.type = org.apache.flume.sink.kafka.KafkaSink\n\
         {p}.kafka.topic = {topic}\n\
         {p}.kafka.producer.acks = all\n"
    );
    match access {
        Access::Sasl {
            mechanism,
            user,
            password,
        } => {
            let module = if *mechanism == "PLAIN" {
                "org.apache.kafka.common.security.plain.PlainLoginModule"
            } else {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            };
            out.push_str(&format!(
                "{p}.kafka.bootstrap.servers = 127.0.0.1:{}\n\
                 {p}.kafka.producer.security.protocol = SASL_PLAINTEXT\n\
                 {p}.kafka.producer.sasl.mechanism = {mechanism}\n\
                 {p}.kafka.producer.sasl.jaas.config = {module} required username=\"{user}\" password=\"{password}\";\n",
                s.sasl_port
            ));
        }
        Access::Tls { ca } => out.push_str(&format!(
            "{p}.kafka.bootstrap.servers = 127.0.0.1:{}\n\
             {p}.kafka.producer.security.protocol = SSL\n\
             {p}.kafka.producer.ssl.truststore.location = {}\n\
             {p}.kafka.producer.ssl.truststore.type = PEM\n",
            s.ssl_port,
            ca.display()
        )),
        Access::MutualTls { client } => {
            out.push_str(&format!(
                "{p}.kafka.bootstrap.servers = 127.0.0.1:{}\n\
                 {p}.kafka.producer.security.protocol = SSL\n\
                 {p}.kafka.producer.ssl.truststore.location = {}\n\
                 {p}.kafka.producer.ssl.truststore.type = PEM\n",
                s.mtls_port,
                s.pki.ca.display()
            ));
            match client {
                ClientCert::None => {}
                ClientCert::Pem(path) => out.push_str(&format!(
                    "{p}.kafka.producer.ssl.keystore.location = {}\n\
                     {p}.kafka.producer.ssl.keystore.type = PEM\n",
                    path.display()
                )),
                ClientCert::Pkcs12(path, password) => out.push_str(&format!(
                    "{p}.kafka.producer.ssl.keystore.location = {}\n\
                     {p}.kafka.producer.ssl.keystore.type = PKCS12\n\
                     {p}.kafka.producer.ssl.keystore.password = {password}\n",
                    path.display()
                )),
            }
        }
        // As the seed's sinks are written: SCRAM's login module in the JAAS line, the CA as a
        // PEM trust store.
        Access::SaslTls {
            mechanism,
            user,
            password,
            ca,
        } => out.push_str(&format!(
            "{p}.kafka.bootstrap.servers = 127.0.0.1:{}\n\
             {p}.kafka.producer.security.protocol = SASL_SSL\n\
             {p}.kafka.producer.sasl.mechanism = {mechanism}\n\
             {p}.kafka.producer.sasl.jaas.config = org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{password}\";\n\
             {p}.kafka.producer.ssl.truststore.location = {}\n\
             {p}.kafka.producer.ssl.truststore.type = PEM\n",
            s.sasl_ssl_port,
            ca.display()
        )),
    }
    out
}

/// exec `tail -F` of `log`, replicated to one memory channel per sink.
fn config(log: &Path, sinks: &[String]) -> String {
    let names: Vec<String> = (1..=sinks.len()).map(|i| format!("k{i}")).collect();
    let channels: Vec<String> = (1..=sinks.len()).map(|i| format!("c{i}")).collect();
    let mut out = format!(
        "a1.sources = r1\n\
         a1.channels = {}\n\
         a1.sinks = {}\n\
         a1.sources.r1.type = exec\n\
         a1.sources.r1.command = tail -F -c +0 {}\n\
         a1.sources.r1.channels = {}\n",
        channels.join(" "),
        names.join(" "),
        log.display(),
        channels.join(" ")
    );
    for (i, sink) in sinks.iter().enumerate() {
        out.push_str(&format!("a1.channels.c{}.type = memory\n", i + 1));
        out.push_str(sink);
        out.push_str(&format!("a1.sinks.k{}.channel = c{}\n", i + 1, i + 1));
    }
    out
}

fn expected(tag: &str) -> Vec<String> {
    (0..LINES).map(|i| format!("{tag}-{i:04}")).collect()
}

fn read_topic(cluster: &KafkaCluster, topic: &str, at_least: usize) -> Vec<String> {
    let mut v: Vec<String> = consume_all(&cluster.bootstrap(), topic, 1, at_least, DELIVERY)
        .iter()
        .map(|r| r.value_str().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn plain_scram_256_scram_512_tls_scram_over_tls_and_mutual_tls_deliver_every_line() {
    let Some(s) = start("real Kafka TLS and SASL") else {
        return;
    };
    let id = unique();
    let cases: Vec<(&str, Access)> = vec![
        (
            "plain",
            Access::Sasl {
                mechanism: "PLAIN",
                user: PLAIN_USER.0,
                password: PLAIN_USER.1,
            },
        ),
        (
            "scram256",
            Access::Sasl {
                mechanism: "SCRAM-SHA-256",
                user: SCRAM_USER.0,
                password: SCRAM_USER.1,
            },
        ),
        (
            "scram512",
            Access::Sasl {
                mechanism: "SCRAM-SHA-512",
                user: SCRAM_USER.0,
                password: SCRAM_USER.1,
            },
        ),
        ("tls", Access::Tls { ca: &s.pki.ca }),
        (
            "scram512-tls",
            Access::SaslTls {
                mechanism: "SCRAM-SHA-512",
                user: SCRAM_USER.0,
                password: SCRAM_USER.1,
                ca: &s.pki.ca,
            },
        ),
        (
            "mtls-pem",
            Access::MutualTls {
                client: ClientCert::Pem(&s.pki.client_pem),
            },
        ),
        (
            "mtls-p12",
            Access::MutualTls {
                client: ClientCert::Pkcs12(&s.pki.client_p12, CLIENT_STORE_PASSWORD),
            },
        ),
    ];
    let topics: Vec<String> = cases
        .iter()
        .map(|(tag, _)| format!("secured-{tag}-{id}"))
        .collect();
    for t in &topics {
        s.cluster.create_topic(t, 1);
    }
    let sinks: Vec<String> = cases
        .iter()
        .zip(&topics)
        .enumerate()
        .map(|(i, ((_, access), topic))| sink_lines(&s, &format!("k{}", i + 1), topic, access))
        .collect();
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("app.log");
    let lines = expected("line");
    append_lines(&log, &lines);
    let mut agent = Agent::start(&config(&log, &sinks), "a1");
    // Wait for every topic, then judge exactly once on whole topics after the agent stopped.
    for topic in &topics {
        read_topic(&s.cluster, topic, LINES);
    }
    agent.stop_cleanly();
    for (topic, (tag, _)) in topics.iter().zip(&cases) {
        let got = read_topic(&s.cluster, topic, LINES);
        assert_eq!(
            got,
            lines,
            "{tag}: every line, once, over the secured listener\n{}",
            agent.log()
        );
    }
    // The passwords are in the config, never in what the agent printed.
    let printed = agent.log();
    for secret in [PLAIN_USER.1, SCRAM_USER.1] {
        assert!(
            !printed.contains(secret),
            "the agent's log shows a password:\n{printed}"
        );
    }
}

/// A broken sink config delivers nothing and says why; fixed and reloaded, every line arrives.
fn fails_then_recovers(s: &Secured, tag: &str, broken: Access, fixed: Access, says: &[&str]) {
    let topic = format!("secured-{tag}-{}", unique());
    s.cluster.create_topic(&topic, 1);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("app.log");
    let lines = expected(tag);
    append_lines(&log, &lines);
    let mut agent = Agent::start(&config(&log, &[sink_lines(s, "k1", &topic, &broken)]), "a1");
    agent.wait_until(DELIVERY, &format!("{tag}: an ERROR saying why"), || {
        let l = agent.log();
        l.lines()
            .any(|line| line.contains("ERROR") && says.iter().any(|w| line.contains(w)))
    });
    let early = consume_all(&s.cluster.bootstrap(), &topic, 1, 0, Duration::from_secs(3));
    assert!(
        early.is_empty(),
        "{tag}: nothing can have been delivered yet"
    );
    fs::write(
        agent.conf_path(),
        config(&log, &[sink_lines(s, "k1", &topic, &fixed)]),
    )
    .unwrap();
    agent.signal(libc::SIGHUP);
    read_topic(&s.cluster, &topic, LINES);
    agent.stop_cleanly();
    let got = read_topic(&s.cluster, &topic, LINES);
    assert_eq!(
        got,
        lines,
        "{tag}: after the fix every line arrives, once\n{}",
        agent.log()
    );
}

#[test]
fn a_wrong_password_an_untrusted_ca_or_no_client_certificate_loses_nothing_once_fixed() {
    let Some(s) = start("real Kafka TLS and SASL failures") else {
        return;
    };
    fails_then_recovers(
        &s,
        "wrongpassword",
        Access::Sasl {
            mechanism: "SCRAM-SHA-256",
            user: SCRAM_USER.0,
            password: "not-the-password",
        },
        Access::Sasl {
            mechanism: "SCRAM-SHA-256",
            user: SCRAM_USER.0,
            password: SCRAM_USER.1,
        },
        // librdkafka's words, and rflume's explanation of them.
        &[
            "Authentication failed",
            "the broker refused the SASL credentials",
        ],
    );
    fails_then_recovers(
        &s,
        "wrongca",
        Access::Tls {
            ca: &s.pki.other_ca,
        },
        Access::Tls { ca: &s.pki.ca },
        &[
            "certificate verify failed",
            "the broker's TLS certificate could not be verified",
        ],
    );
    fails_then_recovers(
        &s,
        "nocert",
        Access::MutualTls {
            client: ClientCert::None,
        },
        Access::MutualTls {
            client: ClientCert::Pkcs12(&s.pki.client_p12, CLIENT_STORE_PASSWORD),
        },
        // rflume's explanation, with the Flume property to set.
        &["requires a TLS client certificate"],
    );
}
