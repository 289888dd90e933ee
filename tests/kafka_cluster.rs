//! Kafka as the seed runs it: a three-broker cluster, a topic with three partitions replicated
//! three times, a broker list that names all three brokers — and the faults operators cause or
//! suffer on it (a broker killed for an upgrade, leadership moving, replicas missing, a slow
//! network, a topic not created yet). Through all of it the agent must deliver every line.
//!
//! Two kinds of cluster, each for what it can show:
//! * **librdkafka's mock cluster** (`common::mock::ThreeBrokers`), created in this test process:
//!   three brokers with their own ids, replica lists and leaders that move, brokers taken down
//!   and up, errors injected into Produce responses, a round-trip delay. The `rflume` agent is a
//!   child process connecting to its 127.0.0.1 listeners like to any cluster (the first test
//!   proves it does).
//! * **one real tansu broker behind three `tansu proxy` processes**, each advertising its own
//!   address, given to the agent as the seed's three-entry `brokerList`: SIGKILL cuts the
//!   agent's connections for real, and the broker keeps what it acknowledged.
//!
//! Every line written is numbered; the topic is read to its end after the agent stopped
//! (SIGTERM, exit 0), and the tally says what was sent, delivered and duplicated (duplicates are
//! at-least-once re-sends: reported, and asserted to be zero with
//! `kafka.producer.enable.idempotence = true`, where order per partition is asserted too). The
//! tallies are printed (`SCENARIO …` lines; `cargo test --test kafka_cluster -- --nocapture`).
//!
//! Volumes stay small: the mock keeps at most ~5 MiB per partition.
//!
//! The mock checks producer sequence numbers only for transactional producers, so on it zero
//! duplicates with idempotence shows little (the runs without it have none either: nothing there
//! loses a response). The broker dropping a retried request is shown where responses really
//! are lost: the proxy scenario below on tansu, and the failover on real Kafka 3.9.1 in
//! `tests/real_kafka.rs`.

mod common;

use std::time::{Duration, Instant};

use rdkafka::types::RDKafkaRespErr;

use common::mock::{ThreeBrokers, BROKER_IDS};
use common::process::connected_ports;
use common::*;

/// The seed's topic (every test has its own cluster, so it is every test's own).
const TOPIC: &str = "HelloKafka";
const PARTITIONS: i32 = 3;
/// Lines per scenario: 1000 a second for 3 s, ~40 KB — far below the mock's per-partition cap.
const LINES: usize = 3000;
const LINES_PER_TICK: usize = 10;
const TICK: Duration = Duration::from_millis(10);
/// Generous bound for what takes seconds when it works (start, failover, draining).
const DEADLINE: Duration = Duration::from_secs(60);
/// The cap of a stream that runs until the test has seen what it waits for (a minute at 1000
/// lines a second, ~700 KB): for faults whose effect shows only in lines written after the
/// client noticed the fault, which can take seconds on a loaded machine.
const OPEN_ENDED_LINES: usize = 60_000;

// ---------------------------------------------------------------------------------------------
// Three brokers (librdkafka's mock cluster)
// ---------------------------------------------------------------------------------------------

