//! Tests of `settings.rs`: a sink's properties in, `KafkaSettings` and `rflume check`'s
//! diagnostics out. [`parse`] is also the fixture of the record and sink tests.

use std::path::Path;
use std::sync::Arc;

use super::settings::{default_max_in_flight_batches, KafkaSettings};
use super::topic::TopicTemplate;
use crate::config::diag::{Diagnostics, Severity};
use crate::config::reader::{ComponentProps, PropReader};
use crate::config::registry::Describe;
use crate::kafka::brokers::normalize_broker;
use crate::kafka::producer_props;

fn comp(pairs: &[(&str, &str)]) -> ComponentProps {
    ComponentProps::sink_for_test(pairs)
}

/// Parses `pairs` (line n = n-th pair) and returns the settings and the rendered diagnostics.
pub(super) fn parse(pairs: &[(&str, &str)]) -> (Option<KafkaSettings>, Vec<String>) {
    let c = comp(pairs);
    let mut d = Diagnostics::new(Arc::from(Path::new("f.conf")));
    let mut r = PropReader::new(&c, &mut d);
    let s = KafkaSettings::parse(&mut r);
    r.finish("the Kafka sink");
    let rendered = d
        .items
        .iter()
        .map(|i| {
            let sev = match i.severity {
                Severity::Error => "E",
                Severity::Unsupported => "U",
                Severity::Warning => "W",
            };
            format!("{sev} {i}")
        })
        .collect();
    (s, rendered)
}

fn has(diags: &[String], needle: &str) -> bool {
    diags.iter().any(|d| d.contains(needle))
}

#[test]
fn minimal_config_gets_flume_defaults() {
    let (s, d) = parse(&[("kafka.bootstrap.servers", "b1:9092"), ("kafka.topic", "t")]);
    let s = s.expect("valid");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(s.bootstrap_servers, vec!["b1:9092"]);
    assert_eq!(s.topic_template, TopicTemplate::Literal("t".into()));
    assert_eq!(s.batch_size(), 100);
    assert!(s.allow_topic_override);
    assert_eq!(s.topic_header, "topic");
    assert!(!s.use_flume_event_format);
    assert_eq!(s.default_partition_id, None);
    assert_eq!(
        s.max_in_flight_batches, 100,
        "10,000 events of 100-event batches"
    );
    assert_eq!(default_max_in_flight_batches(1000), 10);
    assert_eq!(default_max_in_flight_batches(5000), 8);
    assert_eq!(default_max_in_flight_batches(1), 1024);
    assert_eq!(s.producer.get("acks"), Some("1"));
    assert_eq!(s.producer.get("linger.ms"), Some("5"));
    assert_eq!(s.producer.get("partitioner"), Some("murmur2_random"));
    assert_eq!(s.producer.get("bootstrap.servers"), Some("b1:9092"));
    let rows = s.describe();
    assert!(
        rows.contains(&("kafka.topic".into(), "t".into())),
        "{rows:?}"
    );
    assert!(rows.contains(&("flumeBatchSize".into(), "100".into())));
    assert!(rows
        .iter()
        .any(|(k, v)| k == "kafka.producer.acks" && v.starts_with('1')));
    assert!(rows.iter().any(|(k, _)| k == "rflume.maxInFlightBatches"));
}

#[test]
fn missing_bootstrap_servers_is_an_error() {
    let (s, d) = parse(&[("kafka.topic", "t")]);
    assert!(s.is_none());
    assert!(
        has(
            &d,
            "E f.conf:1: a1.sinks.k1.kafka.bootstrap.servers: Bootstrap Servers must be specified"
        ),
        "{d:?}"
    );
    let (s, _) = parse(&[("kafka.bootstrap.servers", " "), ("kafka.topic", "t")]);
    assert!(s.is_none());
}

#[test]
fn missing_topic_warns_and_uses_default() {
    let (s, d) = parse(&[("kafka.bootstrap.servers", "b1")]);
    let s = s.expect("valid");
    assert_eq!(s.topic, "default-flume-topic");
    assert!(s.topic_is_default);
    assert!(
        has(
            &d,
            "Topic was not specified. Using default-flume-topic as the topic."
        ),
        "{d:?}"
    );
}

