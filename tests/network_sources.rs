//! The listening sources end to end, against the real broker and independent clients: the
//! `logger` command (util-linux) and Python's `logging.handlers.SysLogHandler` for syslog, `curl`
//! for HTTP, Python's `socket` for netcat UDP. What arrives is read from the topic to its end
//! after the agent stopped; `useFlumeEventFormat` carries the headers to the consumer.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::security::TestCa;
use common::*;

const TOPIC: &str = "net";
const DELIVERY: Duration = Duration::from_secs(60);

fn kafka_sink(broker: &Broker, extra: &str) -> String {
    format!(
        "a1.channels.c1.type = memory\n\
         a1.sinks = k1\n\
         a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.kafka.bootstrap.servers = {}\n\
         a1.sinks.k1.kafka.topic = {TOPIC}\n\
         a1.sinks.k1.useFlumeEventFormat = true\n\
         {extra}",
        broker.bootstrap()
    )
}

fn events(broker: &Broker, n: usize) -> Vec<FlumeEvent> {
    consume_all(&broker.bootstrap(), TOPIC, 1, n, DELIVERY)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A syslog message over TCP (`logger --tcp`, RFC 5424) and one over UDP (`logger --udp`,
/// RFC 3164) arrive with Flume's headers — `Facility`, `Severity`, `priority`, `timestamp`,
/// `host`, the client IP header — and the message after the host name as the body.
#[test]
fn syslog_over_tcp_and_udp_arrives_with_flumes_headers() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let (tcp, udp) = (free_port(), free_port());
    let config = format!(
        "a1.sources = tcp udp\n\
         a1.channels = c1\n\
         a1.sources.tcp.type = syslogtcp\n\
         a1.sources.tcp.host = 127.0.0.1\n\
         a1.sources.tcp.port = {tcp}\n\
         a1.sources.tcp.clientIPHeader = client\n\
         a1.sources.tcp.channels = c1\n\
         a1.sources.udp.type = syslogudp\n\
         a1.sources.udp.host = 127.0.0.1\n\
         a1.sources.udp.port = {udp}\n\
         a1.sources.udp.channels = c1\n\
         {}",
        kafka_sink(&broker, "")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "the TCP port listens", || {
        common::process::listens_on(agent.pid(), tcp)
    });
    agent.wait_for_log(DELIVERY, "listening for UDP datagrams");
    let before = now_ms();
    run(Command::new("logger").args([
        "--tcp",
        "-n",
        "127.0.0.1",
        "-P",
        &tcp.to_string(),
        "--rfc5424",
        "-p",
        "local3.warning",
        "-t",
        "rftest",
        "hello over tcp",
    ]));
    run(Command::new("logger").args([
        "--udp",
        "-n",
        "127.0.0.1",
        "-P",
        &udp.to_string(),
        "--rfc3164",
        "-p",
        "user.err",
        "-t",
        "rftest",
        "hello over udp",
    ]));
    agent.wait_until(DELIVERY, "both messages are in Kafka", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(2)).len() >= 2
    });
    agent.stop_cleanly();
    let got = events(&broker, 2);
    assert_eq!(got.len(), 2, "exactly the two messages");
    let by_body = |needle: &str| {
        got.iter()
            .find(|e| e.body_str().contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no event with {needle}: {:?}",
                    got.iter().map(|e| e.body_str()).collect::<Vec<_>>()
                )
            })
    };
    let t = by_body("hello over tcp").header_map();
    // local3.warning = 19 * 8 + 4 = 156.
    assert_eq!(t.get("Facility").map(String::as_str), Some("19"));
    assert_eq!(t.get("Severity").map(String::as_str), Some("4"));
    assert_eq!(t.get("priority").map(String::as_str), Some("156"));
    assert_eq!(t.get("version").map(String::as_str), Some("1"));
    assert_eq!(t.get("client").map(String::as_str), Some("127.0.0.1"));
    assert!(t.contains_key("host"), "{t:?}");
    let ts: i64 = t["timestamp"].parse().expect("epoch ms");
    assert!(
        (ts - before).abs() < 120_000,
        "timestamp {ts} near {before}"
    );
    assert!(by_body("hello over tcp").body_str().starts_with("rftest"));
    let u = by_body("hello over udp").header_map();
    // user.err = 1 * 8 + 3 = 11.
    assert_eq!(u.get("Facility").map(String::as_str), Some("1"));
    assert_eq!(u.get("Severity").map(String::as_str), Some("3"));
    assert_eq!(u.get("priority").map(String::as_str), Some("11"));
    assert!(
        u.contains_key("host") && u.contains_key("timestamp"),
        "{u:?}"
    );
    assert!(!u.contains_key("flume.syslog.status"), "{u:?}");
}