/// The precondition of the scenarios below: an `rflume` child process reaches the mock cluster's
/// listeners, which look like the seed's cluster (three brokers with distinct ids, every
/// partition on all three, one led by each broker), and talks to all three leaders.
#[test]
fn a_separate_agent_process_delivers_to_three_mock_brokers() {
    let cluster = ThreeBrokers::start();
    cluster.create_topic(TOPIC, PARTITIONS);
    let layout = cluster.layout(TOPIC);
    let ids: Vec<i32> = layout.brokers.iter().map(|b| b.0).collect();
    assert_eq!(ids, BROKER_IDS, "{layout:?}");
    let ports: Vec<u16> = layout.brokers.iter().map(|b| port_of(&b.1)).collect();
    assert_eq!(
        ports.iter().collect::<std::collections::HashSet<_>>().len(),
        3,
        "{layout:?}"
    );
    assert_eq!(
        layout.partitions,
        [
            (0, 1, vec![1, 2, 3]),
            (1, 2, vec![1, 2, 3]),
            (2, 3, vec![1, 2, 3])
        ],
        "three partitions, replication factor 3, one leader per broker"
    );

    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    append_lines(&file, Vec::<String>::new());
    let mut agent = Agent::start(&agent_config(&file, &cluster.bootstrap(), &[]), "a1");
    // Over 300 ms: librdkafka's sticky partitioner moves keyless records to another partition
    // every few milliseconds, not within one burst.
    let stream = LineStream::start(file.clone(), 300, LINES_PER_TICK, TICK);
    stream.finish(DEADLINE);
    agent.wait_until(DEADLINE, "all 300 lines are in the topic", || {
        Tally::of(&records_now(&cluster.bootstrap()), 300)
            .missing
            .is_empty()
    });
    let talks_to = connected_ports(agent.pid());
    agent.stop_cleanly();

    let tally = Tally::of(&read_to_end(&cluster.bootstrap(), 300), 300);
    report("three mock brokers, no fault", false, &tally);
    assert!(
        tally.missing.is_empty() && tally.duplicates == 0,
        "{}",
        tally.summary()
    );
    assert_eq!(
        tally.per_partition.len(),
        3,
        "keyless records use every partition: {}",
        tally.summary()
    );
    for port in ports {
        assert!(
            talks_to.contains(&port),
            "the agent is connected to every partition leader's broker ({port}): {talks_to:?}"
        );
    }
}

/// The leader of partition 0 (broker 1) dies while lines stream; a second later broker 2 takes over partition 0; then broker 1 comes back and
/// leadership returns to it (the client is told `NOT_LEADER_OR_FOLLOWER` by broker 2). The agent
/// delivers to partition 0 while broker 1 is still down, loses nothing, and no batch fails (the
/// producer's retries absorb it: `RollbackCount = 0`).
#[test]
fn leader_broker_dies_leadership_moves_and_returns() {
    for idempotent in [false, true] {
        // Open-ended: while partition 0 has no reachable leader, librdkafka's partitioner puts
        // new lines on the other partitions, so partition 0 grows by more than its queue only
        // with lines written after the client learned the new leader (~2 s after the kill:
        // metadata of an unavailable partition is re-queried once a second). A fixed stream
        // can end before that.
        let mut run = Scenario::start_open_ended(idempotent, &[]);
        run.wait_until_delivering();
        assert!(
            connected_ports(run.agent.pid()).contains(&run.broker_port(1)),
            "before the fault the agent talks to broker 1, partition 0's leader"
        );
        let partition_0 = |run: &Scenario| {
            records_now_within(&run.cluster.bootstrap(), Duration::from_secs(2))
                .iter()
                .filter(|r| r.partition == 0)
                .count()
        };
        // Counted just before the kill: what partition 0 gains from here on (the lines queued
        // while it has no leader, and those after) can only come through the new leader.
        let before = partition_0(&run);
        run.cluster.broker_down(1);
        // The scenario's timing: leadership moves about a second after the broker died.
        std::thread::sleep(Duration::from_secs(1));
        run.cluster.move_leader(TOPIC, 0, 2);
        run.agent.wait_until(
            DEADLINE,
            "partition 0 grows through its new leader while broker 1 is down",
            || partition_0(&run) > before + 50,
        );
        run.end_stream();
        run.cluster.broker_up(1);
        run.cluster.move_leader(TOPIC, 0, 1);
        let (tally, totals) = run.finish("leader's broker dies, leadership moves and returns");
        assert_eq!(totals["RollbackCount"], 0, "no batch failed: {totals:?}");
        assert!(
            tally.per_partition.get(&0).copied().unwrap_or(0) > before,
            "{}",
            tally.summary()
        );
    }
}

