//! The HDFS sink (`type = hdfs`) against a real HDFS: Hadoop 2.7.3's NameNode and DataNode as
//! child processes (tests/common/hdfs.rs), what the sink wrote read back with Hadoop's own
//! `FsShell` — an independent reader — after the agent stopped. One HDFS serves every test of
//! this binary; each test writes under its own folder.
//!
//! Lines carry their own headers through a regex_extractor interceptor (`TYPE MILLIS text`), so
//! that the expected bucket of every line is computed from the line itself.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::hdfs::Hdfs;
use common::*;

const DELIVERY: Duration = Duration::from_secs(60);

/// exec `tail -F input` → regex_extractor (`type`, `timestamp` from `TYPE MILLIS …`) → memory
/// channel → hdfs sink k1 with `sink` settings (keys after `a1.sinks.k1.`).
fn hdfs_agent_config(input: &std::path::Path, sink: &[(&str, &str)]) -> String {
    let mut conf = format!(
        "a1.sources = r1\n\
         a1.channels = c1\n\
         a1.sinks = k1\n\
         a1.sources.r1.type = exec\n\
         a1.sources.r1.command = tail -n +1 -F {}\n\
         a1.sources.r1.channels = c1\n\
         a1.sources.r1.interceptors = x\n\
         a1.sources.r1.interceptors.x.type = regex_extractor\n\
         a1.sources.r1.interceptors.x.regex = ^(\\\\w+) (\\\\d+)\n\
         a1.sources.r1.interceptors.x.serializers = t ts\n\
         a1.sources.r1.interceptors.x.serializers.t.name = type\n\
         a1.sources.r1.interceptors.x.serializers.ts.name = timestamp\n\
         a1.channels.c1.type = memory\n\
         a1.channels.c1.capacity = 10000\n\
         a1.channels.c1.transactionCapacity = 1000\n\
         a1.sinks.k1.type = hdfs\n\
         a1.sinks.k1.channel = c1\n",
        input.display()
    );
    for (k, v) in sink {
        conf.push_str(&format!("a1.sinks.k1.{k} = {v}\n"));
    }
    conf
}

/// `n` lines `TYPE MILLIS line-NNNN` with the type and timestamp given per line.
fn lines(n: usize, of: impl Fn(usize) -> (&'static str, i64)) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (t, ts) = of(i);
            format!("{t} {ts} line-{i:04}")
        })
        .collect()
}

/// Concatenated `-cat` of every final (not in-use) file under `dir`, in name order (one JVM),
/// and the listing; panics if any file still carries the in-use suffix.
fn read_all(hdfs: &Hdfs, dir: &str) -> (Vec<(String, u64)>, String) {
    let files = hdfs.files(dir);
    assert!(
        files.iter().all(|(p, _)| !p.ends_with(".tmp")),
        "in-use files left after a clean stop: {files:?}"
    );
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let text = String::from_utf8(hdfs.cat_all(&paths)).expect("UTF-8 files");
    (files, text)
}

