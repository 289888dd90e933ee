//! Real Apache Flume as the oracle: Flume and rflume run the same configuration on the same input,
//! each writing to its own topics of one real Kafka 2.3.1 broker, and what consumers see must be
//! the same — bodies, keys, partitions of keyed records, Kafka record headers in wire order, the
//! `useFlumeEventFormat` Avro bytes (header order included), topic-header routing, interceptor
//! headers, and the logger sink's `Event: { headers:{…} body: … }` lines.
//!
//! Cases: the seed's `conf/flume_kafka.conf` and `conf/netcat.conf`; every agent of the corpus
//! (`../shared/flume-conf-corpus`) that `rflume check` accepts, i.e. built only from components both
//! support; a feature case for what the corpus does not exercise; and the header-order cases of
//! issue 24 (1, 2, 12, 13, 100 headers). Each on Flume 1.9.0 and 1.11.0.
//!
//! A configuration is changed only where it must point at the test: hosts, ports, paths, topics
//! (`redirect`). Everything else is kept as written. Both agents are stopped before their output
//! is read to the end, so "same records" includes "no extra record".
//!
//! A difference fails the test unless it is one of the README's deliberate ones; none applies to
//! these cases. Cases run one after another inside one test per Flume version (JVM start-ups are
//! the cost; one broker serves all, isolated by topic), and every case is run and reported before
//! the test fails, so one run shows every difference.
//!
//! Avro sinks of a case send to an avsc server per side (npm's avsc, `common::avsc`), whose
//! accepted events are compared like a topic; `tests/flume_rpc.rs` puts Flume itself on the other
//! end of rflume's avro source and sink. Not covered here yet: the `/metrics` JSON keys and Thrift.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::avsc::{send_with_avsc, AvscServer};
use common::jvm::{
    logger_events, unique, FlumeAgent, FlumeVersion, KafkaCluster, KafkaVersion, Peers,
};
use common::process::{descendants, process_read_offset};
use common::*;

/// Lines fed to each exec / netcat / TAILDIR source of a case.
const LINES_PER_SOURCE: usize = 40;
/// A `seq` source never ends unless `totalEvents` says so: the first this-many events are compared.
const SEQ_PREFIX: usize = 25;
/// Delivery through a JVM agent and a real broker on a loaded 2-core machine.
const DELIVERY: Duration = Duration::from_secs(90);
/// Waiting for an agent's `tail -F` to open its file, or its netcat port.
const READY: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(30);

const FLUME_TAG: &str = "__flume__";
/// The output of a case's avro sinks: what the side's avsc server accepted.
const AVRO_OUTPUT: &str = "avro";
const RFLUME_TAG: &str = "__rflume__";
const SIDE_TAG: &str = "__side__";

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn flume_1_9_and_rflume_agree_on_the_seed_configs_and_the_corpus() {
    differential("flume 1.9", FlumeVersion::V1_9_0);
}

#[test]
fn flume_1_11_and_rflume_agree_on_the_seed_configs_and_the_corpus() {
    differential("flume 1.11", FlumeVersion::V1_11_0);
}

// Header order, issue 24: for 1, 2, 12, 13 and 100 headers (`HEADER_COUNTS`), each of the three
// places where Flume shows a header map in Java `HashMap` order, against real Flume. One test per
// place, so that a known difference in one does not hide the others.

/// `useFlumeEventFormat`: the Avro datum's map entries, byte for byte.
#[test]
fn flume_1_9_and_rflume_write_the_same_avro_bytes_for_1_to_100_headers() {
    header_order(
        "flume 1.9 avro header order",
        FlumeVersion::V1_9_0,
        HeaderPlace::Avro,
    );
}

#[test]
fn flume_1_11_and_rflume_write_the_same_avro_bytes_for_1_to_100_headers() {
    header_order(
        "flume 1.11 avro header order",
        FlumeVersion::V1_11_0,
        HeaderPlace::Avro,
    );
}

/// Ten names sharing one `String.hashCode` in a 128-bucket table: Java turns that bucket into a
/// red-black tree, whose iteration order rflume's model does not reproduce (sink/avro.rs says so).
#[test]
#[ignore = "known difference (documented in src/java.rs, reported): a HashMap bucket Java treeifies (9+ equal hashes, 64+ buckets) keeps insertion order in rflume"]
fn flume_1_11_and_rflume_write_the_same_avro_bytes_for_a_treeified_bucket() {
    let test = "flume 1.11 avro treeified bucket";
    let Some(peers) = Peers::get(test, &["flume-1.11.0", "zookeeper-3.4.14", "kafka-2.3.1"]) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let mut names: Vec<String> = (0..60).map(|i| format!("hdr{i}")).collect();
    // "Aa" and "BB" hash alike, so do all 4-fold concatenations of them: 16 equal hashes.
    for bits in 0..10u32 {
        names.push(
            (0..4)
                .map(|b| if bits >> b & 1 == 0 { "Aa" } else { "BB" })
                .collect(),
        );
    }
    let case = header_case_with(names, HeaderPlace::Avro, "70 headers, 10 with one hash");
    run_all(test, &peers, &cluster, FlumeVersion::V1_11_0, vec![case]);
}

/// The logger sink's `headers:{…}`, which Flume prints with `HashMap.toString()`.
#[test]
fn flume_1_9_and_rflume_log_headers_in_the_same_order() {
    header_order(
        "flume 1.9 logger header order",
        FlumeVersion::V1_9_0,
        HeaderPlace::Logger,
    );
}

#[test]
fn flume_1_11_and_rflume_log_headers_in_the_same_order() {
    header_order(
        "flume 1.11 logger header order",
        FlumeVersion::V1_11_0,
        HeaderPlace::Logger,
    );
}

/// Kafka record headers from `header.<flume> = <kafka>` (Flume 1.11), in wire order: Flume
/// takes them from `Context.getSubProperties`, a HashMap filled by iterating the sink's Context
/// (another HashMap); rflume models both.
#[test]
fn flume_1_11_and_rflume_send_record_headers_in_the_same_order() {
    header_order_for(
        "flume 1.11 record header order",
        FlumeVersion::V1_11_0,
        HeaderPlace::RecordHeaders,
        &[1, 2, 12, 13],
    );
}

/// With 100 mappings, two names with equal `String.hashCode` (`AaAaAa`, `BBBBBB`) share a bucket
/// in every map on the way, so their order is decided by the first map, the ConcurrentHashMap
/// inside `java.util.Properties`, whose resizes reverse parts of a bucket; rflume does not model
/// that (a crafted collision no real configuration has).
#[test]
#[ignore = "known difference (reported): header names with equal Java hash codes among many header.* mappings keep file order in rflume; Flume's order comes from ConcurrentHashMap resizes"]
fn flume_1_11_and_rflume_send_100_record_headers_in_the_same_order() {
    header_order_for(
        "flume 1.11 record header order, 100 mappings",
        FlumeVersion::V1_11_0,
        HeaderPlace::RecordHeaders,
        &[100],
    );
}

fn differential(test: &str, version: FlumeVersion) {
    let Some(peers) = Peers::get(test, &[version.set(), "zookeeper-3.4.14", "kafka-2.3.1"]) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let mut cases = vec![
        Case::file(
            "conf/flume_kafka.conf",
            &repo_file("conf/flume_kafka.conf"),
            "a1",
        ),
        Case::file("conf/netcat.conf", &repo_file("conf/netcat.conf"), "a1"),
        features_case(version),
        file_roll_case(),
        spillable_case(),
    ];
    cases.extend(corpus_cases(test));
    run_all(test, &peers, &cluster, version, cases);
}

fn header_order(test: &str, version: FlumeVersion, place: HeaderPlace) {
    header_order_for(test, version, place, &HEADER_COUNTS);
}

fn header_order_for(test: &str, version: FlumeVersion, place: HeaderPlace, counts: &[usize]) {
    let Some(peers) = Peers::get(test, &[version.set(), "zookeeper-3.4.14", "kafka-2.3.1"]) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let cases = counts.iter().map(|&n| header_case(n, place)).collect();
    run_all(test, &peers, &cluster, version, cases);
}