#[test]
fn broker_entries_are_trimmed_and_get_default_port() {
    let (s, d) = parse(&[
        (
            "kafka.bootstrap.servers",
            "Slave001:9092, Slave002 ,Slave003,[::1],[fe80::1]:9093",
        ),
        ("kafka.topic", "t"),
    ]);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        s.expect("valid").bootstrap_servers,
        vec![
            "Slave001:9092",
            "Slave002:9092",
            "Slave003:9092",
            "[::1]:9092",
            "[fe80::1]:9093"
        ]
    );
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "a:9092,,b"),
        ("kafka.topic", "t"),
    ]);
    assert_eq!(
        s.expect("empty entries are skipped, as Java does")
            .bootstrap_servers,
        vec!["a:9092", "b:9092"]
    );
    assert!(
        has(
            &d,
            "f.conf:1: a1.sinks.k1.kafka.bootstrap.servers: entry 2 of the broker list is empty; skipped"
        ),
        "{d:?}"
    );
    let (s, d) = parse(&[("kafka.bootstrap.servers", " , "), ("kafka.topic", "t")]);
    assert!(s.is_none());
    assert!(has(&d, "the broker list has no entries"), "{d:?}");
    let (s, d) = parse(&[("kafka.bootstrap.servers", "a:x"), ("kafka.topic", "t")]);
    assert!(s.is_none());
    assert!(has(&d, "'x' is not a port number"), "{d:?}");
    assert_eq!(normalize_broker("SSL://h").as_deref(), Ok("SSL://h:9092"));
}

#[test]
fn deprecated_names_warn_and_new_names_win() {
    let (s, d) = parse(&[
        ("brokerList", "old:1"),
        ("topic", "oldtopic"),
        ("batchSize", "7"),
        ("requiredAcks", "-1"),
    ]);
    let s = s.expect("valid");
    assert_eq!(s.bootstrap_servers, vec!["old:1"]);
    assert_eq!(s.topic, "oldtopic");
    assert_eq!(s.batch_size(), 7);
    assert_eq!(s.producer.get("acks"), Some("-1"));
    for old in ["brokerList", "topic", "batchSize", "requiredAcks"] {
        let warning = "W f.conf:";
        let text = format!("{old} is deprecated. Please use the parameter");
        assert!(
            d.iter()
                .any(|x| x.starts_with(warning) && x.contains(&text)),
            "{old}: {d:?}"
        );
    }
    let (s, d) = parse(&[
        ("brokerList", "old:1"),
        ("kafka.bootstrap.servers", "new:2"),
        ("batchSize", "7"),
        ("flumeBatchSize", "9"),
        ("requiredAcks", "0"),
        ("kafka.producer.acks", "all"),
        ("kafka.topic", "t"),
    ]);
    let s = s.expect("valid");
    assert_eq!(s.bootstrap_servers, vec!["new:2"]);
    assert_eq!(s.batch_size(), 9);
    assert_eq!(s.producer.get("acks"), Some("all"));
    assert!(
        has(&d, "brokerList is deprecated and ignored here"),
        "{d:?}"
    );
}

#[test]
fn serializer_class_is_accepted_with_a_warning() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("serializer.class", "kafka.serializer.StringEncoder"),
        ("key.serializer.class", "kafka.serializer.StringEncoder"),
    ]);
    assert!(s.is_some());
    assert!(
        has(
            &d,
            "W f.conf:3: a1.sinks.k1.serializer.class: serializer.class is deprecated and ignored"
        ),
        "{d:?}"
    );
    assert!(
        has(&d, "W f.conf:4: a1.sinks.k1.key.serializer.class"),
        "{d:?}"
    );
}

#[test]
fn kafka_flume_batch_size_is_reported_and_not_used() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.flumeBatchSize", "20"),
    ]);
    assert_eq!(s.expect("valid").batch_size(), 100);
    assert_eq!(d.len(), 1, "exactly one diagnostic: {d:?}");
    assert!(
        d[0].starts_with("W f.conf:3: a1.sinks.k1.kafka.flumeBatchSize: ignored"),
        "{d:?}"
    );
    assert!(d[0].contains("a1.sinks.k1.flumeBatchSize = 20"), "{d:?}");
}