/// multiport_syslogtcp on two real ports, fed by Python's `socket` (raw bytes, newline-framed as
/// Flume's `LineSplitter` reads them): RFC 5424 and RFC 3164 messages get Flume's `SyslogParser`
/// headers (`Priority`, `Facility`, `Severity`, `Version` for 5424 — `SyslogUtils`' capitalised
/// names — `timestamp`, `host`) and the message after the host as the body; `portHeader` names
/// the port each came in on. The same
/// Latin-1 bytes are a valid message on the port whose `charset.port.<p>` is ISO-8859-1 and an
/// undecodable one on the default (UTF-8) port: there, as in Flume, the raw line is the body and
/// `flume.syslog.status = Invalid` the only syslog header.
#[test]
fn multiport_syslogtcp_parses_both_rfcs_with_the_port_and_its_charset() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let (utf8, latin1) = (free_port(), free_port());
    let config = format!(
        "a1.sources = m\n\
         a1.channels = c1\n\
         a1.sources.m.type = multiport_syslogtcp\n\
         a1.sources.m.host = 127.0.0.1\n\
         a1.sources.m.ports = {utf8} {latin1}\n\
         a1.sources.m.portHeader = port\n\
         a1.sources.m.charset.port.{latin1} = ISO-8859-1\n\
         a1.sources.m.clientIPHeader = client\n\
         a1.sources.m.channels = c1\n\
         {}",
        kafka_sink(&broker, "")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "both ports listen", || {
        common::process::listens_on(agent.pid(), utf8)
            && common::process::listens_on(agent.pid(), latin1)
    });
    let before = now_ms();
    // The RFC 3164 time is now's (UTC, Flume parses it as UTC), so Flume's year guess is this
    // year and the timestamp is now to the second.
    let script = format!(
        "import socket, time\n\
         now = time.strftime('%b %e %H:%M:%S', time.gmtime()).encode()\n\
         def send(port, data):\n\
         \x20   s = socket.create_connection(('127.0.0.1', port)); s.sendall(data); s.close()\n\
         send({utf8}, b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - rfc5424 event\\n'\n\
         \x20    + b'<34>' + now + b' oldhost su: rfc3164 event\\n'\n\
         \x20    + b'<13>' + now + b' latinhost caf\\xe9 on utf8\\n')\n\
         send({latin1}, b'<13>' + now + b' latinhost caf\\xe9 on latin1\\n')\n"
    );
    run(Command::new("python3").args(["-c", &script]));
    agent.wait_until(DELIVERY, "the four messages are in Kafka", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 4, Duration::from_secs(2)).len() >= 4
    });
    agent.stop_cleanly();
    let got = events(&broker, 4);
    assert_eq!(got.len(), 4, "exactly the four messages");
    let find = |needle: &[u8]| {
        got.iter()
            .find(|e| e.body.windows(needle.len()).any(|w| w == needle))
            .unwrap_or_else(|| {
                panic!(
                    "no event with {:?}: {:?}",
                    String::from_utf8_lossy(needle),
                    got.iter()
                        .map(|e| String::from_utf8_lossy(&e.body))
                        .collect::<Vec<_>>()
                )
            })
    };
    let utf8_port = utf8.to_string();
    let latin1_port = latin1.to_string();

    let e = find(b"rfc5424 event");
    assert_eq!(e.body, b"evntslog - ID47 - rfc5424 event");
    let h = e.header_map();
    // 165 = local4 (20) * 8 + notice (5).
    assert_eq!(h.get("Priority").map(String::as_str), Some("165"));
    assert_eq!(h.get("Facility").map(String::as_str), Some("20"));
    assert_eq!(h.get("Severity").map(String::as_str), Some("5"));
    assert_eq!(h.get("Version").map(String::as_str), Some("1"));
    assert_eq!(
        h.get("timestamp").map(String::as_str),
        Some("1065910455003")
    );
    assert_eq!(
        h.get("host").map(String::as_str),
        Some("mymachine.example.com")
    );
    assert_eq!(h.get("port"), Some(&utf8_port));
    assert_eq!(h.get("client").map(String::as_str), Some("127.0.0.1"));

    let e = find(b"rfc3164 event");
    assert_eq!(e.body, b"su: rfc3164 event");
    let h = e.header_map();
    // 34 = auth (4) * 8 + crit (2).
    assert_eq!(h.get("Priority").map(String::as_str), Some("34"));
    assert_eq!(h.get("Facility").map(String::as_str), Some("4"));
    assert_eq!(h.get("Severity").map(String::as_str), Some("2"));
    assert!(!h.contains_key("Version"), "{h:?}");
    assert_eq!(h.get("host").map(String::as_str), Some("oldhost"));
    let ts: i64 = h["timestamp"].parse().expect("epoch ms");
    assert!(
        (before - 2_000..=now_ms()).contains(&ts),
        "timestamp {ts} is the second the message was sent (from {before})"
    );
    assert_eq!(h.get("port"), Some(&utf8_port));

    let e = find(b"on utf8");
    assert!(e.body.starts_with(b"<13>"), "the raw line: {:?}", e.body);
    assert!(
        e.body.ends_with(b" latinhost caf\xe9 on utf8"),
        "{:?}",
        e.body
    );
    let h = e.header_map();
    assert_eq!(
        h.get("flume.syslog.status").map(String::as_str),
        Some("Invalid")
    );
    assert!(
        !h.contains_key("Facility") && !h.contains_key("host"),
        "{h:?}"
    );
    assert_eq!(h.get("port"), Some(&utf8_port), "portHeader on every event");

    let e = find(b"on latin1");
    assert_eq!(
        e.body, b"caf\xe9 on latin1",
        "decoded and re-encoded in ISO-8859-1"
    );
    let h = e.header_map();
    assert_eq!(h.get("Facility").map(String::as_str), Some("1"));
    assert_eq!(h.get("Severity").map(String::as_str), Some("5"));
    assert_eq!(h.get("host").map(String::as_str), Some("latinhost"));
    assert!(!h.contains_key("flume.syslog.status"), "{h:?}");
    assert_eq!(h.get("port"), Some(&latin1_port));
}