/// Leadership of partition 0 moves from broker 1 to broker 2 while every broker stays up (a
/// preferred-leader election, a reassignment): the only way the producer can learn it is broker
/// 1 answering `NOT_LEADER_OR_FOLLOWER` (no connection drops, and the periodic metadata refresh
/// is minutes away), and broker 1 refuses partition 0's records from then on, so partition 0
/// growing by more than what was in flight at the move shows the agent acted on that answer.
/// No batch fails.
#[test]
fn leadership_moving_between_live_brokers_is_followed() {
    for idempotent in [false, true] {
        // Open-ended for the same reason as above: the growth waited for is of lines written
        // after the move was noticed.
        let mut run = Scenario::start_open_ended(idempotent, &[]);
        run.wait_until_delivering();
        let partition_0 = |run: &Scenario| {
            records_now_within(&run.cluster.bootstrap(), Duration::from_secs(2))
                .iter()
                .filter(|r| r.partition == 0)
                .count()
        };
        let before = partition_0(&run);
        run.cluster.move_leader(TOPIC, 0, 2);
        run.agent.wait_until(
            DEADLINE,
            "partition 0 grows through its new leader, broker 2",
            || partition_0(&run) > before + 100,
        );
        run.end_stream();
        let (tally, totals) = run.finish("leadership moves between live brokers");
        assert_eq!(totals["RollbackCount"], 0, "no batch failed: {totals:?}");
        assert!(
            tally.per_partition.get(&0).copied().unwrap_or(0) > before + 100,
            "{}",
            tally.summary()
        );
    }
}

/// `acks = all` while the brokers answer `NOT_ENOUGH_REPLICAS` (fewer in-sync replicas than
/// `min.insync.replicas`, as while two brokers of three are being restarted): the producer
/// retries and every line arrives.
#[test]
fn not_enough_replicas_with_acks_all_is_retried_until_delivered() {
    injected_errors_are_retried(
        "NOT_ENOUGH_REPLICAS with acks=all",
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        &[("sinks.k1.kafka.producer.acks", "all")],
    );
}

/// The brokers answer `REQUEST_TIMED_OUT` (replication did not finish within the request's
/// timeout): retried, every line arrives.
#[test]
fn request_timed_out_is_retried_until_delivered() {
    injected_errors_are_retried(
        "REQUEST_TIMED_OUT",
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        &[],
    );
}

/// 30 Produce requests answered with `error` mid-stream, with and without idempotence: every
/// line delivered, no batch rolled back (the producer's own retries absorb it).
fn injected_errors_are_retried(what: &str, error: RDKafkaRespErr, extra: &[(&str, &str)]) {
    for idempotent in [false, true] {
        let mut run = Scenario::start(idempotent, extra);
        run.wait_until_delivering();
        run.inject(error, 30);
        let (_, totals) = run.finish(what);
        assert_eq!(
            totals["RollbackCount"], 0,
            "{what}: no batch failed: {totals:?}"
        );
    }
}

/// Every broker answers 2 s late from mid-stream on (a congested link): delivery slows down and
/// loses nothing. The agent is stopped while the round trip is still 2 s: its drain waits for
/// the last acknowledgements, and its totals show every line acknowledged. (Reading the topic
/// back is done after the delay is lifted: a consumer needs ~15 s per look at 2 s a round trip.)
#[test]
fn a_two_second_round_trip_slows_delivery_and_loses_nothing() {
    const RTT: Duration = Duration::from_secs(2);
    for idempotent in [false, true] {
        let mut run = Scenario::start(idempotent, &[]);
        run.wait_until_delivering();
        let slowed = Instant::now();
        run.cluster.round_trip_time(None, RTT);
        let totals = run.stop_when_read(|cluster| cluster.round_trip_time(None, Duration::ZERO));
        assert!(
            slowed.elapsed() >= RTT,
            "the agent drained {:?} after the round trip became {RTT:?}: it did not wait for it",
            slowed.elapsed()
        );
        assert_eq!(
            totals["EventDrainSuccessCount"], run.lines as u64,
            "every line acknowledged while the round trip was 2 s: {totals:?}"
        );
        let (_, totals) = run.finish("round-trip time 2 s");
        assert_eq!(totals["RollbackCount"], 0, "no batch failed: {totals:?}");
    }
}