#[test]
fn partition_and_batch_values_are_validated() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("defaultPartitionId", "x"),
        ("flumeBatchSize", "0"),
    ]);
    assert!(s.is_none());
    assert!(
        has(
            &d,
            "E f.conf:3: a1.sinks.k1.defaultPartitionId: 'x' is not an integer partition id"
        ),
        "{d:?}"
    );
    assert!(
        has(
            &d,
            "E f.conf:4: a1.sinks.k1.flumeBatchSize: must be greater than 0"
        ),
        "{d:?}"
    );
    let (s, _) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("defaultPartitionId", "3"),
        ("partitionIdHeader", "p"),
        ("useFlumeEventFormat", "true"),
        ("allowTopicOverride", "false"),
        ("topicHeader", "dest"),
        ("timestampHeader", "ts"),
        ("rflume.maxInFlightBatches", "2"),
    ]);
    let s = s.expect("valid");
    assert_eq!(s.default_partition_id, Some(3));
    assert_eq!(s.partition_id_header.as_deref(), Some("p"));
    assert!(s.use_flume_event_format);
    assert!(!s.allow_topic_override);
    assert_eq!(s.topic_header, "dest");
    assert_eq!(s.timestamp_header.as_deref(), Some("ts"));
    assert_eq!(s.max_in_flight_batches, 2);
}

#[test]
fn invalid_topics_are_errors() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "my topic"),
    ]);
    assert!(s.is_none());
    assert!(
        has(&d, "E f.conf:2: a1.sinks.k1.kafka.topic: topic 'my topic'"),
        "{d:?}"
    );
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t-%{h}"),
        ("allowTopicOverride", "false"),
    ]);
    assert!(s.is_none());
    assert!(has(&d, "Flume does not substitute"), "{d:?}");
    let (s, d) = parse(&[("kafka.bootstrap.servers", "b"), ("kafka.topic", ".%{h}")]);
    assert!(s.is_some(), "a template's fixed part may be '.': {d:?}");
    let (s, d) = parse(&[("kafka.bootstrap.servers", "b"), ("kafka.topic", "a b%{h}")]);
    assert!(s.is_none());
    assert!(has(&d, "not \" \""), "{d:?}");
}

#[test]
fn header_mappings_follow_java_order() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("header.timestamp", "ts"),
        ("header.a", "A"),
    ]);
    assert!(d.is_empty(), "{d:?}");
    // "a" is bucket 1, "timestamp" bucket 15 (see kafka::avro tests).
    assert_eq!(
        s.expect("valid").header_mappings,
        vec![
            ("a".to_string(), "A".to_string()),
            ("timestamp".to_string(), "ts".to_string())
        ]
    );
}

