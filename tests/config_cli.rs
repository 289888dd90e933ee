//! The configuration file and the command line, as an operator migrating from flume-ng meets
//! them: `rflume check` reports every problem as `FILE:LINE: key: problem (fix)` and exits 1 when
//! something would not run; `rflume agent` runs what survives validation and refuses to start
//! with nothing; flume-ng's argument lists (and their typos) keep working.
//!
//! No broker is needed: agents here use the logger and null sinks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// A valid exec → memory → logger agent, the base each validation test breaks in one place.
const VALID: &str = "a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = exec
a1.sources.r1.command = tail -F /var/log/app.log
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.channels.c1.transactionCapacity = 100
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
";

/// `rflume check` run on a config file written to disk.
struct Checked {
    _dir: tempfile::TempDir,
    path: PathBuf,
    text: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Checked {
    /// 1-based line of the first line of the file that starts with `key` (a whole key).
    fn line_of(&self, key: &str) -> usize {
        line_of(&self.text, key)
    }

    fn output(&self) -> String {
        format!(
            "--- rflume check {} (exit {:?}) ---\n{}{}--- file ---\n{}",
            self.path.display(),
            self.status.code(),
            self.stdout,
            self.stderr,
            numbered(&self.text)
        )
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(self.status.code(), Some(code), "{}", self.output());
    }

    /// A diagnostic `SEVERITY: FILE:LINE: KEY: …` mentioning every fragment.
    #[track_caller]
    fn assert_diagnostic(&self, severity: &str, line: usize, key: &str, fragments: &[&str]) {
        let prefix = format!("{severity}: {}:{line}: {key}: ", self.path.display());
        self.assert_line_with(&prefix, fragments);
    }

    #[track_caller]
    fn assert_line_with(&self, prefix: &str, fragments: &[&str]) {
        let found = self
            .stdout
            .lines()
            .any(|l| l.starts_with(prefix) && fragments.iter().all(|f| l.contains(f)));
        assert!(
            found,
            "expected a line starting with {prefix:?} and containing {fragments:?}\n{}",
            self.output()
        );
    }

    /// The effective value `check` prints for a setting (`      key = value`).
    fn shown(&self, key: &str) -> Option<String> {
        let prefix = format!("{key} = ");
        self.stdout
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(&prefix))
            .map(str::to_string)
            .next()
    }
}

fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with([' ', '=', ':', '\t']))
        })
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{key} is not in the config:\n{text}"))
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>3} {l}\n", i + 1))
        .collect()
}

/// Writes `text` to a file and runs `rflume check --conf-file FILE --name a1` on it.
fn check(text: &str) -> Checked {
    check_with(text, &["--name", "a1"], &[])
}

/// Writes `text` to a file and runs `rflume check --conf-file FILE ARGS…` with extra
/// environment variables set on the child only.
fn check_with(text: &str, args: &[&str], env: &[(&str, &str)]) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flume.conf");
    fs::write(&path, text).unwrap();
    let mut all: Vec<String> = vec!["check".into(), "--conf-file".into()];
    all.push(path.display().to_string());
    all.extend(args.iter().map(|a| a.to_string()));
    let output = run_with_env(&all, env);
    Checked {
        _dir: dir,
        path,
        text: text.to_string(),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Like the harness's `run_rflume`, with environment variables for the child: runs to
/// completion with a deadline, output captured through files.
fn run_with_env(args: &[String], env: &[(&str, &str)]) -> Output {
    if env.is_empty() {
        return run_rflume(args);
    }
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new(rflume_bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("cannot start rflume");
    let mut status = None;
    poll_until(DEADLINE, || {
        status = child.try_wait().expect("waitpid failed");
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} still running after {DEADLINE:?}");
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
    }
}

/// `VALID` with the line starting with `key` replaced by `replacement` (None: deleted).
fn valid_with(key: &str, replacement: Option<&str>) -> String {
    let n = line_of(VALID, key);
    VALID
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            if i + 1 == n {
                replacement.map(str::to_string)
            } else {
                Some(l.to_string())
            }
        })
        .map(|l| l + "\n")
        .collect()
}

// ---------------------------------------------------------------------------------------------
// rflume check: the resolved graph

#[test]
fn check_prints_the_graph_of_the_seed_config_with_effective_settings() {
    let c = check(SEED_CONF);
    c.assert_exit(0);
    let out = &c.stdout;
    for expected in [
        "source r1 [exec] -> channels: c1",
        "channel c1 [memory] <- sources: r1 -> sinks: k1",
        "sink k1 [org.apache.flume.sink.kafka.KafkaSink] <- channel: c1",
        "agent a1: OK",
    ] {
        assert!(
            out.contains(expected),
            "missing {expected:?}\n{}",
            c.output()
        );
    }
    // Effective settings, with the deprecated names of the seed resolved to the new ones.
    let expect = [
        (
            "command",
            "tail -F /root/hadoop-3.2.1/testdata/testflume.log",
        ),
        ("capacity", "10000"),
        ("transactionCapacity", "100"),
        ("kafka.topic", "HelloKafka"),
        (
            "kafka.bootstrap.servers",
            "Slave001:9092,Slave002:9092,Slave003:9092",
        ),
        ("flumeBatchSize", "20"),
    ];
    for (key, value) in expect {
        assert_eq!(
            c.shown(key).as_deref(),
            Some(value),
            "effective {key}\n{}",
            c.output()
        );
    }
    let acks = c
        .stdout
        .lines()
        .find(|l| l.contains("acks"))
        .unwrap_or_default();
    assert!(
        acks.contains('1'),
        "acks = 1 from requiredAcks\n{}",
        c.output()
    );
    // The deprecated names are accepted, each with a warning naming the new one.
    c.assert_diagnostic(
        "warning",
        c.line_of("a1.sinks.k1.brokerList"),
        "a1.sinks.k1.brokerList",
        &["kafka.bootstrap.servers"],
    );
    c.assert_diagnostic(
        "warning",
        c.line_of("a1.sinks.k1.batchSize"),
        "a1.sinks.k1.batchSize",
        &["flumeBatchSize"],
    );
}

