#!/usr/bin/env bash
# The SASL SCRAM tests (tests/kafka_sasl.rs), which scripts/test.sh runs only when the
# sqlite-capable tansu is already in the tool cache: building it takes 12-17 minutes on 2 cores,
# too long for every CI run on a fresh machine. This script builds it once (into
# ${RFLUME_TOOLS:-~/.cache/rflume}/bin/tansu-libsql) and runs the tests.
#
#   bash scripts/test-sasl.sh            # build the broker if needed, run the SASL tests
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TANSU="$(bash scripts/install-tansu.sh)"
export TANSU
TANSU_LIBSQL="$(bash scripts/install-tansu-libsql.sh)"
export TANSU_LIBSQL
bash scripts/install-test-tools.sh
echo "TANSU_LIBSQL=$TANSU_LIBSQL" >&2
exec cargo test --test kafka_sasl -- --ignored "$@"