#[test]
fn producer_settings_pass_translate_or_warn() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.linger.ms", "50"),
        ("kafka.producer.compression.type", "gzip"),
        ("kafka.producer.buffer.memory", "33554432"),
        ("kafka.producer.delivery.timeout.ms", "30000"),
        ("kafka.producer.max.request.size", "2000000"),
        ("kafka.producer.send.buffer.bytes", "-1"),
        ("kafka.producer.max.block.ms", "1000"),
        (
            "kafka.producer.key.serializer",
            "org.apache.kafka.common.serialization.StringSerializer",
        ),
        (
            "kafka.producer.value.serializer",
            "org.apache.kafka.common.serialization.ByteArraySerializer",
        ),
        ("kafka.producer.queue.buffering.max.messages", "50000"),
        ("kafka.producer.security.protocol", "PLAINTEXT"),
        ("kafka.producer.acks", "all"),
    ]);
    let s = s.expect("valid");
    let p = &s.producer;
    assert_eq!(p.get("linger.ms"), Some("50"));
    assert_eq!(p.get("compression.type"), Some("gzip"));
    assert_eq!(p.get("queue.buffering.max.kbytes"), Some("32768"));
    assert_eq!(p.get("message.timeout.ms"), Some("30000"));
    assert_eq!(p.get("message.max.bytes"), Some("2000000"));
    assert_eq!(p.get("socket.send.buffer.bytes"), Some("0"));
    assert_eq!(p.get("queue.buffering.max.messages"), Some("50000"));
    assert_eq!(p.get("acks"), Some("all"));
    assert_eq!(p.get("max.block.ms"), None);
    assert!(has(&d, "W f.conf:9: a1.sinks.k1.kafka.producer.max.block.ms: max.block.ms has no effect in rflume because"), "{d:?}");
    assert!(
        has(
            &d,
            "W f.conf:10: a1.sinks.k1.kafka.producer.key.serializer: key.serializer has no effect"
        ),
        "{d:?}"
    );
    assert!(has(&d, "W f.conf:11: a1.sinks.k1.kafka.producer.value.serializer: value.serializer has no effect"), "{d:?}");
    assert!(
        has(
            &d,
            "W f.conf:3: a1.sinks.k1.kafka.producer.linger.ms: records wait up to 50 ms"
        ),
        "{d:?}"
    );
    assert_eq!(d.len(), 4, "{d:?}");
    let rows = s.describe();
    assert!(
        rows.contains(&(
            "kafka.producer.buffer.memory".into(),
            "32768 (as librdkafka queue.buffering.max.kbytes; 33554432 bytes = 32768 KiB)".into()
        )),
        "{rows:?}"
    );
}

#[test]
fn java_only_settings_flume_runs_are_unsupported() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        (
            "kafka.producer.partitioner.class",
            "com.example.MyPartitioner",
        ),
        ("kafka.producer.interceptor.classes", "com.example.Spy"),
        (
            "kafka.producer.value.serializer",
            "io.confluent.kafka.serializers.KafkaAvroSerializer",
        ),
        (
            "kafka.producer.ssl.truststore.location",
            "/etc/kafka/truststore.jks",
        ),
        (
            "kafka.producer.ssl.keystore.location",
            "/etc/kafka/keystore.jks",
        ),
    ]);
    // Flume's producer runs each of these (the class on its classpath, a JKS store): rflume
    // cannot, so the agent refuses to start rather than run a pipeline without this sink.
    assert!(s.is_none());
    assert!(
        has(
            &d,
            "U f.conf:3: a1.sinks.k1.kafka.producer.partitioner.class: a custom partitioner class"
        ),
        "{d:?}"
    );
    assert!(
        has(
            &d,
            "U f.conf:4: a1.sinks.k1.kafka.producer.interceptor.classes"
        ),
        "{d:?}"
    );
    assert!(
        has(
            &d,
            "U f.conf:5: a1.sinks.k1.kafka.producer.value.serializer: a custom value.serializer"
        ),
        "{d:?}"
    );
    assert!(has(&d, "U f.conf:6: a1.sinks.k1.kafka.producer.ssl.truststore.location: librdkafka cannot read a JKS trust store"), "{d:?}");
    assert!(has(&d, "kafka.producer.ssl.ca.location = ca.pem"), "{d:?}");
    assert!(has(&d, "U f.conf:7: a1.sinks.k1.kafka.producer.ssl.keystore.location: librdkafka cannot read a JKS keystore"), "{d:?}");
    assert!(has(&d, "-deststoretype PKCS12"), "{d:?}");
}

#[test]
fn pem_stores_are_translated() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.ssl.truststore.location", "/etc/ca.pem"),
        ("kafka.producer.ssl.truststore.type", "PEM"),
        ("kafka.producer.ssl.truststore.password", "x"),
    ]);
    assert!(has(&d, "ssl.truststore.password has no effect"), "{d:?}");
    if producer_props::librdkafka_has_feature("ssl") {
        let s = s.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(s.producer.get("ssl.ca.location"), Some("/etc/ca.pem"));
    } else {
        // A librdkafka built without OpenSSL says so, on the user's line.
        assert!(s.is_none());
        assert!(
            has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.ssl.truststore.location: librdkafka: Configuration property \"ssl.ca.location\" not supported in this build"),
            "{d:?}"
        );
    }
}