// ---------------------------------------------------------------------------------------------
// rflume check: Flume's validation rules, each reported at its line

#[test]
fn missing_channel_list_is_an_error() {
    let c = check(&valid_with("a1.channels", None));
    c.assert_exit(1);
    // An absent key has no line of its own: `FILE: a1.channels: …` (a line number is welcome).
    let path = c.path.display().to_string();
    let found = c.stdout.lines().any(|l| {
        l.starts_with(&format!("error: {path}"))
            && l.contains(" a1.channels: ")
            && l.contains("channels")
    });
    assert!(found, "an error naming a1.channels\n{}", c.output());
}

/// `VALID` with a Kafka sink k1 (bootstrap and topic set) instead of the logger, plus `extra`.
fn with_kafka_sink(extra: &str) -> String {
    format!(
        "{}a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = 127.0.0.1:9092
a1.sinks.k1.kafka.topic = t
{extra}",
        valid_with("a1.sinks.k1.type", None)
    )
}

/// Each of Flume's validation rules (and rflume's support limits), broken in one place of
/// `VALID`: `check` exits 1 with one diagnostic at the line of the key at fault (for a missing
/// key: the component's first line) naming what is wrong.
#[test]
fn each_broken_rule_is_reported_at_its_line_and_fails_the_check() {
    struct Broken {
        what: &'static str,
        text: String,
        severity: &'static str,
        /// The key reported, and the key whose line it is reported at.
        key: &'static str,
        at: &'static str,
        fragments: &'static [&'static str],
        /// A line the resolved graph must also show.
        graph_shows: Option<&'static str>,
    }
    let cases = [
        Broken {
            what: "a component without type is dropped",
            text: valid_with("a1.sources.r1.type", None),
            severity: "error",
            key: "a1.sources.r1.type",
            at: "a1.sources.r1.command",
            fragments: &["no type"],
            graph_shows: Some("DROPPED source r1"),
        },
        Broken {
            what: "a source's channel is not defined",
            text: valid_with(
                "a1.sources.r1.channels",
                Some("a1.sources.r1.channels = c9"),
            ),
            severity: "error",
            key: "a1.sources.r1.channels",
            at: "a1.sources.r1.channels",
            fragments: &["c9"],
            graph_shows: None,
        },
        Broken {
            what: "a sink's channel is not defined",
            text: valid_with("a1.sinks.k1.channel", Some("a1.sinks.k1.channel = c9")),
            severity: "error",
            key: "a1.sinks.k1.channel",
            at: "a1.sinks.k1.channel",
            fragments: &["c9"],
            graph_shows: None,
        },
        Broken {
            what: "a source's batchSize over the channel's transactionCapacity",
            text: format!("{VALID}a1.sources.r1.batchSize = 200\n"),
            severity: "error",
            key: "a1.sources.r1.batchSize",
            at: "a1.sources.r1.batchSize",
            fragments: &["200", "100"],
            graph_shows: None,
        },
        Broken {
            what: "a Kafka sink's flumeBatchSize over the channel's transactionCapacity",
            text: with_kafka_sink("a1.sinks.k1.flumeBatchSize = 500\n"),
            severity: "error",
            key: "a1.sinks.k1.flumeBatchSize",
            at: "a1.sinks.k1.flumeBatchSize",
            fragments: &["500", "100"],
            graph_shows: None,
        },
        Broken {
            what: "transactionCapacity over capacity",
            text: valid_with(
                "a1.channels.c1.transactionCapacity",
                Some("a1.channels.c1.transactionCapacity = 5000"),
            ),
            severity: "error",
            key: "a1.channels.c1.transactionCapacity",
            at: "a1.channels.c1.transactionCapacity",
            fragments: &["5000", "1000"],
            graph_shows: None,
        },
        Broken {
            what: "a custom class is named (unsupported: Flume would load it)",
            text: valid_with(
                "a1.sources.r1.type",
                Some("a1.sources.r1.type = com.example.flume.MySource"),
            ),
            severity: "unsupported",
            key: "a1.sources.r1.type",
            at: "a1.sources.r1.type",
            fragments: &["com.example.flume.MySource"],
            graph_shows: None,
        },
        // A Flume type rflume does not run (yet) is named as unsupported, not dropped silently:
        // Flume would run it, so the agent refuses to start (tests/drop_in.rs).
        Broken {
            what: "jms is not supported",
            text: valid_with("a1.sources.r1.type", Some("a1.sources.r1.type = JMS")),
            severity: "unsupported",
            key: "a1.sources.r1.type",
            at: "a1.sources.r1.type",
            fragments: &["jms", "not supported"],
            graph_shows: None,
        },
        Broken {
            what: "irc is not supported",
            text: valid_with("a1.sinks.k1.type", Some("a1.sinks.k1.type = irc")),
            severity: "unsupported",
            key: "a1.sinks.k1.type",
            at: "a1.sinks.k1.type",
            fragments: &["irc", "not supported"],
            graph_shows: None,
        },
        Broken {
            what: "the JDBC channel is not supported",
            text: valid_with("a1.channels.c1.type", Some("a1.channels.c1.type = jdbc")),
            severity: "unsupported",
            key: "a1.channels.c1.type",
            at: "a1.channels.c1.type",
            fragments: &["jdbc", "not supported"],
            graph_shows: None,
        },
        // k1 is then left without a type, as in Flume: it does not run, so the check fails.
        Broken {
            what: "the singular a1.sink. prefix is a warning with the fix",
            text: valid_with("a1.sinks.k1.type", Some("a1.sink.k1.type = logger")),
            severity: "warning",
            key: "a1.sink.k1.type",
            at: "a1.sink.k1.type",
            fragments: &["did you mean a1.sinks.k1.type?"],
            graph_shows: None,
        },
    ];
    for case in cases {
        let c = check(&case.text);
        assert_eq!(c.status.code(), Some(1), "{}\n{}", case.what, c.output());
        c.assert_diagnostic(case.severity, c.line_of(case.at), case.key, case.fragments);
        if let Some(shown) = case.graph_shows {
            assert!(c.stdout.contains(shown), "{}\n{}", case.what, c.output());
        }
    }
}