/// One scenario run: a fresh three-broker cluster, the topic, a tailed file with numbered lines
/// streaming into it, and the agent.
struct Scenario {
    agent: Agent,
    stream: Option<LineStream>,
    idempotent: bool,
    /// What `inject` pushed, for the check that the agent met it.
    injected: Option<String>,
    cluster: ThreeBrokers,
    file: std::path::PathBuf,
    /// The lines the stream writes (all numbered `0..lines`), known once it has ended.
    lines: usize,
    _input: tempfile::TempDir,
}

impl Scenario {
    /// Starts everything; `extra` are agent settings (`sinks.k1.…`) beyond the seed's pipeline.
    fn start(idempotent: bool, extra: &[(&str, &str)]) -> Scenario {
        Scenario::start_with_lines(idempotent, extra, LINES)
    }

    /// Like [`Scenario::start`], with a stream that goes on (up to [`OPEN_ENDED_LINES`]) until
    /// [`Scenario::end_stream`].
    fn start_open_ended(idempotent: bool, extra: &[(&str, &str)]) -> Scenario {
        Scenario::start_with_lines(idempotent, extra, OPEN_ENDED_LINES)
    }

    fn start_with_lines(idempotent: bool, extra: &[(&str, &str)], lines: usize) -> Scenario {
        let cluster = ThreeBrokers::start();
        cluster.create_topic(TOPIC, PARTITIONS);
        let input = tempfile::tempdir().unwrap();
        let file = input.path().join("app.log");
        append_lines(&file, Vec::<String>::new());
        let mut settings = extra.to_vec();
        if idempotent {
            settings.push(("sinks.k1.kafka.producer.enable.idempotence", "true"));
            // Java's producer (and rflume's check) refuse idempotence with Flume's acks = 1.
            settings.push(("sinks.k1.kafka.producer.acks", "all"));
        }
        // A drain long enough for the last acknowledgements at a 2 s round trip.
        let agent = Agent::start_with_args(
            &agent_config(&file, &cluster.bootstrap(), &settings),
            "a1",
            &["--drain-timeout", "25"],
        );
        let stream = LineStream::start(file.clone(), lines, LINES_PER_TICK, TICK);
        Scenario {
            agent,
            stream: Some(stream),
            idempotent,
            injected: None,
            cluster,
            file,
            lines,
            _input: input,
        }
    }

    /// Waits until a third of the lines are written and the first of them are in the topic:
    /// the fault then hits a stream in full flow.
    fn wait_until_delivering(&self) {
        if let Some(s) = &self.stream {
            s.wait_written(LINES / 3, DEADLINE);
        }
        self.agent
            .wait_until(DEADLINE, "lines arrive in the topic", || {
                !records_now_within(&self.cluster.bootstrap(), Duration::from_secs(2)).is_empty()
            });
    }

