#!/usr/bin/env bash
# Framework overhead without a broker: seq → memory → null for N events, then SIGTERM, timed as a
# whole process. Counts instructions with callgrind when --callgrind is given (deterministic on a
# busy machine, unlike seconds), so that two builds can be compared exactly:
#
#   bash scripts/bench-framework.sh [--events N] [--callgrind] [--bin PATH]
#
# Default: 5,000,000 events with the release binary (built if missing). Prints the wall and CPU
# seconds (from bash's `time`) or callgrind's instruction total.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=5000000
BIN=""
CALLGRIND=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --events) N="$2"; shift 2 ;;
        --bin) BIN="$2"; shift 2 ;;
        --callgrind) CALLGRIND=1; shift ;;
        *) echo "usage: $0 [--events N] [--callgrind] [--bin PATH]" >&2; exit 2 ;;
    esac
done
if [[ -z "$BIN" ]]; then
    cargo build --release --quiet --bin rflume
    BIN="${CARGO_TARGET_DIR:-target}/release/rflume"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/f.conf" <<CONF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = $N
a1.sources.r1.batchSize = 1000
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = 1000
a1.sinks.k1.logEveryNEvents = $N
a1.sinks.k1.channel = c1
CONF
run() {
    "$@" agent -n a1 -f "$WORK/f.conf" > "$WORK/log" 2>&1 &
    local pid=$!
    # The null sink logs once, after the N-th event; the agent then drains and stops.
    until grep -qs "successful processed" "$WORK/log"; do sleep 0.005; done
    kill -TERM "$pid"
    wait "$pid"
}
if [[ "$CALLGRIND" == 1 ]]; then
    run valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN"
    callgrind_annotate "$WORK/cg.out" 2>/dev/null | grep -m1 "PROGRAM TOTALS"
else
    time run "$BIN"
    echo "$N events"
fi
