//! The drop-in policy, run the way an operator runs it: what Flume runs, rflume runs; what Flume
//! drops for a configuration error, rflume drops the same way (and says so); and a component
//! that Flume would run but rflume cannot makes `rflume agent` refuse to start, unless the
//! operator opts in to run the rest — which then keeps flowing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::process::catches_signal;
use common::*;

const DELIVERY: Duration = Duration::from_secs(60);
const EXIT: Duration = Duration::from_secs(30);

/// exec → c1 → Kafka and, fanned out by the same source, → c2 → an IRC sink rflume cannot run.
/// c2 is small, so a pipeline that still fed it would stall the Kafka path after 10 lines.
/// `tail -n +1` reads the file from its first line, whenever `tail` starts.
fn fan_out_to_kafka_and_irc(log: &std::path::Path, bootstrap: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1 c2
a1.sinks = k1 k2
a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {log}
a1.sources.r1.batchSize = 5
a1.sources.r1.batchTimeout = 100
a1.sources.r1.channels = c1 c2
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.channels.c2.capacity = 10
a1.channels.c2.transactionCapacity = 5
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {bootstrap}
a1.sinks.k1.kafka.topic = fan
a1.sinks.k1.channel = c1
a1.sinks.k2.type = irc
a1.sinks.k2.hostname = irc.example.com
a1.sinks.k2.channel = c2
",
        log = log.display()
    )
}

#[test]
fn an_unsupported_component_makes_the_agent_refuse_to_start_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = fan_out_to_kafka_and_irc(&log, "127.0.0.1:9");
    let mut agent = Agent::start(&conf, "a1");
    let status = agent
        .wait_exit(EXIT)
        .unwrap_or_else(|| panic!("the agent kept running:\n{}", agent.log()));
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    let out = agent.log();
    let conf_path = agent.conf_path();
    // Listed with file:line (the irc sink's type is on line 17) and what to do.
    assert!(
        out.contains(&format!("{}:17: sink k2", conf_path.display())),
        "{out}"
    );
    assert!(out.contains("--allow-unsupported"), "{out}");
    assert!(
        !out.contains("agent a1 started"),
        "nothing may start: {out}"
    );
    assert!(!out.contains("Starting Source"), "no source may run: {out}");
}

/// A Kafka sink setting Flume's Java producer runs (a class on its classpath, a JKS store) and
/// librdkafka cannot: the agent refuses to start and names the line, rather than drop the sink
/// and run a source whose events then have nowhere to go.
#[test]
fn a_java_only_kafka_setting_makes_the_agent_refuse_to_start_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = exec\n\
         a1.sources.r1.command = tail -F {}\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.k1.channel = c1\n\
         a1.sinks.k1.kafka.bootstrap.servers = 127.0.0.1:9\n\
         a1.sinks.k1.kafka.topic = t\n\
         a1.sinks.k1.kafka.producer.interceptor.classes = com.example.AuditInterceptor\n",
        log.display()
    );
    let mut agent = Agent::start(&conf, "a1");
    let status = agent
        .wait_exit(EXIT)
        .unwrap_or_else(|| panic!("the agent kept running:\n{}", agent.log()));
    assert_eq!(status.code(), Some(1), "{}", agent.log());
    let out = agent.log();
    let at = format!(
        "{}:12: a1.sinks.k1.kafka.producer.interceptor.classes",
        agent.conf_path().display()
    );
    assert!(out.contains(&at), "the line is named ({at}): {out}");
    assert!(out.contains("--allow-unsupported"), "{out}");
    assert!(!out.contains("Starting Source"), "no source may run: {out}");
}