    /// Stops the stream now: the lines written so far are the ones to find in the topic.
    fn end_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            self.lines = s.stop();
        }
    }

    /// The next `count` Produce requests, to any broker, fail with `error`.
    fn inject(&mut self, error: RDKafkaRespErr, count: usize) {
        self.cluster.fail_produce_requests(&vec![error; count]);
        self.injected = Some(format!("{count} × {error:?}"));
    }

    /// After the agent has delivered everything: a producer that does not retry gets its record
    /// in at the first attempt, so no injected error was left — the agent's requests met them
    /// all (it is the only other client).
    fn assert_injected_errors_were_met(&self) {
        let Some(injected) = &self.injected else {
            return;
        };
        let probe = TestProducer::new(
            &self.cluster.bootstrap(),
            &[("acks", "all"), ("retries", "0"), ("linger.ms", "0")],
        );
        probe.send("probe", None, b"probe", &[]);
        probe.flush(DEADLINE);
        assert_eq!(
            (probe.delivered(), probe.failed()),
            (1, Vec::<String>::new()),
            "the agent's requests met all of the {injected} injected"
        );
    }

    fn broker_port(&self, id: i32) -> u16 {
        let layout = self.cluster.layout(TOPIC);
        let address = &layout
            .brokers
            .iter()
            .find(|b| b.0 == id)
            .unwrap_or_else(|| panic!("no broker {id}: {layout:?}"))
            .1;
        port_of(address)
    }

    fn wait_until_all_delivered(&self) {
        if let Some(s) = &self.stream {
            s.wait_written(self.lines, DEADLINE);
        }
        // Each look may take long: with a 2 s round trip, reading the topic does too.
        self.agent
            .wait_until(DEADLINE, "every line is in the topic", || {
                let records = consume_all(
                    &self.cluster.bootstrap(),
                    TOPIC,
                    PARTITIONS,
                    self.lines,
                    Duration::from_secs(20),
                );
                Tally::of(&records, self.lines).missing.is_empty()
            });
    }

    /// Finishes the stream, waits until the agent's `tail` has read the whole file (a stop
    /// then stores and delivers all of it), stops the agent (SIGTERM: it drains) and returns the
    /// sink's totals; then runs `after_stop` (to lift a fault before the topic is read).
    fn stop_when_read(
        &mut self,
        after_stop: impl FnOnce(&ThreeBrokers),
    ) -> std::collections::BTreeMap<String, u64> {
        if let Some(s) = self.stream.take() {
            s.finish(DEADLINE);
        }
        let length = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let agent = &self.agent;
        agent.wait_until(DEADLINE, "the agent's tail has read the whole file", || {
            agent
                .descendant_pids()
                .into_iter()
                .filter_map(|pid| process_read_offset(pid, &self.file))
                .any(|offset| offset >= length)
        });
        self.agent.stop_cleanly();
        after_stop(&self.cluster);
        self.agent.stop_totals("SINK.k1")
    }

    /// Finishes the stream, waits for every line, stops the agent, reads the topic to its end
    /// and checks the tally: nothing missing, and with idempotence no duplicate and each
    /// partition in the order written. Returns it with the sink's totals.
    fn finish(&mut self, what: &str) -> (Tally, std::collections::BTreeMap<String, u64>) {
        if self.agent.is_running() {
            if let Some(s) = self.stream.take() {
                s.finish(DEADLINE);
            }
            self.wait_until_all_delivered();
            self.agent.stop_cleanly();
        }
        self.assert_injected_errors_were_met();
        let totals = self.agent.stop_totals("SINK.k1");
        let tally = Tally::of(
            &read_to_end(&self.cluster.bootstrap(), self.lines),
            self.lines,
        );
        report(what, self.idempotent, &tally);
        eprintln!("  sink totals: {totals:?}");
        assert!(
            tally.missing.is_empty(),
            "{what}: lines lost: {}",
            tally.summary()
        );
        assert_eq!(tally.foreign, 0, "{what}: {}", tally.summary());
        if self.idempotent {
            assert_eq!(
                tally.duplicates,
                0,
                "{what} with idempotence: {}",
                tally.summary()
            );
            assert!(
                tally.out_of_order.is_empty(),
                "{what} with idempotence, order per partition: {}",
                tally.summary()
            );
        }
        (tally, totals)
    }
}

// ---------------------------------------------------------------------------------------------
// Three listed brokers, one of them killed at a time (a real broker behind three proxies)
// ---------------------------------------------------------------------------------------------