/// A bad value of a known setting drops the sink (Java's producer would not start either); an
/// unknown name is ignored with a warning, as Java's producer ignores it.
#[test]
fn librdkafka_rejects_bad_values_and_unknown_names_are_ignored() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.lingr.ms", "5"),
        ("kafka.producer.compression.type", "brotli"),
    ]);
    assert!(s.is_none());
    assert!(has(&d, "W f.conf:3: a1.sinks.k1.kafka.producer.lingr.ms: 'lingr.ms' is neither a Kafka producer setting nor a librdkafka property; ignored"), "{d:?}");
    assert!(has(&d, "(did you mean kafka.producer.linger.ms?)"), "{d:?}");
    assert!(has(&d, "E f.conf:4: a1.sinks.k1.kafka.producer.compression.type: librdkafka: Invalid value \"brotli\""), "{d:?}");
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.lingr.ms", "5"),
    ]);
    let s = s.unwrap_or_else(|| panic!("an unknown name alone does not drop the sink: {d:?}"));
    assert_eq!(s.producer.get("lingr.ms"), None, "not passed to librdkafka");
}

#[test]
fn aliases_of_one_property_conflict() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.delivery.timeout.ms", "1000"),
        ("kafka.producer.message.timeout.ms", "2000"),
    ]);
    assert!(s.is_none());
    assert!(
        has(
            &d,
            "which a1.sinks.k1.kafka.producer.delivery.timeout.ms (line 3) already sets"
        ),
        "{d:?}"
    );
}

#[test]
fn idempotence_needs_acks_all() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.enable.idempotence", "true"),
    ]);
    assert!(s.is_none());
    assert!(has(&d, "E f.conf:3: a1.sinks.k1.kafka.producer.enable.idempotence: enable.idempotence = true needs acks = all"), "{d:?}");
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.enable.idempotence", "true"),
        ("kafka.producer.acks", "all"),
    ]);
    assert!(s.is_some(), "{d:?}");
}

#[test]
fn scram_needs_a_librdkafka_with_openssl() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.security.protocol", "SASL_PLAINTEXT"),
        ("kafka.producer.sasl.mechanism", "SCRAM-SHA-256"),
        ("kafka.producer.sasl.username", "u"),
        ("kafka.producer.sasl.password", "p"),
    ]);
    if producer_props::librdkafka_has_feature("sasl_scram") {
        assert!(s.is_some(), "{d:?}");
    } else {
        // rd_kafka_conf_set accepts the mechanism; only creating a client finds it missing.
        assert!(s.is_none());
        assert!(
            has(&d, "E f.conf:4: a1.sinks.k1.kafka.producer.sasl.mechanism: librdkafka refuses this producer configuration: No provider for SASL mechanism SCRAM-SHA-256"),
            "{d:?}"
        );
    }
}

#[test]
fn librdkafka_cross_checks_surface_at_parse_time() {
    // Each value is valid alone; librdkafka refuses the combination when creating a producer.
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.enable.idempotence", "true"),
        ("kafka.producer.acks", "all"),
        ("kafka.producer.max.in.flight.requests.per.connection", "10"),
    ]);
    assert!(s.is_none(), "{d:?}");
    assert!(
        has(&d, "librdkafka refuses this producer configuration"),
        "{d:?}"
    );
    // A consumer-only property is accepted by rd_kafka_conf_set but warned about.
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.group.id", "g"),
    ]);
    assert!(s.is_some(), "{d:?}");
    assert!(
        has(
            &d,
            "W f.conf:3: a1.sinks.k1.kafka.producer.group.id: librdkafka:"
        ),
        "{d:?}"
    );
}

#[test]
fn jaas_secrets_never_appear_in_describe_or_debug() {
    let (s, _) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.sasl.mechanism", "PLAIN"),
        (
            "kafka.producer.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";"#,
        ),
    ]);
    if producer_props::librdkafka_has_feature("sasl_plain") {
        let s = s.expect("PLAIN credentials are valid");
        assert_eq!(s.producer.get("sasl.username"), Some("u"));
        assert!(s.describe().iter().all(|(_, v)| !v.contains("= p")));
        assert!(
            !format!("{s:?}").contains("\"p\""),
            "Debug must not show the password"
        );
    }
}

