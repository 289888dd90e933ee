//! Interceptors end to end: events from a real socket (netcat) and a real child process (exec)
//! rewritten by Flume's interceptors, as the real broker receives them (`useFlumeEventFormat`
//! keeps every header in the record).
//!
//! Delivery is judged after the agent stopped cleanly, on the whole topic.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::process::listens_on;
use common::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// The agent of `conf_for(port)` once it listens on a free port (a port picked as free may be
/// taken before the agent binds it: then another one is tried).
fn listening_agent(conf_for: impl Fn(u16) -> String) -> (Agent, u16) {
    for _ in 0..5 {
        let port = free_port();
        let agent = Agent::start(&conf_for(port), "a1");
        let pid = agent.pid();
        agent.wait_until(DEADLINE, "the netcat source listens or gives up", || {
            listens_on(pid, port) || agent.log().contains("cannot listen")
        });
        if listens_on(pid, port) {
            return (agent, port);
        }
    }
    panic!("the netcat source never got a free port");
}

fn events(broker: &Broker, topic: &str, expected: usize) -> Vec<FlumeEvent> {
    consume_all(&broker.bootstrap(), topic, 1, expected, DEADLINE)
        .iter()
        .map(|r| FlumeEvent::decode(&r.value))
        .collect()
}

/// static → search_replace → regex_filter → remove_header → uuid, in the listed order, on lines
/// sent over TCP. Comment lines are filtered out (and still answered `OK`, as Flume does once
/// the batch is processed), card numbers masked, the secret header removed again, every event
/// gets its own id.
#[test]
fn a_chain_of_interceptors_on_lines_from_a_socket() {
    let broker = Broker::start();
    broker.create_topic("chain", 1);
    let (mut agent, port) = listening_agent(|port| {
        format!(
            "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1
a1.sources.r1.interceptors = dc secret mask comments unsecret id
a1.sources.r1.interceptors.dc.type = static
a1.sources.r1.interceptors.dc.key = dc
a1.sources.r1.interceptors.dc.value = eu-west-1
a1.sources.r1.interceptors.secret.type = static
a1.sources.r1.interceptors.secret.key = secret
a1.sources.r1.interceptors.secret.value = s3cr3t
a1.sources.r1.interceptors.mask.type = search_replace
a1.sources.r1.interceptors.mask.searchPattern = (\\\\d{{4}})-(\\\\d{{4}})-(\\\\d{{4}})-(\\\\d{{4}})
a1.sources.r1.interceptors.mask.replaceString = ****-****-****-$4
a1.sources.r1.interceptors.comments.type = regex_filter
a1.sources.r1.interceptors.comments.regex = ^#
a1.sources.r1.interceptors.comments.excludeEvents = true
a1.sources.r1.interceptors.unsecret.type = remove_header
a1.sources.r1.interceptors.unsecret.withName = secret
a1.sources.r1.interceptors.id.type = org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder
a1.sources.r1.interceptors.id.headerName = eventId
a1.sources.r1.interceptors.id.prefix = ev-
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = chain
a1.sinks.k1.useFlumeEventFormat = true
",
            broker.bootstrap()
        )
    });
    let mut sent = Vec::new();
    for i in 0..60 {
        if i % 4 == 0 {
            sent.push(format!("# comment {i}"));
        } else {
            sent.push(format!("order {i} paid with 4111-1111-1111-{i:04}"));
        }
    }
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut writer = s;
    writer
        .write_all((sent.join("\n") + "\n").as_bytes())
        .expect("send");
    for i in 0..sent.len() {
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("reply");
        assert_eq!(reply, "OK\n", "reply to line {i}");
    }
    agent.stop_cleanly();

    let expected: Vec<String> = (0..60)
        .filter(|i| i % 4 != 0)
        .map(|i| format!("order {i} paid with ****-****-****-{i:04}"))
        .collect();
    let got = events(&broker, "chain", expected.len());
    let bodies: Vec<&str> = got.iter().map(FlumeEvent::body_str).collect();
    assert_eq!(bodies, expected);
    let mut ids = HashSet::new();
    for e in &got {
        let h: BTreeMap<String, String> = e.header_map();
        assert_eq!(h.get("dc").map(String::as_str), Some("eu-west-1"));
        assert!(!h.contains_key("secret"), "removed again: {h:?}");
        let id = h.get("eventId").expect("an id");
        let uuid = id.strip_prefix("ev-").expect("prefixed");
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(&uuid[14..15], "4", "a version 4 UUID: {uuid}");
        ids.insert(id.clone());
        assert_eq!(h.len(), 2, "{h:?}");
    }
    assert_eq!(ids.len(), expected.len(), "one id per event");
}

