#!/usr/bin/env bash
# The JVM tier alone: real Apache Kafka (2.3.1 + ZooKeeper, 3.9.1 KRaft), Apache Flume (1.9.0,
# 1.11.0), Spark 3.5 and Spark 2.4's Flume receiver started by the tests (tests/real_kafka.rs,
# tests/flume_oracle.rs, tests/flume_metrics.rs, tests/flume_rpc.rs, tests/real_kafka_security.rs, tests/spark_streaming.rs, tests/spark_flume.rs, tests/corpus_agents.rs),
# the peers fetched first when missing (scripts/fetch-peers.sh; Spark 2.4.8's own jars come from
# scripts/install-hadoop.sh, which tests/spark_flume.rs runs when they are missing).
# scripts/test.sh runs this tier together with the fast one; extra arguments go to `cargo test`
# (e.g. a test name filter, or `-- --nocapture` to watch each differential case).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RFLUME_PEERS="$(bash scripts/fetch-peers.sh)"
export RFLUME_PEERS
exec cargo test --test flume_oracle --test flume_metrics --test real_kafka --test real_kafka_security --test flume_rpc --test flume_thrift --test kafka_source_flume --test kafka_source_group --test kafka_source_zookeeper --test spark_streaming --test spark_flume --test corpus_agents "$@"