/// The bytes of `lines` as the TEXT serializer writes them.
fn text_of(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Waits until the files under `dir` hold `bytes` bytes in all (the length HDFS reports for a
/// file being written is what the sink's last hsync made durable), so that the test stops the
/// agent only after everything was written; one `-ls` per poll.
fn wait_bytes_in_hdfs(hdfs: &Hdfs, agent: &Agent, dir: &str, bytes: usize) {
    wait_until_or_explain(
        DELIVERY,
        &format!("{bytes} bytes are in HDFS under {dir}"),
        || {
            hdfs.files(dir)
                .iter()
                .map(|(_, n)| *n as usize)
                .sum::<usize>()
                >= bytes
        },
        || {
            format!(
                "{:?}\n{}\n{}",
                hdfs.files(dir),
                agent.log(),
                hdfs.logs_tail(20)
            )
        },
    );
}

/// rollCount rolls before the event that would exceed it; every file is written as
/// `FlumeData.<counter>.tmp` and renamed when closed; counters are consecutive from the
/// bucket's creation millis; the files hold every line once, in order.
#[test]
fn data_stream_rolls_by_count_and_renames_in_use_files() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("count");
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("in.log");
    let sent = lines(25, |i| ("app", 1_614_834_367_000 + i as i64));
    append_lines(&log, &sent);
    let path = format!("{}{dir}", hdfs.uri());
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut agent = Agent::start(
        &hdfs_agent_config(
            &log,
            &[
                ("hdfs.path", &path),
                ("hdfs.fileType", "DataStream"),
                ("hdfs.rollCount", "10"),
                ("hdfs.rollSize", "0"),
                ("hdfs.rollInterval", "0"),
                ("hdfs.batchSize", "10"),
            ],
        ),
        "a1",
    );
    wait_bytes_in_hdfs(&hdfs, &agent, &dir, text_of(&sent).len());
    // While running, the last file (5 lines) is still in use: FlumeData.<n>.tmp.
    let running = hdfs.files(&dir);
    assert_eq!(running.len(), 3, "{running:?}");
    assert!(running[2].0.ends_with(".tmp"), "{running:?}");
    assert!(
        running[..2].iter().all(|(p, _)| !p.ends_with(".tmp")),
        "{running:?}"
    );
    agent.stop_cleanly();

    let (files, text) = read_all(&hdfs, &dir);
    assert_eq!(text, text_of(&sent));
    let counters: Vec<i64> = files
        .iter()
        .map(|(p, _)| {
            let name = p.rsplit('/').next().unwrap();
            let n = name
                .strip_prefix("FlumeData.")
                .unwrap_or_else(|| panic!("{name}"));
            n.parse().unwrap_or_else(|_| panic!("{name}"))
        })
        .collect();
    assert!(
        counters[0] > before,
        "{counters:?} start at the bucket's creation millis"
    );
    assert_eq!(counters, [counters[0], counters[0] + 1, counters[0] + 2]);
    // Lines are 28 bytes: 10, 10 and 5 lines per file.
    let sizes: Vec<u64> = files.iter().map(|(_, n)| *n).collect();
    assert_eq!(sizes, [280, 280, 140], "{files:?}");
}

/// Buckets by `%{type}` and the event's own timestamp in `timeZone`, with rounding, a prefix and
/// suffix from escapes; rollSize rolls by body bytes.
#[test]
fn buckets_by_header_and_time_escapes_and_rolls_by_size() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("buckets");
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("in.log");
    // 2021-03-04 05:06:07 UTC and 2021-03-05 23:59:59 UTC, alternating types.
    let times = [1_614_834_367_000_i64, 1_614_988_799_000];
    let sent = lines(12, |i| (["nginx", "db"][i % 2], times[(i / 2) % 2]));
    append_lines(&log, &sent);
    let path = format!("{}{dir}/%{{type}}/%Y-%m-%d/%H", hdfs.uri());
    let mut agent = Agent::start(
        &hdfs_agent_config(
            &log,
            &[
                ("hdfs.path", &path),
                ("hdfs.filePrefix", "%{type}-%y"),
                ("hdfs.fileSuffix", ".log"),
                ("hdfs.fileType", "DataStream"),
                ("hdfs.writeFormat", "Text"),
                ("hdfs.timeZone", "GMT+01:00"),
                ("hdfs.round", "true"),
                ("hdfs.roundValue", "24"),
                ("hdfs.roundUnit", "hour"),
                // Bodies are 26 or 29 bytes: a file rolls before its third line (52, 58 >= 50).
                ("hdfs.rollSize", "50"),
                ("hdfs.rollCount", "0"),
                ("hdfs.rollInterval", "0"),
            ],
        ),
        "a1",
    );
    wait_bytes_in_hdfs(&hdfs, &agent, &dir, text_of(&sent).len());
    agent.stop_cleanly();

    let (files, _) = read_all(&hdfs, &dir);
    // Expected bucket per line, computed from the line: GMT+1, rounded down to the day.
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, l) in sent.iter().enumerate() {
        let t = ["nginx", "db"][i % 2];
        let day = if (i / 2) % 2 == 0 {
            "2021-03-04"
        } else {
            "2021-03-06"
        };
        expected
            .entry(format!("{dir}/{t}/{day}/00/{t}-21"))
            .or_default()
            .push(l.clone());
    }
    // DIR/TYPE/DAY/00/TYPE-21.<counter>.log: the bucket is what precedes the counter.
    let mut by_bucket: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (p, len) in &files {
        assert!(p.ends_with(".log"), "{p}");
        let (bucket, _counter) = p
            .rsplit_once('.')
            .and_then(|(a, _)| a.rsplit_once('.'))
            .unwrap_or_else(|| panic!("{p}"));
        // Two lines per file at most (26 or 29 bytes each, plus newlines).
        assert!(*len <= 60, "{p} rolled late: {len} bytes");
        by_bucket.entry(bucket.to_string()).or_default().push(p);
    }
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (bucket, paths) in &by_bucket {
        let text = String::from_utf8(hdfs.cat_all(paths)).unwrap();
        got.insert(bucket.clone(), text.lines().map(String::from).collect());
    }
    assert_eq!(got, expected, "{files:?}");
}

/// rollInterval closes and renames a file while the agent runs, with no new event.
#[test]
fn roll_interval_closes_the_file_without_new_events() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("interval");
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("in.log");
    let sent = lines(3, |i| ("app", 1_614_834_367_000 + i as i64));
    append_lines(&log, &sent);
    let path = format!("{}{dir}", hdfs.uri());
    let mut agent = Agent::start(
        &hdfs_agent_config(
            &log,
            &[
                ("hdfs.path", &path),
                ("hdfs.fileType", "DataStream"),
                ("hdfs.inUsePrefix", ".tmp-"),
                ("hdfs.rollInterval", "2"),
                ("hdfs.rollCount", "0"),
                ("hdfs.rollSize", "0"),
            ],
        ),
        "a1",
    );
    wait_until_or_explain(
        DELIVERY,
        "the file is closed and renamed by rollInterval",
        || {
            let f = hdfs.files(&dir);
            f.len() == 1 && !f[0].0.contains("/.tmp-") && !f[0].0.ends_with(".tmp")
        },
        || format!("{:?}\n{}", hdfs.files(&dir), agent.log()),
    );
    assert!(agent.is_running());
    agent.stop_cleanly();
    let (_, text) = read_all(&hdfs, &dir);
    assert_eq!(text, text_of(&sent));
}

