//! The original setup's second agent, `conf/netcat.conf`: lines typed into `nc host 44444` go to
//! Kafka. rflume answers `OK` per line only after the line was committed to the channel, and
//! reports an over-long line with Flume's exact `FAILED:` message.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const DELIVERY: Duration = Duration::from_secs(60);

/// `conf/netcat.conf` with the port and the broker list pointed at this test's broker.
fn netcat_conf(port: u16, bootstrap: &str, extra: &str) -> String {
    let shipped = include_str!("../conf/netcat.conf");
    assert!(
        shipped.contains("a1.sources.r1.port = 44444"),
        "netcat.conf changed shape"
    );
    shipped
        .replace(
            "a1.sources.r1.bind = localhost",
            "a1.sources.r1.bind = 127.0.0.1",
        )
        .replace(
            "a1.sources.r1.port = 44444",
            &format!("a1.sources.r1.port = {port}"),
        )
        .replace(
            "a1.sinks.k1.brokerList=Slave001:9092,Slave002,Slave003",
            &format!("a1.sinks.k1.brokerList={bootstrap}"),
        )
        + extra
}

fn connect(port: u16, agent: &Agent) -> TcpStream {
    let mut stream = None;
    agent.wait_until(DELIVERY, "the netcat source listens", || {
        stream = TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    let s = stream.expect("connected");
    s.set_read_timeout(Some(DELIVERY)).expect("timeout");
    s
}

#[test]
fn lines_sent_over_tcp_are_acknowledged_and_delivered_in_order() {
    let broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    let port = free_port();
    let mut agent = Agent::start(&netcat_conf(port, &broker.bootstrap(), ""), "a1");
    let mut s = connect(port, &agent);
    let lines: Vec<String> = (0..500)
        .map(|i| format!("netcat line {i:04} 你好"))
        .collect();
    let mut payload = lines.join("\n");
    payload.push('\n');
    s.write_all(payload.as_bytes()).expect("send");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    for i in 0..lines.len() {
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("reply");
        assert_eq!(reply, "OK\n", "reply to line {i}");
    }
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, lines.len(), DELIVERY);
    assert_eq!(values(&records), lines);
    agent.sigterm();
    assert!(agent
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}

#[test]
fn an_over_long_line_gets_flumes_failed_reply_and_the_connection_closes() {
    let broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    let port = free_port();
    let mut agent = Agent::start(
        &netcat_conf(
            port,
            &broker.bootstrap(),
            "a1.sources.r1.max-line-length = 16\n",
        ),
        "a1",
    );
    let mut s = connect(port, &agent);
    s.write_all(b"short\nthis line is far too long\n")
        .expect("send");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut replies = Vec::new();
    loop {
        let mut reply = String::new();
        if reader.read_line(&mut reply).expect("reply") == 0 {
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
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, 1, DELIVERY);
    assert_eq!(values(&records), vec!["short"]);
    agent.sigterm();
    assert!(agent
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
}