/// Under the opt-in, what does not run is logged again and again (here every second, by the
/// `-D` property; 10 minutes by default), and after a reload the reminder names what the new
/// configuration cannot run, not what the old one could not.
#[test]
fn the_unsupported_reminder_repeats_and_follows_a_reload() {
    const REMINDER: &str = "not running (unsupported by rflume, started with --allow-unsupported)";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = fan_out_to_kafka_and_irc(&log, "127.0.0.1:9");
    let mut agent = Agent::start_with_args(
        &conf,
        "a1",
        &[
            "--allow-unsupported",
            "-Drflume.unsupported.reminderSeconds=1",
        ],
    );
    agent.wait_for_log(DELIVERY, "started");
    let reminders = |agent: &Agent, about: &str| {
        agent
            .log()
            .lines()
            .filter(|l| l.contains(REMINDER) && l.contains(about))
            .count()
    };
    agent.wait_until(DELIVERY, "the reminder names sink k2 twice", || {
        reminders(&agent, "sink k2") >= 2
    });
    // The irc sink becomes an hbase sink named k3: still unsupported, under another name.
    let edited = conf
        .replace("a1.sinks = k1 k2", "a1.sinks = k1 k3")
        .replace("a1.sinks.k2.type = irc", "a1.sinks.k3.type = hbase")
        .replace(
            "a1.sinks.k2.hostname = irc.example.com\n",
            "a1.sinks.k3.table = t\n",
        )
        .replace("a1.sinks.k2.channel = c2", "a1.sinks.k3.channel = c2");
    assert!(edited.contains("k3.type = hbase") && !edited.contains("k2"));
    std::fs::write(agent.conf_path(), edited).unwrap();
    agent.wait_for_log(DELIVERY, "configuration reloaded");
    agent.wait_until(DELIVERY, "the reminder names sink k3", || {
        reminders(&agent, "sink k3") >= 1
    });
    let out = agent.log();
    let after_reload = &out[out.find("configuration reloaded").unwrap()..];
    let stale: Vec<&str> = after_reload
        .lines()
        .filter(|l| l.contains(REMINDER) && l.contains("sink k2"))
        .collect();
    assert!(
        stale.is_empty(),
        "reminders of the old configuration: {stale:?}"
    );
    agent.sigterm();
    assert!(agent.wait_exit(EXIT).is_some_and(|s| s.success()));
}

/// The example: a netcat source whose only channel's only sink is one rflume cannot
/// run. Flume would acknowledge events (`OK`) that then sit in a channel nothing drains and are
/// lost at stop. Under the opt-in, rflume runs neither that channel nor the source: a client
/// cannot even connect, so nothing is acknowledged that could be lost; the rest runs.
#[test]
fn under_the_opt_in_a_source_that_feeds_only_an_unsupported_path_never_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let port = free_port();
    let conf = format!(
        "a1.sources = r1 r2\n\
         a1.channels = c1 c2\n\
         a1.sinks = k1 k2\n\
         a1.sources.r1.type = netcat\n\
         a1.sources.r1.bind = 127.0.0.1\n\
         a1.sources.r1.port = {port}\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.type = irc\n\
         a1.sinks.k1.hostname = irc.example.com\n\
         a1.sinks.k1.channel = c1\n\
         a1.sources.r2.type = exec\n\
         a1.sources.r2.command = tail -F {}\n\
         a1.sources.r2.channels = c2\n\
         a1.channels.c2.type = memory\n\
         a1.sinks.k2.type = null\n\
         a1.sinks.k2.channel = c2\n",
        log.display()
    );
    let mut agent = Agent::start_with_args(&conf, "a1", &["--allow-unsupported"]);
    agent.wait_for_log(DELIVERY, "agent a1 started");
    let out = agent.log();
    assert!(out.contains("source r1 has been removed"), "{out}");
    assert!(out.contains("Starting Source r2"), "the rest runs: {out}");
    assert!(!out.contains("Starting Source r1"), "{out}");
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.is_err(),
        "the netcat source must not listen (it could only acknowledge events to lose them)"
    );
    agent.sigterm();
    assert!(agent.wait_exit(EXIT).is_some_and(|s| s.success()));
}

