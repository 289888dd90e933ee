#!/usr/bin/env bash
# Memory under a stalled broker: lines stream at RATE lines/s (one write(2) each) through exec
# `tail -F` (the seed's settings) and TAILDIR into a memory channel and the Kafka sink; after a
# warm-up the broker is frozen (SIGSTOP: connections stay open, nothing is answered, as a hung
# or partitioned broker) for STALL seconds, then thawed. Reports the agent's resident memory
# (VmRSS sampled every 0.2 s) before, during and after the stall, its peak (VmHWM), the bound
# README's "Memory" section gives for the settings, and checks that a consumer then sees every
# line exactly once.
#
#   bash scripts/bench-stall.sh                  # 10,000 lines/s, 30 s stall, ~3 min
#   RATE=2000 STALL=10 bash scripts/bench-stall.sh
#
# Environment: RFLUME, COUNT (binaries; default target/release/…, built when missing), TANSU,
# RATE (10000), STALL (seconds, 30), CAPACITY (memory channel capacity, 10000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RATE="${RATE:-10000}"
STALL="${STALL:-30}"
CAPACITY="${CAPACITY:-10000}"
WARMUP=5
AFTER=20
RFLUME="${RFLUME:-target/release/rflume}"
COUNT="${COUNT:-target/release/examples/bench_count}"
[[ -x "$RFLUME" && -x "$COUNT" ]] || cargo build --release --locked --bin rflume --example bench_count
TANSU="${TANSU:-$(bash scripts/install-tansu.sh)}"
WORK="$(mktemp -d)"
PIDS=()
BROKER=""
cleanup() {
    [[ -n $BROKER ]] && kill -CONT "$BROKER" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

source scripts/bench-lib.sh
start_broker

writer() { # RATE LINES FILE
    exec python3 - "$@" <<'EOF'
import os, sys, time
rate, lines, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
start = time.monotonic()
for n in range(lines):
    os.write(fd, b"%010d " % n + b"x" * 88 + b"\n")
    ahead = (n + 1) / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
EOF
}

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/"$1"/status; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' /proc/"$1"/status; }
# Samples VmRSS every 0.2 s for SECONDS; prints the largest, in MiB.
peak_over() { # PID SECONDS
    local pid=$1 n=$(($2 * 5)) i max=0 kib
    for ((i = 0; i < n; i++)); do
        kib=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
        ((kib > max)) && max=$kib
        sleep 0.2
    done
    awk -v k="$max" 'BEGIN {printf "%.1f", k / 1024}'
}

printf '| source | lines/s | stall s | RSS before MiB | peak RSS during the stall MiB | peak RSS after MiB | VmHWM MiB | channel full during the stall | every line once after |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for kind in exec taildir; do
    dir="$WORK/$kind"
    mkdir -p "$dir/logs"
    log="$dir/logs/app.log"
    : >"$log"
    topic="stall-$kind"
    "$TANSU" topic create "$topic" --broker "tcp://127.0.0.1:$PORT" --partitions 1 >>"$WORK/topics.log" 2>&1
    config "$kind" "$log" "$dir" "$topic" "$CAPACITY" >"$dir/agent.conf"
    "$RFLUME" agent --conf-file "$dir/agent.conf" --name a1 >"$dir/agent.log" 2>&1 &
    agent=$!
    PIDS+=("$agent")
    lines=$((RATE * (WARMUP + STALL + 5)))
    sleep 2
    writer "$RATE" "$lines" "$log" &
    wpid=$!
    PIDS+=("$wpid")
    sleep "$WARMUP"
    before="$(rss_mib "$agent")"
    kill -STOP "$BROKER"
    during="$(peak_over "$agent" "$STALL")"
    full="$(grep -c "backpressure" "$dir/agent.log" || true)"
    kill -CONT "$BROKER"
    after="$(peak_over "$agent" 5)"
    wait "$wpid" 2>/dev/null || true
    if "$COUNT" "127.0.0.1:$PORT" "$topic" "$lines" --timeout-s $((AFTER + 120)) >"$dir/count.out" 2>"$dir/count.err"; then
        ok="yes ($lines)"
    else
        ok="NO: $(tail -1 "$dir/count.out") $(tail -1 "$dir/count.err")"
    fi
    hwm="$(hwm_mib "$agent")"
    kill "$agent"
    wait "$agent" 2>/dev/null || true
    printf '| %s | %d | %d | %s | %s | %s | %s | %s | %s |\n' "$kind" "$RATE" "$STALL" "$before" "$during" "$after" "$hwm" \
        "$( ((full > 0)) && echo "yes ($full log lines)" || echo no)" "$ok"
done
echo
echo "During the stall the sink keeps up to maxInFlightBatches x batchSize events handed to librdkafka"
echo "and the source reads until the channel is full ($CAPACITY events), then waits: the file (exec:"
echo "tail's pipe) holds the rest, so memory stays at the bound README's \"Memory\" section gives."