#[test]
fn kafka_flume_batch_size_is_a_warning_naming_flume_batch_size() {
    let c = check(&with_kafka_sink("a1.sinks.k1.kafka.flumeBatchSize = 20\n"));
    let line = c.line_of("a1.sinks.k1.kafka.flumeBatchSize");
    let prefix = format!(
        "warning: {}:{line}: a1.sinks.k1.kafka.flumeBatchSize: ",
        c.path.display()
    );
    let names_the_real_key = c.stdout.lines().any(|l| {
        l.starts_with(&prefix)
            && l.replace("kafka.flumeBatchSize", "")
                .contains("flumeBatchSize")
    });
    assert!(
        names_the_real_key,
        "a warning at line {line} naming flumeBatchSize\n{}",
        c.output()
    );
    // Ignored as in Flume: the batch stays at the default.
    assert_eq!(
        c.shown("flumeBatchSize").as_deref(),
        Some("100"),
        "{}",
        c.output()
    );
    c.assert_exit(0);
}

#[test]
fn duplicated_key_is_a_warning_and_the_last_value_wins() {
    let text = valid_with(
        "a1.channels.c1.capacity",
        Some("a1.channels.c1.capacity = 1000\na1.channels.c1.capacity = 2000"),
    );
    let c = check(&text);
    let first = c.line_of("a1.channels.c1.capacity");
    c.assert_diagnostic(
        "warning",
        first + 1,
        "a1.channels.c1.capacity",
        &["duplicate", &first.to_string()],
    );
    assert_eq!(
        c.shown("capacity").as_deref(),
        Some("2000"),
        "{}",
        c.output()
    );
    c.assert_exit(0);
}

#[test]
fn utf8_chinese_comments_and_values_are_accepted() {
    let text = format!(
        "# 配置文件：采集应用日志并写入 Kafka\n! 注释也可以用感叹号\n{}",
        valid_with(
            "a1.sources.r1.command",
            Some("# 根据文件名进行追踪\na1.sources.r1.command = tail -F /data/日志/应用.log"),
        )
    );
    let c = check(&text);
    c.assert_exit(0);
    assert_eq!(
        c.shown("command").as_deref(),
        Some("tail -F /data/日志/应用.log"),
        "{}",
        c.output()
    );
    assert!(
        !c.stdout.contains("warning:"),
        "no warnings\n{}",
        c.output()
    );
}

#[test]
fn env_substitution_uses_the_environment_of_the_process() {
    let text = valid_with(
        "a1.sources.r1.command",
        Some("a1.sources.r1.command = tail -F ${env:RFLUME_TEST_LOG_DIR}/app.log"),
    );
    let c = check_with(
        &text,
        &["--name", "a1"],
        &[("RFLUME_TEST_LOG_DIR", "/srv/logs")],
    );
    c.assert_exit(0);
    assert_eq!(
        c.shown("command").as_deref(),
        Some("tail -F /srv/logs/app.log"),
        "{}",
        c.output()
    );

    // Unset, the reference is reported at its line instead of silently becoming empty.
    let c = check(&text);
    c.assert_diagnostic(
        "warning",
        c.line_of("a1.sources.r1.command"),
        "a1.sources.r1.command",
        &["RFLUME_TEST_LOG_DIR"],
    );
}

// ---------------------------------------------------------------------------------------------
// rflume agent: what survives validation runs; nothing runnable is fatal

/// exec `tail -F` of `log` → memory → logger sink k1, plus whatever `extra` adds.
fn logger_agent_config(log: &Path, extra: &str) -> String {
    format!(
        "a1.sources = r1
a1.channels = c1
a1.sources.r1.type = exec
a1.sources.r1.command = tail -n +1 -F {}
a1.sources.r1.batchTimeout = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
{extra}",
        log.display()
    )
}