/// Python's `SysLogHandler` sends `<PRI>message\0` (no time, no host): it matches neither of
/// Flume's patterns, so the event keeps the whole text with only `Facility` and `Severity`.
#[test]
fn python_syslog_handler_messages_keep_their_text() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let udp = free_port();
    let config = format!(
        "a1.sources = udp\n\
         a1.channels = c1\n\
         a1.sources.udp.type = syslogudp\n\
         a1.sources.udp.host = 127.0.0.1\n\
         a1.sources.udp.port = {udp}\n\
         a1.sources.udp.channels = c1\n\
         {}",
        kafka_sink(&broker, "")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_for_log(DELIVERY, "listening for UDP datagrams");
    let script = format!(
        "import logging, logging.handlers\n\
         h = logging.handlers.SysLogHandler(address=('127.0.0.1', {udp}), facility='local0')\n\
         l = logging.getLogger('t'); l.addHandler(h); l.setLevel(logging.INFO)\n\
         l.warning('from python')\n"
    );
    run(Command::new("python3").args(["-c", &script]));
    agent.wait_until(DELIVERY, "the message is in Kafka", || {
        !consume_all(&broker.bootstrap(), TOPIC, 1, 1, Duration::from_secs(2)).is_empty()
    });
    agent.stop_cleanly();
    let got = events(&broker, 1);
    assert_eq!(got.len(), 1);
    let h = got[0].header_map();
    // local0.warning = 16 * 8 + 4 = 132.
    assert_eq!(h.get("Facility").map(String::as_str), Some("16"));
    assert_eq!(h.get("Severity").map(String::as_str), Some("4"));
    assert!(!h.contains_key("host"), "{h:?}");
    assert_eq!(got[0].body, b"<132>from python\0");
}

