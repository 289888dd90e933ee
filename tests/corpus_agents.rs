//! Issue 19's acceptance for the corpus agents no other test starts: "of the corpus, every file
//! whose components are all supported passes `rflume check` and starts". tests/flume_oracle.rs
//! starts, and compares with Flume, every corpus agent that passes `check` except those with an
//! HDFS sink or a source it cannot feed (a Kafka source); this file starts those: the agents of
//! 009, 010, 011, 016, 017, 021, 024 and 037.
//!
//! Each case takes the corpus file's text and rewrites only what names the author's machines —
//! NameNode, ZooKeeper and broker addresses, bind addresses and ports, the files an exec or
//! TAILDIR source reads — keeping every other property as written. The real `rflume agent` runs
//! it, its sources get real input (Avro RPC from npm's avsc, lines in the tailed files, records
//! produced to the topic a Kafka source reads), and the case checks what arrived: HDFS files read
//! back with Hadoop's own FsShell, their names from the file's path, prefix and suffix; Kafka
//! records read to the end of their topic. Then SIGTERM: exit 0 and no panic in the log.
//!
//! The environment such a file expects is provided as a deployment would provide it: an HDFS
//! path without a NameNode (`/user/…`) resolves through `HADOOP_CONF_DIR`'s `fs.defaultFS` (the
//! test NameNode), a TAILDIR source's default position file goes to `HOME`, and a
//! `zookeeperConnect` names a real ZooKeeper 3.4.14 (a JVM peer) in which the tansu broker is
//! registered as Kafka broker 0, under the file's chroot when it has one.
//!
//! One NameNode, one broker and one ZooKeeper serve every case. The cases run in lanes at once
//! (a group join on tansu takes some 20 s of waiting); 021 and 024 share a lane because both use
//! Flume's default group `flume` (on different topics) and would otherwise rebalance each other.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::avsc::AvscClient;
use common::hdfs::Hdfs;
use common::jvm::{Peers, ZooKeeper, ZOOKEEPER_3_4};
use common::process::listens_on;
use common::*;

/// Start-up of an agent (its sources listening, a Kafka source's group joined on tansu).
const START: Duration = Duration::from_secs(90);
/// Input reaching the sinks' far ends.
const DELIVERY: Duration = Duration::from_secs(60);

/// What every case shares: the peers and where the corpus is.
struct Env {
    corpus: PathBuf,
    hdfs: Arc<Hdfs>,
    broker: Broker,
    /// `None` on a developer's machine without the JVM peers (the Kafka-source cases skip then;
    /// in CI [`Peers::get`] fails instead).
    zookeeper: Option<ZooKeeper>,
}