#[test]
fn agent_with_nothing_runnable_exits_non_zero_naming_the_file() {
    let config = valid_with(
        "a1.channels.c1.transactionCapacity",
        Some("a1.channels.c1.transactionCapacity = 5000"),
    );
    let started = Instant::now();
    let mut agent = Agent::start(&config, "a1");
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("agent still running 10 s later\n{}", agent.log()));
    assert_ne!(status.code(), Some(0), "{}", agent.log());
    assert!(status.code().is_some(), "killed by a signal: {status}");
    let conf = agent.conf_path().display().to_string();
    let log = agent.log();
    assert!(
        log.lines()
            .any(|l| l.contains(&conf) && l.contains("nothing runnable")),
        "a message naming {conf}\n{log}"
    );
    eprintln!("exited {status} after {:?}", started.elapsed());
}

#[test]
fn agent_runs_what_survives_and_logs_the_dropped_sink_at_error() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["still-running-1"]);
    let config = logger_agent_config(
        &log,
        "a1.sinks = k1 k2\na1.sinks.k2.type = null\na1.sinks.k2.channel = c9\n",
    );
    let mut agent = Agent::start(&config, "a1");
    // The rest runs: the line goes through the logger sink.
    agent.wait_for_log(DEADLINE, "still-running-1");
    assert!(agent.is_running(), "{}", agent.log());

    let conf = agent.conf_path().display().to_string();
    let line = line_of(&config, "a1.sinks.k2.channel");
    let expected = format!("{conf}:{line}: a1.sinks.k2.channel: ");
    assert!(
        agent
            .log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains(&expected)),
        "an ERROR line with {expected:?}\n{}",
        agent.log()
    );
    agent.sigterm();
    let status = agent.wait_exit(DEADLINE).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", agent.log());
}

/// Extreme command-line values never panic: a `--drain-timeout` beyond a day (or not finite) is
/// refused with the valid range, and a `--poll-interval` of u64::MAX — whose timer deadline
/// overflowed `Instant` arithmetic and panicked — is clamped to a year with a WARN while the
/// agent runs and stops normally.
#[test]
fn extreme_drain_timeout_and_poll_interval_are_refused_or_clamped_never_a_panic() {
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("app.log");
    append_lines(&log, ["after-the-clamp"]);
    let config = logger_agent_config(&log, "a1.sinks = k1\n");
    for bad in ["1e300", "inf", "NaN", "86401"] {
        let mut agent = Agent::start_with_args(&config, "a1", &["--drain-timeout", bad]);
        let status = agent
            .wait_exit(DEADLINE)
            .unwrap_or_else(|| panic!("--drain-timeout {bad}: still running\n{}", agent.log()));
        let text = agent.log();
        assert_eq!(
            status.code(),
            Some(1),
            "--drain-timeout {bad}: {status}\n{text}"
        );
        assert!(
            text.contains("--drain-timeout must be a number of seconds from 0 to 86400"),
            "--drain-timeout {bad}: the valid range is named\n{text}"
        );
        assert!(!text.contains("panicked"), "--drain-timeout {bad}\n{text}");
    }
    let mut agent = Agent::start_with_args(&config, "a1", &["-i", &u64::MAX.to_string()]);
    agent.wait_for_log(DEADLINE, "after-the-clamp");
    let text = agent.log();
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains(&format!(
                "--poll-interval {} is longer than a year",
                u64::MAX
            ))),
        "the clamp is said at WARN\n{text}"
    );
    agent.sigterm();
    let status = agent.wait_exit(DEADLINE).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", agent.log());
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}

// ---------------------------------------------------------------------------------------------
// The corpus of real-world configurations

/// Component types rflume runs, by Flume alias or class name (case-insensitive, as Flume).
fn supported(section: &str, kind: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    let names: &[&str] = match section {
        "sources" => &[
            "avro",
            "org.apache.flume.source.avrosource",
            "exec",
            "seq",
            "netcat",
            "taildir",
            "spooldir",
            "netcatudp",
            "syslogtcp",
            "syslogudp",
            "multiport_syslogtcp",
            "http",
            "org.apache.flume.source.spooldirectorysource",
            "org.apache.flume.source.netcatudpsource",
            "org.apache.flume.source.syslogtcpsource",
            "org.apache.flume.source.syslogudpsource",
            "org.apache.flume.source.multiportsyslogtcpsource",
            "org.apache.flume.source.http.httpsource",
            "org.apache.flume.source.execsource",
            "org.apache.flume.source.taildir.taildirsource",
            "org.apache.flume.source.sequencegeneratorsource",
            "org.apache.flume.source.netcatsource",
            "org.apache.flume.source.kafka.kafkasource",
            "thrift",
            "org.apache.flume.source.thriftsource",
        ],
        "channels" => &[
            "memory",
            "file",
            "spillablememory",
            "org.apache.flume.channel.memorychannel",
            "org.apache.flume.channel.file.filechannel",
            "org.apache.flume.channel.spillablememorychannel",
            "org.apache.flume.channel.kafka.kafkachannel",
        ],
        "interceptors" => &[
            "timestamp",
            "host",
            "static",
            "remove_header",
            "regex_filter",
            "regex_extractor",
            "search_replace",
            "org.apache.flume.interceptor.timestampinterceptor$builder",
            "org.apache.flume.interceptor.hostinterceptor$builder",
            "org.apache.flume.interceptor.staticinterceptor$builder",
            "org.apache.flume.interceptor.removeheaderinterceptor$builder",
            "org.apache.flume.interceptor.regexfilteringinterceptor$builder",
            "org.apache.flume.interceptor.regexextractorinterceptor$builder",
            "org.apache.flume.interceptor.searchandreplaceinterceptor$builder",
            "org.apache.flume.sink.solr.morphline.uuidinterceptor$builder",
        ],
        "sinks" => &[
            "hdfs",
            "org.apache.flume.sink.hdfs.hdfseventsink",
            "avro",
            "org.apache.flume.sink.avrosink",
            "logger",
            "null",
            "file_roll",
            "org.apache.flume.sink.rollingfilesink",
            "org.apache.flume.sink.kafka.kafkasink",
            "org.apache.flume.sink.loggersink",
            "org.apache.flume.sink.nullsink",
            "thrift",
            "org.apache.flume.sink.thriftsink",
        ],
        _ => &[],
    };
    names.contains(&k.as_str())
}