fn run_all(
    test: &str,
    peers: &Peers,
    cluster: &Arc<KafkaCluster>,
    version: FlumeVersion,
    cases: Vec<Case>,
) {
    // `RFLUME_ORACLE_ONLY=<part of a case name>` runs only the matching cases (a developer's
    // loop on one case; every run in CI runs them all).
    let only = std::env::var("RFLUME_ORACLE_ONLY").ok();
    let cases: Vec<Case> = match &only {
        Some(part) => {
            eprintln!(
                "\n########## {test}: only the cases whose name contains {part:?} ##########\n"
            );
            cases
                .into_iter()
                .filter(|c| c.name.contains(part.as_str()))
                .collect()
        }
        None => cases,
    };
    let mut failures = Vec::new();
    for case in &cases {
        let started = std::time::Instant::now();
        match run_case(peers, cluster, version, case) {
            Ok(summary) => eprintln!(
                "{test}: SAME  {} ({summary}) in {:.1} s",
                case.name,
                started.elapsed().as_secs_f64()
            ),
            Err(diff) => {
                eprintln!("{test}: DIFFERENT  {}:\n{diff}", case.name);
                failures.push(format!("{}:\n{diff}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{test}: {} of {} cases differ between Flume and rflume:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

struct Case {
    name: String,
    config: String,
    agent: String,
    /// Partitions of every topic the case writes (keyed records spread over them).
    partitions: i32,
    /// Topic routing: events moved by their `topic` header from a sink's topic to another one,
    /// (configured topic, routed topic, number of events).
    diverted: Vec<(String, String, usize)>,
}

impl Case {
    fn file(name: &str, config: &str, agent: &str) -> Case {
        Case {
            name: name.to_string(),
            config: config.to_string(),
            agent: agent.to_string(),
            partitions: 1,
            diverted: Vec::new(),
        }
    }
}

fn repo_file(rel: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Every agent of every corpus file that `rflume check` accepts. The corpus lives beside the
/// project (`../shared/flume-conf-corpus`); without it a developer's run skips these cases loudly,
/// CI fails.
fn corpus_cases(test: &str) -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flume-conf-corpus");
    let Ok(entries) = fs::read_dir(&dir) else {
        let why = format!("corpus folder {} is missing", dir.display());
        if in_ci() {
            panic!("{test}: {why}; CI must compare the corpus configs");
        }
        eprintln!("\n########## {test}: SKIPPING corpus cases: {why} ##########\n");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
        for agent in agent_names(&text) {
            let out = run_rflume(["check", "-f"].iter().map(|s| s.to_string()).chain([
                file.display().to_string(),
                "-n".into(),
                agent.clone(),
            ]));
            // Source types the oracle has no input driver for (syslogudp, http, netcatudp) are
            // reported and left out, rather than failing the run with a panic in `graph`.
            let props = agent_props(&text, &agent);
            let unfed: Vec<String> = list(props.get("sources"))
                .iter()
                .filter_map(|s| props.get(&format!("sources.{s}.type")))
                .filter(|t| {
                    !matches!(
                        t.to_ascii_lowercase().as_str(),
                        "avro"
                            | "org.apache.flume.source.avrosource"
                            | "exec"
                            | "netcat"
                            | "seq"
                            | "spooldir"
                            | "syslogtcp"
                            | "org.apache.flume.source.syslogtcpsource"
                            | "taildir"
                    )
                })
                .cloned()
                .collect();
            if out.status.success() && !unfed.is_empty() {
                eprintln!(
                    "{test}: NOT COMPARED corpus/{}:{agent}: the oracle cannot feed source type(s) {unfed:?} yet",
                    file.file_name().unwrap().to_string_lossy()
                );
                continue;
            }
            if out.status.success() && has_hdfs_sink(&text, &agent) {
                // The oracle compares what reaches Kafka and the logs; the HDFS sink's files are
                // checked against Hadoop's own reader in tests/hdfs.rs instead.
                eprintln!(
                    "{test}: corpus/{}:{agent} has an HDFS sink: not compared here",
                    file.display()
                );
            } else if out.status.success() {
                let name = format!(
                    "corpus/{}:{agent}",
                    file.file_name().unwrap().to_string_lossy()
                );
                cases.push(Case::file(&name, &text, &agent));
            }
        }
    }
    assert!(
        cases.len() >= 10,
        "only {} corpus agents are supported by rflume check; expected the 15 found when this \
         test was written (did check or the corpus change?)",
        cases.len()
    );
    cases
}

/// Whether `agent` in `text` declares a sink of type `hdfs` (by alias or class name).
fn has_hdfs_sink(text: &str, agent: &str) -> bool {
    let prefix = format!("{agent}.sinks.");
    text.lines().any(|l| {
        let Some((key, value)) = l.split_once('=') else {
            return false;
        };
        let (key, value) = (key.trim(), value.trim().to_ascii_lowercase());
        key.starts_with(&prefix)
            && key.ends_with(".type")
            && key[prefix.len()..key.len() - ".type".len()]
                .find('.')
                .is_none()
            && (value == "hdfs" || value == "org.apache.flume.sink.hdfs.hdfseventsink")
    })
}

/// What the corpus does not exercise: keyed records over 6 partitions (TAILDIR `headers.<fg>.key`),
/// topic routing by the `topic` header, timestamp/host/static interceptors, a replicating selector
/// to a second channel whose sink writes `useFlumeEventFormat`, TAILDIR's byteoffset and file
/// headers; and on 1.11 the `header.*` record headers and `timestampHeader`.
fn features_case(version: FlumeVersion) -> Case {
    let mut c = String::from(
        "a1.sources = r1\n\
         a1.channels = c1 c2\n\
         a1.sinks = plain avro\n\
         a1.sources.r1.type = TAILDIR\n\
         a1.sources.r1.channels = c1 c2\n\
         a1.sources.r1.filegroups = ",
    );
    let groups: Vec<String> = (0..8).map(|g| format!("g{g}")).collect();
    c.push_str(&groups.join(" "));
    c.push_str(" routed\n");
    for g in &groups {
        c.push_str(&format!(
            "a1.sources.r1.filegroups.{g} = /var/log/app/{g}\\.log\n\
             a1.sources.r1.headers.{g}.key = user-{g}\n"
        ));
    }
    c.push_str(
        "a1.sources.r1.filegroups.routed = /var/log/app/routed\\.log\n\
         a1.sources.r1.headers.routed.topic = routed\n\
         a1.sources.r1.byteOffsetHeader = true\n\
         a1.sources.r1.fileHeader = true\n\
         a1.sources.r1.interceptors = ts host st\n\
         a1.sources.r1.interceptors.ts.type = timestamp\n\
         a1.sources.r1.interceptors.host.type = host\n\
         a1.sources.r1.interceptors.st.type = static\n\
         a1.sources.r1.interceptors.st.key = datacenter\n\
         a1.sources.r1.interceptors.st.value = NEW_YORK\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 10000\n\
         a1.channels.c2.type = memory\n\
         a1.channels.c2.capacity = 10000\n\
         a1.sinks.plain.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.plain.channel = c1\n\
         a1.sinks.plain.kafka.bootstrap.servers = kafka1:9092\n\
         a1.sinks.plain.kafka.topic = plain\n\
         a1.sinks.plain.flumeBatchSize = 50\n\
         a1.sinks.avro.type = org.apache.flume.sink.kafka.KafkaSink\n\
         a1.sinks.avro.channel = c2\n\
         a1.sinks.avro.kafka.bootstrap.servers = kafka1:9092\n\
         a1.sinks.avro.kafka.topic = avro\n\
         a1.sinks.avro.useFlumeEventFormat = true\n\
         a1.sinks.avro.allowTopicOverride = false\n",
    );
    if version == FlumeVersion::V1_11_0 {
        c.push_str(
            "a1.sinks.plain.header.datacenter = dc\n\
             a1.sinks.plain.header.key = flume-key\n\
             a1.sinks.plain.header.byteoffset = offset\n\
             a1.sinks.plain.timestampHeader = timestamp\n",
        );
    }
    Case {
        name: "features (TAILDIR keys, topic header, interceptors, replicating, Avro)".into(),
        config: c,
        agent: "a1".into(),
        partitions: 6,
        diverted: vec![("plain".into(), "routed".into(), LINES_PER_SOURCE)],
    }
}

/// file_roll as Flume writes it: exec → two channels (replicating) → a `TEXT` sink with a
/// prefix and an extension and a `HEADER_AND_TEXT` sink: the same file names (but for the start
/// time) and the same bytes. The headers `timestamp`, `datacenter`, `env` (put in that order)
/// are in Java's `HashMap` order `datacenter, env, timestamp`, which is neither their insertion
/// order nor its reverse, so the case tells the three apart; their sink reads a file channel,
/// where Flume's event at the sink is one rebuilt from its log.
fn file_roll_case() -> Case {
    let c = "a1.sources = r1\n\
             a1.channels = c1 c2\n\
             a1.sinks = text headers\n\
             a1.sources.r1.type = exec\n\
             a1.sources.r1.command = tail -F /var/log/app.log\n\
             a1.sources.r1.channels = c1 c2\n\
             a1.sources.r1.interceptors = ts st env\n\
             a1.sources.r1.interceptors.ts.type = timestamp\n\
             a1.sources.r1.interceptors.st.type = static\n\
             a1.sources.r1.interceptors.st.key = datacenter\n\
             a1.sources.r1.interceptors.st.value = NEW_YORK\n\
             a1.sources.r1.interceptors.env.type = static\n\
             a1.sources.r1.interceptors.env.key = env\n\
             a1.sources.r1.interceptors.env.value = prod\n\
             a1.channels.c1.type = memory\n\
             a1.channels.c2.type = file\n\
             a1.channels.c2.checkpointDir = /var/lib/flume/checkpoint\n\
             a1.channels.c2.dataDirs = /var/lib/flume/data\n\
             a1.sinks.text.type = file_roll\n\
             a1.sinks.text.channel = c1\n\
             a1.sinks.text.sink.directory = /var/log/flume/text\n\
             a1.sinks.text.sink.rollInterval = 0\n\
             a1.sinks.text.sink.pathManager.prefix = app-\n\
             a1.sinks.text.sink.pathManager.extension = log\n\
             a1.sinks.headers.type = file_roll\n\
             a1.sinks.headers.channel = c2\n\
             a1.sinks.headers.sink.directory = /var/log/flume/headers\n\
             a1.sinks.headers.sink.rollInterval = 0\n\
             a1.sinks.headers.sink.serializer = HEADER_AND_TEXT\n\
             a1.sinks.headers.sink.batchSize = 10\n";
    Case {
        name: "file_roll (TEXT with prefix and extension, HEADER_AND_TEXT)".into(),
        config: c.to_string(),
        agent: "a1".into(),
        partitions: 1,
        diverted: Vec::new(),
    }
}

/// The spillable memory channel with Flume's class name, a memory smaller than exec's batches
/// (20 > 10: every put overflows to disk, in both) and headers (a `useFlumeEventFormat` sink):
/// what comes out of the overflow is what went in, in order.
fn spillable_case() -> Case {
    let c = "a1.sources = r1\n\
             a1.channels = c1\n\
             a1.sinks = k1\n\
             a1.sources.r1.type = exec\n\
             a1.sources.r1.command = tail -F /var/log/app.log\n\
             a1.sources.r1.channels = c1\n\
             a1.sources.r1.interceptors = st\n\
             a1.sources.r1.interceptors.st.type = static\n\
             a1.sources.r1.interceptors.st.key = datacenter\n\
             a1.sources.r1.interceptors.st.value = NEW_YORK\n\
             a1.channels.c1.type = org.apache.flume.channel.SpillableMemoryChannel\n\
             a1.channels.c1.memoryCapacity = 10\n\
             a1.channels.c1.overflowCapacity = 100000\n\
             a1.channels.c1.overflowTimeout = 0\n\
             a1.channels.c1.transactionCapacity = 100\n\
             a1.channels.c1.checkpointDir = /var/lib/flume/checkpoint\n\
             a1.channels.c1.dataDirs = /var/lib/flume/data\n\
             a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.kafka.bootstrap.servers = kafka1:9092\n\
             a1.sinks.k1.kafka.topic = spilled\n\
             a1.sinks.k1.flumeBatchSize = 5\n\
             a1.sinks.k1.useFlumeEventFormat = true\n";
    Case {
        name: "spillable memory channel (every put overflows)".into(),
        config: c.to_string(),
        agent: "a1".into(),
        partitions: 1,
        diverted: Vec::new(),
    }
}

/// The header counts issue 24 asks for: one, two, the last count before `HashMap`'s first resize
/// (12 entries fill 16 buckets to the 0.75 load factor), the first after it, and many.
const HEADER_COUNTS: [usize; 5] = [1, 2, 12, 13, 100];

/// Header names for `n` headers: Java `String.hashCode` collisions included ("Aa" and "BB" hash
/// alike, and so do all their concatenations), so that bucket order and insertion order within a
/// bucket both matter; at most 8 names share a hash, below Java's treeify threshold.
fn header_names(n: usize) -> Vec<String> {
    let colliding = [
        "Aa", "BB", "AaAa", "BBBB", "AaBB", "BBAa", "AaAaAa", "BBBBBB",
    ];
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while names.len() < n {
        // Interleave colliding names with ordinary ones so collisions land at various sizes.
        if i % 3 == 1 && names.len() / 3 < colliding.len() {
            names.push(colliding[names.len() / 3].to_string());
        } else {
            names.push(format!("hdr{i}"));
        }
        i += 1;
    }
    names.dedup();
    assert_eq!(names.len(), n);
    names
}

/// Where a header map is shown.
#[derive(Clone, Copy, Debug)]
enum HeaderPlace {
    Avro,
    Logger,
    RecordHeaders,
}

/// One `seq` event (`totalEvents = 1`) with `n` static-interceptor headers, inserted in the listed
/// order as both agents do, to one sink that shows them at `place`.
fn header_case(n: usize, place: HeaderPlace) -> Case {
    header_case_with(header_names(n), place, &format!("{n} header(s)"))
}

fn header_case_with(names: Vec<String>, place: HeaderPlace, label: &str) -> Case {
    let n = names.len();
    let mut c = String::from(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = seq\n\
         a1.sources.r1.totalEvents = 1\n\
         a1.sources.r1.channels = c1\n\
         a1.channels.c1.type = memory\n\
         a1.sinks.k1.channel = c1\n",
    );
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    c.push_str(&format!("a1.sources.r1.interceptors = {}\n", ids.join(" ")));
    for (i, name) in names.iter().enumerate() {
        c.push_str(&format!(
            "a1.sources.r1.interceptors.i{i}.type = static\n\
             a1.sources.r1.interceptors.i{i}.key = {name}\n\
             a1.sources.r1.interceptors.i{i}.value = value-{i}\n"
        ));
    }
    let kafka = "a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
                 a1.sinks.k1.kafka.bootstrap.servers = kafka1:9092\n\
                 a1.sinks.k1.kafka.topic = headers\n";
    match place {
        HeaderPlace::Avro => {
            c.push_str(kafka);
            c.push_str("a1.sinks.k1.useFlumeEventFormat = true\n");
        }
        HeaderPlace::Logger => c.push_str("a1.sinks.k1.type = logger\n"),
        HeaderPlace::RecordHeaders => {
            c.push_str(kafka);
            for name in &names {
                c.push_str(&format!("a1.sinks.k1.header.{name} = k-{name}\n"));
            }
        }
    }
    Case {
        name: format!("{label}, {place:?}"),
        config: c,
        agent: "a1".into(),
        partitions: 1,
        diverted: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a configuration: the agent's graph, and the lines to redirect
// ---------------------------------------------------------------------------------------------

/// A `key = value` line of a Java properties file (no continuation lines in these configs).
fn split_property(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') || t.starts_with('!') {
        return None;
    }
    let end = t.find(['=', ':', ' ', '\t']).unwrap_or(t.len());
    let key = &t[..end];
    let mut rest = t[end..].trim_start();
    if rest.starts_with('=') || rest.starts_with(':') {
        rest = rest[1..].trim_start();
    }
    Some((key, rest.trim_end()))
}

fn agent_names(config: &str) -> Vec<String> {
    let mut names: Vec<String> = config
        .lines()
        .filter_map(split_property)
        .filter_map(|(k, _)| k.strip_suffix(".sources").map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SourceKind {
    /// Fed by an avsc client (`common::avsc`), the same events to each side.
    Avro,
    Exec,
    Netcat,
    Seq,
    Spooldir,
    /// Fed RFC 5424 messages over one TCP connection (syslog has no acknowledgements).
    SyslogTcp,
    Taildir,
}

#[derive(Debug)]
struct Source {
    name: String,
    kind: SourceKind,
    channels: Vec<String>,
    /// TAILDIR: file group → file name (the regex's literal name).
    filegroups: Vec<(String, String)>,
    /// seq: `totalEvents`, if set.
    total_events: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum SinkKind {
    /// The topic as configured (`kafka.topic`, or the deprecated `topic`).
    Kafka(String),
    Logger,
    Null,
    /// To the side's avsc server: every avro sink of the agent sends there (sink groups of avro
    /// sinks share their channel's events), compared as one output, `avro`.
    Avro,
    /// `file_roll`: what matters is the files it leaves in its directory.
    FileRoll,
}

#[derive(Debug)]
struct Sink {
    name: String,
    kind: SinkKind,
    channel: String,
}

struct Graph {
    sources: Vec<Source>,
    sinks: Vec<Sink>,
    /// Channels of `type = file` (or spillable memory, whose overflow is one): their directories
    /// are moved into each side's own directory.
    file_channels: Vec<String>,
}

/// The properties of `agent` (last duplicate wins, as in `java.util.Properties`).
fn agent_props(config: &str, agent: &str) -> BTreeMap<String, String> {
    let prefix = format!("{agent}.");
    config
        .lines()
        .filter_map(split_property)
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), v.to_string())))
        .collect()
}

fn list(v: Option<&String>) -> Vec<String> {
    v.map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn graph(config: &str, agent: &str) -> Graph {
    let p = agent_props(config, agent);
    let get = |k: String| p.get(&k);
    let sources = list(p.get("sources"))
        .into_iter()
        .map(|s| {
            let ty = get(format!("sources.{s}.type"))
                .cloned()
                .unwrap_or_default();
            let kind = match ty.to_ascii_lowercase().as_str() {
                "avro" | "org.apache.flume.source.avrosource" => SourceKind::Avro,
                "exec" => SourceKind::Exec,
                "netcat" => SourceKind::Netcat,
                "seq" => SourceKind::Seq,
                "spooldir" => SourceKind::Spooldir,
                "syslogtcp" | "org.apache.flume.source.syslogtcpsource" => SourceKind::SyslogTcp,
                "taildir" => SourceKind::Taildir,
                other => panic!("{agent}: source {s} of type {other} is not one both support"),
            };
            let filegroups = list(get(format!("sources.{s}.filegroups")))
                .into_iter()
                .map(|g| {
                    let path = get(format!("sources.{s}.filegroups.{g}"))
                        .cloned()
                        .unwrap_or_default();
                    let file = path.rsplit('/').next().unwrap_or("").replace('\\', "");
                    (g, file)
                })
                .collect();
            Source {
                channels: list(get(format!("sources.{s}.channels"))),
                total_events: get(format!("sources.{s}.totalEvents")).and_then(|v| v.parse().ok()),
                name: s,
                kind,
                filegroups,
            }
        })
        .collect();
    let sinks = list(p.get("sinks"))
        .into_iter()
        .map(|k| {
            let ty = get(format!("sinks.{k}.type")).cloned().unwrap_or_default();
            let kind = match ty.as_str() {
                "org.apache.flume.sink.kafka.KafkaSink" => SinkKind::Kafka(
                    get(format!("sinks.{k}.kafka.topic"))
                        .or_else(|| get(format!("sinks.{k}.topic")))
                        .cloned()
                        .unwrap_or_else(|| "default-flume-topic".into()),
                ),
                t if t.eq_ignore_ascii_case("logger") => SinkKind::Logger,
                t if t.eq_ignore_ascii_case("null") => SinkKind::Null,
                t if t.eq_ignore_ascii_case("avro")
                    || t.eq_ignore_ascii_case("org.apache.flume.sink.AvroSink") =>
                {
                    SinkKind::Avro
                }
                t if t.eq_ignore_ascii_case("file_roll") => SinkKind::FileRoll,
                other => panic!("{agent}: sink {k} of type {other} is not one both support"),
            };
            Sink {
                channel: get(format!("sinks.{k}.channel"))
                    .cloned()
                    .unwrap_or_default(),
                name: k,
                kind,
            }
        })
        .collect();
    let file_channels = list(p.get("channels"))
        .into_iter()
        .filter(|c| {
            get(format!("channels.{c}.type")).is_some_and(|t| {
                t.eq_ignore_ascii_case("file")
                    || t == "org.apache.flume.channel.file.FileChannel"
                    // Its overflow is a file channel with the same properties.
                    || t.eq_ignore_ascii_case("spillablememory")
                    || t == "org.apache.flume.channel.SpillableMemoryChannel"
            })
        })
        .collect();
    Graph {
        sources,
        sinks,
        file_channels,
    }
}

/// Where one side's copy of a case points.
struct Redirect<'a> {
    tag: &'a str,
    case_id: usize,
    bootstrap: &'a str,
    input: &'a Path,
    /// TAILDIR position files go here (each side its own).
    side_dir: &'a Path,
    netcat_ports: &'a HashMap<String, u16>,
    /// The side's avsc server, for avro sinks.
    avro_port: u16,
}

impl Redirect<'_> {
    fn topic(&self, topic: &str) -> String {
        format!("{topic}{}{}", self.tag, self.case_id)
    }
}

/// A spooling directory source's directory: one per side (files are renamed in it).
fn spool_dir(side_dir: &Path, source: &str) -> PathBuf {
    side_dir.join(format!("spool-{source}"))
}

/// A file_roll sink's directory, one per side.
fn roll_dir(side_dir: &Path, sink: &str) -> PathBuf {
    side_dir.join(format!("roll-{sink}"))
}

/// What a file_roll sink wrote: each file's name (its start time in milliseconds replaced) and
/// its bytes, in name order.
fn rolled_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, fs::read(e.path()).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|(name, bytes)| {
            let digits: String = name.chars().filter(char::is_ascii_digit).collect();
            let name = if digits.len() >= 13 {
                let start = name.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
                format!("{}<ms>{}", &name[..start], &name[start + 13..])
            } else {
                name
            };
            (name, bytes)
        })
        .collect()
}

/// Every line a file_roll sink wrote, as `<file name>: <line>` (a last line without its
/// newline is marked), so that the comparison is per event and byte for byte.
fn file_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (name, bytes) in rolled_files(dir) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut parts: Vec<&str> = text.split('\n').collect();
        let last = parts.pop().unwrap_or("");
        out.extend(parts.iter().map(|l| format!("{name}: {l}")));
        if !last.is_empty() {
            out.push(format!("{name}: {last} (no newline at the end)"));
        }
    }
    out
}

/// The names left in a spooling directory (not its tracker directory).
fn spooled_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A file channel directory property pointed into `side_dir`; `dataDirs` keeps its count.
fn file_channel_dirs(side_dir: &Path, channel: &str, prop: &str, value: &str) -> String {
    let count = if prop == "dataDirs" {
        value
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .count()
            .max(1)
    } else {
        1
    };
    (0..count)
        .map(|i| {
            side_dir
                .join(format!("channel-{channel}-{prop}-{i}"))
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn exec_input(input: &Path, source: &str) -> PathBuf {
    input.join(format!("{source}.log"))
}

fn taildir_input(input: &Path, source: &str, file: &str) -> PathBuf {
    input.join(format!("taildir-{source}")).join(file)
}

/// The case's config with hosts, ports, paths and topics pointed at the test; nothing else changes.
fn redirect(config: &str, agent: &str, g: &Graph, r: &Redirect) -> String {
    let prefix = format!("{agent}.");
    let mut out = String::new();
    let mut taildir_with_position: Vec<String> = Vec::new();
    let mut kafka_with_topic: Vec<String> = Vec::new();
    for line in config.lines() {
        let Some((full, value)) = split_property(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let Some(key) = full.strip_prefix(&prefix) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let parts: Vec<&str> = key.splitn(3, '.').collect();
        let new_value: Option<String> = match parts.as_slice() {
            ["sources", s, prop] => g.sources.iter().find(|x| x.name == *s).and_then(|src| {
                match (src.kind, *prop) {
                    (SourceKind::Exec, "command") => {
                        // The tailed path is the command's last word (`tail -F [-c +0] PATH`).
                        let mut words: Vec<&str> = value.split_whitespace().collect();
                        let path = exec_input(r.input, s).display().to_string();
                        words.pop();
                        words.push(&path);
                        Some(words.join(" "))
                    }
                    (SourceKind::Netcat | SourceKind::Avro, "bind")
                    | (SourceKind::SyslogTcp, "host") => Some("127.0.0.1".into()),
                    (SourceKind::Avro | SourceKind::SyslogTcp, "port") => {
                        Some(r.netcat_ports[*s].to_string())
                    }
                    (SourceKind::Spooldir, "spoolDir") => {
                        Some(spool_dir(r.side_dir, s).display().to_string())
                    }
                    (SourceKind::Netcat, "port") => Some(r.netcat_ports[*s].to_string()),
                    (SourceKind::Taildir, "positionFile") => {
                        taildir_with_position.push(s.to_string());
                        Some(
                            r.side_dir
                                .join(format!("{s}-position.json"))
                                .display()
                                .to_string(),
                        )
                    }
                    // The directory is literal, the file name a regex: keep the regex.
                    (SourceKind::Taildir, fg) if fg.starts_with("filegroups.") => {
                        let file = value.rsplit('/').next().unwrap_or("");
                        let dir = r.input.join(format!("taildir-{s}"));
                        Some(format!("{}/{file}", dir.display()))
                    }
                    _ => None,
                }
            }),
            // Flume creates a file channel's directories where the config says (often under
            // /var/log); two sides sharing one would make rflume refuse Flume's files.
            ["channels", c, prop @ ("checkpointDir" | "dataDirs" | "backupCheckpointDir")]
                if g.file_channels.iter().any(|x| x == c) =>
            {
                Some(file_channel_dirs(r.side_dir, c, prop, value))
            }
            ["sinks", k, prop] => {
                g.sinks
                    .iter()
                    .find(|x| x.name == *k)
                    .and_then(|sink| match (&sink.kind, *prop) {
                        (SinkKind::Kafka(_), "kafka.bootstrap.servers" | "brokerList") => {
                            Some(r.bootstrap.to_string())
                        }
                        (SinkKind::Avro, "hostname") => Some("127.0.0.1".into()),
                        (SinkKind::Avro, "port") => Some(r.avro_port.to_string()),
                        (SinkKind::Kafka(_), "kafka.topic" | "topic") => {
                            kafka_with_topic.push(k.to_string());
                            Some(r.topic(value))
                        }
                        (SinkKind::FileRoll, "sink.directory") => {
                            Some(roll_dir(r.side_dir, k).display().to_string())
                        }
                        _ => None,
                    })
            }
            _ => None,
        };
        match new_value {
            Some(v) => out.push_str(&format!("{full} = {v}\n")),
            None => {
                // Header values naming a routed topic are redirected like topics.
                if key.contains(".headers.") && key.ends_with(".topic") {
                    out.push_str(&format!("{full} = {}\n", r.topic(value)));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    // Flume's defaults would be shared between the two agents (and the user's home): each side
    // gets its own position file and topic.
    for s in g.sources.iter().filter(|s| s.kind == SourceKind::Taildir) {
        if !taildir_with_position.contains(&s.name) {
            out.push_str(&format!(
                "{agent}.sources.{}.positionFile = {}\n",
                s.name,
                r.side_dir
                    .join(format!("{}-position.json", s.name))
                    .display()
            ));
        }
    }
    // A file channel without directories would use Flume's defaults under the user's home.
    let props = agent_props(config, agent);
    // syslogtcp reads `host`, not `bind` (corpus 028 sets only `bind`): unset, Flume 1.9 and
    // rflume listen on every interface, and Flume 1.10+ fails the source's start ("hostname
    // can't be null", README: differences). The test listens on loopback only, which also lets
    // 1.11 run the rest of the case.
    for s in g.sources.iter().filter(|s| s.kind == SourceKind::SyslogTcp) {
        if !props.contains_key(&format!("sources.{}.host", s.name)) {
            out.push_str(&format!("{agent}.sources.{}.host = 127.0.0.1\n", s.name));
        }
    }
    for c in &g.file_channels {
        for prop in ["checkpointDir", "dataDirs"] {
            if !props.contains_key(&format!("channels.{c}.{prop}")) {
                out.push_str(&format!(
                    "{agent}.channels.{c}.{prop} = {}\n",
                    file_channel_dirs(r.side_dir, c, prop, "x")
                ));
            }
        }
    }
    for k in &g.sinks {
        if matches!(k.kind, SinkKind::Kafka(_)) && !kafka_with_topic.contains(&k.name) {
            out.push_str(&format!(
                "{agent}.sinks.{}.kafka.topic = {}\n",
                k.name,
                r.topic("default-flume-topic")
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

/// What one agent produced: per output (a Kafka topic, or a logger sink), its records as text.
type Outputs = BTreeMap<String, Vec<String>>;

fn run_case(
    peers: &Peers,
    cluster: &KafkaCluster,
    version: FlumeVersion,
    case: &Case,
) -> Result<String, String> {
    let g = graph(&case.config, &case.agent);
    let case_id = unique();
    let work = tempfile::Builder::new()
        .prefix("rflume-oracle-")
        .tempdir()
        .unwrap();
    let input = work.path().join("input");
    let (flume_dir, rflume_dir) = (work.path().join("flume"), work.path().join("rflume"));
    for d in [&input, &flume_dir, &rflume_dir] {
        fs::create_dir_all(d).unwrap();
    }
    for s in &g.sources {
        for (_, file) in &s.filegroups {
            fs::create_dir_all(taildir_input(&input, &s.name, file).parent().unwrap()).unwrap();
        }
    }
    let bootstrap = cluster.bootstrap();
    let ports = || -> HashMap<String, u16> {
        g.sources
            .iter()
            .filter(|s| {
                matches!(
                    s.kind,
                    SourceKind::Netcat | SourceKind::Avro | SourceKind::SyslogTcp
                )
            })
            .map(|s| (s.name.clone(), free_port()))
            .collect()
    };
    let (flume_ports, rflume_ports) = (ports(), ports());
    let has_avro = g.sinks.iter().any(|k| k.kind == SinkKind::Avro);
    let (flume_avro, rflume_avro) = if has_avro {
        (Some(AvscServer::start(&[])), Some(AvscServer::start(&[])))
    } else {
        (None, None)
    };
    let avro_port = |s: &Option<AvscServer>| s.as_ref().map(|s| s.port()).unwrap_or(0);
    let flume_r = Redirect {
        tag: FLUME_TAG,
        case_id,
        bootstrap: &bootstrap,
        input: &input,
        side_dir: &flume_dir,
        netcat_ports: &flume_ports,
        avro_port: avro_port(&flume_avro),
    };
    let rflume_r = Redirect {
        tag: RFLUME_TAG,
        side_dir: &rflume_dir,
        netcat_ports: &rflume_ports,
        avro_port: avro_port(&rflume_avro),
        ..flume_r
    };

    // Topics first: the brokers do not auto-create (as the seed's cluster, topics are made).
    let mut topics: Vec<String> = g
        .sinks
        .iter()
        .filter_map(|k| match &k.kind {
            SinkKind::Kafka(t) => Some(t.clone()),
            _ => None,
        })
        .chain(case.diverted.iter().map(|(_, to, _)| to.clone()))
        .collect();
    topics.sort();
    topics.dedup();
    for t in &topics {
        cluster.create_topic(&flume_r.topic(t), case.partitions);
        cluster.create_topic(&rflume_r.topic(t), case.partitions);
    }

    // Spooling directories hold their input before the agents start (each side its own copy,
    // since each renames what it finished); file_roll directories must exist (Flume does not
    // create them).
    let spool_lines = |source: &str| -> Vec<String> {
        (0..LINES_PER_SOURCE)
            .map(|i| format!("{source} spooled line {i:03} of case {case_id}: some text, ünïcödé"))
            .collect()
    };
    for side in [&flume_dir, &rflume_dir] {
        for s in g.sources.iter().filter(|s| s.kind == SourceKind::Spooldir) {
            let dir = spool_dir(side, &s.name);
            fs::create_dir_all(&dir).unwrap();
            append_lines(dir.join("input.log"), spool_lines(&s.name));
        }
        for k in g.sinks.iter().filter(|k| k.kind == SinkKind::FileRoll) {
            fs::create_dir_all(roll_dir(side, &k.name)).unwrap();
        }
    }

    let flume_conf = redirect(&case.config, &case.agent, &g, &flume_r);
    let rflume_conf = redirect(&case.config, &case.agent, &g, &rflume_r);
    fs::write(work.path().join("flume.conf"), &flume_conf).unwrap();
    fs::write(work.path().join("rflume.conf"), &rflume_conf).unwrap();

    let mut flume = FlumeAgent::start(peers, version, &flume_conf, &case.agent);
    let mut rflume = Agent::start(&rflume_conf, &case.agent);
    rflume.wait_for_log(READY, "started:");

    // Wait until each side reads its input before writing it, so both see all of it.
    for s in &g.sources {
        match s.kind {
            SourceKind::Exec => {
                let path = exec_input(&input, &s.name);
                fs::File::create(&path).unwrap();
                flume.wait_until(
                    READY,
                    &format!("Flume's {} follows {}", s.name, path.display()),
                    || {
                        descendants(flume.pid())
                            .iter()
                            .any(|p| process_read_offset(p.pid, &path).is_some())
                    },
                );
                rflume.wait_until(
                    READY,
                    &format!("rflume's {} follows {}", s.name, path.display()),
                    || {
                        rflume
                            .descendant_pids()
                            .iter()
                            .any(|&p| process_read_offset(p, &path).is_some())
                    },
                );
            }
            SourceKind::Netcat | SourceKind::Avro | SourceKind::SyslogTcp => {
                let (fp, rp) = (flume_ports[&s.name], rflume_ports[&s.name]);
                flume.wait_until(READY, "Flume's netcat source listens", || {
                    common::process::listens_on(flume.pid(), fp)
                });
                rflume.wait_until(READY, "rflume's netcat source listens", || {
                    common::process::listens_on(rflume.pid(), rp)
                });
            }
            SourceKind::Seq | SourceKind::Taildir | SourceKind::Spooldir => {}
        }
    }

    // The input, and how many events each source produces.
    let mut produced: HashMap<String, Option<usize>> = HashMap::new();
    for s in &g.sources {
        // The JSON-ish tail is what the corpus' regex_filter / regex_extractor look for
        // (008: `"biType":"(\\w+)"`): every line passes the filter and gets the extracted header.
        let lines = |tag: &str| -> Vec<String> {
            (0..LINES_PER_SOURCE)
                .map(|i| {
                    format!(
                        "{tag} line {i:03} of case {case_id}: some text, ünïcödé, \"biType\":\"oracle{}\"",
                        i % 3
                    )
                })
                .collect()
        };
        let count = match s.kind {
            SourceKind::Exec => {
                append_lines(exec_input(&input, &s.name), lines(&s.name));
                Some(LINES_PER_SOURCE)
            }
            SourceKind::Taildir => {
                for (fg, file) in &s.filegroups {
                    append_lines(taildir_input(&input, &s.name, file), lines(fg));
                }
                Some(LINES_PER_SOURCE * s.filegroups.len())
            }
            SourceKind::Netcat => {
                let ls = lines(&s.name);
                netcat_send(flume_ports[&s.name], &ls)
                    .map_err(|e| format!("sending to Flume's netcat source: {e}"))?;
                netcat_send(rflume_ports[&s.name], &ls)
                    .map_err(|e| format!("sending to rflume's netcat source: {e}"))?;
                Some(LINES_PER_SOURCE)
            }
            SourceKind::Seq => s.total_events,
            SourceKind::Spooldir => Some(LINES_PER_SOURCE),
            SourceKind::SyslogTcp => {
                let ms = syslog_messages(&lines(&s.name));
                syslog_send(flume_ports[&s.name], &ms)
                    .map_err(|e| format!("sending to Flume's syslogtcp source: {e}"))?;
                syslog_send(rflume_ports[&s.name], &ms)
                    .map_err(|e| format!("sending to rflume's syslogtcp source: {e}"))?;
                Some(LINES_PER_SOURCE)
            }
            SourceKind::Avro => {
                for (port, side) in [
                    (flume_ports[&s.name], "Flume"),
                    (rflume_ports[&s.name], "rflume"),
                ] {
                    // One header: with several, Flume's avro source and rflume's logger sink
                    // order them differently (README, differences: Flume copies them into a
                    // HashMap of another capacity); the bodies and the header are compared.
                    let out = send_with_avsc(
                        port,
                        LINES_PER_SOURCE,
                        &["--batch", "10", "--seq-header-only"],
                    );
                    if !out.status.success() {
                        return Err(format!(
                            "sending to {side}'s avro source {}: {}",
                            s.name,
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
                Some(LINES_PER_SOURCE)
            }
        };
        produced.insert(s.name.clone(), count);
    }

    // Expected per output: the events of every source feeding its sink's channel (a replicating
    // selector copies each event to every channel), `None` when a seq source never ends; and how
    // many sources feed it (their interleaving is up to thread scheduling).
    let mut expected: BTreeMap<String, (Option<usize>, usize)> = BTreeMap::new();
    let mut avro_channels: Vec<&str> = Vec::new();
    for k in &g.sinks {
        let feeders: Vec<&Source> = g
            .sources
            .iter()
            .filter(|s| s.channels.contains(&k.channel))
            .collect();
        let mut n = feeders
            .iter()
            .try_fold(0usize, |acc, s| produced[&s.name].map(|n| acc + n));
        let output = match &k.kind {
            SinkKind::Kafka(t) => {
                // Events naming another topic in their header leave this one.
                if let (Some(n), Some((_, _, moved))) = (
                    n.as_mut(),
                    case.diverted.iter().find(|(from, _, _)| from == t),
                ) {
                    *n -= moved;
                }
                format!("topic {t}")
            }
            SinkKind::Logger => format!("logger {}", k.name),
            SinkKind::FileRoll => format!("files {}", k.name),
            SinkKind::Null => continue,
            SinkKind::Avro => {
                // Avro sinks on one channel share its events; on several, they add up.
                if avro_channels.contains(&k.channel.as_str()) {
                    continue;
                }
                avro_channels.push(&k.channel);
                if let Some((sum, fed)) = expected.get(AVRO_OUTPUT).copied() {
                    n = sum.zip(n).map(|(a, b)| a + b);
                    expected.insert(AVRO_OUTPUT.into(), (n, fed + feeders.len()));
                    continue;
                }
                AVRO_OUTPUT.to_string()
            }
        };
        expected.insert(output, (n, feeders.len()));
    }
    for (_, to, moved) in &case.diverted {
        expected.insert(format!("topic {to}"), (Some(*moved), 1));
    }

    let avro_of = |side: &Redirect| {
        if side.tag == FLUME_TAG {
            flume_avro.as_ref()
        } else {
            rflume_avro.as_ref()
        }
    };
    let count = |side: &Redirect, output: &str, log: &str| -> usize {
        if output == AVRO_OUTPUT {
            return avro_of(side).map(|s| s.received().len()).unwrap_or(0);
        }
        if let Some(k) = output.strip_prefix("files ") {
            return file_lines(&roll_dir(side.side_dir, k)).len();
        }
        match output.strip_prefix("topic ") {
            Some(t) => consume_all(
                side.bootstrap,
                &side.topic(t),
                case.partitions,
                0,
                Duration::from_secs(5),
            )
            .len(),
            None => logger_events(log).len(),
        }
    };
    for (output, (n, _)) in &expected {
        let want = n.unwrap_or(SEQ_PREFIX);
        for (side, label) in [(&flume_r, "Flume"), (&rflume_r, "rflume")] {
            let log = || {
                if label == "Flume" {
                    flume.log()
                } else {
                    rflume.log()
                }
            };
            if !poll_until(DELIVERY, || count(side, output, &log()) >= want) {
                return Err(format!(
                    "timed out waiting until {label}'s {output} holds {want} events\n{}",
                    if label == "Flume" {
                        flume.log_tail(60)
                    } else {
                        rflume.log()
                    }
                ));
            }
        }
    }

    // Both stop before their output is read to the end: "the same records" includes no extra.
    // Flume's graceful stop can hang on its own exec children (see FlumeAgent::stop); it has
    // delivered everything expected by now, so a short grace is enough.
    flume.stop(Duration::from_secs(5));
    rflume.sigterm();
    if rflume.wait_exit(STOP).is_none() {
        return Err(format!(
            "rflume did not stop within {STOP:?}\n{}",
            rflume.log()
        ));
    }

    let collect = |side: &Redirect, log: &str| -> Outputs {
        expected
            .keys()
            .map(|output| {
                if output == AVRO_OUTPUT {
                    let items = avro_of(side)
                        .map(|s| {
                            s.received()
                                .iter()
                                .map(|e| format!("{:?} {:?}", e.headers, e.body))
                                .collect()
                        })
                        .unwrap_or_default();
                    return (output.clone(), items);
                }
                if let Some(k) = output.strip_prefix("files ") {
                    let items = file_lines(&roll_dir(side.side_dir, k))
                        .iter()
                        .map(|l| normalize(l))
                        .collect();
                    return (output.clone(), items);
                }
                let items = match output.strip_prefix("topic ") {
                    Some(t) => records_as_text(&consume_all(
                        side.bootstrap,
                        &side.topic(t),
                        case.partitions,
                        0,
                        Duration::from_secs(10),
                    )),
                    None => logger_events(log).iter().map(|e| normalize(e)).collect(),
                };
                (output.clone(), items)
            })
            .collect()
    };
    let flume_out = collect(&flume_r, &flume.log());
    let rflume_out = collect(&rflume_r, &rflume.log());

    let mut summary = Vec::new();
    let mut diffs = Vec::new();
    // What each spooling directory holds afterwards: the input renamed `.COMPLETED` by both.
    for s in g.sources.iter().filter(|s| s.kind == SourceKind::Spooldir) {
        let (f, r) = (
            spooled_names(&spool_dir(&flume_dir, &s.name)),
            spooled_names(&spool_dir(&rflume_dir, &s.name)),
        );
        if f != r {
            diffs.push(format!(
                "  spooling directory of {}: Flume left {f:?}, rflume {r:?}",
                s.name
            ));
        }
    }
    for k in g.sinks.iter().filter(|k| k.kind == SinkKind::FileRoll) {
        let names = |side: &Path| -> Vec<String> {
            rolled_files(&roll_dir(side, &k.name))
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let (f, r) = (names(&flume_dir), names(&rflume_dir));
        if f != r {
            diffs.push(format!(
                "  files of {}: Flume wrote {f:?}, rflume {r:?}",
                k.name
            ));
        }
    }
    for (output, (n, feeders)) in &expected {
        let (mut f, mut r) = (flume_out[output].clone(), rflume_out[output].clone());
        match n {
            // A source that never ends: the first events only (each agent ran for its own time).
            None => {
                f.truncate(SEQ_PREFIX);
                r.truncate(SEQ_PREFIX);
            }
            // The oracle itself must have delivered everything exactly once, or the comparison
            // would prove little.
            Some(n) if f.len() != *n => diffs.push(format!(
                "  {output}: Flume itself delivered {} events, {n} were sent",
                f.len()
            )),
            Some(_) => {}
        }
        if *feeders > 1 || case.partitions > 1 {
            f.sort();
            r.sort();
        }
        summary.push(format!("{output}: {}", f.len()));
        if f != r {
            diffs.push(describe_diff(output, &f, &r));
        }
    }
    if diffs.is_empty() {
        Ok(summary.join(", "))
    } else {
        fs::write(work.path().join("flume.log"), flume.log()).ok();
        Err(format!(
            "{}\n(configs: Flume\n{flume_conf}\nrflume\n{rflume_conf})",
            diffs.join("\n")
        ))
    }
}

/// RFC 5424 messages carrying `lines`, as an application's syslog library writes them: every
/// header field that both sides turn into an event header (facility and severity from the
/// priority, `host`, and `timestamp` from a fixed time, so it does not depend on the clock)
/// varies across the lines.
fn syslog_messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (facility, severity) = (i % 24, i % 8);
            format!(
                "<{}>1 2026-01-02T03:04:{:02}.{:03}Z host-{} oracle {} ID{} - {l}",
                facility * 8 + severity,
                i % 60,
                i % 1000,
                i % 3,
                1000 + i,
                i % 5
            )
        })
        .collect()
}

/// Sends syslog messages over one TCP connection, newline-framed (syslogtcp has no reply:
/// what arrived is judged at the outputs).
fn syslog_send(port: u16, messages: &[String]) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let all: String = messages.iter().map(|m| format!("{m}\n")).collect();
    s.write_all(all.as_bytes()).map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())
}

/// Sends `lines` to a netcat source and reads one `OK` per line, as `nc` users see them.
fn netcat_send(port: u16, lines: &[String]) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(DELIVERY)).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for l in lines {
        s.write_all(format!("{l}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        reader.read_line(&mut reply).map_err(|e| e.to_string())?;
        if reply != "OK\n" {
            return Err(format!("netcat replied {reply:?} to {l:?}"));
        }
    }
    Ok(())
}

fn describe_diff(output: &str, flume: &[String], rflume: &[String]) -> String {
    let mut out = format!(
        "  {output}: Flume {} records, rflume {} records",
        flume.len(),
        rflume.len()
    );
    let mut shown = 0;
    for i in 0..flume.len().max(rflume.len()) {
        let (f, r) = (flume.get(i), rflume.get(i));
        if f != r && shown < 4 {
            let (f, r) = (
                f.map(String::as_str).unwrap_or("(none)"),
                r.map(String::as_str).unwrap_or("(none)"),
            );
            out.push_str(&format!(
                "\n    #{i}\n      Flume : {}\n      rflume: {}",
                around_first_difference(f, r),
                around_first_difference(r, f)
            ));
            shown += 1;
        }
    }
    out
}

/// `a`, cut to a window around where it first differs from `b` (long records: 100 headers).
fn around_first_difference(a: &str, b: &str) -> String {
    const BEFORE: usize = 60;
    const AFTER: usize = 240;
    if a.len() <= BEFORE + AFTER {
        return a.to_string();
    }
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let mut start = at.saturating_sub(BEFORE);
    while !a.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + AFTER).min(a.len());
    while !a.is_char_boundary(end) {
        end += 1;
    }
    format!(
        "{}{}{}",
        if start > 0 { "…" } else { "" },
        &a[start..end],
        if end < a.len() { "…" } else { "" }
    )
}

// ---------------------------------------------------------------------------------------------
// Comparable text of what consumers see
// ---------------------------------------------------------------------------------------------

/// A record as a line of text: partition (keyed records only: unkeyed ones are placed by each
/// producer's own partitioner), key, record headers in wire order, and the value — decoded when
/// it is an `AvroFlumeEvent` datum, with its header order kept.
fn records_as_text(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let partition = if r.key.is_some() {
                format!("partition={} ", r.partition)
            } else {
                String::new()
            };
            let key = r
                .key
                .as_deref()
                .map(|k| format!("key={} ", String::from_utf8_lossy(k)))
                .unwrap_or_default();
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_deref()
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default()
                    )
                })
                .collect();
            let value = match FlumeEvent::try_decode(&r.value) {
                Some(FlumeEvent { headers: hs, body }) => {
                    let text = format!(
                        "avro{{{}}} body={}",
                        hs.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        String::from_utf8_lossy(&body)
                    );
                    // With nothing side-specific in it (no tag, time or UUID to normalize), the
                    // datum must be byte-identical too, not only decode alike (block framing,
                    // varint widths): the raw bytes join the comparison.
                    if normalize(&text) == text {
                        let hex: String = r.value.iter().map(|b| format!("{b:02x}")).collect();
                        format!("{text} bytes={hex}")
                    } else {
                        text
                    }
                }
                None => String::from_utf8_lossy(&r.value).into_owned(),
            };
            normalize(&format!(
                "{partition}{key}headers=[{}] {value}",
                headers.join(", ")
            ))
        })
        .collect()
}

/// Replaces what legitimately differs between the two runs: the side's tag in topic names and
/// paths, the time an event was stamped (the timestamp interceptor's epoch milliseconds) and
/// random UUIDs (the uuid interceptor's).
fn normalize(s: &str) -> String {
    let s = s.replace(FLUME_TAG, SIDE_TAG).replace(RFLUME_TAG, SIDE_TAG);
    let s = s.replace("/flume/", "/SIDE/").replace("/rflume/", "/SIDE/");
    // 13-digit numbers after "timestamp=" are times; both must be present, the values differ.
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("timestamp=") {
        let (head, tail) = rest.split_at(i + "timestamp=".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 13 {
            out.push_str("<epoch-ms>");
        } else {
            out.push_str(&tail[..digits]);
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    replace_uuids(&out)
}

/// Random UUIDs (the `uuid` interceptor's) replaced by `<uuid>`: both sides must have one where
/// the other has one, the values differ.
fn replace_uuids(s: &str) -> String {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let is_uuid = |b: &[u8]| {
        let mut i = 0;
        for (n, len) in GROUPS.iter().enumerate() {
            if n > 0 {
                if b.get(i) != Some(&b'-') {
                    return false;
                }
                i += 1;
            }
            if b.len() < i + len || !b[i..i + len].iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            i += len;
        }
        true
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 36 <= bytes.len() {
        if is_uuid(&bytes[i..i + 36]) {
            out.push_str(&s[copied..i]);
            out.push_str("<uuid>");
            i += 36;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

// ---------------------------------------------------------------------------------------------
// TAILDIR position files across a migration
// ---------------------------------------------------------------------------------------------

/// A node moves from Flume 1.9 to rflume and on to Flume 1.11 on the same TAILDIR position file:
/// each agent resumes exactly where the previous one stopped, lines written while no agent ran
/// included — no gap, no duplicate, in either direction.
#[test]
fn taildir_position_files_carry_over_between_flume_and_rflume() {
    let test = "taildir position file migration";
    let Some(peers) = Peers::get(
        test,
        &[
            "flume-1.9.0",
            "flume-1.11.0",
            "zookeeper-3.4.14",
            "kafka-2.3.1",
        ],
    ) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let work = tempfile::Builder::new()
        .prefix("rflume-taildir-migration-")
        .tempdir()
        .unwrap();
    let logs = work.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let position = work.path().join("taildir_position.json");
    let files = [logs.join("app-a.log"), logs.join("app-b.log")];
    let id = unique();
    let config = |topic: &str| {
        format!(
            "a1.sources = r1\n\
             a1.channels = c1\n\
             a1.sinks = k1\n\
             a1.sources.r1.type = TAILDIR\n\
             a1.sources.r1.channels = c1\n\
             a1.sources.r1.positionFile = {}\n\
             a1.sources.r1.filegroups = f1\n\
             a1.sources.r1.filegroups.f1 = {}/app-.*\\.log\n\
             a1.channels.c1.type = memory\n\
             a1.channels.c1.capacity = 10000\n\
             a1.channels.c1.transactionCapacity = 100\n\
             a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.kafka.bootstrap.servers = {}\n\
             a1.sinks.k1.kafka.topic = {topic}\n",
            position.display(),
            logs.display(),
            cluster.bootstrap()
        )
    };
    // Lines `range` of both files, appended now; returns them as expected in Kafka.
    let write = |range: std::ops::Range<usize>| -> Vec<String> {
        let mut all = Vec::new();
        for (f, name) in files.iter().zip(["a", "b"]) {
            let lines: Vec<String> = range.clone().map(|i| format!("{name}-{i:04}")).collect();
            append_lines(f, &lines);
            all.extend(lines);
        }
        all.sort();
        all
    };
    let read = |topic: &str, n: usize| -> Vec<String> {
        let mut v: Vec<String> = consume_all(&cluster.bootstrap(), topic, 1, n, DELIVERY)
            .iter()
            .map(|r| r.value_str().to_string())
            .collect();
        v.sort();
        v
    };
    let topics = ["flume19", "rflume", "flume111"].map(|t| format!("migration-{t}-{id}"));
    for t in &topics {
        cluster.create_topic(t, 1);
    }

    // 1. Flume 1.9 ships the first lines and writes its position file on stop.
    let mut flume = FlumeAgent::start(&peers, FlumeVersion::V1_9_0, &config(&topics[0]), "a1");
    let first = write(0..300);
    flume.wait_until(DELIVERY, "Flume 1.9 shipped the first 600 lines", || {
        consume_all(
            &cluster.bootstrap(),
            &topics[0],
            1,
            0,
            Duration::from_secs(5),
        )
        .len()
            >= first.len()
    });
    assert!(
        flume.stop(STOP),
        "Flume 1.9 stops by itself (and so writes its positions)"
    );
    drop(flume);
    let flume_positions = fs::read_to_string(&position).expect("Flume wrote no position file");
    for f in &files {
        let size = fs::metadata(f).unwrap().len();
        assert!(
            flume_positions.contains(&format!("\"pos\":{size},\"file\":\"{}\"", f.display())),
            "Flume's position file should record {} at its end ({size}): {flume_positions}",
            f.display()
        );
    }
    assert_eq!(
        read(&topics[0], first.len()),
        first,
        "Flume 1.9's own delivery"
    );

    // 2. Lines written while no agent runs; rflume resumes from Flume's file.
    let second = write(300..500);
    let mut rflume = Agent::start(&config(&topics[1]), "a1");
    rflume.wait_until(
        DELIVERY,
        "rflume shipped the 400 lines written after Flume stopped",
        || {
            consume_all(
                &cluster.bootstrap(),
                &topics[1],
                1,
                0,
                Duration::from_secs(5),
            )
            .len()
                >= second.len()
        },
    );
    let third_while_running = write(500..550);
    rflume.wait_until(
        DELIVERY,
        "rflume shipped the lines appended while it ran",
        || {
            consume_all(
                &cluster.bootstrap(),
                &topics[1],
                1,
                0,
                Duration::from_secs(5),
            )
            .len()
                >= second.len() + third_while_running.len()
        },
    );
    rflume.sigterm();
    assert!(
        rflume.wait_exit(STOP).is_some_and(|s| s.success()),
        "rflume stops cleanly"
    );
    let mut want: Vec<String> = second.iter().chain(&third_while_running).cloned().collect();
    want.sort();
    assert_eq!(
        read(&topics[1], want.len()),
        want,
        "rflume resumed from Flume 1.9's position file: exactly the lines after it, once each"
    );

    // 3. And back: Flume 1.11 resumes from the file rflume wrote.
    let fourth = write(550..700);
    let mut flume = FlumeAgent::start(&peers, FlumeVersion::V1_11_0, &config(&topics[2]), "a1");
    flume.wait_until(
        DELIVERY,
        "Flume 1.11 shipped the lines written after rflume stopped",
        || {
            consume_all(
                &cluster.bootstrap(),
                &topics[2],
                1,
                0,
                Duration::from_secs(5),
            )
            .len()
                >= fourth.len()
        },
    );
    assert!(flume.stop(STOP), "Flume 1.11 stops by itself");
    assert_eq!(
        read(&topics[2], fourth.len()),
        fourth,
        "Flume 1.11 resumed from rflume's position file: exactly the lines after it, once each"
    );
}

// ---------------------------------------------------------------------------------------------
// Spooling directories across a migration
// ---------------------------------------------------------------------------------------------

/// rflume stops in the middle of a spooled file; Flume 1.11, started on the same directory,
/// resumes from the `.flumespool-main.meta` rflume kept for it: rflume's topic and Flume's topic
/// together hold every line exactly once, and Flume renames the file when it is done.
#[test]
fn a_spooling_directory_moves_from_rflume_to_flume_mid_file() {
    let test = "spooldir migration";
    let Some(peers) = Peers::get(test, &["flume-1.11.0", "zookeeper-3.4.14", "kafka-2.3.1"]) else {
        return;
    };
    let cluster = KafkaCluster::shared(&peers, KafkaVersion::V2_3_1, 1);
    let work = tempfile::Builder::new()
        .prefix("rflume-spool-migration-")
        .tempdir()
        .unwrap();
    let spool = work.path().join("spool");
    fs::create_dir_all(&spool).unwrap();
    const TOTAL: usize = 20_000;
    let lines: Vec<String> = (0..TOTAL).map(|i| format!("spooled-{i:06}")).collect();
    let file = spool.join("big.log");
    append_lines(&file, &lines);
    let id = unique();
    let topics = ["rflume", "flume"].map(|t| format!("spool-migration-{t}-{id}"));
    for t in &topics {
        cluster.create_topic(t, 1);
    }
    let config = |topic: &str, slow: bool| {
        let mut c = format!(
            "a1.sources = r1\n\
             a1.channels = c1\n\
             a1.sinks = k1\n\
             a1.sources.r1.type = spooldir\n\
             a1.sources.r1.channels = c1\n\
             a1.sources.r1.spoolDir = {}\n\
             a1.sources.r1.batchSize = 10\n\
             a1.channels.c1.type = memory\n\
             a1.channels.c1.capacity = 100\n\
             a1.channels.c1.transactionCapacity = 10\n\
             a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink\n\
             a1.sinks.k1.channel = c1\n\
             a1.sinks.k1.kafka.bootstrap.servers = {}\n\
             a1.sinks.k1.kafka.topic = {topic}\n\
             a1.sinks.k1.flumeBatchSize = 10\n",
            spool.display(),
            cluster.bootstrap()
        );
        if slow {
            // One small batch in flight at a time: the file takes a while, the stop lands in it.
            c.push_str("a1.sinks.k1.rflume.maxInFlightBatches = 1\n");
        }
        c
    };
    let count =
        |topic: &str| consume_all(&cluster.bootstrap(), topic, 1, 0, Duration::from_secs(5)).len();
    let mut rflume = Agent::start(&config(&topics[0], true), "a1");
    rflume.wait_until(DELIVERY, "rflume delivered part of the file", || {
        count(&topics[0]) >= 500
    });
    rflume.sigterm();
    assert!(
        rflume.wait_exit(STOP).is_some_and(|s| s.success()),
        "rflume stops cleanly"
    );
    let meta = spool.join(".flumespool/.flumespool-main.meta");
    assert!(
        file.exists() && meta.exists(),
        "rflume stopped mid-file and left Flume's meta file"
    );
    let mut flume = FlumeAgent::start(
        &peers,
        FlumeVersion::V1_11_0,
        &config(&topics[1], false),
        "a1",
    );
    let completed = spool.join("big.log.COMPLETED");
    flume.wait_until(DELIVERY, "Flume finished and renamed the file", || {
        completed.exists()
    });
    let read = |topic: &str| -> Vec<String> {
        consume_all(&cluster.bootstrap(), topic, 1, 1, Duration::from_secs(10))
            .iter()
            .map(|r| r.value_str().to_string())
            .collect()
    };
    let first = read(&topics[0]);
    flume.wait_until(DELIVERY, "Flume shipped the rest", || {
        count(&topics[1]) >= TOTAL - first.len()
    });
    assert!(flume.stop(STOP), "Flume stops");
    let rest = read(&topics[1]);
    let mut all: Vec<String> = first.iter().chain(&rest).cloned().collect();
    assert_eq!(
        all.len(),
        TOTAL,
        "{} from rflume + {} from Flume",
        first.len(),
        rest.len()
    );
    all.sort();
    assert_eq!(
        all, lines,
        "every line once: Flume resumed exactly where rflume stopped"
    );
    assert!(!first.is_empty() && !rest.is_empty());
}
