#!/usr/bin/env bash
# The JVM tier alone: real Apache Kafka (2.3.1 + ZooKeeper, 3.9.1 KRaft), Apache Flume (1.9.0,
# 1.11.0) and Spark 3.5 started by the tests (tests/real_kafka.rs, tests/flume_oracle.rs, tests/flume_metrics.rs,
# tests/spark_streaming.rs), the peers fetched first when missing (scripts/fetch-peers.sh).
# scripts/test.sh runs this tier together with the fast one; extra arguments go to `cargo test`
# (e.g. a test name filter, or `-- --nocapture` to watch each differential case).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RFLUME_PEERS="$(bash scripts/fetch-peers.sh)"
export RFLUME_PEERS
exec cargo test --test flume_oracle --test flume_metrics --test real_kafka --test real_kafka_security --test spark_streaming "$@"
