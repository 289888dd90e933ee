//! The original setup's second agent, `conf/netcat.conf`: lines typed into `nc host 44444` go to
//! Kafka. rflume answers `OK` per line only after the line was committed to the channel, and
//! reports an over-long line with Flume's exact `FAILED:` message.
//!
//! Delivery is judged after the agent stopped (SIGTERM, exit 0), on the whole topic: no Kafka
//! timeout can occur here, so each line must be there exactly once.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::process::listens_on;
use common::*;

const DELIVERY: Duration = Duration::from_secs(60);
/// Attempts at finding a port nobody takes between our pick and the agent's bind.
const PORT_ATTEMPTS: usize = 5;

/// `conf/netcat.conf` with the port and the broker list pointed at this test's broker, each
/// `(shipped line, replacement)` of `edits` applied, and `extra` appended.
fn netcat_conf(port: u16, bootstrap: &str, edits: &[(&str, &str)], extra: &str) -> String {
    let port_line = format!("a1.sources.r1.port = {port}");
    let broker_line = format!("a1.sinks.k1.brokerList={bootstrap}");
    let mut conf = include_str!("../conf/netcat.conf").to_string();
    for (shipped, replacement) in [
        (
            "a1.sources.r1.bind = localhost",
            "a1.sources.r1.bind = 127.0.0.1",
        ),
        ("a1.sources.r1.port = 44444", port_line.as_str()),
        (
            "a1.sinks.k1.brokerList=Slave001:9092,Slave002,Slave003",
            broker_line.as_str(),
        ),
    ]
    .iter()
    .chain(edits)
    {
        assert!(
            conf.contains(shipped),
            "conf/netcat.conf no longer has {shipped:?}: update this test"
        );
        conf = conf.replace(shipped, replacement);
    }
    conf + extra
}

/// Starts an agent on `conf_for(port)` and returns it once it listens on `port`. A port picked
/// as free can be taken by another process before the agent binds it; then the agent says it
/// cannot listen, and another port is tried.
fn start_listening(conf_for: impl Fn(u16) -> String) -> (Agent, u16) {
    let mut failures = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let agent = Agent::start(&conf_for(port), "a1");
        let pid = agent.pid();
        let bind_failed = |a: &Agent| a.log().contains("cannot listen");
        agent.wait_until(DELIVERY, "the netcat source listens or gives up", || {
            listens_on(pid, port) || bind_failed(&agent)
        });
        if listens_on(pid, port) {
            return (agent, port);
        }
        failures.push(format!("port {port}: {}", agent.log()));
    }
    panic!(
        "the netcat source never got a port:\n{}",
        failures.join("\n")
    );
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the netcat source");
    s.set_read_timeout(Some(DELIVERY)).expect("timeout");
    let reader = BufReader::new(s.try_clone().expect("clone"));
    (s, reader)
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut reply = String::new();
    reader.read_line(&mut reply).expect("reply");
    reply
}

#[test]
fn lines_sent_over_tcp_are_acknowledged_and_delivered_in_order() {
    let broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    let (mut agent, port) = start_listening(|port| netcat_conf(port, &broker.bootstrap(), &[], ""));
    let (mut s, mut reader) = connect(port);
    let lines: Vec<String> = (0..500)
        .map(|i| format!("netcat line {i:04} 你好"))
        .collect();
    let mut payload = lines.join("\n");
    payload.push('\n');
    s.write_all(payload.as_bytes()).expect("send");
    for i in 0..lines.len() {
        assert_eq!(read_reply(&mut reader), "OK\n", "reply to line {i}");
    }
    // Every line was acknowledged, so it is in the channel: the stop drains it to Kafka.
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, lines.len(), DELIVERY);
    assert_eq!(values(&records), lines);
}

#[test]
fn an_over_long_line_gets_flumes_failed_reply_and_the_connection_closes() {
    let broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    let (mut agent, port) = start_listening(|port| {
        netcat_conf(
            port,
            &broker.bootstrap(),
            &[],
            "a1.sources.r1.max-line-length = 16\n",
        )
    });
    let (mut s, mut reader) = connect(port);
    s.write_all(b"short\nthis line is far too long\n")
        .expect("send");
    let mut replies = Vec::new();
    loop {
        let reply = read_reply(&mut reader);
        if reply.is_empty() {
            break;
        }
        replies.push(reply);
    }
    assert_eq!(
        replies,
        vec![
            "OK\n".to_string(),
            "FAILED: Event exceeds the maximum length (16 chars, including newline)\n".to_string()
        ]
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, 1, DELIVERY);
    assert_eq!(values(&records), vec!["short"]);
}

/// `OK` means "committed to the channel", not "received". The broker is frozen (SIGSTOP) before
/// the agent starts, so the sink can take events but never commit them, and the channel holds
/// [`CAPACITY`] events in all (taken ones included): a client that sends a line and waits for
/// its `OK` before the next gets exactly that many `OK`s. The next line's `OK` does not come
/// while the source holds it (a hold measured from the source's backpressure warning), and
/// comes once the broker resumes; every line then reaches Kafka once, in order.
#[test]
fn ok_is_sent_only_after_the_line_is_committed_to_the_channel() {
    const CAPACITY: usize = 10;
    const HOLD: Duration = Duration::from_secs(2);
    let mut broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    broker.pause();
    let (mut agent, port) = start_listening(|port| {
        netcat_conf(
            port,
            &broker.bootstrap(),
            &[
                (
                    "a1.channels.c1.capacity = 1000",
                    &format!("a1.channels.c1.capacity = {CAPACITY}"),
                ),
                (
                    "a1.channels.c1.transactionCapacity = 100",
                    &format!("a1.channels.c1.transactionCapacity = {CAPACITY}"),
                ),
                ("a1.sinks.k1.batchSize = 20", "a1.sinks.k1.batchSize = 5"),
            ],
            // A put into the full channel gives up after 1 s and is retried, with a warning.
            "a1.channels.c1.keep-alive = 1\n",
        )
    });
    let (mut s, mut reader) = connect(port);
    let lines: Vec<String> = (0..=CAPACITY).map(|i| format!("typed line {i}")).collect();
    for line in &lines[..CAPACITY] {
        s.write_all(format!("{line}\n").as_bytes()).expect("send");
        assert_eq!(
            read_reply(&mut reader),
            "OK\n",
            "reply to {line:?}, which fits"
        );
    }

    s.write_all(format!("{}\n", lines[CAPACITY]).as_bytes())
        .expect("send");
    agent.wait_for_log(DELIVERY, "backpressure");
    let held_from = Instant::now();
    s.set_read_timeout(Some(HOLD)).expect("timeout");
    let mut early = String::new();
    match reader.read_line(&mut early) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!(
            "a reply ({other:?}: {early:?}) {:?} into the hold, for a line the full channel \
             cannot hold: OK was sent before the commit",
            held_from.elapsed()
        ),
    }
    assert!(held_from.elapsed() >= HOLD, "the hold ran in full");

    broker.resume();
    s.set_read_timeout(Some(DELIVERY)).expect("timeout");
    assert_eq!(
        early + &read_reply(&mut reader),
        "OK\n",
        "the held line is acknowledged once the channel has room"
    );
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, lines.len(), DELIVERY);
    assert_eq!(values(&records), lines);
}