/// The seed lists three brokers (`brokerList = Slave001:9092,Slave002:9092,Slave003:9092`).
/// Here each is a `tansu proxy` process in front of one real broker, advertising its own
/// address, so the agent knows one broker at a time and must fail over to another listed
/// address when it dies. While lines stream: SIGKILL the proxy the agent is connected to, then
/// each of the three in turn (each restarted on its port before the next kill). Each time
/// delivery goes on through the others while the killed one is still down; at the end every
/// line is in the topic. Duplicates (requests the broker wrote but whose answers died with the
/// proxy) are reported; with idempotence the broker drops them: none.
#[test]
fn killing_the_listed_broker_in_use_then_each_in_turn_loses_nothing() {
    for idempotent in [false, true] {
        let broker = Broker::start();
        broker.create_topic(TOPIC, PARTITIONS);
        let mut proxies = [
            Proxy::start(&broker),
            Proxy::start(&broker),
            Proxy::start(&broker),
        ];
        let ports: Vec<u16> = proxies.iter().map(Proxy::port).collect();
        let broker_list = proxies
            .iter()
            .map(Proxy::bootstrap)
            .collect::<Vec<_>>()
            .join(",");
        let input = tempfile::tempdir().unwrap();
        let file = input.path().join("app.log");
        append_lines(&file, Vec::<String>::new());
        let mut settings = vec![];
        if idempotent {
            settings.push(("sinks.k1.kafka.producer.enable.idempotence", "true"));
            settings.push(("sinks.k1.kafka.producer.acks", "all"));
        }
        let mut agent = Agent::start(&agent_config(&file, &broker_list, &settings), "a1");
        // More lines than the rounds need; stopped when they are done.
        let stream = LineStream::start(file.clone(), 100_000, LINES_PER_TICK, TICK);
        let in_topic = || records_in(&broker).len();
        agent.wait_until(DEADLINE, "lines arrive in the topic", || in_topic() >= 500);

        let in_use = |agent: &Agent| {
            let mut found = None;
            agent.wait_until(DEADLINE, "the agent is connected to a proxy", || {
                let connected = connected_ports(agent.pid());
                found = ports.iter().position(|p| connected.contains(p));
                found.is_some()
            });
            found.unwrap_or_default()
        };
        let first = in_use(&agent);
        let mut victims = vec![first];
        victims.extend(0..proxies.len());
        for victim in victims {
            let before = in_topic();
            proxies[victim].kill();
            let killed = Instant::now();
            agent.wait_until(
                DEADLINE,
                &format!(
                    "delivery goes on through the other listed brokers while {} is down",
                    ports[victim]
                ),
                || in_topic() >= before + 500,
            );
            eprintln!(
                "  killed {} (in use: {}): 500 more lines delivered {:.1} s later",
                ports[victim],
                victim == first,
                killed.elapsed().as_secs_f64()
            );
            proxies[victim].restart();
        }
        let sent = stream.stop();
        agent.wait_until(DEADLINE, "every line is in the topic", || {
            Tally::of(&records_in(&broker), sent).missing.is_empty()
        });
        agent.stop_cleanly();

        let tally = Tally::of(
            &consume_all(&broker.bootstrap(), TOPIC, PARTITIONS, sent, DEADLINE),
            sent,
        );
        report(
            "one broker behind three listed proxies, the one in use killed, then each in turn",
            idempotent,
            &tally,
        );
        assert!(tally.missing.is_empty(), "lines lost: {}", tally.summary());
        assert_eq!(tally.foreign, 0, "{}", tally.summary());
        if idempotent {
            assert_eq!(tally.duplicates, 0, "with idempotence: {}", tally.summary());
            assert!(
                tally.out_of_order.is_empty(),
                "with idempotence, order per partition: {}",
                tally.summary()
            );
        }
        let log = agent.log();
        for l in log.lines().filter(|l| l.contains("listed brokers again")) {
            eprintln!("  the agent said: {l}");
        }
        assert!(
            log.contains("delivering again to topic HelloKafka"),
            "a line says when delivery resumed:\n{log}"
        );
    }
}

