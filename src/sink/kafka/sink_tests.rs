//! Tests of the Kafka sink against librdkafka's mock cluster (in-process brokers that can be taken
//! down and up): what is committed, rolled back and delivered, in which order, through outages,
//! full queues and stops.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::settings_tests::parse;
use super::sink::KafkaSink;
use crate::channel::{Channel, ChannelError};
use crate::event::{Event, Headers};
use crate::metrics::{ChannelCounter, SinkCounter};
use crate::sink::{Sink, SinkCore, Status};

/// A minimal channel: a queue, rollbacks to the head, a count of taken events.
struct TestChannel {
    queue: Mutex<VecDeque<Event>>,
    taken: AtomicUsize,
    counter: Arc<ChannelCounter>,
}

impl TestChannel {
    fn with(events: Vec<Event>) -> Arc<TestChannel> {
        Arc::new(TestChannel {
            queue: Mutex::new(events.into()),
            taken: AtomicUsize::new(0),
            counter: Arc::new(ChannelCounter::default()),
        })
    }
    fn bodies(&self) -> Vec<String> {
        let q = self.queue.lock().unwrap();
        q.iter()
            .map(|e| String::from_utf8_lossy(&e.body).into_owned())
            .collect()
    }
}

impl Channel for TestChannel {
    fn name(&self) -> &str {
        "c1"
    }
    fn kind(&self) -> &'static str {
        "test"
    }
    fn put(&self, events: &mut Vec<Event>) -> Result<(), ChannelError> {
        self.queue.lock().unwrap().extend(events.drain(..));
        Ok(())
    }
    fn take_raw(&self, max: usize, wait: Duration) -> Vec<Event> {
        let deadline = Instant::now() + wait;
        loop {
            {
                let mut q = self.queue.lock().unwrap();
                if !q.is_empty() {
                    let n = max.min(q.len());
                    self.taken.fetch_add(n, Ordering::SeqCst);
                    return q.drain(..n).collect();
                }
            }
            if Instant::now() >= deadline {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fn commit_take(&self, events: &[Event]) {
        self.taken.fetch_sub(events.len(), Ordering::SeqCst);
    }
    fn rollback_take(&self, events: Vec<Event>) {
        self.taken.fetch_sub(events.len(), Ordering::SeqCst);
        let mut q = self.queue.lock().unwrap();
        for e in events.into_iter().rev() {
            q.push_front(e);
        }
    }
    fn len(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
    fn len_including_in_flight(&self) -> usize {
        self.len() + self.taken.load(Ordering::SeqCst)
    }
    fn capacity(&self) -> usize {
        usize::MAX
    }
    fn transaction_capacity(&self) -> usize {
        usize::MAX
    }
    fn counter(&self) -> &Arc<ChannelCounter> {
        &self.counter
    }
}

fn events(prefix: &str, n: usize) -> Vec<Event> {
    (0..n).map(|i| Event::new(format!("{prefix}{i}"))).collect()
}

fn cluster(
    topic: &str,
    partitions: i32,
) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(topic, partitions, 1).expect("topic");
    c
}

/// A sink over `channel` with the given extra properties (bootstrap and topic preset).
fn sink(
    bootstrap: &str,
    topic: &str,
    channel: &Arc<TestChannel>,
    extra: &[(&str, &str)],
) -> KafkaSink {
    let mut pairs = vec![
        ("kafka.bootstrap.servers", bootstrap),
        ("kafka.topic", topic),
        // Fast reconnects after a mock broker comes back (default backoff grows to 10 s).
        ("kafka.producer.reconnect.backoff.ms", "10"),
        ("kafka.producer.reconnect.backoff.max.ms", "100"),
    ];
    pairs.extend_from_slice(extra);
    let (s, d) = parse(&pairs);
    let s = s.unwrap_or_else(|| panic!("invalid settings: {d:?}"));
    let channel: Arc<dyn Channel> = channel.clone();
    let mut k = KafkaSink::new(
        SinkCore::new("k1", channel, Arc::new(SinkCounter::default())),
        &s,
    )
    .expect("producer");
    k.start().expect("start");
    k
}

/// Calls `process` until the channel is drained and nothing is in flight; returns the errors.
fn run_until_drained(k: &mut KafkaSink, channel: &TestChannel, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut errors = Vec::new();
    while channel.len_including_in_flight() > 0 || k.has_in_flight() {
        assert!(
            Instant::now() < deadline,
            "not drained in {limit:?}; errors {errors:?}"
        );
        match k.process() {
            Ok(_) => {}
            Err(e) => {
                errors.push(e.to_string());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    errors
}

/// Every record of partition 0..partitions of `topic`, as (partition, body, key, headers).
fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<(i32, String, Option<String>, usize)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "verify")
        .set("fetch.wait.max.ms", "10")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            use rdkafka::message::Headers as _;
            out.push((
                m.partition(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.headers().map(|h| h.count()).unwrap_or(0),
            ));
        }
    }
    // Anything beyond `expected` would be a duplicate: give it a moment to show up.
    let extra_deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < extra_deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            out.push((
                m.partition(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                None,
                0,
            ));
        }
    }
    out
}

#[test]
fn batches_are_committed_after_acknowledgement() {
    let c = cluster("t1", 1);
    let ch = TestChannel::with(events("e", 250));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t1",
        &ch,
        &[
            ("flumeBatchSize", "100"),
            ("rflume.maxInFlightBatches", "2"),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let counter = k.core().counter.clone();
    assert_eq!(counter.event_drain_attempt.get(), 250);
    assert_eq!(counter.event_drain_success.get(), 250);
    assert_eq!(counter.batch_complete.get(), 2);
    assert_eq!(counter.batch_underflow.get(), 1);
    assert_eq!(counter.rollback.get(), 0);
    // An empty channel with nothing in flight: Backoff, counted as an empty batch.
    assert_eq!(k.process().unwrap(), Status::Backoff);
    assert_eq!(counter.batch_empty.get(), 1);
    let got = consume(&c.bootstrap_servers(), "t1", 1, 250);
    let bodies: Vec<String> = got.iter().map(|r| r.1.clone()).collect();
    assert_eq!(
        bodies,
        (0..250).map(|i| format!("e{i}")).collect::<Vec<_>>()
    );
    k.stop(Instant::now() + Duration::from_secs(1));
}

#[test]
fn key_partition_topic_and_headers_reach_kafka() {
    let c = cluster("base", 3);
    c.create_topic("other", 1, 1).expect("topic");
    let with_headers = |pairs: &[(&str, &str)], body: &str| {
        Event::with_headers(
            pairs.iter().copied().collect::<Headers>(),
            body.as_bytes().to_vec(),
        )
    };
    let ch = TestChannel::with(vec![
        with_headers(&[("key", "k1"), ("p", "2"), ("host", "h1")], "to-p2"),
        with_headers(&[("topic", "other")], "to-other"),
    ]);
    let mut k = sink(
        &c.bootstrap_servers(),
        "base",
        &ch,
        &[("partitionIdHeader", "p"), ("header.host", "origin")],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let base = consume(&c.bootstrap_servers(), "base", 3, 1);
    assert_eq!(
        base,
        vec![(2, "to-p2".to_string(), Some("k1".to_string()), 1)]
    );
    let other = consume(&c.bootstrap_servers(), "other", 1, 1);
    assert_eq!(other, vec![(0, "to-other".to_string(), None, 0)]);
}

#[test]
fn brokers_down_rolls_back_in_order_then_delivers() {
    let c = cluster("t2", 1);
    let ch = TestChannel::with(events("e", 35));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t2",
        &ch,
        &[
            ("flumeBatchSize", "10"),
            ("rflume.maxInFlightBatches", "4"),
            ("kafka.producer.delivery.timeout.ms", "300"),
        ],
    );
    c.broker_down(1).expect("down");
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        assert!(Instant::now() < deadline, "no failure reported");
        match k.process() {
            Ok(_) => continue,
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("Failed to publish events"), "{err}");
    assert!(err.contains("timed out"), "{err}");
    // Everything is back, in the original order, and nothing counted as sent.
    assert!(!k.has_in_flight());
    assert_eq!(
        ch.bodies(),
        (0..35).map(|i| format!("e{i}")).collect::<Vec<_>>()
    );
    assert_eq!(ch.len_including_in_flight(), 35);
    let counter = k.core().counter.clone();
    assert_eq!(counter.event_drain_success.get(), 0);
    assert!(counter.rollback.get() >= 1);

    c.broker_up(1).expect("up");
    run_until_drained(&mut k, &ch, Duration::from_secs(15));
    assert_eq!(counter.event_drain_success.get(), 35);
    let got = consume(&c.bootstrap_servers(), "t2", 1, 35);
    let bodies: Vec<String> = got.iter().map(|r| r.1.clone()).collect();
    assert_eq!(bodies, (0..35).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

/// Under `rflume.onRejected = retry` (Flume's behaviour) an event that can never be sent fails
/// its whole batch, every time.
#[test]
fn non_integer_partition_header_rolls_back_the_batch_under_retry() {
    let c = cluster("t3", 1);
    let mut evs = events("e", 5);
    evs[3].headers.insert("p", "three");
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t3",
        &ch,
        &[("partitionIdHeader", "p"), ("rflume.onRejected", "retry")],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        assert!(Instant::now() < deadline, "no failure reported");
        if let Err(e) = k.process() {
            break e.to_string();
        }
    };
    assert!(
        err.contains("Non integer partition id specified (header p = 'three')"),
        "{err}"
    );
    assert_eq!(
        ch.bodies(),
        (0..5).map(|i| format!("e{i}")).collect::<Vec<_>>()
    );
    assert_eq!(k.core().counter.rollback.get(), 1);
    assert_eq!(k.core().counter.event_drain_success.get(), 0);
}

/// The records of one dead-letter directory: (topic, error code, headers, body).
fn dead_letters(dir: &std::path::Path) -> Vec<(String, String, serde_json::Value, Vec<u8>)> {
    use base64::Engine as _;
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.expect("entry").path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).expect("read").lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            let body = base64::engine::general_purpose::STANDARD
                .decode(v["body"].as_str().expect("body"))
                .expect("base64");
            out.push((
                v["topic"].as_str().unwrap_or_default().to_string(),
                v["error"].as_str().unwrap_or_default().to_string(),
                v["headers"].clone(),
                body,
            ));
        }
    }
    out
}