/// A password written in any of the places a Flume file can hold one — right or wrong — never
/// shows in a diagnostic, in `rflume check`'s rows or in `Debug`, whatever else is mistyped.
#[test]
fn passwords_never_appear_in_diagnostics_rows_or_debug() {
    const PW: &str = "Pa55-w0rd-XYZ";
    let jaas = "kafka.producer.sasl.jaas.config";
    let plain = format!(
        r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="{PW}";"#
    );
    let one = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let sasl = |k: &str, v: &str| {
        vec![
            (
                "kafka.producer.security.protocol".to_string(),
                "SASL_SSL".to_string(),
            ),
            (
                "kafka.producer.sasl.mechanism".to_string(),
                "PLAIN".to_string(),
            ),
            (k.to_string(), v.to_string()),
        ]
    };
    // (the lines, whether librdkafka gets the password: not for errors, no-effect or typos)
    let variants: Vec<(Vec<(String, String)>, bool)> = vec![
        (sasl(jaas, &plain), true),
        // Malformed JAAS lines, each a different parse error.
        (sasl(jaas, plain.trim_end_matches(';')), false),
        (sasl(jaas, &format!("{PW} required;")), false),
        (
            sasl(jaas, &format!("x.PlainLoginModule {PW} username=alice;")),
            false,
        ),
        (
            sasl(
                jaas,
                &format!("x.PlainLoginModule required username=alice {PW};"),
            ),
            false,
        ),
        (
            sasl(
                jaas,
                &format!("x.PlainLoginModule required username=alice password=\"{PW};"),
            ),
            false,
        ),
        (
            [
                sasl("kafka.producer.sasl.username", "alice"),
                one("kafka.producer.sasl.password", PW),
            ]
            .concat(),
            true,
        ),
        (one("kafka.producer.ssl.key.password", PW), true),
        (
            vec![
                (
                    "kafka.producer.ssl.keystore.location".into(),
                    "/k.p12".into(),
                ),
                ("kafka.producer.ssl.keystore.password".into(), PW.into()),
            ],
            true,
        ),
        (one("kafka.producer.ssl.keystore.password", PW), false),
        (one("kafka.producer.ssl.truststore.password", PW), false),
        (one("kafka.producer.ssl.key.pem", PW), true),
        // Mistyped names carrying the password.
        (one("kafka.producer.sasl.pasword", PW), false),
        (one("kafka.producer.sasl.jaas.confg", &plain), false),
    ];
    for (extra, reaches_librdkafka) in variants {
        let mut pairs: Vec<(&str, &str)> =
            vec![("kafka.bootstrap.servers", "b"), ("kafka.topic", "t")];
        pairs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let (s, d) = parse(&pairs);
        for line in &d {
            assert!(!line.contains(PW), "{extra:?}: diagnostic shows it: {line}");
        }
        let Some(s) = s else {
            assert!(!reaches_librdkafka, "{extra:?}: refused: {d:?}");
            continue;
        };
        assert!(!format!("{s:?}").contains(PW), "{extra:?}: Debug shows it");
        for (k, v) in s.describe() {
            assert!(!v.contains(PW), "{extra:?}: check row {k} shows it");
        }
        let exposed = s
            .producer
            .props
            .iter()
            .any(|p| p.value.expose().contains(PW));
        assert_eq!(exposed, reaches_librdkafka, "{extra:?}");
    }
}

/// GSSAPI needs a librdkafka with Cyrus SASL; without it the sink is unsupported (the agent
/// refuses to start unless --allow-unsupported), said on the sasl.mechanism line.
#[test]
fn gssapi_is_reported_clearly_when_not_built_in() {
    let (s, d) = parse(&[
        ("kafka.bootstrap.servers", "b"),
        ("kafka.topic", "t"),
        ("kafka.producer.security.protocol", "SASL_PLAINTEXT"),
        ("kafka.producer.sasl.mechanism", "GSSAPI"),
        ("kafka.producer.sasl.kerberos.service.name", "kafka"),
    ]);
    if producer_props::librdkafka_has_feature("sasl_gssapi") {
        assert!(s.is_some(), "{d:?}");
    } else {
        assert!(s.is_none());
        assert!(
            has(&d, "f.conf:4: a1.sinks.k1.kafka.producer.sasl.mechanism: SASL GSSAPI (Kerberos) is not built into this rflume"),
            "{d:?}"
        );
        assert_eq!(d.len(), 1, "one message, not librdkafka's as well: {d:?}");
    }
}

