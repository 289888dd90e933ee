//! What rflume writes, read by a consumer no one here wrote: kafka-python (a pure-Python Kafka
//! client — another implementation of the protocol than librdkafka, which both rflume and the
//! other tests' consumers use), reading the way Spark's Kafka source reads the seed's topic
//! (assigned partitions, its own offsets; tansu 0.6.0's group coordinator does not serve
//! kafka-python's `subscribe`), and fastavro (another Avro implementation) for Flume's
//! `AvroFlumeEvent` values. Both are pinned in tests/python/requirements.txt and installed into a
//! venv by tests/python/venv.sh when missing.
//!
//! Each test stops the agent (SIGTERM, exit 0) before reading, so the topic is final.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use common::python::consume_with_kafka_python;
use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// Two tailed files, one source stamping a key and both a header mapped into the record: every
/// body (UTF-8, tabs, quotes, a 4 KiB line, bytes that are not UTF-8), key and header that
/// librdkafka reads back, kafka-python reads back too — same partitions, offsets and bytes.
#[test]
fn kafka_python_reads_every_body_key_and_header_rflume_wrote() {
    let broker = Broker::start();
    broker.create_topic("spark-input", 3);
    let input = tempfile::tempdir().unwrap();
    let (keyed, plain) = (input.path().join("a.log"), input.path().join("b.log"));
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let text_lines: Vec<String> = [
        "plain ascii".to_string(),
        "日志 ✓ ключ 🙂".to_string(),
        "tab\there, \"quotes\", back\\slash, {json: [1, 2]}".to_string(),
        "   ".to_string(),
        "x".repeat(4096),
    ]
    .into_iter()
    .chain((0..40).map(|i| format!("line {i:03}")))
    .collect();
    append_lines(&keyed, &text_lines);
    append_lines(&plain, text_lines.iter().map(|l| format!("b: {l}")));
    // Bytes that are not UTF-8 pass through untouched (the exec source does not decode them).
    let raw: &[u8] = b"raw \xff\xfe bytes";
    let mut f = OpenOptions::new().append(true).open(&plain).unwrap();
    f.write_all(raw).and_then(|()| f.write_all(b"\n")).unwrap();
    bodies.extend(text_lines.iter().map(|l| l.as_bytes().to_vec()));
    bodies.extend(text_lines.iter().map(|l| format!("b: {l}").into_bytes()));
    bodies.push(raw.to_vec());

    let config = format!(
        "a1.sources = r1 r2
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {keyed}
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = key env
a1.sources.r1.interceptors.key.type = static
a1.sources.r1.interceptors.key.key = key
a1.sources.r1.interceptors.key.value = tenant-α
a1.sources.r1.interceptors.env.type = static
a1.sources.r1.interceptors.env.key = env
a1.sources.r1.interceptors.env.value = prod
a1.sources.r2.type = exec
a1.sources.r2.command = tail -n +1 -F {plain}
a1.sources.r2.channels = c1
a1.sources.r2.interceptors = env
a1.sources.r2.interceptors.env.type = static
a1.sources.r2.interceptors.env.key = env
a1.sources.r2.interceptors.env.value = dev
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = spark-input
a1.sinks.k1.header.env = X-Env
",
        keyed = keyed.display(),
        plain = plain.display(),
        bootstrap = broker.bootstrap()
    );
    let mut agent = Agent::start(&config, "a1");
    let n = bodies.len();
    agent.wait_until(DEADLINE, &format!("{n} records in the topic"), || {
        consume_all(
            &broker.bootstrap(),
            "spark-input",
            3,
            n,
            Duration::from_secs(2),
        )
        .len()
            >= n
    });
    agent.stop_cleanly();

    let ours = consume_all(&broker.bootstrap(), "spark-input", 3, n, DEADLINE);
    let theirs =
        consume_with_kafka_python(&broker.bootstrap(), "spark-input", 3, n, false, DEADLINE);
    let mut read_by_python: Vec<Record> = theirs.iter().map(|f| f.record.clone()).collect();
    read_by_python.sort_by_key(|r| (r.partition, r.offset));
    assert_eq!(
        read_by_python, ours,
        "kafka-python and librdkafka read the same records: partition, offset, key, value, \
         headers, timestamp"
    );

    let mut got: Vec<Vec<u8>> = theirs.iter().map(|f| f.record.value.clone()).collect();
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want, "every body once, byte for byte");
    for r in theirs.iter().map(|f| &f.record) {
        let from_keyed_file = !r.value.starts_with(b"b: ") && r.value != raw;
        let (key, env): (Option<&[u8]>, &[u8]) = if from_keyed_file {
            (Some("tenant-α".as_bytes()), b"prod")
        } else {
            (None, b"dev")
        };
        assert_eq!(r.key.as_deref(), key, "{r:?}");
        assert_eq!(
            r.headers,
            [("X-Env".to_string(), Some(env.to_vec()))],
            "{r:?}"
        );
    }
    let partitions: std::collections::BTreeSet<i32> = theirs
        .iter()
        .map(|f| &f.record)
        .filter(|r| r.key.is_some())
        .map(|r| r.partition)
        .collect();
    assert_eq!(
        partitions.len(),
        1,
        "one key, one partition: {partitions:?}"
    );
}

/// `useFlumeEventFormat = true`: fastavro decodes every value as Flume's `AvroFlumeEvent` —
/// headers and body — exactly as this project's own decoder (checked against apache-avro) does.
#[test]
fn flume_event_format_values_decode_with_fastavro() {
    let broker = Broker::start();
    broker.create_topic("avro-events", 1);
    let config = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = 30
a1.sources.r1.batchSize = 10
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = i1 i2 i3
a1.sources.r1.interceptors.i1.type = static
a1.sources.r1.interceptors.i1.key = origin
a1.sources.r1.interceptors.i1.value = rflume-test ✓
a1.sources.r1.interceptors.i2.type = host
a1.sources.r1.interceptors.i3.type = timestamp
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = avro-events
a1.sinks.k1.useFlumeEventFormat = true
",
        broker.bootstrap()
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DEADLINE, "30 records in the topic", || {
        consume_all(
            &broker.bootstrap(),
            "avro-events",
            1,
            30,
            Duration::from_secs(2),
        )
        .len()
            >= 30
    });
    agent.stop_cleanly();

    let theirs =
        consume_with_kafka_python(&broker.bootstrap(), "avro-events", 1, 30, true, DEADLINE);
    let bodies: Vec<String> = theirs
        .iter()
        .map(|r| {
            let (headers, body) = r.avro.clone().expect("decoded by fastavro");
            let ours = FlumeEvent::decode(&r.record.value);
            assert_eq!(
                (&headers, &body),
                (&ours.header_map(), &ours.body),
                "fastavro and this project's decoder agree on offset {}",
                r.record.offset
            );
            assert_eq!(
                headers.keys().map(String::as_str).collect::<Vec<_>>(),
                ["host", "origin", "timestamp"],
                "{headers:?}"
            );
            assert_eq!(headers["origin"], "rflume-test ✓");
            assert!(headers["timestamp"].parse::<i64>().is_ok(), "{headers:?}");
            String::from_utf8(body).expect("seq bodies are text")
        })
        .collect();
    let want: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    assert_eq!(bodies, want, "every event once, in order");
}