/// gzip CompressedStream and SequenceFile (Flume's default file type) decoded by Hadoop's own
/// `FsShell -text`: gzip members per batch inflate to the lines; SequenceFile records print as
/// `timestamp<TAB>body`.
#[test]
fn gzip_and_sequence_files_decode_with_hadoops_shell() {
    let hdfs = Hdfs::shared();
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("in.log");
    let sent = lines(30, |i| ("app", 1_614_834_367_000 + i as i64));
    append_lines(&log, &sent);
    for (name, settings) in [
        (
            "gzip",
            vec![
                ("hdfs.fileType", "CompressedStream"),
                ("hdfs.codeC", "gzip"),
            ],
        ),
        ("seq", vec![("hdfs.writeFormat", "Text")]),
    ] {
        let dir = hdfs.unique_dir(name);
        let path = format!("{}{dir}", hdfs.uri());
        let mut all = vec![
            ("hdfs.path", path.as_str()),
            ("hdfs.batchSize", "7"),
            ("hdfs.rollCount", "20"),
            ("hdfs.rollSize", "0"),
            ("hdfs.rollInterval", "0"),
        ];
        all.extend(settings);
        let mut agent = Agent::start(&hdfs_agent_config(&log, &all), "a1");
        // Two files (20 + 10 events): the second exists once the 21st event was written.
        wait_until_or_explain(
            DELIVERY,
            "the sink wrote its second file",
            || hdfs.files(&dir).len() == 2,
            || agent.log(),
        );
        agent.stop_cleanly();
        let files = hdfs.files(&dir);
        assert_eq!(files.len(), 2, "{files:?}");
        let mut text = String::new();
        for (p, _) in &files {
            if name == "gzip" {
                assert!(p.ends_with(".gz"), "the codec's extension: {p}");
            }
            text.push_str(&String::from_utf8(hdfs.text(p)).unwrap());
        }
        let expected: String = if name == "gzip" {
            text_of(&sent)
        } else {
            sent.iter()
                .map(|l| {
                    let ts = l.split(' ').nth(1).unwrap();
                    format!("{ts}\t{l}\n")
                })
                .collect()
        };
        assert_eq!(text, expected, "{name}");
    }
}

/// A path without a scheme resolves against `fs.defaultFS` of the `core-site.xml` in
/// `HADOOP_CONF_DIR`, as Flume's Hadoop client resolves it.
#[test]
fn a_path_without_a_scheme_goes_to_fs_default_fs() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("defaultfs");
    let input = tempfile::tempdir().unwrap();
    let log = input.path().join("in.log");
    let sent = lines(4, |i| ("app", 1_614_834_367_000 + i as i64));
    append_lines(&log, &sent);
    let config = hdfs_agent_config(
        &log,
        &[("hdfs.path", dir.as_str()), ("hdfs.fileType", "DataStream")],
    );
    let agent_dir = tempfile::tempdir().unwrap();
    let conf = agent_dir.path().join("flume.conf");
    std::fs::write(&conf, config).unwrap();
    let mut cmd = Command::new(rflume_bin());
    cmd.args(["agent", "--conf-file"])
        .arg(&conf)
        .args(["--name", "a1", "-Dflume.root.logger=INFO,console"])
        .env("HADOOP_CONF_DIR", hdfs.conf_dir());
    let mut agent = Agent::spawn(agent_dir, cmd);
    wait_bytes_in_hdfs(&hdfs, &agent, &dir, text_of(&sent).len());
    agent.stop_cleanly();
    let (_, text) = read_all(&hdfs, &dir);
    assert_eq!(text, text_of(&sent));
}

/// The harness itself: a file put with Hadoop's shell is listed and read back byte for byte.
#[test]
fn harness_round_trips_a_file_through_hadoops_shell() {
    let hdfs = Hdfs::shared();
    let dir = hdfs.unique_dir("harness");
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("in.txt");
    let bytes = b"one\ntwo\n\xff\x00three".to_vec();
    std::fs::write(&file, &bytes).unwrap();
    let dst = format!("{dir}/in.txt");
    hdfs.shell(&["-mkdir", "-p", &dir]).unwrap();
    hdfs.shell(&["-put", file.to_str().unwrap(), &dst]).unwrap();
    assert_eq!(hdfs.files(&dir), [(dst.clone(), bytes.len() as u64)]);
    assert_eq!(hdfs.cat(&dst), bytes);
}