fn curl_post(port: u16, body: &str) -> u16 {
    curl_post_to(&format!("http://127.0.0.1:{port}/"), body, &[])
}

/// The HTTP status curl got for a JSON POST of `body` to `url` (`extra`: more curl options),
/// 0 when there was no HTTP answer at all (refused, reset, a TLS handshake that failed).
fn curl_post_to(url: &str, body: &str, extra: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `ssl = true` with a PEM key store made by a test CA: a client that trusts the CA posts over
/// HTTPS and gets 200, and its events arrive with their headers; plaintext HTTP to the same port
/// gets no HTTP answer and stores nothing, and does not disturb the TLS clients after it.
#[test]
fn https_post_is_accepted_over_tls_and_plaintext_is_refused() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let ca = TestCa::new("rflume http test CA");
    let (cert, key) = ca.server_cert("http-source", None);
    let keystore = ca.pem_keystore(&cert, &key);
    let port = free_port();
    let config = format!(
        "a1.sources = h\n\
         a1.channels = c1\n\
         a1.sources.h.type = http\n\
         a1.sources.h.bind = 127.0.0.1\n\
         a1.sources.h.port = {port}\n\
         a1.sources.h.channels = c1\n\
         a1.sources.h.ssl = true\n\
         a1.sources.h.keystore = {}\n\
         a1.sources.h.keystore-type = PEM\n\
         {}",
        keystore.display(),
        kafka_sink(&broker, "")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "the HTTPS port listens", || {
        common::process::listens_on(agent.pid(), port)
    });
    let https = format!("https://127.0.0.1:{port}/");
    let cacert = ca.cert().display().to_string();
    let tls = ["--cacert", cacert.as_str()];
    let post = |body: &str| curl_post_to(&https, body, &tls);
    assert_eq!(
        post(r#"[{"headers":{"via":"tls"},"body":"secure-0"}]"#),
        200,
        "HTTPS with the CA trusted"
    );
    assert_eq!(
        curl_post_to(&https, r#"[{"body":"untrusted"}]"#, &[]),
        0,
        "a client that does not trust the CA gets no answer (certificate rejected)"
    );
    assert_eq!(
        curl_post_to(
            &format!("http://127.0.0.1:{port}/"),
            r#"[{"body":"plaintext"}]"#,
            &[]
        ),
        0,
        "plaintext HTTP to the TLS port gets no HTTP answer"
    );
    assert_eq!(
        post(r#"[{"headers":{"via":"tls"},"body":"secure-1"}]"#),
        200,
        "the port still serves TLS after a plaintext client"
    );
    agent.wait_until(DELIVERY, "both HTTPS events are in Kafka", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 2, Duration::from_secs(2)).len() >= 2
    });
    agent.stop_cleanly();
    let got = events(&broker, 2);
    let mut bodies: Vec<&str> = got.iter().map(|e| e.body_str()).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        ["secure-0", "secure-1"],
        "nothing from the refused clients"
    );
    assert!(
        got.iter()
            .all(|e| e.header_map().get("via").map(String::as_str) == Some("tls")),
        "headers arrive"
    );
}

