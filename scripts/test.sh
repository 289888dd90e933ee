#!/usr/bin/env bash
# The one test command, for developers and CI alike (.ci/run execs it):
#   format check → clippy (warnings are errors) → every test, integration tests against a real
#   Kafka-protocol broker (tansu, installed on first use by scripts/install-tansu.sh).
#
# Integration tests run the test profile's rflume binary (cargo's CARGO_BIN_EXE_rflume), so no
# separate release build is made here: it would cost minutes on 2 cores and test nothing extra.
# Benchmarks build their own release binary.
#
# Environment:
#   TANSU                  a tansu 0.6.0 binary to use instead of installing one
#   RFLUME_JVM_TIER=0      skip the JVM tier (no Maven fetch); scripts/test-jvm.sh runs it alone
#   RFLUME_PYTHON          a python with tests/python/requirements.txt installed (default: the
#                          venv tests/python/venv.sh creates in the tools cache)
#   RFLUME_THRIFT_PYTHON   a python with PyPI's thrift (default: tests/python/thrift-venv.sh's venv)
#   RFLUME_TOOLS           where tools are cached (default ~/.cache/rflume)
#   RFLUME_TEST_TIMEOUT    upper bound for the test run (default 60m), so a hung test fails the
#                          run with a message well inside CI's 90 minutes instead of eating them
#   RFLUME_TEST_RUNNER     nextest | cargo (default: nextest when installed)
#   extra arguments are passed to the test runner (e.g. a test name filter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }

step "tansu broker for integration tests"
TANSU="$(bash scripts/install-tansu.sh)"
export TANSU
echo "TANSU=$TANSU" >&2

# The SASL SCRAM tests need the sqlite-capable tansu, a 12-17 minute build: they run here only
# when it is already cached (scripts/test-sasl.sh builds it and runs them).
sasl_tests=0
if TANSU_LIBSQL="$(RFLUME_NO_BUILD=1 bash scripts/install-tansu-libsql.sh 2>/dev/null)"; then
    export TANSU_LIBSQL
    sasl_tests=1
    echo "TANSU_LIBSQL=$TANSU_LIBSQL: the SASL tests run too" >&2
else
    echo "no cached sqlite-capable tansu: the SASL tests (tests/kafka_sasl.rs) are skipped; run bash scripts/test-sasl.sh" >&2
fi

# The JVM tier (real Kafka and Flume, tests/peers/README.md): fetched from Maven Central when
# missing; RFLUME_JVM_TIER=0 runs the fast tier alone (its tests then skip, and fail in CI).
if [[ "${RFLUME_JVM_TIER:-1}" != 0 ]]; then
    step "JVM peers for the second test tier"
    RFLUME_PEERS="$(bash scripts/fetch-peers.sh)"
    export RFLUME_PEERS
    echo "RFLUME_PEERS=$RFLUME_PEERS" >&2
fi
# Hadoop 2.7.3's jars (NameNode, DataNode, FsShell) for the HDFS sink's tests, from PyPI's
# pyspark==2.4.8 when missing; tests/common/hdfs.rs runs them with the machine's Java.
step "Hadoop jars for the HDFS tests (installed when missing)"
bash scripts/install-hadoop.sh >/dev/null
step "tools the operations tests use (installed when missing)"
bash scripts/install-test-tools.sh
# kafka-python and fastavro, the consumer from another client implementation in
# tests/foreign_consumer.rs: a pinned venv in the tools cache, created only when missing.
step "Python venv for the foreign consumer"
RFLUME_PYTHON="$(bash tests/python/venv.sh)"
export RFLUME_PYTHON
echo "RFLUME_PYTHON=$RFLUME_PYTHON" >&2
# npm's avsc, the independent Avro RPC peer of tests/avro_rpc.rs: pinned, in the tools cache.
step "avsc for the Avro RPC tests"
RFLUME_NODE_PATH="$(bash tests/node/avsc.sh)"
export RFLUME_NODE_PATH
echo "RFLUME_NODE_PATH=$RFLUME_NODE_PATH" >&2

# PyPI's thrift, the independent Thrift RPC peer of tests/thrift_rpc.rs: pinned, in the tools cache.
step "python thrift for the Thrift RPC tests"
RFLUME_THRIFT_PYTHON="$(bash tests/python/thrift-venv.sh)"
export RFLUME_THRIFT_PYTHON
echo "RFLUME_THRIFT_PYTHON=$RFLUME_THRIFT_PYTHON" >&2

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

timeout_for_tests="${RFLUME_TEST_TIMEOUT:-60m}"
runner="${RFLUME_TEST_RUNNER:-}"
if [[ -z "$runner" ]]; then
    if cargo nextest --version >/dev/null 2>&1; then runner=nextest; else runner=cargo; fi
fi

# `timeout` normally moves itself into a new process group and signals the whole group on expiry,
# so brokers and agents the tests started die with them; but then Ctrl-C from a terminal no longer
# reaches the tests, so interactively it stays in the foreground (nextest still cleans up its tests).
limit=(timeout --kill-after=30s)
if [[ -t 0 ]]; then limit+=(--foreground); fi
limit+=("$timeout_for_tests")
explain_timeout() {
    local rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "error: tests still running after RFLUME_TEST_TIMEOUT=$timeout_for_tests; a test hangs" >&2
    fi
    exit "$rc"
}

# Doc tests exist only once the crate has a library target; nextest does not run them. They go
# first so that the last line of the run is the main runner's summary.
if [[ -f src/lib.rs ]]; then
    step "cargo test --doc"
    "${limit[@]}" cargo test --doc || explain_timeout
fi

case "$runner" in
    nextest)
        step "cargo nextest run --all-targets (timeout $timeout_for_tests)"
        "${limit[@]}" cargo nextest run --all-targets --no-fail-fast "$@" || explain_timeout
        if [[ $sasl_tests -eq 1 ]]; then
            step "SASL SCRAM tests (cached sqlite-capable tansu)"
            "${limit[@]}" cargo nextest run --test kafka_sasl --run-ignored ignored-only \
                || explain_timeout
        fi
        ;;
    cargo)
        step "cargo test --all-targets (timeout $timeout_for_tests)"
        out="$(mktemp)"
        trap 'rm -f "$out"' EXIT
        status=0
        "${limit[@]}" cargo test --all-targets --no-fail-fast "$@" 2>&1 \
            | tee "$out" || status=$?
        # cargo test prints one "test result:" line per test binary, the last one often for a
        # binary with no tests; close with the total so the summary is unambiguous.
        awk '/^test result:/ { for (i = 1; i <= NF; i++) {
                 if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i;
                 if ($(i+1) ~ /^ignored/) s += $i } }
             END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$out"
        (exit "$status") || explain_timeout
        if [[ $sasl_tests -eq 1 ]]; then
            step "SASL SCRAM tests (cached sqlite-capable tansu)"
            "${limit[@]}" cargo test --test kafka_sasl -- --ignored || explain_timeout
        fi
        ;;
    *)
        echo "RFLUME_TEST_RUNNER must be nextest or cargo, not '$runner'" >&2
        exit 2
        ;;
esac
