#!/usr/bin/env bash
# What an agent costs at the rates real nodes run, and idle: CPU (user+sys of every thread, from
# /proc), wake-ups (voluntary + involuntary context switches of every thread), peak RSS, and the
# end-to-end latency of each line (written with its wall-clock time, one write(2) per line; a
# consumer with fetch.wait.max.ms=10 subtracts it from its receive time), for exec `tail -F` (the
# seed's settings) and TAILDIR, each idle, at 100 lines/s and at 10,000 lines/s; and TAILDIR
# following 1,000 files written at 10 lines/s each. Unlike throughput, CPU and wake-up counts
# barely move on a busy machine, so they can be compared between builds; latency does move.
#
#   bash scripts/bench-steady.sh                 # release build, 30 s windows (60 s idle), ~6 min
#   WINDOW=10 IDLE_WINDOW=10 RATES="0 100" FILES=0 bash scripts/bench-steady.sh   # a quick look
#
# Environment: RFLUME (binary; default target/release/rflume, built when missing), TANSU
# (broker; scripts/install-tansu.sh otherwise), WINDOW (seconds measured at a rate, 30),
# IDLE_WINDOW (seconds measured idle, 60), RATES ("0 100 10000"), FILES (the many-files row's
# file count, 1000; 0 leaves it out), FILE_RATE (lines/s per file there, 10), KINDS (the
# single-file rows' sources, "exec taildir"), PERF_DIR (record each row's window with
# `perf record -e cpu-clock -g` of the agent and its children into this folder, one
# KIND-FILES-RATE.data each; `perf report -i FILE --no-children --sort comm,dso` reads them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WINDOW="${WINDOW:-30}"
IDLE_WINDOW="${IDLE_WINDOW:-60}"
RATES="${RATES:-0 100 10000}"
FILES="${FILES:-1000}"
FILE_RATE="${FILE_RATE:-10}"
WARMUP=5
RFLUME="${RFLUME:-target/release/rflume}"
COUNT="${COUNT:-target/release/examples/bench_count}"
[[ -x "$RFLUME" && -x "$COUNT" ]] || cargo build --release --locked --bin rflume --example bench_count
source scripts/bench-lib.sh
bench_work
start_broker

# utime + stime of one task, in ticks. The name field may hold spaces ("notify-rs inotify"), so
# the fields are counted from after its closing parenthesis (utime is the 14th field of stat).
thread_ticks() { # /proc/PID/task/TID
    sed 's/.*) //' "$1/stat" | awk '{print $12 + $13}'
}

# The agent and every process below it: the exec source runs `tail` under its process-group
# guard (`rflume __exec-guard`), so tail is a grandchild.
family() { # PID
    local p
    echo "$1"
    for p in $(pgrep -P "$1" || true); do family "$p"; done
}