/// Everything in the topic now, read from the broker itself (not through a proxy).
fn records_in(broker: &Broker) -> Vec<Record> {
    consume_all(
        &broker.bootstrap(),
        TOPIC,
        PARTITIONS,
        0,
        Duration::from_secs(10),
    )
}

// ---------------------------------------------------------------------------------------------
// What the agent says: missing topics, unreachable brokers, recovery
// ---------------------------------------------------------------------------------------------

/// The topic does not exist and the broker does not create it (tansu creates topics a client's
/// metadata request allows it to, so the agent's producer does not allow it:
/// `allow.auto.create.topics = false` gets the answer of a broker with
/// `auto.create.topics.enable = false`). Within seconds — not after librdkafka's 30 s — the agent
/// says so at ERROR; it keeps the lines through the failures that follow (librdkafka gives up
/// on them after `topic.metadata.propagation.max.ms`, shortened here from 30 s to 10 s, and the
/// batch is rolled back); once the topic is created every line arrives once, in order, and one
/// line says that delivery resumed. The ERROR must come from the agent's own metadata check,
/// not from librdkafka's failure: it is asserted to come before any rollback and well before
/// the 10 s after which librdkafka fails the records.
#[test]
fn a_missing_topic_is_reported_within_seconds_and_delivered_to_once_it_exists() {
    const LATE: &str = "created-later";
    let broker = Broker::start();
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    let lines: Vec<String> = (0..50).map(numbered).collect();
    append_lines(&file, &lines);
    let config = exec_tail_to_kafka(
        &file,
        &broker.bootstrap(),
        LATE,
        &[
            ("sources.r1.batchTimeout", "100"),
            ("sinks.k1.kafka.producer.allow.auto.create.topics", "false"),
            (
                "sinks.k1.kafka.producer.topic.metadata.propagation.max.ms",
                "10000",
            ),
        ],
    );
    let mut agent = Agent::start(&config, "a1");
    let started = Instant::now();
    let said = format!("k1: topic {LATE} does not exist");
    agent.wait_for_log(Duration::from_secs(10), &said);
    let reported_after = started.elapsed();
    let log = agent.log();
    let line = log.lines().find(|l| l.contains(&said)).unwrap_or_default();
    eprintln!("the agent said: {line}");
    assert!(line.contains("ERROR"), "at ERROR: {line}");
    assert!(line.contains("50 events are kept"), "{line}");
    assert!(
        reported_after < Duration::from_secs(8),
        "reported after {reported_after:?}: not by the agent's own check, which runs every second"
    );
    assert!(
        !log.contains("rolled back to the channel"),
        "the ERROR came before any failed delivery:\n{log}"
    );
    agent.wait_until(DEADLINE, "a failed batch was rolled back", || {
        agent.log().contains("rolled back to the channel")
    });
    assert_eq!(
        common::kafka::topic_partition_count(&broker.bootstrap(), LATE),
        None,
        "the agent did not create the topic"
    );

    broker.create_topic(LATE, 1);
    agent.wait_until(DEADLINE, "every line is in the topic", || {
        consume_all(&broker.bootstrap(), LATE, 1, 50, Duration::from_secs(2)).len() >= 50
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), LATE, 1, 50, DEADLINE);
    assert_eq!(values(&records), lines, "every line once, in order");
    let totals = agent.stop_totals("SINK.k1");
    assert!(totals["RollbackCount"] >= 1, "{totals:?}");
    let log = agent.log();
    let resumed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("k1: delivering again to topic {LATE}, ")))
        .collect();
    assert_eq!(resumed.len(), 1, "one line says delivery resumed:\n{log}");
    assert!(
        resumed[0].contains(&format!("topic {LATE} did not exist")),
        "it says why delivery waited: {}",
        resumed[0]
    );
    eprintln!("SCENARIO missing topic: reported after {reported_after:?}; 50 sent, 50 delivered, 0 duplicates");
}