/// While the channel is full (the broker is stopped, so the sink cannot commit what it took),
/// a POST gets 503 after the channel's keep-alive, as Flume answers; once the broker is back the
/// same POST gets 200. Bad JSON gets 400. In the end every accepted event is in Kafka once, with
/// its headers; the refused POST left nothing behind.
#[test]
fn http_post_gets_503_while_the_channel_is_full_and_200_after() {
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let port = free_port();
    let config = format!(
        "a1.sources = h\n\
         a1.channels = c1\n\
         a1.sources.h.type = http\n\
         a1.sources.h.bind = 127.0.0.1\n\
         a1.sources.h.port = {port}\n\
         a1.sources.h.channels = c1\n\
         a1.channels.c1.capacity = 5\n\
         a1.channels.c1.transactionCapacity = 5\n\
         a1.channels.c1.keep-alive = 1\n\
         {}",
        kafka_sink(&broker, "a1.sinks.k1.flumeBatchSize = 5\n")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DELIVERY, "the HTTP port listens", || {
        common::process::listens_on(agent.pid(), port)
    });
    let batch = |tag: &str, n: usize| {
        let items: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"headers":{{"tag":"{tag}"}},"body":"{tag}-{i}"}}"#))
            .collect();
        format!("[{}]", items.join(","))
    };
    assert_eq!(curl_post(port, "[{\"body\": "), 400, "bad JSON");
    broker.pause();
    assert_eq!(curl_post(port, &batch("first", 5)), 200, "room for five");
    assert_eq!(
        curl_post(port, &batch("late", 2)),
        503,
        "the channel is full"
    );
    broker.resume();
    agent.wait_until(DELIVERY, "the retried POST is accepted", || {
        curl_post(port, &batch("late", 2)) == 200
    });
    agent.wait_until(DELIVERY, "all seven events are in Kafka", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 7, Duration::from_secs(2)).len() >= 7
    });
    agent.stop_cleanly();
    let got = events(&broker, 7);
    let mut bodies: Vec<String> = got.iter().map(|e| e.body_str().to_string()).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        ["first-0", "first-1", "first-2", "first-3", "first-4", "late-0", "late-1"]
    );
    assert!(got.iter().all(|e| e
        .header_map()
        .get("tag")
        .is_some_and(|t| e.body_str().starts_with(t.as_str()))));
}

/// Netcat UDP: one datagram is one event, with Flume's `remoteAddress` header.
#[test]
fn netcat_udp_datagrams_are_events_with_the_remote_address() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1);
    let port = free_port();
    let config = format!(
        "a1.sources = n\n\
         a1.channels = c1\n\
         a1.sources.n.type = netcatudp\n\
         a1.sources.n.bind = 127.0.0.1\n\
         a1.sources.n.port = {port}\n\
         a1.sources.n.remoteAddress = from\n\
         a1.sources.n.channels = c1\n\
         {}",
        kafka_sink(&broker, "")
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_for_log(DELIVERY, "listening for UDP datagrams");
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
         for m in [b'one\\n', b'two', b'three\\nfour\\n']: s.sendto(m, ('127.0.0.1', {port}))\n\
         print(s.getsockname()[1])\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let sender_port = String::from_utf8_lossy(&out.stdout).trim().to_string();
    agent.wait_until(DELIVERY, "three events are in Kafka", || {
        consume_all(&broker.bootstrap(), TOPIC, 1, 3, Duration::from_secs(2)).len() >= 3
    });
    agent.stop_cleanly();
    let got = events(&broker, 3);
    let bodies: Vec<&str> = got.iter().map(|e| e.body_str()).collect();
    assert_eq!(bodies, ["one", "two", "three\nfour"]);
    let from = format!("/127.0.0.1:{sender_port}");
    assert!(got
        .iter()
        .all(|e| e.header_map().get("from") == Some(&from)));
}