# Sum over the agent's threads and its descendants (tail): CPU ticks and context switches.
snapshot() { # PID -> "ticks switches"
    local pid=$1 ticks=0 sw=0 t p
    for p in $(family "$pid"); do
        for t in /proc/"$p"/task/*; do
            [[ -r $t/stat ]] || continue
            ticks=$((ticks + $(thread_ticks "$t")))
            sw=$((sw + $(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")))
        done
    done
    echo "$ticks $sw"
}

# Per thread (and per child process) of the agent: "NAME ticks switches" lines, so that each
# row's figures can be split into where they went (threads of one name are summed).
per_thread() { # PID
    local pid=$1 t p
    for p in $(family "$pid"); do
        for t in /proc/"$p"/task/*; do
            [[ -r $t/stat ]] || continue
            local name ticks sw
            if [[ $p == "$pid" ]]; then name="$(tr ' ' '_' <"$t/comm")"; else name="(child:$(tr ' ' '_' <"/proc/$p/comm"))"; fi
            ticks=$(thread_ticks "$t")
            sw=$(awk '/ctxt_switches/ {s += $2} END {print s}' "$t/status")
            echo "$name $ticks $sw"
        done
    done | awk '{t[$1] += $2; s[$1] += $3} END {for (n in t) print n, t[n], s[n]}'
}

# LINES lines of 100 bytes, each starting with its write time (ns since the epoch), one write(2)
# per line, spread evenly at RATE lines/s in all over the given files (round robin).
writer() { # RATE LINES FILE...
    exec python3 - "$@" <<'EOF'
import os, sys, time
rate, lines, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for p in paths]
pad = b" " + b"x" * 79 + b"\n"
start = time.monotonic()
for n in range(lines):
    os.write(fds[n % len(fds)], b"%019d" % time.time_ns() + pad)
    ahead = (n + 1) / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
EOF
}

# Waits (up to 60 s) until FILE has a line starting with PREFIX; shell builtins only, so the
# benchmark's own polling costs next to nothing.
wait_line() { # FILE PREFIX
    local i l
    for ((i = 0; i < 600; i++)); do
        if [[ -f $1 ]]; then
            while IFS= read -r l; do [[ $l == "$2"* ]] && return 0; done <"$1"
        fi
        sleep 0.1
    done
    echo "bench-steady: no line starting with '$2' in $1 within 60 s" >&2
    return 1
}

field() { # NAME LINE
    local kv
    for kv in $2; do [[ $kv == "$1="* ]] && { echo "${kv#*=}"; return; }; done
    echo NA
}

HZ="$(getconf CLK_TCK)"
printf '| source | files | lines/s | window s | CPU %% of one core | CPU-s per million lines | wake-ups/s | latency p50 / p99 / p99.9 / max ms | peak RSS MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
run_row() { # KIND NFILES RATE(lines/s in all) WINDOW
    local kind=$1 nfiles=$2 rate=$3 window=$4
    local dir="$WORK/$kind-$nfiles-$rate" files=() i
    mkdir -p "$dir/logs"
    for ((i = 0; i < nfiles; i++)); do
        files+=("$dir/logs/app-$i.log")
        : >"${files[-1]}"
    done
    local topic="steady-$kind-$nfiles-$rate"
    "$TANSU" topic create "$topic" --broker "tcp://127.0.0.1:$PORT" --partitions 1 \
        >>"$WORK/topics.log" 2>&1
    config "$kind" "${files[0]}" "$dir" "$topic" >"$dir/agent.conf"
    local wpid="" cpid="" lines=0
    if ((rate > 0)); then
        lines=$((rate * (WARMUP + window)))
        "$COUNT" "127.0.0.1:$PORT" "$topic" "$lines" --latency \
            --timeout-s $((WARMUP + window + 120)) >"$dir/count.out" 2>"$dir/count.err" &
        cpid=$!
        PIDS+=("$cpid")
    fi
    "$RFLUME" agent --conf-file "$dir/agent.conf" --name a1 >"$dir/agent.log" 2>&1 &
    local agent=$!
    PIDS+=("$agent")
    wait_line "$dir/agent.log" "" # the agent logs once it has read its configuration
    if [[ -n $cpid ]]; then
        wait_line "$dir/count.out" ready
        writer "$rate" "$lines" "${files[@]}" &
        wpid=$!
        PIDS+=("$wpid")
    fi
    sleep "$WARMUP" # start-up and the first position write are not the steady state
    read -r t1 s1 < <(snapshot "$agent")
    per_thread "$agent" >"$dir/threads.1"
    if [[ -n ${PERF_DIR:-} ]]; then
        # The row's window, sampled: where its CPU goes, by thread, library and function.
        mkdir -p "$PERF_DIR"
        perf record -q -e cpu-clock -F 999 -g -p "$(family "$agent" | paste -sd,)" \
            -o "$PERF_DIR/$kind-$nfiles-$rate.data" -- sleep "$window" >/dev/null 2>&1
    else
        sleep "$window"
    fi
    read -r t2 s2 < <(snapshot "$agent")
    per_thread "$agent" >"$dir/threads.2"
    # Where this row's CPU and wake-ups went, thread by thread, for the table after the main one.
    awk -v row="$kind, $nfiles file(s), $rate lines/s" -v w="$window" -v hz="$HZ" '
        NR == FNR { t[$1] = $2; s[$1] = $3; next }
        { dt = $2 - t[$1]; ds = $3 - s[$1]
          if (dt > 0 || ds / w >= 0.5) printf "| %s | %s | %.3f | %.1f |\n", row, $1, 100 * dt / hz / w, ds / w }
    ' "$dir/threads.1" "$dir/threads.2" | sort -t'|' -k4,4nr >>"$WORK/threads.md"
    local rss_kib lat="-" summary
    rss_kib="$(awk '/VmHWM/ {print $2}' /proc/"$agent"/status)"
    if [[ -n $cpid ]]; then
        wait "$wpid" 2>/dev/null || true
        if wait "$cpid"; then
            summary="$(tail -1 "$dir/count.out")"
            lat="$(field lat_p50_ms "$summary") / $(field lat_p99_ms "$summary") / $(field lat_p999_ms "$summary") / $(field lat_max_ms "$summary")"
        else
            echo "bench-steady: $kind, $nfiles files at $rate lines/s: the consumer failed: $(tail -2 "$dir/count.err")" >&2
            lat="consumer failed"
        fi
    fi
    kill "$agent"
    wait "$agent" 2>/dev/null || true
    awk -v k="$kind" -v f="$nfiles" -v r="$rate" -v dt="$((t2 - t1))" -v ds="$((s2 - s1))" \
        -v w="$window" -v hz="$HZ" -v rss="$rss_kib" -v lat="$lat" 'BEGIN {
            cpu = dt / hz; pct = 100 * cpu / w
            per = (r > 0) ? sprintf("%.2f", cpu / (r * w) * 1e6) : "-"
            printf "| %s | %d | %d | %d | %.3f | %s | %.1f | %s | %.1f |\n", k, f, r, w, pct, per, ds / w, lat, rss / 1024
        }'
}

for kind in ${KINDS:-exec taildir}; do
    for rate in $RATES; do
        if ((rate > 0)); then run_row "$kind" 1 "$rate" "$WINDOW"; else run_row "$kind" 1 0 "$IDLE_WINDOW"; fi
    done
done
if ((FILES > 0)); then
    run_row taildir "$FILES" $((FILES * FILE_RATE)) "$WINDOW"
fi
echo
echo "Per thread of the agent (and its child processes), over the same windows; threads with no"
echo "tick and under one wake-up per 2 s are left out:"
echo
printf '| row | thread | CPU %% of one core | wake-ups/s |\n'
printf '|---|---|---|---|\n'
cat "$WORK/threads.md" 2>/dev/null || true
echo
echo "CPU is counted in clock ticks (1/$HZ s): below ~1 tick per window a figure reads 0. Latency is"
echo "from a line's write(2) to its arrival at a consumer polling with fetch.wait.max.ms=10, over"
echo "every line of the run (warm-up included); the consumer's own fetch wait is part of it."
