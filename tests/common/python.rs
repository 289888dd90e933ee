//! A consumer from another Kafka client implementation: kafka-python (pure Python, not
//! librdkafka) with fastavro for Flume's Avro events — `tests/python/consume.py`, run in the venv
//! that `tests/python/venv.sh` creates when missing (pinned versions, `tests/python/requirements.txt`).
//!
//! It reads the way Spark's Kafka source does: assigned partitions, its own offsets, no group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::kafka::Record;
use super::{path_printed_by, poll_until};

/// The venv's python: `$RFLUME_PYTHON` (as `scripts/test.sh` exports it), else whatever
/// `tests/python/venv.sh` prints (installing the venv first if needed). Resolved once per test
/// process; the script serialises installs across processes.
pub fn python_bin() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("RFLUME_PYTHON").map(PathBuf::from) {
            if p.is_file() {
                return p;
            }
        }
        path_printed_by(
            &python_dir().join("venv.sh"),
            "the foreign-consumer tests need kafka-python and fastavro",
        )
    })
}

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// A record as kafka-python read it: the same [`Record`] the librdkafka consumer returns, so the
/// two can be compared whole, and with `avro` the value as fastavro decoded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignRecord {
    pub record: Record,
    /// The `AvroFlumeEvent`'s headers and body.
    pub avro: Option<(BTreeMap<String, String>, Vec<u8>)>,
}

#[derive(Deserialize)]
struct Line {
    partition: i32,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
    timestamp: Option<i64>,
    avro: Option<AvroLine>,
}

#[derive(Deserialize)]
struct AvroLine {
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

fn unbase64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("consume.py printed bad base64 {text:?}: {e}"))
}

/// Reads `topic` (partitions `0..partitions`) from offset 0 with kafka-python until `expected`
/// records came and then nothing for a second (or `timeout`); with `avro`, every value is decoded
/// by fastavro too (the script fails on a value that is not exactly one `AvroFlumeEvent`).
pub fn consume_with_kafka_python(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    avro: bool,
    timeout: Duration,
) -> Vec<ForeignRecord> {
    let dir = tempfile::tempdir().expect("cannot create a temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new(python_bin());
    cmd.arg(python_dir().join("consume.py"))
        .args(["--bootstrap", bootstrap, "--topic", topic])
        .args(["--partitions", &partitions.to_string()])
        .args(["--expected", &expected.to_string()])
        .args(["--timeout", &timeout.as_secs_f64().to_string()]);
    if avro {
        cmd.arg("--avro");
    }
    // Files rather than pipes: no reader threads are needed to wait with a deadline.
    let stdout = std::fs::File::create(&out_path).expect("cannot create a stdout file");
    let stderr = std::fs::File::create(&err_path).expect("cannot create a stderr file");
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut status = None;
    // The script stops itself at `timeout`; the margin covers Python's start and a slow close.
    poll_until(timeout + Duration::from_secs(30), || {
        status = child.try_wait().expect("waitpid failed");
        status.is_some()
    });
    let stderr_text = std::fs::read_to_string(&err_path).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("consume.py still runs after {timeout:?}:\n{stderr_text}");
    };
    assert!(
        status.success(),
        "consume.py failed ({status}):\n{stderr_text}"
    );
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let line: Line =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("consume.py printed {l:?}: {e}"));
            ForeignRecord {
                record: Record {
                    partition: line.partition,
                    offset: line.offset,
                    key: line.key.as_deref().map(unbase64),
                    value: line.value.as_deref().map(unbase64).unwrap_or_default(),
                    headers: line
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k, v.as_deref().map(unbase64)))
                        .collect(),
                    timestamp: line.timestamp,
                },
                avro: line.avro.map(|a| {
                    (
                        a.headers,
                        a.body.as_deref().map(unbase64).unwrap_or_default(),
                    )
                }),
            }
        })
        .collect()
}