/// Java-properties lines of a file (comments, blank lines and continuations handled; keys and
/// values trimmed; the last duplicate wins).
fn properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let l = raw.trim_start();
        if logical.is_empty() && (l.is_empty() || l.starts_with('#') || l.starts_with('!')) {
            continue;
        }
        if let Some(cont) = l.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(l);
        let line = std::mem::take(&mut logical);
        let end = line
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(line.len());
        let key = line[..end].trim().to_string();
        let mut rest = line[end..].trim_start();
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r;
        }
        out.insert(key, rest.trim().to_string());
    }
    out
}

/// (agent, section, component, type) of every listed component with an unsupported type, and of
/// the parts of listed sources and sink groups that rflume does not run yet (interceptor types,
/// selector types, sink-group processors): what makes Flume run something rflume cannot.
fn unsupported_components(text: &str) -> Vec<(String, String, String, String)> {
    let props = properties(text);
    let mut found = Vec::new();
    let mut push = |agent: &str, section: &str, name: &str, kind: &str| {
        found.push((
            agent.to_string(),
            section.to_string(),
            name.to_string(),
            kind.to_string(),
        ))
    };
    for (key, value) in &props {
        let Some((agent, section)) = key.split_once('.') else {
            continue;
        };
        if !["sources", "channels", "sinks", "sinkgroups"].contains(&section) {
            continue;
        }
        for name in value.split_whitespace().collect::<BTreeSet<_>>() {
            let prefix = format!("{agent}.{section}.{name}");
            if section == "sinkgroups" {
                let processor = props
                    .get(&format!("{prefix}.processor.type"))
                    .map_or("default", String::as_str)
                    .to_ascii_lowercase();
                let known = [
                    "default",
                    "failover",
                    "load_balance",
                    "org.apache.flume.sink.defaultsinkprocessor",
                    "org.apache.flume.sink.failoversinkprocessor",
                    "org.apache.flume.sink.loadbalancingsinkprocessor",
                ];
                if !known.contains(&processor.as_str()) {
                    push(agent, section, name, &processor);
                }
                continue;
            }
            if let Some(kind) = props.get(&format!("{prefix}.type")) {
                if !supported(section, kind) {
                    push(agent, section, name, kind);
                }
            }
            // The HDFS sink runs Flume's TEXT and HEADER_AND_TEXT serializers; another (a
            // third-party Java class) is named as unsupported.
            let kind = props
                .get(&format!("{prefix}.type"))
                .map(|k| k.to_ascii_lowercase());
            if section == "sinks"
                && kind
                    .is_some_and(|k| k == "hdfs" || k == "org.apache.flume.sink.hdfs.hdfseventsink")
            {
                if let Some(serializer) = props.get(&format!("{prefix}.serializer")) {
                    let s = serializer.to_ascii_lowercase();
                    if !["text", "header_and_text"].contains(&s.as_str())
                        && !s.starts_with("org.apache.flume.serialization.")
                    {
                        push(agent, "serializer", name, serializer);
                    }
                }
            }
            if section != "sources" {
                continue;
            }
            if let Some(selector) = props.get(&format!("{prefix}.selector.type")) {
                let s = selector.to_ascii_lowercase();
                let known = [
                    "replicating",
                    "multiplexing",
                    "org.apache.flume.channel.replicatingchannelselector",
                    "org.apache.flume.channel.multiplexingchannelselector",
                ];
                if !known.contains(&s.as_str()) {
                    push(agent, "selector", name, selector);
                }
            }
            let interceptors = props.get(&format!("{prefix}.interceptors"));
            for i in interceptors.map_or(Vec::new(), |l| l.split_whitespace().collect()) {
                if let Some(kind) = props.get(&format!("{prefix}.interceptors.{i}.type")) {
                    if !supported("interceptors", kind) {
                        push(agent, "interceptors", i, kind);
                    }
                }
            }
        }
    }
    found
}