/// No listed broker can be reached, each for its own reason: a broker that is down (its proxy
/// killed: connection refused), a port nothing listens on, a host name that does not resolve.
/// The agent's ERROR names all three and what is wrong with each (librdkafka's own text is
/// "3/3 brokers are down"); when the first comes back, one line says delivery resumed and how
/// long the lines waited, and every line arrives once.
#[test]
fn when_no_listed_broker_is_reachable_the_error_names_each_and_its_problem() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let mut proxy = Proxy::start(&broker);
    proxy.kill();
    let closed = ClosedPort::new();
    let unknown = "no-such-broker.invalid:9092";
    let broker_list = format!("{},{},{unknown}", proxy.bootstrap(), closed.address());
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    let lines: Vec<String> = (0..20).map(numbered).collect();
    append_lines(&file, &lines);
    let mut agent = Agent::start(&agent_config(&file, &broker_list, &[]), "a1");

    agent.wait_for_log(DEADLINE, "k1: no Kafka broker");
    let log = agent.log();
    let line = log
        .lines()
        .find(|l| l.contains("k1: no Kafka broker"))
        .unwrap_or_default();
    eprintln!("the agent said: {line}");
    assert!(line.contains("ERROR"), "{line}");
    for named in [
        format!("{}: connection refused", proxy.bootstrap()),
        format!("{}: connection refused", closed.address()),
        format!("{unknown}: host name does not resolve"),
    ] {
        assert!(line.contains(&named), "names {named:?}: {line}");
    }

    proxy.restart();
    agent.wait_until(DEADLINE, "every line is in the topic", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 20, Duration::from_secs(2)).len() >= 20
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), TOPIC, 1, 20, DEADLINE);
    assert_eq!(values(&records), lines, "every line once, in order");
    let log = agent.log();
    let again: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("k1: delivering again to topic HelloKafka, 20 events waited"))
        .collect();
    assert_eq!(again.len(), 1, "one line says delivery resumed:\n{log}");
    eprintln!("the agent said: {}", again[0]);
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The seed's pipeline (exec `tail -F` → memory channel → Kafka sink, batches of 20 like the
/// seed's `batchSize = 20`) on `brokers`, lines stored within 100 ms.
fn agent_config(file: &std::path::Path, brokers: &str, extra: &[(&str, &str)]) -> String {
    let mut settings = vec![
        ("sources.r1.batchTimeout", "100"),
        ("sinks.k1.flumeBatchSize", "20"),
    ];
    settings.extend_from_slice(extra);
    exec_tail_to_kafka(file, brokers, TOPIC, &settings)
}

fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("not host:port: {address}"))
}

/// What the topic holds now, read for at most `within` (a partition whose leader is down does
/// not reach its end: what was read by then is returned).
fn records_now_within(bootstrap: &str, within: Duration) -> Vec<Record> {
    consume_all(bootstrap, TOPIC, PARTITIONS, 0, within)
}

fn records_now(bootstrap: &str) -> Vec<Record> {
    records_now_within(bootstrap, Duration::from_secs(5))
}

/// The topic read to its end (at least `expected` records if they come within the deadline).
fn read_to_end(bootstrap: &str, expected: usize) -> Vec<Record> {
    consume_all(bootstrap, TOPIC, PARTITIONS, expected, DEADLINE)
}

/// One line per scenario in the test output, for the closing note.
fn report(what: &str, idempotent: bool, tally: &Tally) {
    eprintln!(
        "SCENARIO {what} (idempotence {}): {}",
        if idempotent { "on" } else { "off" },
        tally.summary()
    );
}