#[test]
fn with_the_opt_in_the_rest_runs_and_the_unsupported_path_does_not_stall_it() {
    let broker = Broker::start();
    broker.create_topic("fan", 1);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = fan_out_to_kafka_and_irc(&log, &broker.bootstrap());
    for opt_in in ["--allow-unsupported", "-Drflume.allowUnsupported=true"] {
        let mut agent = Agent::start_with_args(&conf, "a1", &[opt_in]);
        agent.wait_for_log(DELIVERY, "started");
        let out = agent.log();
        assert!(
            out.contains("not running") || out.contains("has been removed"),
            "{out}"
        );
        assert!(out.contains("sink k2"), "the missing sink is named: {out}");
        agent.sigterm();
        let status = agent.wait_exit(EXIT).expect("stops");
        assert!(status.success(), "{}", agent.log());
    }
    // 200 lines: twenty times what the unsupported path's channel holds.
    let mut agent = Agent::start_with_args(&conf, "a1", &["--allow-unsupported"]);
    agent.wait_for_log(DELIVERY, "started");
    let lines: Vec<String> = (0..200).map(|i| format!("fan-out line {i:03}")).collect();
    append_lines(&log, &lines);
    let records = consume_all(&broker.bootstrap(), "fan", 1, lines.len(), DELIVERY);
    agent.sigterm();
    assert!(agent.wait_exit(EXIT).is_some_and(|s| s.success()));
    let records_after = consume_all(&broker.bootstrap(), "fan", 1, lines.len(), DELIVERY);
    assert_eq!(values(&records), lines);
    assert_eq!(
        values(&records_after),
        lines,
        "read again after the stop: no duplicates"
    );
}

/// Flume (`channels.retainAll(channelSet)`) runs the source on the channels that exist; rflume
/// does the same and reports the unknown one as an error.
#[test]
fn a_source_listing_an_undeclared_channel_runs_on_the_declared_one() {
    let broker = Broker::start();
    broker.create_topic("HelloKafka", 1);
    let port = free_port();
    let conf = format!(
        "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = {port}
a1.sources.r1.channels = c1 c9
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = {}
a1.sinks.k1.kafka.topic = HelloKafka
a1.sinks.k1.channel = c1
",
        broker.bootstrap()
    );
    let check = run_rflume_check(&conf);
    assert_eq!(
        check.0,
        Some(1),
        "check reports what Flume drops:\n{}",
        check.1
    );
    assert!(
        check
            .1
            .contains(":7: a1.sources.r1.channels: channel c9 is not a channel of this agent"),
        "{}",
        check.1
    );
    let mut agent = Agent::start(&conf, "a1");
    let mut stream = None;
    agent.wait_until(DELIVERY, "the netcat source listens", || {
        stream = TcpStream::connect(("127.0.0.1", port)).ok();
        stream.is_some()
    });
    let mut s = stream.unwrap();
    s.set_read_timeout(Some(DELIVERY)).unwrap();
    s.write_all(b"one\ntwo\n").unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for _ in 0..2 {
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        assert_eq!(reply, "OK\n");
    }
    // Wait for both, then judge exactly once on the whole topic after the agent stopped.
    consume_all(&broker.bootstrap(), "HelloKafka", 1, 2, DELIVERY);
    agent.sigterm();
    assert!(agent.wait_exit(EXIT).is_some_and(|s| s.success()));
    let records = consume_all(&broker.bootstrap(), "HelloKafka", 1, 2, DELIVERY);
    assert_eq!(values(&records), ["one", "two"]);
}