/// The real-world configurations, beside the checkout (`../shared/flume-conf-corpus`, or
/// `RFLUME_CONF_CORPUS`): every file is checked without a crash, and every unsupported component
/// is named on an error line. A developer's clone without the corpus skips this test; CI (`CI`
/// set and not `false`/`0`, as CI services set it) must not pass by skipping it, so there its
/// absence fails.
#[test]
fn check_handles_every_config_of_the_corpus() {
    let corpus = std::env::var_os("RFLUME_CONF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flume-conf-corpus")
        });
    if !corpus.is_dir() {
        let in_ci = in_ci();
        assert!(
            !in_ci,
            "CI is set but the corpus directory {} is absent: in CI this test must run, not \
             skip (provide the corpus, or point RFLUME_CONF_CORPUS at it)",
            corpus.display()
        );
        eprintln!(
            "SKIPPED: corpus directory {} is absent; nothing to check",
            corpus.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.conf in {}", corpus.display());

    let mut problems = Vec::new();
    let mut summary = Vec::new();
    let (mut ok, mut not_ok) = (0, 0);
    let mut not_ok_files: Vec<String> = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let output = run_rflume(["check".as_ref(), "--conf-file".as_ref(), file.as_os_str()]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let code = output.status.code();
        let located_errors = stdout
            .lines()
            .filter(|l| {
                l.strip_prefix(&format!("error: {}:", file.display()))
                    .or_else(|| l.strip_prefix(&format!("unsupported: {}:", file.display())))
                    .is_some_and(|rest| {
                        rest.split(':')
                            .next()
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    })
            })
            .count();
        let dropped = stdout
            .lines()
            .filter(|l| l.contains("DROPPED") || l.contains("NOT RUN"))
            .count();
        match code {
            Some(0) => ok += 1,
            Some(1) => {
                not_ok += 1;
                not_ok_files.push(name[..3].to_string());
                if located_errors == 0 && dropped == 0 {
                    problems.push(format!(
                        "{name}: exit 1 without an `error: FILE:LINE:` or DROPPED line"
                    ));
                }
            }
            _ => problems.push(format!(
                "{name}: exit {:?} (status {}), expected 0 or 1; stderr:\n{stderr}",
                code, output.status
            )),
        }
        let text = String::from_utf8_lossy(&fs::read(file).unwrap()).into_owned();
        let unsupported = unsupported_components(&text);
        let error_lines = stdout
            .lines()
            .filter(|l| l.starts_with("error:") || l.starts_with("unsupported:"))
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>();
        for (agent, section, component, kind) in &unsupported {
            let kind_lower = kind.to_ascii_lowercase();
            if !error_lines.iter().any(|l| l.contains(&kind_lower)) {
                problems.push(format!(
                    "{name}: unsupported {agent}.{section}.{component}.type = {kind} is not \
                     named on an error: line"
                ));
            }
        }
        // The drop-in promise: a file built only from what rflume runs is never refused as
        // unsupported (it may still have configuration errors, which Flume drops too), and a
        // file with something rflume does not run fails the check.
        let refused = stdout
            .lines()
            .filter(|l| l.starts_with("unsupported:"))
            .count();
        if unsupported.is_empty() && refused > 0 {
            problems.push(format!(
                "{name}: built only from supported components, yet {refused} unsupported: line(s)"
            ));
        }
        if !unsupported.is_empty() && code != Some(1) {
            problems.push(format!(
                "{name}: names unsupported components but check exits {code:?}"
            ));
        }
        summary.push(format!(
            "{:<55} {:<7} {:>2} located error(s), {:>2} DROPPED, unsupported: {}",
            name,
            match code {
                Some(0) => "OK",
                Some(1) => "NOT OK",
                _ => "CRASH",
            },
            located_errors,
            dropped,
            unsupported
                .iter()
                .map(|(_, _, c, k)| format!("{c}={k}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    println!("rflume check on {} corpus files:", files.len());
    for s in &summary {
        println!("  {s}");
    }
    println!(
        "files OK: {ok}, NOT OK: {not_ok}, other: {}",
        files.len() - ok - not_ok
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The shared corpus's result, pinned (README, "The corpus"): a file that stops passing, or
    // one that starts passing without this list and the README being updated, fails here.
    if std::env::var_os("RFLUME_CONF_CORPUS").is_none() && files.len() == 47 {
        let expected: Vec<&str> = CORPUS_NOT_OK.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            not_ok_files, expected,
            "the corpus files that do not pass check changed: {CORPUS_NOT_OK:?}"
        );
        assert_eq!(ok, 31, "31 of the 47 corpus files pass rflume check");
    }
}

/// The shared corpus's files that do not pass `rflume check`, and why.
const CORPUS_NOT_OK: &[(&str, &str)] = &[
    ("002", "unsupported: org.keedio SQLSource"),
    ("005", "unsupported: hbase sink"),
    ("006", "unsupported: TwitterSource"),
    ("007", "unsupported: a third-party HDFS serializer"),
    ("019", "config error Flume drops too: port = YYYY"),
    ("020", "unsupported: a custom interceptor"),
    ("022", "unsupported: http sink, SQLSource"),
    ("023", "unsupported: a third-party HDFS serializer"),
    ("026", "unsupported: SparkSink (pull), TwitterSource"),
    ("027", "unsupported: TwitterSource"),
    (
        "029",
        "unsupported: custom Kafka sink and Twitter source classes",
    ),
    ("030", "unsupported: a custom interceptor"),
    (
        "031",
        "config error Flume drops too: batchSize 5000 > transactionCapacity 1000",
    ),
    ("039", "unsupported: custom interceptors"),
    ("046", "unsupported: a custom TAILDIR source class"),
    ("047", "unsupported: the ElasticSearch sink"),
];

// ---------------------------------------------------------------------------------------------
// Command line

#[test]
fn version_exits_0() {
    let out = run_rflume(["version"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{out:?}"
    );
}

#[test]
fn unknown_subcommand_exits_non_zero() {
    let out = run_rflume(["frobnicate"]);
    assert!(out.status.code().is_some_and(|c| c != 0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("frobnicate"),
        "the error names the subcommand: {out:?}"
    );
}

#[test]
fn agent_without_name_exits_non_zero_with_clap_message() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("flume.conf");
    fs::write(&conf, VALID).unwrap();
    let out = run_rflume(["agent".as_ref(), "--conf-file".as_ref(), conf.as_os_str()]);
    assert!(out.status.code().is_some_and(|c| c != 0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("required") && stderr.contains("--name"),
        "clap's message about the missing --name:\n{stderr}"
    );
}

#[test]
fn doubled_equals_in_root_logger_is_accepted_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append_lines(&log, ["hello"]);
    let conf = dir.path().join("flume.conf");
    fs::write(&conf, logger_agent_config(&log, "a1.sinks = k1\n")).unwrap();
    let mut cmd = Command::new(rflume_bin());
    cmd.arg("agent")
        .arg("--conf-file")
        .arg(&conf)
        .arg("--name")
        .arg("a1")
        .arg("-Dflume.root.logger==INFO,console");
    let mut agent = Agent::spawn(dir, cmd);
    agent.wait_for_log(DEADLINE, "hello");
    assert!(agent.is_running(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("flume.root.logger")),
        "a WARN about -Dflume.root.logger==INFO,console\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(" INFO ")),
        "INFO is the level in effect\n{log}"
    );
    agent.sigterm();
    let status = agent.wait_exit(DEADLINE).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", agent.log());
}

// ---------------------------------------------------------------------------------------------
// Logging and the config file's encoding

/// Starts `rflume agent --conf-file flume.conf --name a1 -Xmx1m ARGS…` in a fresh directory
/// (its working directory) with `config` written as raw bytes, stderr going to `<dir>/stderr`
/// and stdout to the guard's log, and `RUST_LOG` as given (removed when `None`). `-Xmx1m` is
/// there for its WARN line ("ignoring JVM options"), which every logging setting shows.
fn spawn_agent(config: &[u8], args: &[&str], rust_log: Option<&str>) -> Agent {
    let dir = tempfile::Builder::new()
        .prefix("rflume-logging-")
        .tempdir()
        .unwrap();
    fs::write(dir.path().join("flume.conf"), config).unwrap();
    let mut cmd = Command::new("sh");
    // `exec`: the guard's pid is rflume's own, so signals reach it directly.
    cmd.arg("-c")
        .arg(r#"exec "$0" "$@" 2>stderr"#)
        .arg(rflume_bin())
        .args([
            "agent",
            "--conf-file",
            "flume.conf",
            "--name",
            "a1",
            "-Xmx1m",
        ])
        .args(args);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    Agent::spawn(dir, cmd)
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Where rflume's log goes and at which level: `-Dflume.root.logger=LEVEL,console|LOGFILE`,
/// `flume.log.dir`/`flume.log.file` for LOGFILE (Flume's defaults `./logs/flume.log`), INFO on
/// the console (stderr) without any `-D` — unlike Flume's `INFO,LOGFILE` — and `RUST_LOG`
/// overriding the level both ways. Each agent runs a line through the logger sink (an INFO
/// line) and is stopped before its output is judged, so what it never logged is known.
#[test]
fn logging_follows_root_logger_log_dir_and_file_and_rust_log() {
    struct Case {
        what: &'static str,
        args: &'static [&'static str],
        rust_log: Option<&'static str>,
        /// Where the log must be, relative to the agent's directory (`stderr`: the console).
        to: &'static str,
        info: bool,
    }
    let cases = [
        Case {
            what: "no -D at all: INFO on the console",
            args: &[],
            rust_log: None,
            to: "stderr",
            info: true,
        },
        Case {
            what: "LOGFILE with flume.log.dir and flume.log.file",
            args: &[
                "-Dflume.root.logger=INFO,LOGFILE",
                "-Dflume.log.dir=var/log/flume",
                "-Dflume.log.file=agent-a1.log",
            ],
            rust_log: None,
            to: "var/log/flume/agent-a1.log",
            info: true,
        },
        Case {
            what: "LOGFILE alone: Flume's ./logs/flume.log",
            args: &["-Dflume.root.logger=INFO,LOGFILE"],
            rust_log: None,
            to: "logs/flume.log",
            info: true,
        },
        Case {
            what: "RUST_LOG=info overrides WARN",
            args: &["-Dflume.root.logger=WARN,console"],
            rust_log: Some("info"),
            to: "stderr",
            info: true,
        },
        Case {
            what: "RUST_LOG=warn overrides INFO",
            args: &["-Dflume.root.logger=INFO,console"],
            rust_log: Some("warn"),
            to: "stderr",
            info: false,
        },
    ];
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    append_lines(&file, ["log-marker"]);
    let config = logger_agent_config(&file, "a1.sinks = k1\n");
    for case in cases {
        let mut agent = spawn_agent(config.as_bytes(), case.args, case.rust_log);
        let dest = agent.dir().join(case.to);
        let wanted = if case.info {
            "log-marker"
        } else {
            "ignoring JVM options"
        };
        agent.wait_until(
            DEADLINE,
            &format!("{}: {wanted:?} in {}", case.what, dest.display()),
            || read_lossy(&dest).contains(wanted),
        );
        agent.stop_cleanly();

        let log = read_lossy(&dest);
        let context = format!("{} ({}):\n{log}", case.what, dest.display());
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("ignoring JVM options")),
            "the WARN line is there: {context}"
        );
        assert_eq!(
            log.lines().any(|l| l.contains(" INFO ")),
            case.info,
            "INFO lines there or not: {context}"
        );
        // Nowhere else: not on stdout, not on the console when logging to a file, and no
        // Flume-style ./logs/flume.log when logging to the console.
        let elsewhere = ["stderr", "logs/flume.log", "agent.log"]
            .map(|p| agent.dir().join(p))
            .into_iter()
            .filter(|p| *p != dest);
        for other in elsewhere {
            assert!(
                !read_lossy(&other).contains("ignoring JVM options"),
                "{}: log lines also in {}:\n{}",
                case.what,
                other.display(),
                read_lossy(&other)
            );
        }
    }
}

/// A config file that is not valid UTF-8 is decoded as ISO-8859-1, as Java's
/// `Properties.load(InputStream)` (and so Flume 1.11) reads it: `café` and a comment written in
/// Latin-1 reach the event's header as `café`, with a warning that the file is not UTF-8.
#[test]
fn a_config_file_that_is_not_utf8_is_read_as_iso_8859_1() {
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("app.log");
    append_lines(&file, ["latin-marker"]);
    let text = format!(
        "# répertoire des journaux, encodé en ISO-8859-1\n{}",
        logger_agent_config(
            &file,
            "a1.sinks = k1
a1.sources.r1.interceptors = i1
a1.sources.r1.interceptors.i1.type = static
a1.sources.r1.interceptors.i1.key = origin
a1.sources.r1.interceptors.i1.value = café
"
        )
    );
    let latin1: Vec<u8> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("the text is Latin-1"))
        .collect();
    assert!(
        std::str::from_utf8(&latin1).is_err(),
        "precondition: the file is not valid UTF-8"
    );
    let mut agent = spawn_agent(&latin1, &["-Dflume.root.logger=INFO,console"], None);
    let stderr = agent.dir().join("stderr");
    agent.wait_until(DEADLINE, "the event is logged", || {
        read_lossy(&stderr).contains("latin-marker")
    });
    agent.stop_cleanly();
    let log = read_lossy(&stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("Event: {") && l.contains("origin=café")),
        "the header value decoded from ISO-8859-1:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("not valid UTF-8")
            && l.contains("ISO-8859-1")),
        "a warning that the file was read as ISO-8859-1:\n{log}"
    );
}

/// `rflume agent` on each corpus agent that names something rflume does not run: it refuses to
/// start (exit 1) and lists what it cannot run, with file:line; with `--allow-unsupported` it no
/// longer refuses (`--dryrun` shows what would run instead of starting it: real corpus configs
/// name paths and ports of other machines).
#[test]
fn the_agent_refuses_every_corpus_agent_with_unsupported_parts_unless_opted_in() {
    let corpus = std::env::var_os("RFLUME_CONF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flume-conf-corpus")
        });
    if !corpus.is_dir() {
        let in_ci = in_ci();
        assert!(
            !in_ci,
            "CI is set but the corpus {} is absent",
            corpus.display()
        );
        eprintln!("SKIPPED: corpus directory {} is absent", corpus.display());
        return;
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    let mut refused = 0;
    let mut problems = Vec::new();
    for file in &files {
        let text = String::from_utf8_lossy(&fs::read(file).unwrap()).into_owned();
        let agents: BTreeSet<String> = unsupported_components(&text)
            .into_iter()
            .map(|(agent, ..)| agent)
            .collect();
        for agent in agents {
            let run = |extra: &[&str]| {
                let mut args: Vec<std::ffi::OsString> = vec![
                    "agent".into(),
                    "-n".into(),
                    agent.clone().into(),
                    "-f".into(),
                    file.clone().into(),
                ];
                args.extend(extra.iter().map(std::ffi::OsString::from));
                run_rflume(args)
            };
            let out = run(&["--dryrun"]);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let name = file.file_name().unwrap().to_string_lossy();
            let listed = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with(&format!("{}:", file.display())))
                .count();
            if out.status.code() != Some(1)
                || !stderr.contains("names components that Flume would run and rflume cannot")
                || listed == 0
            {
                problems.push(format!(
                    "{name} agent {agent}: expected a refusal listing FILE:LINE, got exit {:?}:\n{stderr}",
                    out.status.code()
                ));
                continue;
            }
            refused += 1;
            let opted = run(&["--dryrun", "--allow-unsupported"]);
            let text = String::from_utf8_lossy(&opted.stderr);
            let graph = String::from_utf8_lossy(&opted.stdout);
            if text.contains("names components that Flume would run and rflume cannot") {
                problems.push(format!(
                    "{name} agent {agent}: refused despite --allow-unsupported"
                ));
            } else if opted.status.code() != Some(1)
                || !(graph.contains(&format!("agent {agent} ("))
                    && graph.contains("NOT RUN (unsupported)")
                    || text.contains("nothing runnable remains"))
            {
                // --dryrun prints what would run and exits 1 because something is left out (or
                // says nothing runnable remains, when every path needs an unsupported part);
                // anything else (a crash, no graph, the unsupported part not named) is a bug.
                problems.push(format!(
                    "{name} agent {agent}: with --allow-unsupported expected the graph that would \
                     run, the unsupported parts marked NOT RUN, and exit 1; got exit {:?}:\n{graph}{text}",
                    opted.status.code()
                ));
            }
        }
    }
    println!("{refused} corpus agents refused without the opt-in");
    assert!(refused > 0, "the corpus has agents with unsupported parts");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