/// An event that can never be sent (its partition header is not a number) goes to the
/// dead-letter file with its headers; the rest of its batch is delivered and committed.
#[test]
fn non_integer_partition_header_goes_to_the_dead_letter_file() {
    let c = cluster("t3d", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let dl = dir.path().join("dl");
    let mut evs = events("e", 5);
    evs[3].headers.insert("p", "three");
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t3d",
        &ch,
        &[
            ("partitionIdHeader", "p"),
            ("rflume.deadLetter.directory", dl.to_str().expect("utf-8")),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let counter = k.core().counter.clone();
    assert_eq!(counter.rollback.get(), 0);
    assert_eq!(counter.event_drain_success.get(), 4);
    assert_eq!(counter.event_dead_lettered.get(), 1);
    let got: Vec<String> = consume(&c.bootstrap_servers(), "t3d", 1, 4)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(got, ["e0", "e1", "e2", "e4"]);
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "t3d");
    assert_eq!(dead[0].1, "InvalidPartition");
    assert_eq!(dead[0].2["p"], "three");
    assert_eq!(dead[0].3, b"e3");
}

/// A record larger than librdkafka's `message.max.bytes` is refused before it is sent: it is
/// diverted, byte for byte, and the records around it arrive in order.
#[test]
fn a_record_too_large_is_diverted_and_the_rest_delivered() {
    let c = cluster("t10", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let dl = dir.path().join("dl");
    let mut evs = events("e", 6);
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    evs[2] = Event::new(big.clone());
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t10",
        &ch,
        &[
            ("flumeBatchSize", "3"),
            ("kafka.producer.max.request.size", "2000"),
            ("rflume.deadLetter.directory", dl.to_str().expect("utf-8")),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let got: Vec<String> = consume(&c.bootstrap_servers(), "t10", 1, 5)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(got, ["e0", "e1", "e3", "e4", "e5"]);
    let dead = dead_letters(&dl);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, "MessageSizeTooLarge");
    assert_eq!(dead[0].3, big);
    assert_eq!(k.core().counter.rollback.get(), 0);
    assert_eq!(k.core().counter.event_dead_lettered.get(), 1);
}

/// `rflume.onRejected = drop`: the record is counted and dropped, no file is written.
#[test]
fn drop_policy_counts_and_drops() {
    let c = cluster("t11", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut evs = events("e", 3);
    evs[1] = Event::new(vec![b'x'; 5000]);
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t11",
        &ch,
        &[
            ("kafka.producer.max.request.size", "2000"),
            ("rflume.onRejected", "drop"),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(k.core().counter.event_rejected_dropped.get(), 1);
    assert_eq!(k.core().counter.event_drain_success.get(), 2);
    let got: Vec<String> = consume(&c.bootstrap_servers(), "t11", 1, 2)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(got, ["e0", "e2"]);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

/// The broker refuses a produce request for good (`MessageSizeTooLarge` injected into the mock
/// broker): its records are diverted as the delivery reports arrive, nothing is rolled back, and
/// every event ends up exactly once in Kafka or in the dead-letter file.
#[test]
fn records_the_broker_rejects_are_diverted_from_the_delivery_report() {
    use rdkafka::types::RDKafkaApiKey;
    use rdkafka::types::RDKafkaRespErr;
    let c = cluster("t12", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let dl = dir.path().join("dl");
    let ch = TestChannel::with(events("e", 20));
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE],
    );
    let mut k = sink(
        &c.bootstrap_servers(),
        "t12",
        &ch,
        &[
            ("flumeBatchSize", "5"),
            ("rflume.deadLetter.directory", dl.to_str().expect("utf-8")),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let counter = k.core().counter.clone();
    let dead: Vec<String> = dead_letters(&dl)
        .into_iter()
        .map(|d| {
            assert_eq!(d.1, "MessageSizeTooLarge");
            String::from_utf8_lossy(&d.3).into_owned()
        })
        .collect();
    assert!(!dead.is_empty(), "the injected error rejected something");
    let delivered = 20 - dead.len();
    let mut all: Vec<String> = consume(&c.bootstrap_servers(), "t12", 1, delivered)
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(all.len(), delivered, "no duplicates, nothing missing");
    all.extend(dead.iter().cloned());
    all.sort_by_key(|b| b[1..].parse::<usize>().unwrap_or(usize::MAX));
    assert_eq!(all, (0..20).map(|i| format!("e{i}")).collect::<Vec<_>>());
    assert_eq!(counter.rollback.get(), 0);
    assert_eq!(counter.event_dead_lettered.get() as usize, dead.len());
    assert_eq!(counter.event_drain_success.get() as usize, delivered);
}

/// A dead-letter file that cannot be written is a retriable failure: the batch is rolled back,
/// nothing is lost, and once the directory can be created the record is diverted.
#[test]
fn an_unwritable_dead_letter_directory_rolls_back_until_fixed() {
    let c = cluster("t13", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file where the directory should be").expect("write");
    let dl = blocker.join("dl");
    let mut evs = events("e", 3);
    evs[1] = Event::new(vec![b'x'; 5000]);
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t13",
        &ch,
        &[
            ("kafka.producer.max.request.size", "2000"),
            ("rflume.deadLetter.directory", dl.to_str().expect("utf-8")),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        assert!(Instant::now() < deadline, "no failure reported");
        if let Err(e) = k.process() {
            break e.to_string();
        }
    };
    assert!(err.contains("could not be diverted"), "{err}");
    assert!(err.contains("cannot write the dead-letter file"), "{err}");
    assert_eq!(ch.len_including_in_flight(), 3, "all rolled back");
    assert_eq!(k.core().counter.event_drain_success.get(), 0);
    std::fs::remove_file(&blocker).expect("unblock");
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(dead_letters(&dl).len(), 1);
    assert_eq!(k.core().counter.event_drain_success.get(), 2);
}

#[test]
fn failed_batch_among_pipelined_ones_keeps_order_and_loses_nothing() {
    // Batch 2 (events 5..9) targets a partition that does not exist; the others succeed.
    let c = cluster("t4", 1);
    let mut evs = events("e", 15);
    for e in &mut evs[5..10] {
        e.headers.insert("p", "7");
    }
    let ch = TestChannel::with(evs);
    let mut k = sink(
        &c.bootstrap_servers(),
        "t4",
        &ch,
        &[
            ("flumeBatchSize", "5"),
            ("rflume.maxInFlightBatches", "3"),
            ("partitionIdHeader", "p"),
            ("kafka.producer.delivery.timeout.ms", "500"),
            ("rflume.onRejected", "retry"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        assert!(Instant::now() < deadline, "no failure reported");
        if let Err(e) = k.process() {
            break e.to_string();
        }
    };
    assert!(!k.has_in_flight(), "{err}");
    let committed = k.core().counter.event_drain_success.get() as usize;
    let left = ch.bodies();
    // The failed batch is back at the head, followed by whatever was never sent; batch 1 was
    // acknowledged and committed; nothing is lost or reordered in the channel.
    assert_eq!(
        left[..5],
        (5..10).map(|i| format!("e{i}")).collect::<Vec<_>>()[..],
        "{err}"
    );
    assert_eq!(committed + left.len(), 15, "{err}; left {left:?}");
    let sent = consume(&c.bootstrap_servers(), "t4", 1, committed);
    let sent: Vec<String> = sent.iter().map(|r| r.1.clone()).collect();
    let mut all: Vec<String> = sent.clone();
    all.extend(left.iter().cloned());
    all.sort_by_key(|b| b[1..].parse::<usize>().unwrap());
    assert_eq!(
        all,
        (0..15).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        "sent {sent:?}"
    );
    assert_eq!(k.core().counter.rollback.get(), 1, "{err}");
}

#[test]
fn full_producer_queue_waits_instead_of_dropping() {
    let c = cluster("t5", 1);
    let ch = TestChannel::with(events("e", 60));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t5",
        &ch,
        &[
            ("flumeBatchSize", "20"),
            ("kafka.producer.queue.buffering.max.messages", "5"),
        ],
    );
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    let got = consume(&c.bootstrap_servers(), "t5", 1, 60);
    let bodies: Vec<String> = got.iter().map(|r| r.1.clone()).collect();
    assert_eq!(bodies, (0..60).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

#[test]
fn unresolvable_broker_in_the_list_does_not_block_delivery() {
    let c = cluster("t6", 1);
    let ch = TestChannel::with(events("e", 10));
    let bootstrap = format!("no-such-host.invalid:9092,{}", c.bootstrap_servers());
    let mut k = sink(&bootstrap, "t6", &ch, &[]);
    let errors = run_until_drained(&mut k, &ch, Duration::from_secs(10));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(k.core().counter.event_drain_success.get(), 10);
}

#[test]
fn stop_rolls_back_what_is_not_acknowledged() {
    let c = cluster("t7", 1);
    let ch = TestChannel::with(events("e", 30));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t7",
        &ch,
        &[("flumeBatchSize", "10"), ("rflume.maxInFlightBatches", "3")],
    );
    c.broker_down(1).expect("down");
    for _ in 0..3 {
        k.process().expect("process");
    }
    assert!(k.has_in_flight());
    assert_eq!(ch.len(), 0);
    let started = Instant::now();
    k.stop(Instant::now() + Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!k.has_in_flight());
    assert_eq!(
        ch.bodies(),
        (0..30).map(|i| format!("e{i}")).collect::<Vec<_>>()
    );
    assert_eq!(ch.len_including_in_flight(), 30);
    assert_eq!(k.core().counter.event_drain_success.get(), 0);
}

#[test]
fn stop_waits_for_acknowledgements_and_commits_them() {
    let c = cluster("t9", 1);
    let ch = TestChannel::with(events("e", 30));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t9",
        &ch,
        &[("flumeBatchSize", "10"), ("rflume.maxInFlightBatches", "3")],
    );
    for _ in 0..3 {
        k.process().expect("process");
    }
    assert_eq!(ch.len(), 0);
    k.stop(Instant::now() + Duration::from_secs(5));
    assert!(!k.has_in_flight());
    assert_eq!(ch.len_including_in_flight(), 0);
    assert_eq!(k.core().counter.event_drain_success.get(), 30);
    assert_eq!(k.core().counter.rollback.get(), 0);
}

#[test]
fn dropping_without_stop_returns_batches_in_order() {
    let c = cluster("t8", 1);
    let ch = TestChannel::with(events("e", 20));
    let mut k = sink(
        &c.bootstrap_servers(),
        "t8",
        &ch,
        &[("flumeBatchSize", "5"), ("rflume.maxInFlightBatches", "4")],
    );
    c.broker_down(1).expect("down");
    for _ in 0..4 {
        k.process().expect("process");
    }
    assert_eq!(ch.len(), 0);
    drop(k);
    assert_eq!(
        ch.bodies(),
        (0..20).map(|i| format!("e{i}")).collect::<Vec<_>>()
    );
}
