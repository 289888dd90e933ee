#!/usr/bin/env bash
# What an agent costs at the rates real nodes run, and idle: CPU (user+sys of every thread, from
# /proc), wake-ups (voluntary + involuntary context switches of every thread) and peak RSS,
# per second of a steady window, for exec `tail -F` (the seed's settings) and TAILDIR, each
# idle, at 100 lines/s and at 10,000 lines/s (one write(2) per line). Unlike throughput, these
# counts barely move on a busy machine, so they can be compared between builds.
#
#   bash scripts/bench-steady.sh                 # release build, 20 s windows
#   WINDOW=60 RATES="0 100" bash scripts/bench-steady.sh
#
# Environment: RFLUME (binary; default target/release/rflume, built when missing), TANSU
# (broker; scripts/install-tansu.sh otherwise), WINDOW (seconds, 20), RATES ("0 100 10000").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WINDOW="${WINDOW:-20}"
RATES="${RATES:-0 100 10000}"
RFLUME="${RFLUME:-target/release/rflume}"
[[ -x "$RFLUME" ]] || cargo build --release --locked
TANSU="${TANSU:-$(bash scripts/install-tansu.sh)}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT="$(free_port)"
(cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine memory://tansu/) \
    >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

config() { # KIND LOGFILE
    local kind=$1 log=$2
    echo "a1.sources = r1"
    echo "a1.channels = c1"
    echo "a1.sinks = k1"
    if [[ $kind == exec ]]; then
        echo "a1.sources.r1.type = exec"
        echo "a1.sources.r1.command = tail -F $log"
    else
        echo "a1.sources.r1.type = TAILDIR"
        echo "a1.sources.r1.positionFile = $WORK/$kind-position.json"
        echo "a1.sources.r1.filegroups = f1"
        echo "a1.sources.r1.filegroups.f1 = $(dirname "$log")/.*\\.log"
    fi
    echo "a1.sources.r1.channels = c1"
    echo "a1.channels.c1.type = memory"
    echo "a1.channels.c1.capacity = 10000"
    echo "a1.channels.c1.transactionCapacity = 100"
    echo "a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink"
    echo "a1.sinks.k1.channel = c1"
    echo "a1.sinks.k1.kafka.bootstrap.servers = 127.0.0.1:$PORT"
    echo "a1.sinks.k1.kafka.topic = steady-$kind"
    [[ $kind == exec ]] && echo "a1.sinks.k1.batchSize = 20"
    return 0
}

# Sum over the agent's threads and its children (tail): CPU ticks and context switches.
snapshot() { # PID -> "ticks switches"
    local pid=$1 ticks=0 sw=0 t p
    for p in "$pid" $(pgrep -P "$pid" || true); do
        for t in /proc/"$p"/task/*; do
            [[ -r $t/stat ]] || continue
            ticks=$((ticks + $(awk '{print $14 + $15}' "$t/stat")))
            sw=$((sw + $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")))
        done
    done
    echo "$ticks $sw"
}

# One line per write(2), at RATE lines/s, until killed.
writer() { # FILE RATE
    exec python3 - "$1" "$2" <<'EOF'
import os, sys, time
path, rate = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
line = b"x" * 99 + b"\n"
start, n = time.monotonic(), 0
while True:
    os.write(fd, line)
    n += 1
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
EOF
}

HZ="$(getconf CLK_TCK)"
printf '| source | lines/s | CPU %% of one core | CPU-s per million lines | wake-ups/s | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|\n'
for kind in exec taildir; do
    for rate in $RATES; do
        dir="$WORK/$kind-$rate"
        mkdir -p "$dir"
        log="$dir/app.log"
        : >"$log"
        config "$kind" "$log" >"$dir/agent.conf"
        "$RFLUME" agent --conf-file "$dir/agent.conf" --name a1 >"$dir/agent.log" 2>&1 &
        agent=$!
        PIDS+=("$agent")
        wpid=""
        if ((rate > 0)); then
            writer "$log" "$rate" &
            wpid=$!
            PIDS+=("$wpid")
        fi
        sleep 5 # start-up and the first position write are not the steady state
        read -r t1 s1 < <(snapshot "$agent")
        sleep "$WINDOW"
        read -r t2 s2 < <(snapshot "$agent")
        rss_kib="$(awk '/VmHWM/ {print $2}' /proc/"$agent"/status)"
        [[ -n $wpid ]] && kill "$wpid" 2>/dev/null
        kill "$agent"
        wait "$agent" 2>/dev/null || true
        awk -v k="$kind" -v r="$rate" -v dt="$((t2 - t1))" -v ds="$((s2 - s1))" \
            -v w="$WINDOW" -v hz="$HZ" -v rss="$rss_kib" 'BEGIN {
                cpu = dt / hz; pct = 100 * cpu / w
                per = (r > 0) ? sprintf("%.2f", cpu / (r * w) * 1e6) : "-"
                printf "| %s | %d | %.3f | %s | %.1f | %.1f |\n", k, r, pct, per, ds / w, rss / 1024
            }'
    done
done
echo
echo "CPU is counted in clock ticks (1/$HZ s): below ~1 tick per window a figure reads 0."