type Case = (&'static str, fn(&Env) -> String);

#[test]
fn every_corpus_agent_no_other_test_starts_runs_and_delivers() {
    let test = "corpus agents with HDFS sinks or Kafka sources";
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flume-conf-corpus");
    if !corpus.is_dir() {
        let why = format!("corpus folder {} is missing", corpus.display());
        if in_ci() {
            panic!("{test}: {why}; CI must start the corpus agents");
        }
        eprintln!("\n########## {test}: SKIPPED: {why} ##########\n");
        return;
    }
    let zookeeper = Peers::get(test, &[ZOOKEEPER_3_4]).map(|peers| ZooKeeper::start(&peers));
    let env = Env {
        corpus,
        hdfs: Hdfs::shared(),
        broker: Broker::start(),
        zookeeper,
    };
    if let Some(zk) = &env.zookeeper {
        // 016 and 024 name ZooKeeper's root, 021 the chroot `/kafka`.
        zk.register_broker("", 0, &env.broker.bootstrap());
        zk.register_broker("/kafka", 0, &env.broker.bootstrap());
    }
    let lanes: [&[Case]; 4] = [
        &[("016-ingest-flume.conf:a1", case_016)],
        &[
            ("021-fraud_demo-flume.to-hdfs.conf:flume1", case_021),
            ("024-Kafka_Flume_HDFS-flume.conf:flume1", case_024),
        ],
        &[
            ("009-flume-flume-hdfs_sink-01.conf:agent", case_009),
            ("010-flume-flume-hdfs_sink-02.conf:agent", case_010),
            ("011-flume-flume.conf:a", case_011),
            ("017-flume-training-flume.conf:a1", case_017),
        ],
        &[(
            "037-realtime-fault-warning-system-MyFlume.conf:a1",
            case_037,
        )],
    ];
    // `RFLUME_CORPUS_ONLY=<part of a case name>` runs only the matching cases (a developer's
    // loop on one case; every run in CI runs them all).
    let only = std::env::var("RFLUME_CORPUS_ONLY").unwrap_or_default();
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for lane in lanes {
            let (env, failures, only) = (&env, &failures, &only);
            s.spawn(move || {
                for (name, case) in lane.iter().filter(|(name, _)| name.contains(only.as_str())) {
                    let started = Instant::now();
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(env)));
                    let took = started.elapsed().as_secs_f64();
                    match outcome {
                        Ok(summary) => eprintln!("corpus_agents: {name}: {summary} ({took:.1} s)"),
                        Err(panic) => {
                            let why = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            eprintln!("corpus_agents: FAILED {name} ({took:.1} s): {why}");
                            failures.lock().unwrap().push(format!("{name}: {why}"));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} corpus agent(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

/// avro source `avroSource` → memory channel of 10 → HDFS sink at `/test/%{log_type}`, prefix
/// `%{log_type}`, suffix `.log`, rolling hourly.
fn case_009(env: &Env) -> String {
    avro_to_hdfs(env, "009", "cpu")
}

/// 009's twin on the author's second port (8002).
fn case_010(env: &Env) -> String {
    avro_to_hdfs(env, "010", "disk")
}

/// TAILDIR → regex_filter (lines with `"type":"…"`) → regex_extractor (`log_type` header) →
/// memory → HDFS at `/flume-hdfs/%Y-%m-%d`, one file per `log_type`.
fn case_011(env: &Env) -> String {
    let text = corpus_file(env, "011");
    let work = work_dir();
    let logs = work.path().join("module-log");
    fs::create_dir_all(&logs).unwrap();
    let log = logs.join("CollectLogs.log");
    let conf = rewrite(
        &text,
        "a.sources.taildirSource.filegroups.logSource",
        |_| log.display().to_string(),
    );
    let conf = rewrite(&conf, "a.sinks.hdfsSink.hdfs.path", |v| {
        on_namenode(v, &env.hdfs)
    });
    let lines: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => format!(r#"{{"type":"login","user":"u{i}"}}"#),
            1 => format!(r#"{{"type":"logout","user":"u{i}"}}"#),
            // No "type": the regex_filter drops it.
            _ => format!(r#"{{"event":"heartbeat","n":{i}}}"#),
        })
        .collect();
    append_lines(&log, &lines);
    let of_type = |t: &str| -> Vec<String> {
        let needle = format!(r#""type":"{t}""#);
        lines
            .iter()
            .filter(|l| l.contains(&needle))
            .cloned()
            .collect()
    };
    let (login, logout) = (of_type("login"), of_type("logout"));
    let day_before = today("%Y-%m-%d");
    let mut agent = start(env, &conf, "a", work.path());
    let root = "/flume-hdfs";
    env.hdfs
        .wait_bytes(&agent, root, text_of(&login).len() + text_of(&logout).len());
    stop(&mut agent);
    let day_after = today("%Y-%m-%d");
    let files = env.hdfs.files(root);
    assert_eq!(files.len(), 2, "one file per log_type: {files:?}");
    for (log_type, expected) in [("login", &login), ("logout", &logout)] {
        let path = files
            .iter()
            .map(|(p, _)| p.as_str())
            .find(|p| {
                [&day_before, &day_after].iter().any(|day| {
                    file_counter(p, &format!("{root}/{day}/{log_type}."), ".log").is_some()
                })
            })
            .unwrap_or_else(|| panic!("no {root}/<day>/{log_type}.<n>.log in {files:?}"));
        let got = String::from_utf8(env.hdfs.cat(path)).unwrap();
        assert_eq!(got, text_of(expected), "{path}");
    }
    // The default position file (`~/.flume/taildir_position.json`) was written in HOME.
    let positions = work.path().join("home/.flume/taildir_position.json");
    let saved =
        fs::read_to_string(&positions).unwrap_or_else(|e| panic!("{}: {e}", positions.display()));
    assert!(saved.contains("CollectLogs.log"), "{saved}");
    format!(
        "fed {} lines to the TAILDIR file; {} login and {} logout lines in {files:?} \
         (the other {} filtered out), positions in ~/.flume",
        lines.len(),
        login.len(),
        logout.len(),
        lines.len() - login.len() - logout.len()
    )
}

/// Kafka source (`zookeeperConnect`, deprecated `topic` and `groupId`) → memory → HDFS at
/// `/user/impala/raw_data/%{topic}` (no NameNode named: `fs.defaultFS`), in-use prefix `.tmp-`,
/// rolling every 5 s.
fn case_016(env: &Env) -> String {
    kafka_to_hdfs(
        env,
        "016",
        "a1",
        "a1.sources.source1",
        50,
        |topic, files| {
            let dir = format!("/user/impala/raw_data/{topic}/");
            for (path, _) in files {
                assert!(
                    file_counter(path, &format!("{dir}FlumeData."), "").is_some(),
                    "not {dir}FlumeData.<n>: {path} (in {files:?})"
                );
            }
        },
    )
}

/// Kafka source (`zookeeperConnect` with the chroot `/kafka`) → memory → HDFS at
/// `/tmp/kafka/%{topic}/%y-%m-%d`, prefix `test-events`, `rollCount = 100`.
fn case_021(env: &Env) -> String {
    kafka_to_hdfs(
        env,
        "021",
        "flume1",
        "flume1.sources.kafka-source-1",
        150,
        |topic, files| {
            let days = [today("%y-%m-%d")];
            assert_rolled_by_count(files, |path| {
                days.iter().any(|day| {
                    let prefix = format!("/tmp/kafka/{topic}/{day}/test-events.");
                    file_counter(path, &prefix, "").is_some()
                })
            });
        },
    )
}

/// Kafka source (`zookeeperConnect`) → memory → HDFS at `/Logs`, prefix `test-events`,
/// `rollCount = 100`.
fn case_024(env: &Env) -> String {
    kafka_to_hdfs(
        env,
        "024",
        "flume1",
        "flume1.sources.kafka-source-1",
        150,
        |_, files| {
            assert_rolled_by_count(files, |path| {
                file_counter(path, "/Logs/test-events.", "").is_some()
            })
        },
    )
}

/// exec `tail -f /tmp/output.txt` (batchSize 1) → memory → HDFS at
/// `/user/maria_dev/hw7/flume` (`fs.defaultFS`), never rolling: one file.
fn case_017(env: &Env) -> String {
    let text = corpus_file(env, "017");
    let work = work_dir();
    let output = work.path().join("output.txt");
    let conf = rewrite(&text, "a1.sources.FileIn.command", |v| {
        assert!(v.contains("/tmp/output.txt"), "{v}");
        v.replace("/tmp/output.txt", &output.display().to_string())
    });
    // `tail -f` without `-n` starts with the file's last 10 lines: what is there before the
    // start is at most that, what follows is appended once the first lines arrived (tail has
    // the file open then).
    let lines: Vec<String> = (0..10).map(|i| format!("hw7 record {i}")).collect();
    append_lines(&output, &lines[..5]);
    let mut agent = start(env, &conf, "a1", work.path());
    let dir = "/user/maria_dev/hw7/flume";
    env.hdfs.wait_bytes(&agent, dir, text_of(&lines[..5]).len());
    append_lines(&output, &lines[5..]);
    env.hdfs.wait_bytes(&agent, dir, text_of(&lines).len());
    stop(&mut agent);
    let (files, got) = env.hdfs.read_closed(dir);
    assert_eq!(
        files.len(),
        1,
        "rollSize, rollCount, rollInterval 0: {files:?}"
    );
    assert!(
        file_counter(&files[0].0, &format!("{dir}/FlumeData."), "").is_some(),
        "{files:?}"
    );
    assert_eq!(got, text_of(&lines));
    format!("fed 5 lines before the start and 5 after to `tail -f`; all 10 in {files:?}")
}

/// Six exec `tail -F` sources; three replicate to a Kafka sink (snappy) and an HDFS sink, three
/// go to Kafka only. Source i3 follows `/data_log/*-changerecord.csv`: exec runs no shell (as
/// Flume), so `tail` gets that name literally — the file made here is named so.
fn case_037(env: &Env) -> String {
    let text = corpus_file(env, "037");
    let work = work_dir();
    let data = work.path().join("data_log");
    fs::create_dir_all(&data).unwrap();
    // (source, Kafka sink, HDFS sink)
    let routes = [
        ("i1", "o1", Some("o2")),
        ("i2", "o3", Some("o4")),
        ("i3", "o5", Some("o6")),
        ("i4", "o7", None),
        ("i5", "o8", None),
        ("i6", "o9", None),
    ];
    let mut conf = text.clone();
    let mut fed = Vec::new();
    for (source, kafka, hdfs) in routes {
        let command_key = format!("a1.sources.{source}.command");
        conf = rewrite(&conf, &command_key, |v| {
            assert!(v.starts_with("tail -F /data_log/"), "{v}");
            v.replace("/data_log", &data.display().to_string())
        });
        conf = rewrite(
            &conf,
            &format!("a1.sinks.{kafka}.kafka.bootstrap.servers"),
            |_| env.broker.bootstrap(),
        );
        if let Some(h) = hdfs {
            conf = rewrite(&conf, &format!("a1.sinks.{h}.hdfs.path"), |v| {
                on_namenode(v, &env.hdfs)
            });
        }
        let topic = value(&text, &format!("a1.sinks.{kafka}.kafka.topic"));
        env.broker.create_topic(&topic, 1);
        let tailed = value(&text, &command_key);
        let name = tailed.rsplit('/').next().unwrap().to_string();
        // At most 10 lines: `tail -F` without `-n` starts with the last 10.
        let lines: Vec<String> = (0..5).map(|i| format!("{topic} reading {i}")).collect();
        append_lines(data.join(&name), &lines);
        let hdfs_out = hdfs.map(|h| {
            let path = value(&text, &format!("a1.sinks.{h}.hdfs.path"));
            let dir = path_of(&path).to_string();
            let prefix = value(&text, &format!("a1.sinks.{h}.hdfs.filePrefix"));
            (dir, prefix)
        });
        fed.push((name, topic, lines, hdfs_out));
    }
    let mut agent = start(env, &conf, "a1", work.path());
    for (_, topic, lines, hdfs_out) in &fed {
        agent.wait_until(DELIVERY, &format!("5 records in {topic}"), || {
            consume_all(&env.broker.bootstrap(), topic, 1, 0, DELIVERY).len() >= lines.len()
        });
        if let Some((dir, _)) = hdfs_out {
            env.hdfs.wait_bytes(&agent, dir, text_of(lines).len());
        }
    }
    stop(&mut agent);
    let mut arrived = Vec::new();
    for (name, topic, lines, hdfs_out) in &fed {
        let records = consume_all(&env.broker.bootstrap(), topic, 1, lines.len(), DELIVERY);
        assert_eq!(values(&records), *lines, "topic {topic}");
        let mut where_ = format!("{} records in {topic}", records.len());
        if let Some((dir, prefix)) = hdfs_out {
            let (files, got) = env.hdfs.read_closed(dir);
            assert_eq!(got, text_of(lines), "{dir}: {files:?}");
            for (path, _) in &files {
                assert!(
                    file_counter(path, &format!("{dir}/{prefix}."), "").is_some(),
                    "not {dir}/{prefix}.<n>: {files:?}"
                );
            }
            where_.push_str(&format!(" and {} lines in {files:?}", lines.len()));
        }
        arrived.push(format!("{name}: {where_}"));
    }
    format!(
        "fed 5 lines to each of the 6 tailed files; {}",
        arrived.join("; ")
    )
}

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

/// 009 and 010: Avro events with `log_type = LOG_TYPE` (the path's and prefix's escape) from
/// npm's avsc, in batches of 5 (the channel holds 10), to `/test/LOG_TYPE/LOG_TYPE.<n>.log`.
fn avro_to_hdfs(env: &Env, number: &str, log_type: &str) -> String {
    const EVENTS: usize = 40;
    let text = corpus_file(env, number);
    let work = work_dir();
    let port = free_port();
    let conf = rewrite(&text, "agent.sources.avroSource.bind", |_| {
        "127.0.0.1".to_string()
    });
    let conf = rewrite(&conf, "agent.sources.avroSource.port", |_| port.to_string());
    let conf = rewrite(&conf, "agent.sinks.hdfsSink.hdfs.path", |v| {
        on_namenode(v, &env.hdfs)
    });
    let mut agent = start(env, &conf, "agent", work.path());
    let pid = agent.pid();
    agent.wait_until(START, &format!("the avro source listens on {port}"), || {
        listens_on(pid, port)
    });
    let header = format!("log_type={log_type}");
    let mut client =
        AvscClient::start(port, EVENTS, &["--batch", "5", "--header", header.as_str()]);
    let sent = client.wait_exit(DELIVERY);
    assert!(
        sent.is_some_and(|s| s.success()),
        "avsc client: {sent:?}\n{}",
        client.log()
    );
    let lines: Vec<String> = (0..EVENTS).map(|i| format!("avsc event {i}")).collect();
    let dir = format!("/test/{log_type}");
    env.hdfs.wait_bytes(&agent, &dir, text_of(&lines).len());
    stop(&mut agent);
    let (files, got) = env.hdfs.read_closed(&dir);
    assert_eq!(files.len(), 1, "rolls hourly or at 128 MiB: {files:?}");
    assert!(
        file_counter(&files[0].0, &format!("{dir}/{log_type}."), ".log").is_some(),
        "not {dir}/{log_type}.<n>.log: {files:?}"
    );
    assert_eq!(got, text_of(&lines));
    format!("fed {EVENTS} Avro events (log_type={log_type}) in batches of 5; all in {files:?}")
}

/// 016, 021 and 024: `records` numbered records produced to the topic the source's `topic`
/// names, once its group has the partition; every one arrives once in the HDFS files under
/// the path's static part, which `check_files(topic, files)` judges further.
fn kafka_to_hdfs(
    env: &Env,
    number: &str,
    agent_name: &str,
    source: &str,
    records: usize,
    check_files: impl Fn(&str, &[(String, u64)]),
) -> String {
    let text = corpus_file(env, number);
    let Some(zk) = &env.zookeeper else {
        return "SKIPPED: no ZooKeeper (the JVM peers are not installed)".to_string();
    };
    let work = work_dir();
    let conf = rewrite(&text, &format!("{source}.zookeeperConnect"), |v| {
        // Keep the author's chroot, if any (`host:2181/kafka`).
        match v.find('/') {
            Some(i) => format!("{}{}", zk.connect(), &v[i..]),
            None => zk.connect(),
        }
    });
    let topic = value(&text, &format!("{source}.topic"));
    env.broker.create_topic(&topic, 1);
    let sink_path = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim().ends_with(".hdfs.path"))
        .map(|(_, v)| v.trim().to_string())
        .expect("an hdfs.path");
    assert!(
        sink_path.starts_with('/'),
        "{sink_path}: the case relies on fs.defaultFS"
    );
    // The part before the first escape: where this case's files are.
    let root = sink_path[..sink_path.find('%').unwrap_or(sink_path.len())]
        .trim_end_matches('/')
        .to_string();
    let mut agent = start(env, &conf, agent_name, work.path());
    agent.wait_for_log(START, &format!("topic {topic} - partition 0 assigned"));
    let found = "Kafka brokers found in ZooKeeper";
    assert!(agent.log().contains(found), "{}", agent.log());
    let producer = TestProducer::new(&env.broker.bootstrap(), &[]);
    // The file sets no `auto.offset.reset`, so a new group starts at the end of the partition
    // once its position is fixed, which is some time after the assignment: records produced
    // before it are skipped, by Flume too. So probes go out until one arrives; from the first
    // probe that arrived on, every record must arrive, once.
    let mut probes = 0;
    let mut last_probe = Instant::now() - PROBE_INTERVAL;
    agent.wait_until(DELIVERY, "a probe record arrives in HDFS", || {
        if last_probe.elapsed() >= PROBE_INTERVAL {
            producer.send_value(&topic, probe(probes));
            producer.flush(DELIVERY);
            probes += 1;
            last_probe = Instant::now();
        }
        env.hdfs.files(&root).iter().any(|(_, n)| *n > 0)
    });
    let paths: Vec<String> = env.hdfs.files(&root).into_iter().map(|(p, _)| p).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let seen = String::from_utf8(env.hdfs.cat_all(&paths)).expect("UTF-8 files");
    let first = (0..probes)
        .find(|&i| seen.lines().any(|l| l == probe(i)))
        .unwrap_or_else(|| panic!("no probe in what arrived: {seen:?}"));
    for n in 0..records {
        producer.send_value(&topic, numbered(n));
    }
    producer.flush(DELIVERY);
    let mut lines: Vec<String> = (first..probes).map(probe).collect();
    lines.extend((0..records).map(numbered));
    env.hdfs.wait_bytes(&agent, &root, text_of(&lines).len());
    stop(&mut agent);
    let (files, got) = env.hdfs.read_closed(&root);
    let mut got: Vec<&str> = got.lines().collect();
    got.sort_unstable();
    lines.sort_unstable();
    assert_eq!(
        got, lines,
        "every record from the first probe on once, in {files:?}"
    );
    check_files(&topic, &files);
    format!(
        "produced {probes} probe(s) to {topic} (brokers found through ZooKeeper) until \
         one arrived, then {records} records; the {} from probe {first} on all once in {files:?}",
        lines.len()
    )
}

/// How often a probe record goes out while waiting for the first one to arrive.
const PROBE_INTERVAL: Duration = Duration::from_millis(300);

/// Probe record `i`: as long as a [`numbered`] line, so that byte counts stay line counts.
fn probe(i: usize) -> String {
    format!("warm-{i:06}")
}

/// `rollCount = 100`: no file holds more than 100 lines, and the first one holds exactly 100;
/// every path is one `is_expected` accepts.
fn assert_rolled_by_count(files: &[(String, u64)], is_expected: impl Fn(&str) -> bool) {
    let line = numbered(0).len() as u64 + 1;
    for (path, len) in files {
        assert!(is_expected(path), "unexpected file {path} in {files:?}");
        assert!(*len <= 100 * line, "more than rollCount lines: {files:?}");
    }
    assert_eq!(
        files.first().map(|(_, n)| *n),
        Some(100 * line),
        "{files:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rewriting a corpus file
// ---------------------------------------------------------------------------------------------

/// The text of the corpus file whose name starts with `NUMBER-`, once `rflume check` accepted
/// the file as written (invalid UTF-8 replaced: the corpus' comments are not all UTF-8).
fn corpus_file(env: &Env, number: &str) -> String {
    let prefix = format!("{number}-");
    let path = fs::read_dir(&env.corpus)
        .expect("the corpus folder")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no corpus file {prefix}* in {}", env.corpus.display()));
    // The acceptance: the file as written passes `rflume check`.
    let agent = agent_of(&path);
    let check = run_rflume([
        OsStr::new("check"),
        OsStr::new("-f"),
        path.as_os_str(),
        OsStr::new("-n"),
        OsStr::new(&agent),
    ]);
    assert!(
        check.status.success(),
        "rflume check -f {} -n {agent}:\n{}",
        path.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
}

/// The agent a corpus file configures: the prefix of its `X.sources = …` line.
fn agent_of(path: &Path) -> String {
    let text = String::from_utf8_lossy(&fs::read(path).unwrap()).into_owned();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .find_map(|k| k.strip_suffix(".sources"))
        .unwrap_or_else(|| panic!("{}: no `<agent>.sources` line", path.display()))
        .to_string()
}

/// `text` with the value of every (uncommented) `key = value` line of `key` replaced by
/// `to(old value)`; panics when there is none: the corpus file changed, and the case must be
/// looked at again rather than run a file with the author's host in it.
fn rewrite(text: &str, key: &str, to: impl Fn(&str) -> String) -> String {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.split_once('=') {
            Some((k, v)) if !line.trim_start().starts_with('#') && k.trim() == key => {
                found = true;
                format!("{k}= {}", to(v.trim()))
            }
            _ => line.to_string(),
        })
        .collect();
    assert!(found, "no line for {key} in the corpus file");
    lines.join("\n") + "\n"
}

/// The value of the last (uncommented) line of `key` (the one Flume uses).
fn value(text: &str, key: &str) -> String {
    text.lines()
        .rev()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("no line for {key} in the corpus file"))
}

/// `hdfs://HOST:PORT/PATH` → the same PATH on the test NameNode.
fn on_namenode(value: &str, hdfs: &Hdfs) -> String {
    format!("{}{}", hdfs.uri(), path_of(value))
}

/// The path of an `hdfs://HOST:PORT/PATH` URI.
fn path_of(uri: &str) -> &str {
    let rest = uri
        .strip_prefix("hdfs://")
        .unwrap_or_else(|| panic!("{uri} is not an hdfs:// URI"));
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

// ---------------------------------------------------------------------------------------------
// Running and judging
// ---------------------------------------------------------------------------------------------

fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rflume-corpus-")
        .tempdir()
        .expect("a temp dir")
}

/// The agent, with what the machine provides: `HOME` (under `work`) and the test HDFS's
/// `HADOOP_CONF_DIR`.
fn start(env: &Env, conf: &str, name: &str, work: &Path) -> Agent {
    let home = work.join("home");
    fs::create_dir_all(&home).unwrap();
    let hadoop_conf = env.hdfs.conf_dir();
    Agent::start_with_env(
        conf,
        name,
        &[],
        &[
            ("HOME", home.as_os_str()),
            ("HADOOP_CONF_DIR", hadoop_conf.as_os_str()),
        ],
    )
}

/// SIGTERM: the agent exits 0, and nothing panicked on the way.
#[track_caller]
fn stop(agent: &mut Agent) {
    agent.stop_cleanly();
    let log = agent.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// The bytes of `lines` as the TEXT serializer writes them.
fn text_of(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The counter of a closed file `PREFIX<n>SUFFIX`, or `None` when `path` is not one.
fn file_counter(path: &str, prefix: &str, suffix: &str) -> Option<u64> {
    path.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

/// Today in the machine's time zone (the sinks' `useLocalTimeStamp`), as `format`.
fn today(format: &str) -> String {
    chrono::Local::now().format(format).to_string()
}
