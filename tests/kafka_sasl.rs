//! SASL SCRAM to Kafka through Flume's own properties (`kafka.producer.security.protocol`,
//! `sasl.mechanism`, `sasl.jaas.config` with Kafka's `ScramLoginModule`, written the way Flume
//! users write it: single quotes, the password from `${env:…}`), end to end against a broker
//! that requires authentication, over plaintext and through TLS.
//!
//! These tests need the sqlite-capable tansu (the PyPI wheel's broker forgets SCRAM users), a
//! 12–17 minute build on 2 cores, so they are `#[ignore]`d in the default run and run by
//! `bash scripts/test-sasl.sh`, which builds that broker once into the tool cache. scripts/test.sh
//! runs them too when the broker is already cached.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::security::{tansu_libsql_bin, SaslBroker, TestCa};
use common::*;

const TOPIC: &str = "sasl";
const DELIVERY: Duration = Duration::from_secs(90);
const USER: &str = "alice";
const PASSWORD: &str = "alice-Scram-pw-2026";
const WRONG: &str = "not-alices-pw-9999";

fn libsql() -> PathBuf {
    tansu_libsql_bin().unwrap_or_else(|| {
        panic!("no sqlite-capable tansu: run bash scripts/install-tansu-libsql.sh (or scripts/test-sasl.sh)")
    })
}

/// TAILDIR → memory → Kafka with SASL; the password comes from `$RFLUME_TEST_KAFKA_PASSWORD`.
fn conf(
    files: &Path,
    bootstrap: &str,
    protocol: &str,
    mechanism: &str,
    ca: Option<&Path>,
) -> String {
    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username='{USER}' \
         password='${{env:RFLUME_TEST_KAFKA_PASSWORD}}';"
    );
    let ca = ca.map(|c| c.display().to_string());
    let mut settings = vec![
        ("sinks.k1.kafka.producer.reconnect.backoff.max.ms", "500"),
        ("sinks.k1.kafka.producer.security.protocol", protocol),
        ("sinks.k1.kafka.producer.sasl.mechanism", mechanism),
        ("sinks.k1.kafka.producer.sasl.jaas.config", jaas.as_str()),
    ];
    if let Some(ca) = &ca {
        settings.push(("sinks.k1.kafka.producer.ssl.truststore.location", ca));
        settings.push(("sinks.k1.kafka.producer.ssl.truststore.type", "PEM"));
    }
    let pos = files.join("taildir_position.json");
    taildir_to_kafka(&files.join("logs"), &pos, bootstrap, TOPIC, &settings)
}

fn start_agent(text: &str, password: &str) -> Agent {
    let dir = tempfile::tempdir().expect("agent dir");
    let conf = dir.path().join("flume.conf");
    fs::write(&conf, text).expect("conf");
    let mut cmd = Command::new(rflume_bin());
    cmd.args(["agent", "--name", "a1", "-Dflume.root.logger=INFO,console"])
        .args(["--drain-timeout", "2", "--conf-file"])
        .arg(&conf)
        .env("RFLUME_TEST_KAFKA_PASSWORD", password);
    Agent::spawn(dir, cmd)
}

fn read(broker: &SaslBroker, mechanism: &str, ca: Option<&Path>, expected: usize) -> Vec<Record> {
    let ca = ca.map(|c| c.display().to_string());
    let mut client = vec![
        ("sasl.mechanism", mechanism),
        ("sasl.username", USER),
        ("sasl.password", PASSWORD),
    ];
    match &ca {
        Some(ca) => {
            client.push(("security.protocol", "SASL_SSL"));
            client.push(("ssl.ca.location", ca));
        }
        None => client.push(("security.protocol", "SASL_PLAINTEXT")),
    }
    consume_all_with(
        &broker.bootstrap(),
        &client,
        TOPIC,
        1,
        expected,
        Duration::from_secs(10),
    )
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i:04}")).collect()
}

/// A wrong password is named as one, the agent keeps retrying and delivers nothing; restarted
/// with the right password (from the environment, never in the file) every line arrives exactly
/// once. Neither password ever appears in the agent's log.
fn wrong_password_then_fixed(mechanism: &str, tansu_mechanism: &str, tls: bool) {
    let ca = TestCa::new("rflume test CA");
    let (cert, key) = ca.server_cert("broker", None);
    let ca_cert = tls.then(|| ca.cert());
    let broker = SaslBroker::start(
        &libsql(),
        TOPIC,
        USER,
        PASSWORD,
        tansu_mechanism,
        tls.then_some((cert.as_path(), key.as_path())),
    );
    let files = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(files.path().join("logs")).expect("logs");
    let app = files.path().join("logs/app.log");
    let first = lines("before-fix", 200);
    append_lines(&app, &first);
    let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
    let text = conf(
        files.path(),
        &broker.bootstrap(),
        protocol,
        mechanism,
        ca_cert.as_deref(),
    );

    let mut agent = start_agent(&text, WRONG);
    agent.wait_for_log(DELIVERY, "refused the SASL credentials (wrong password?)");
    assert!(agent.is_running(), "the agent keeps running");
    assert!(read(&broker, mechanism, ca_cert.as_deref(), 0).is_empty());
    agent.stop_cleanly();

    let second = lines("after-fix", 100);
    append_lines(&app, &second);
    let mut fixed = start_agent(&text, PASSWORD);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    fixed.wait_until(DELIVERY, "every line with the right password", || {
        read(&broker, mechanism, ca_cert.as_deref(), all.len()).len() >= all.len()
    });
    fixed.stop_cleanly();
    assert_eq!(
        values(&read(&broker, mechanism, ca_cert.as_deref(), all.len())),
        all
    );
    for log in [agent.log(), fixed.log()] {
        for secret in [PASSWORD, WRONG] {
            assert!(!log.contains(secret), "the log shows a password");
        }
    }
}

#[test]
#[ignore = "needs the sqlite-capable tansu: bash scripts/test-sasl.sh"]
fn scram_sha_256_wrong_password_is_named_and_nothing_is_lost_once_fixed() {
    wrong_password_then_fixed("SCRAM-SHA-256", "scram256", false);
}

#[test]
#[ignore = "needs the sqlite-capable tansu: bash scripts/test-sasl.sh"]
fn scram_sha_512_over_tls_wrong_password_is_named_and_nothing_is_lost_once_fixed() {
    wrong_password_then_fixed("SCRAM-SHA-512", "scram512", true);
}