/// `restart = yes` is `false` in Flume (`Boolean.parseBoolean`): rflume runs it so, with a warning.
#[test]
fn lenient_values_run_as_in_flume_with_a_warning() {
    let conf = "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = echo hello
a1.sources.r1.restart = yes
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = lots
a1.channels.c1.keep-alive = x
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
";
    let (code, out) = run_rflume_check(conf);
    assert_eq!(code, Some(0), "runs as Flume would: exit 0\n{out}");
    for needle in [
        ":6: a1.sources.r1.restart: 'yes' is read as false, as Flume does",
        ":9: a1.channels.c1.capacity: invalid capacity 'lots'; using Flume's default of 100",
        ":10: a1.channels.c1.keep-alive: invalid keep-alive 'x'; using Flume's default of 3",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(out.contains("restart = false"), "{out}");
}

/// TAILDIR `maxBatchCount = 0` (Flume: no limit, with a warning) and an unknown producer key
/// (Java's producer: "supplied but isn't a known config", ignored) run; `acks = 2`, which Java's
/// producer refuses, does not.
#[test]
fn taildir_and_kafka_keys_flume_tolerates_run_and_the_one_java_refuses_does_not() {
    let conf = "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = /var/log/app/.*\\.log
a1.sources.r1.positionFile = /var/lib/rflume/taildir_position.json
a1.sources.r1.maxBatchCount = 0
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = 127.0.0.1:9092
a1.sinks.k1.kafka.topic = t
a1.sinks.k1.kafka.producer.ack = 1
a1.sinks.k1.channel = c1
";
    let (code, out) = run_rflume_check(conf);
    assert_eq!(code, Some(0), "{out}");
    for needle in [
        ":8: a1.sources.r1.maxBatchCount: Invalid maxBatchCount 0; no limit is used, as in Flume",
        ":14: a1.sinks.k1.kafka.producer.ack: 'ack' is neither a Kafka producer setting nor a librdkafka property; ignored",
        "did you mean kafka.producer.acks?",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let (code, out) = run_rflume_check(&conf.replace("producer.ack = 1", "producer.acks = 2"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            ":14: a1.sinks.k1.kafka.producer.acks: Invalid value 2 for configuration acks"
        ),
        "{out}"
    );
}

/// Mistyped component types and Kafka keys get the name they were probably meant to be.
#[test]
fn mistyped_types_and_keys_get_a_did_you_mean() {
    let conf = "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exce
a1.sources.r1.command = echo x
a1.sources.r1.channels = c1
a1.channels.c1.type = memroy
a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSnk
a1.sinks.k1.kafka.bootstrap.server = 127.0.0.1:9092
a1.sinks.k1.kafka.topik = t
a1.sinks.k1.channel = c1
";
    let (_, out) = run_rflume_check(conf);
    for needle in [
        ":4: a1.sources.r1.type: unknown source type 'exce'",
        "(did you mean exec?",
        ":7: a1.channels.c1.type: unknown channel type 'memroy'",
        "(did you mean memory?",
        "(did you mean org.apache.flume.sink.kafka.KafkaSink?",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let (_, out) = run_rflume_check(
        &conf
            .replace("type = exce", "type = exec")
            .replace("memroy", "memory")
            .replace("KafkaSnk", "KafkaSink"),
    );
    for needle in [
        ":9: a1.sinks.k1.kafka.bootstrap.server: unknown property for the kafka sink; ignored (did you mean kafka.bootstrap.servers?",
        ":10: a1.sinks.k1.kafka.topik: unknown property for the kafka sink; ignored (did you mean kafka.topic?",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn dryrun_exits_1_when_a_component_would_be_dropped() {
    let conf = "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = echo hello
a1.sources.r1.channels = c1
a1.sources.r1.batchSize = 500
a1.channels.c1.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.conf");
    std::fs::write(&path, conf).unwrap();
    let run = |extra: &str| {
        let text = conf.replace("a1.sources.r1.batchSize = 500\n", extra);
        std::fs::write(&path, text).unwrap();
        run_rflume([
            "agent".as_ref(),
            "--dryrun".as_ref(),
            "-n".as_ref(),
            "a1".as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ])
    };
    let dropped = run("a1.sources.r1.batchSize = 500\n");
    assert_eq!(dropped.status.code(), Some(1), "{dropped:?}");
    let fine = run("");
    assert_eq!(fine.status.code(), Some(0), "{fine:?}");
}

#[test]
fn check_exit_codes_tell_ok_dropped_and_unreadable_apart() {
    let (ok, out) = run_rflume_check(
        "a1.sources = r1\na1.channels = c1 c2\na1.sinks = k1\na1.sources.r1.type = seq\n\
         a1.sources.r1.channels = c1\na1.channels.c1.type = memory\na1.channels.c2.type = memory\n\
         a1.sinks.k1.type = logger\na1.sinks.k1.channel = c1\n",
    );
    assert_eq!(ok, Some(0), "an unused channel is a warning only:\n{out}");
    assert!(out.contains("warning:"), "{out}");
    // One cause, one error: the channel Flume drops is the error, at its line; the source and
    // sink that go with it are warnings pointing at the channel's line.
    let (code, out) = run_rflume_check(
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.sources.r1.type = seq\n\
         a1.sources.r1.channels = c1\na1.channels.c1.type = memory\na1.channels.c1.capacity = 10\n\
         a1.channels.c1.transactionCapacity = 100\na1.sinks.k1.type = logger\na1.sinks.k1.channel = c1\n",
    );
    assert_eq!(code, Some(1), "a dropped component:\n{out}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error for one cause:\n{out}");
    assert!(
        errors[0].contains(":8: a1.channels.c1.transactionCapacity"),
        "{out}"
    );
    for consequence in [":5: a1.sources.r1.channels", ":10: a1.sinks.k1.channel"] {
        assert!(
            out.lines().any(|l| l.starts_with("warning:")
                && l.contains(consequence)
                && l.contains("(see line 6)")),
            "{consequence} is a warning that points at the channel's line:\n{out}"
        );
    }
    let missing = run_rflume(["check", "-f", "/nonexistent/flume.conf"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let usage = run_rflume(["check", "--no-such-flag"]);
    assert_eq!(usage.status.code(), Some(2), "bad usage: {usage:?}");
}

/// `rflume check` on `conf`, written to a temporary file: (exit code, stdout + stderr).
fn run_rflume_check(conf: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flume.conf");
    std::fs::write(&path, conf).unwrap();
    let out = run_rflume(["check".as_ref(), "-f".as_ref(), path.as_os_str()]);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Flume 1.11: several `--conf-file`s make one configuration, a later file's key winning;
/// `--conf-uri file:…` reads the same way.
#[test]
fn several_conf_files_merge_and_conf_uri_reads_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.conf");
    let site = dir.path().join("site.conf");
    std::fs::write(
        &base,
        "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.sources.r1.type = seq\n\
         a1.sources.r1.channels = c1\na1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 100\na1.sinks.k1.type = logger\na1.sinks.k1.channel = c1\n",
    )
    .unwrap();
    // The override's own problem is reported at its own file and line.
    std::fs::write(
        &site,
        "# site overrides\na1.channels.c1.capacity = 5000\na1.sinks.k1.bogus = 1\n",
    )
    .unwrap();
    let out = run_rflume([
        "check".as_ref(),
        "-f".as_ref(),
        base.as_os_str(),
        "--conf-file".as_ref(),
        site.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("capacity = 5000"),
        "the later file wins:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:3: a1.sinks.k1.bogus: unknown property",
            site.display()
        )),
        "{text}"
    );
    let uri = format!("file://{}", base.display());
    let out = run_rflume(["check", "--conf-uri", &uri]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("capacity = 100"), "{text}");
}

/// `--conf-uri http://…` with Flume's `-user`/`-pwd` (HTTP basic authentication), against a
/// one-file HTTP server on loopback that insists on the credentials.
#[test]
fn conf_uri_over_http_with_basic_authentication() {
    use std::io::Read;
    let conf = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.sources.r1.type = seq\n\
                a1.sources.r1.channels = c1\na1.channels.c1.type = memory\n\
                a1.sinks.k1.type = logger\na1.sinks.k1.channel = c1\n";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // base64("flume:s3cret")
    let expected = "Authorization: Basic Zmx1bWU6czNjcmV0";
    let server = std::thread::spawn(move || {
        let mut answered = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            let authorized = req.lines().any(|l| l.eq_ignore_ascii_case(expected));
            let reply = if authorized {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{conf}",
                    conf.len()
                )
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            s.write_all(reply.as_bytes()).unwrap();
            answered.push(authorized);
        }
        answered
    });
    let uri = format!("http://127.0.0.1:{port}/flume.conf");
    let denied = run_rflume(["check", "--conf-uri", &uri]);
    assert_eq!(denied.status.code(), Some(2), "{denied:?}");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("authorization failed"),
        "{denied:?}"
    );
    let ok = run_rflume([
        "check",
        "--conf-uri",
        &uri,
        "-user",
        "flume",
        "-pwd",
        "s3cret",
    ]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(text.contains("agent a1: OK"), "{text}");
    assert!(!text.contains("s3cret"), "the password is not printed");
    assert_eq!(server.join().unwrap(), [false, true]);
}

/// `flume-ng version` keeps Flume's first-line shape and names rflume; Flume's other
/// sub-commands say they are not part of rflume.
#[test]
fn flume_ng_subcommands_rflume_does_not_have_say_so() {
    let v = run_rflume(["version"]);
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert_eq!(v.status.code(), Some(0));
    assert!(text.starts_with("Flume 1."), "{text}");
    assert!(text.lines().next().unwrap().contains("rflume"), "{text}");
    for args in [
        &[
            "avro-client",
            "-H",
            "localhost",
            "-p",
            "41414",
            "-F",
            "/etc/hosts",
        ][..],
        &["tool", "FCINTEGRITYTOOL", "-l", "/tmp"][..],
    ] {
        let out = run_rflume(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not supported by rflume"),
            "{out:?}"
        );
    }
}

/// The stop signals are caught from before the configuration is read: while the agent waits for
/// its configuration (an HTTP server that answers only when told to), it already catches
/// SIGHUP, SIGTERM and SIGINT (`SigCgt`), and a SIGHUP then is held, survived and logged once
/// the agent runs.
#[test]
fn signals_are_caught_before_the_configuration_is_read() {
    use std::io::Read;
    let conf = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.sources.r1.type = seq\n\
                a1.sources.r1.totalEvents = 10\na1.sources.r1.channels = c1\n\
                a1.channels.c1.type = memory\na1.sinks.k1.type = null\na1.sinks.k1.channel = c1\n";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (answer_tx, answer_rx) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        // Hold the request until the test has signalled the waiting agent.
        answer_rx.recv().unwrap();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{conf}",
            conf.len()
        );
        s.write_all(reply.as_bytes()).unwrap();
    });
    let dir = tempfile::Builder::new()
        .prefix("rflume-agent-")
        .tempdir()
        .unwrap();
    let mut cmd = std::process::Command::new(rflume_bin());
    cmd.args(["agent", "-n", "a1", "--conf-uri"])
        .arg(format!("http://127.0.0.1:{port}/flume.conf"))
        .arg("-Dflume.root.logger=INFO,console");
    let mut agent = Agent::spawn(dir, cmd);
    let pid = agent.pid();
    agent.wait_until(
        DELIVERY,
        "the agent catches SIGHUP, SIGTERM and SIGINT",
        || {
            [libc::SIGHUP, libc::SIGTERM, libc::SIGINT]
                .iter()
                .all(|&sig| catches_signal(pid, sig))
        },
    );
    assert!(
        !agent.log().contains("started"),
        "still waiting for its configuration"
    );
    agent.signal(libc::SIGHUP);
    answer_tx.send(()).unwrap();
    // The SIGHUP was held while the configuration loaded, and is handled once the agent runs.
    agent.wait_for_log(DELIVERY, "started");
    agent.wait_for_log(DELIVERY, "received SIGHUP");
    assert!(agent.is_running(), "{}", agent.log());
    server.join().unwrap();
    agent.stop_cleanly();
}