/// regex_extractor with the millis serializer on lines a child process prints: the header is the
/// date as epoch milliseconds (Joda's parsing), and the Kafka sink's `timestampHeader` makes it
/// the record timestamp. A line whose date does not parse is delivered without the header.
#[test]
fn regex_extractor_turns_a_logged_date_into_epoch_millis() {
    let broker = Broker::start();
    broker.create_topic("dated", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("input.log");
    // Epoch millis computed independently (Python's datetime) for the first two.
    let lines = [
        (
            "2024-03-05 07:08:09,123 +0000 first",
            Some(1_709_622_489_123i64),
        ),
        (
            "2024-03-05 09:08:09,500 +0200 second",
            Some(1_709_622_489_500),
        ),
        ("2024-13-45 99:08:09,500 +0200 not a date", None),
    ];
    append_lines(&input, lines.iter().map(|(l, _)| *l));
    let config = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = cat {}
a1.sources.r1.channels = c1
a1.sources.r1.batchTimeout = 100
a1.sources.r1.interceptors = ts
a1.sources.r1.interceptors.ts.type = regex_extractor
a1.sources.r1.interceptors.ts.regex = ^(\\\\S+ \\\\S+ [+-]\\\\d{{4}}) (\\\\w+)
a1.sources.r1.interceptors.ts.serializers = when word
a1.sources.r1.interceptors.ts.serializers.when.name = timestamp
a1.sources.r1.interceptors.ts.serializers.when.type = org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer
a1.sources.r1.interceptors.ts.serializers.when.pattern = yyyy-MM-dd HH:mm:ss,SSS Z
a1.sources.r1.interceptors.ts.serializers.word.name = word
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.channel = c1
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = dated
a1.sinks.k1.useFlumeEventFormat = true
a1.sinks.k1.timestampHeader = timestamp
",
        input.display(),
        broker.bootstrap()
    );
    let mut agent = Agent::start(&config, "a1");
    agent.wait_until(DEADLINE, "the three lines are delivered", || {
        consume_all(&broker.bootstrap(), "dated", 1, 3, Duration::from_secs(2)).len() >= 3
    });
    agent.stop_cleanly();
    let records = consume_all(&broker.bootstrap(), "dated", 1, 3, DEADLINE);
    assert_eq!(records.len(), 3);
    for (record, (line, millis)) in records.iter().zip(lines) {
        let e = FlumeEvent::decode(&record.value);
        assert_eq!(e.body_str(), line);
        let h = e.header_map();
        let word = line.split(' ').nth(3).expect("a word");
        assert_eq!(h.get("word").map(String::as_str), Some(word));
        match millis {
            Some(ms) => {
                assert_eq!(h.get("timestamp"), Some(&ms.to_string()), "{line}");
                assert_eq!(record.timestamp, Some(ms), "the record's timestamp");
            }
            None => assert!(!h.contains_key("timestamp"), "{h:?}"),
        }
    }
    assert!(
        agent.log().contains("could not be parsed as dates"),
        "the bad date is logged: {}",
        agent.log()
    );
}