/// PLAIN: the JAAS line becomes librdkafka's username and password (tansu cannot do PLAIN, so
/// this is tested by the settings it produces), SCRAM likewise.
#[test]
fn plain_and_scram_jaas_lines_become_librdkafka_credentials() {
    for (mechanism, module) in [
        (
            "PLAIN",
            "org.apache.kafka.common.security.plain.PlainLoginModule",
        ),
        (
            "SCRAM-SHA-512",
            "org.apache.kafka.common.security.scram.ScramLoginModule",
        ),
    ] {
        let jaas = format!("{module} REQUIRED username='svc' password=\"p'w\\\"x\";");
        let (s, d) = parse(&[
            ("kafka.bootstrap.servers", "b"),
            ("kafka.topic", "t"),
            ("kafka.producer.security.protocol", "SASL_SSL"),
            ("kafka.producer.sasl.mechanism", mechanism),
            ("kafka.producer.sasl.jaas.config", &jaas),
        ]);
        let s = s.unwrap_or_else(|| panic!("{mechanism}: {d:?}"));
        assert_eq!(s.producer.get("sasl.username"), Some("svc"));
        assert_eq!(s.producer.get("sasl.password"), Some("p'w\"x"));
        assert_eq!(s.producer.get("sasl.mechanism"), Some(mechanism));
        assert_eq!(s.producer.get("security.protocol"), Some("SASL_SSL"));
    }
}

/// `rflume.onRejected` and `rflume.deadLetter.*`: the default diverts to `~/.flume/dead-letter`
/// with files named after agent and sink; a wrong value is an error; dead-letter settings with
/// another policy are warned about.
#[test]
fn on_rejected_and_dead_letter_settings() {
    use super::dead_letter::{DeadLetterSettings, OnRejected};
    let base = [("kafka.bootstrap.servers", "b"), ("kafka.topic", "t")];
    let (s, d) = parse(&base);
    let s = s.expect("valid");
    assert!(d.is_empty(), "{d:?}");
    match &s.on_rejected {
        OnRejected::DeadLetter(DeadLetterSettings {
            directory,
            max_file_size,
            file_prefix,
        }) => {
            assert!(directory.ends_with(".flume/dead-letter"), "{directory:?}");
            assert_eq!(*max_file_size, 64 * 1024 * 1024);
            assert_eq!(file_prefix, "a1.k1");
        }
        other => panic!("default is the dead-letter file, got {other:?}"),
    }
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        parse(&pairs)
    };
    let (s, _) = with(&[("rflume.onRejected", "DROP")]);
    assert_eq!(s.expect("valid").on_rejected, OnRejected::Drop);
    let (s, _) = with(&[("rflume.onRejected", "retry")]);
    assert_eq!(s.expect("valid").on_rejected, OnRejected::Retry);
    let (s, d) = with(&[("rflume.onRejected", "ignore")]);
    assert!(s.is_none());
    assert!(
        has(
            &d,
            "E f.conf:3: a1.sinks.k1.rflume.onRejected: 'ignore' is not deadLetter, drop or retry"
        ),
        "{d:?}"
    );
    let (s, d) = with(&[
        ("rflume.onRejected", "drop"),
        ("rflume.deadLetter.directory", "/var/lib/dl"),
    ]);
    assert!(s.is_some());
    assert!(has(&d, "W f.conf:4: a1.sinks.k1.rflume.deadLetter.directory: has no effect: rflume.onRejected is drop"), "{d:?}");
    let (s, d) = with(&[("rflume.deadLetter.maxFileSize", "0")]);
    assert!(s.is_none(), "{d:?}");
}
