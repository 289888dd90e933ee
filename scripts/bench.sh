#!/usr/bin/env bash
# End-to-end throughput benchmark: exec `tail -F` / TAILDIR → memory or file channel → Kafka sink,
# against a plain librdkafka producer sending the same file to the same broker in the same run (the
# ceiling); and the file channel's restart time with the whole input waiting in it.
#
#   bash scripts/bench.sh [--lines N] [--line-bytes B] [--runs R] [--out DIR] [--keep]
#
#   --lines N   lines in the generated input (default 1000000)
#   --line-bytes B  bytes per line, newline included (default 100, at least 100)
#   --units "U ..."  which rows to run (default: all of ceiling raw_e2e rflume_seed rflume_large
#               rflume_taildir rflume_file_taildir rflume_file_taildir_large rflume_file_exec replay rsyslog; rsyslog is left out with a note when scripts/install-rsyslog.sh cannot install it)
#   --runs R    repetitions; every figure is reported as median (min–max) (default 3)
#   --out DIR   where the Markdown report is written (default bench-results/, git-ignored)
#   --keep      keep the work directory (configs, logs, per-run data) instead of deleting it
#
# Environment: TANSU (a tansu 0.6.0 binary; otherwise scripts/install-tansu.sh finds or installs
# one), TMPDIR (work directory; needs ~3x the input size free), CARGO_TARGET_DIR,
# RFLUME_BENCH_EXTRA (lines appended to every rflume config, for timing a variant).
#
# What is measured, per run (a fresh memory broker per run; the systems run in a rotated order so
# none always goes first on an empty broker):
#   ceiling       bench_raw_producer FILE BOOTSTRAP TOPIC: process start → every record acked.
#                 Wall clock around the process; CPU and peak RSS from /usr/bin/time.
#   consumer      bench_count re-reading the ceiling's topic afterwards: how long the finish line
#                 itself needs for N records (part of every "until consumed" figure below).
#   raw+consumer  the raw producer again, timed like rflume: from its start until a consumer that
#                 was already connected has seen all N records.
#   rflume rows   the agent runs `tail -F` on an empty file; once tail is watching it, the whole
#                 input is appended in one `cat >>`; time from the append until a consumer that was
#                 already connected has seen all N records. CPU = the agent's utime+stime delta
#                 (/proc/PID/stat, threads included, child processes not) over that interval; peak
#                 RSS = VmHWM at the end. File channel rows also give fsyncs/s: the channel's own
#                 fsyncs (its log line at close) over the timed interval.
#   replay        the file channel holding all N lines (exec `cat` into it, the broker
#                 unreachable), the agent stopped and started again: the replay time the agent
#                 logs ("replayed N waiting events ... in X ms"), data in the page cache.
# Correctness is checked inside the benchmark: every consumer must see exactly N records, each
# line byte-identical and exactly once (no duplicates, nothing missing), or the script fails.
#
# Figures vary ±30 % between runs on shared 2-core machines: compare the ratio to the ceiling
# (taken pairwise within a run), not absolute seconds across machines or days.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

LINES=1000000
LINE_BYTES=100
UNIT_LIST=""
RUNS=3
OUT="$ROOT/bench-results"
KEEP=0
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --lines) LINES="${2:?--lines needs a value}"; shift 2 ;;
        --line-bytes) LINE_BYTES="${2:?--line-bytes needs a value}"; shift 2 ;;
        --units) UNIT_LIST="${2:?--units needs a value}"; shift 2 ;;
        --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
        --out) OUT="${2:?--out needs a value}"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ "$LINES" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --lines must be a positive integer" >&2; exit 2; }
[[ "$LINE_BYTES" =~ ^[1-9][0-9]*$ ]] && ((LINE_BYTES >= 100)) \
    || { echo "bench: --line-bytes must be an integer of at least 100" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --runs must be a positive integer" >&2; exit 2; }

started=$SECONDS
log() { printf '[bench %4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "/usr/bin/time is missing: installing Debian package 'time' (apt-get install -y time)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >&2 \
            || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >&2; } \
            || die "could not install /usr/bin/time"
    else
        die "/usr/bin/time is missing (Debian package 'time')"
    fi
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed for free ports and the summary"
CLK_TCK="$(getconf CLK_TCK)"

log "building release binaries"
cargo build --release --bin rflume --example bench_raw_producer --example bench_count >&2 \
    || die "cargo build failed"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RFLUME="$TARGET/release/rflume"
RAW="$TARGET/release/examples/bench_raw_producer"
COUNT="$TARGET/release/examples/bench_count"

TANSU="$(bash scripts/install-tansu.sh)" || die "no tansu broker"
log "tansu: $TANSU"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rflume-bench.XXXXXX")"
INPUT="$WORK/input.log"
RESULTS="$WORK/results.tsv"   # system run lines seconds cpu_s rss_kib max_gap_s max_gap_after fsyncs
THREADS="$WORK/threads.tsv"   # system run thread cpu_s
: >"$RESULTS"
: >"$THREADS"

# ---------------------------------------------------------------------------------------------
# Processes we started, stopped on any exit (by pid only)
# ---------------------------------------------------------------------------------------------
BROKER_PID=""
AGENT_PID=""
CONS_PID=""
stop_pid() { # PID GRACE_SECONDS: SIGTERM, then SIGKILL after the grace period
    local pid="$1" grace="$2" i
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    stop_pid "$CONS_PID" 1
    stop_pid "$AGENT_PID" 5
    # tansu ignores SIGTERM while clients are connected: short grace, then SIGKILL.
    stop_pid "$BROKER_PID" 2
    if [[ $KEEP -eq 1 || $rc -ne 0 ]]; then
        log "work directory kept: $WORK"
        rm -f "$WORK"/in-*.log
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------
# Input: deterministic, N lines of exactly LINE_BYTES bytes (newline included), each starting with its
# 10-digit index, which bench_count uses to check every line arrives once and intact.
# ---------------------------------------------------------------------------------------------
log "generating $LINES lines of $LINE_BYTES bytes"
awk -v n="$LINES" -v width="$LINE_BYTES" 'BEGIN {
    pad = ""
    while (length(pad) < width) pad = pad "................................................................"
    split("GET POST PUT GET GET DELETE GET", verb, " ")
    for (i = 0; i < n; i++) {
        ms = i % 1000; s = int(i / 1000) % 60; m = int(i / 60000) % 60; h = int(i / 3600000) % 24
        line = sprintf("%010d 2025-01-01T%02d:%02d:%02d.%03dZ INFO [w-%d] %-6s /api/items/%06d status=%d bytes=%05d",
            i, h, m, s, ms, i % 8, verb[i % 7 + 1], (i * 7919) % 1000000, (i % 50 == 0) ? 500 : 200, (i * 31) % 65536)
        printf "%s %s\n", line, substr(pad, 1, width - 2 - length(line))
    }
}' >"$INPUT"
BYTES=$(stat -c %s "$INPUT")
[[ $(wc -l <"$INPUT") -eq $LINES && $BYTES -eq $((LINES * LINE_BYTES)) ]] \
    || die "generated input is not $LINES lines of $LINE_BYTES bytes"
log "input: $INPUT ($BYTES bytes)"
# Generous bounds for one measurement: a stuck pipeline fails the run instead of hanging it.
CONSUME_TIMEOUT=$((60 + LINES / 5000))

# ---------------------------------------------------------------------------------------------
# Broker
# ---------------------------------------------------------------------------------------------
PORT=""
BOOT=""
start_broker() { # RUN
    PORT="$(free_port)"
    BOOT="127.0.0.1:$PORT"
    (cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://$BOOT" \
        --advertised-listener-url "tcp://$BOOT" --storage-engine memory://tansu/) \
        >"$WORK/broker-$1.log" 2>&1 &
    BROKER_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited: $(tail -5 "$WORK/broker-$1.log")"
        sleep 0.05
    done
    die "broker not listening on $BOOT after 10 s"
}
create_topic() {
    "$TANSU" topic create "$1" --broker "tcp://$BOOT" --partitions 1 >>"$WORK/topics.log" 2>&1 \
        || die "cannot create topic $1: $(tail -3 "$WORK/topics.log")"
}

# ---------------------------------------------------------------------------------------------
# Consumer (the finish line)
# ---------------------------------------------------------------------------------------------
start_consumer() { # TOPIC OUTFILE: starts bench_count and waits until it is caught up
    local topic="$1" out="$2" i
    "$COUNT" "$BOOT" "$topic" "$LINES" --verify "$INPUT" --timeout-s "$CONSUME_TIMEOUT" \
        >"$out" 2>"$out.err" &
    CONS_PID=$!
    for ((i = 0; i < 600; i++)); do
        grep -q '^ready' "$out" 2>/dev/null && return 0
        kill -0 "$CONS_PID" 2>/dev/null || die "consumer exited early: $(cat "$out.err")"
        sleep 0.05
    done
    die "consumer of $topic not ready after 30 s"
}
# A sleep without a process: waiting on a pipe that never has data. The timed loops below use only
# builtins, so the benchmark's own polling does not take CPU from the system under test.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _ || true; }
wait_done() { # OUTFILE: returns as soon as the consumer has seen N records (or exited)
    local fd line="" part
    exec {fd}<"$1"
    while :; do
        while IFS= read -r part <&"$fd"; do
            line+="$part"
            [[ "$line" == done* ]] && { exec {fd}<&-; return 0; }
            line=""
        done
        line+="$part" # an unterminated line so far
        kill -0 "$CONS_PID" 2>/dev/null || { exec {fd}<&-; return 0; }
        nap 0.01
    done
}
finish_consumer() { # OUTFILE LABEL: waits for the duplicate check; fails loudly on a wrong count
    local out="$1" label="$2" rc=0
    wait "$CONS_PID" || rc=$?
    CONS_PID=""
    if [[ $rc -ne 0 ]]; then
        log "consumer report for $label: $(tail -1 "$out")"
        die "$label: the consumer did not see exactly $LINES intact records, each once ($(tail -2 "$out.err" | tr '\n' ' '))"
    fi
}
field() { # KEY FILE: value of KEY=... in the last line of FILE that has it
    grep -o "\b$1=[^ ]*" "$2" | tail -1 | cut -d= -f2
}
ns_to_s() { python3 -c "print(f'{($1) / 1e9:.3f}')"; }

# ---------------------------------------------------------------------------------------------
# /proc sampling
# ---------------------------------------------------------------------------------------------
cpu_ticks() { # PID: utime+stime in clock ticks
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
    s="${s##*) }"
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
thread_ticks() { # PID: "tid ticks name" per thread
    local t s name
    for t in /proc/"$1"/task/*; do
        read -r s 2>/dev/null <"$t/stat" || continue
        read -r name 2>/dev/null <"$t/comm" || continue
        s="${s##*) }"
        # shellcheck disable=SC2086
        set -- $s
        echo "${t##*/} $((${12} + ${13})) $name"
    done
}
descendants() { # ROOT: "pid name" of every process below ROOT (children, grandchildren, ...)
    local -A parent=() name=() inside=()
    local root="$1" p s pid rest changed=1
    for p in /proc/[0-9]*; do
        read -r s 2>/dev/null <"$p/stat" || continue
        pid="${p#/proc/}"
        rest="${s##*) }"
        s="${s#* (}"
        name[$pid]="${s%) *}"
        # shellcheck disable=SC2086
        set -- $rest
        parent[$pid]="$2"
    done
    inside[$root]=1
    while [[ $changed -eq 1 ]]; do
        changed=0
        for pid in "${!parent[@]}"; do
            if [[ -z "${inside[$pid]:-}" && -n "${inside[${parent[$pid]}]:-}" ]]; then
                inside[$pid]=1
                changed=1
                echo "$pid ${name[$pid]}"
            fi
        done
    done
}

machine_busy_ticks() { # busy clock ticks of all CPUs together, from /proc/stat
    local user nice system irq softirq steal
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

record() { # SYSTEM RUN SECONDS CPU_S RSS_KIB [CONSUMER_OUTPUT] [FSYNCS] [LINES]
    local gap="" after=""
    if [[ -n "${6:-}" ]]; then
        gap="$(field max_gap_s "$6")"
        after="$(field max_gap_after "$6")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${8:-$LINES}" "$3" "$4" "$5" "$gap" "$after" "${7:-}" >>"$RESULTS"
}

# ---------------------------------------------------------------------------------------------
# The systems
# ---------------------------------------------------------------------------------------------
run_ceiling() { # RUN: the raw producer alone, then the consumer alone on its topic
    local run="$1" topic="raw-$1" out="$WORK/raw-$1" t0 t1
    create_topic "$topic"
    t0=$(date +%s%N)
    /usr/bin/time -f '%e %U %S %M' -o "$out.time" "$RAW" "$INPUT" "$BOOT" "$topic" \
        >"$out.out" 2>"$out.err" || die "raw producer failed: $(tail -3 "$out.err")"
    t1=$(date +%s%N)
    [[ "$(field acked "$out.out")" == "$LINES" ]] || die "raw producer: $(cat "$out.out")"
    local user sys rss
    read -r _ user sys rss <"$out.time"
    local secs cpu
    secs=$(ns_to_s "$t1 - $t0")
    cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
    record ceiling "$run" "$secs" "$cpu" "$rss"
    log "run $run: ceiling (raw producer): ${secs} s, cpu ${cpu} s, rss ${rss} KiB"

    # The consumer alone, on the complete topic.
    local c="$WORK/consumer-$1"
    /usr/bin/time -f '%e %U %S %M' -o "$c.time" "$COUNT" "$BOOT" "$topic" "$LINES" \
        --verify "$INPUT" --timeout-s "$CONSUME_TIMEOUT" >"$c.out" 2>"$c.err" \
        || die "consumer-only re-read of $topic: $(tail -1 "$c.out") $(tail -2 "$c.err")"
    read -r _ user sys rss <"$c.time"
    secs=$(field elapsed_s "$c.out")
    cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
    record consumer "$run" "$secs" "$cpu" "$rss"
    log "run $run: consumer only: ${secs} s"
}

run_raw_e2e() { # RUN: the raw producer, timed until an already connected consumer saw everything
    local run="$1" topic="rawe2e-$1" out="$WORK/rawe2e-$1" t0
    create_topic "$topic"
    start_consumer "$topic" "$out.consumer"
    t0=$(date +%s%N)
    /usr/bin/time -f '%e %U %S %M' -o "$out.time" "$RAW" "$INPUT" "$BOOT" "$topic" \
        >"$out.out" 2>"$out.err" || die "raw producer failed: $(tail -3 "$out.err")"
    wait_done "$out.consumer"
    finish_consumer "$out.consumer" "raw producer + consumer"
    local user sys rss secs cpu
    read -r _ user sys rss <"$out.time"
    secs=$(ns_to_s "$(field done_epoch_ns "$out.consumer") - $t0")
    cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
    record raw_e2e "$run" "$secs" "$cpu" "$rss" "$out.consumer"
    log "run $run: raw producer until consumed: ${secs} s"
}

channel_and_sink() { # FILE TOPIC TX_CAPACITY SINK_BATCH [FILE_CHANNEL_DIR] [BOOTSTRAP]
    if [[ -n "${5:-}" ]]; then
        # Flume's file channel defaults (capacity 1000000, fsyncPerTransaction) but for the
        # transaction capacity, which must hold a source batch.
        cat >>"$1" <<EOF

a1.channels.c1.type = file
a1.channels.c1.checkpointDir = $5/checkpoint
a1.channels.c1.dataDirs = $5/data
a1.channels.c1.transactionCapacity = $3
EOF
    else
        cat >>"$1" <<EOF

a1.channels.c1.type = memory
a1.channels.c1.capacity = 10000
a1.channels.c1.transactionCapacity = $3
EOF
    fi
    cat >>"$1" <<EOF

a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink
a1.sinks.k1.kafka.bootstrap.servers = ${6:-$BOOT}
a1.sinks.k1.kafka.topic = $2
a1.sinks.k1.kafka.producer.acks = 1
a1.sinks.k1.flumeBatchSize = $4
a1.sinks.k1.channel = c1
EOF
    # Experiments: RFLUME_BENCH_EXTRA's lines (e.g. a producer setting) end every rflume config,
    # so a variant can be timed against the same ceiling without editing this script.
    if [[ -n "${RFLUME_BENCH_EXTRA:-}" ]]; then
        printf '%s\n' "$RFLUME_BENCH_EXTRA" >>"$1"
    fi
}

write_conf() { # FILE INPUT TOPIC EXEC_BATCH TX_CAPACITY SINK_BATCH [EXEC_BATCH_TIMEOUT_MS] [FILE_CHANNEL_DIR] [COMMAND] [BOOTSTRAP]
    cat >"$1" <<EOF
# Written by scripts/bench.sh
a1.sources = r1
a1.channels = c1
a1.sinks = k1

a1.sources.r1.type = exec
a1.sources.r1.command = ${9:-tail -F $2}
a1.sources.r1.batchSize = $4
${7:+a1.sources.r1.batchTimeout = $7}
a1.sources.r1.channels = c1
EOF
    channel_and_sink "$1" "$3" "$5" "$6" "${8:-}" "${10:-}"
}

write_taildir_conf() { # FILE INPUT TOPIC BATCH TX_CAPACITY SINK_BATCH [FILE_CHANNEL_DIR]
    cat >"$1" <<EOF
# Written by scripts/bench.sh
a1.sources = r1
a1.channels = c1
a1.sinks = k1

a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = $(dirname "$2")/$(basename "$2" | sed 's/[.]/\\./g')
a1.sources.r1.positionFile = $1.positions.json
a1.sources.r1.batchSize = $4
a1.sources.r1.channels = c1
EOF
    channel_and_sink "$1" "$3" "$5" "$6" "${7:-}"
}

run_rflume() { # SYSTEM RUN EXEC_BATCH TX_CAPACITY SINK_BATCH [EXEC_BATCH_TIMEOUT_MS]
    local system="$1" run="$2"
    local base="$WORK/$system-$run" topic="$system-$run" in="$WORK/in-$system-$run.log"
    create_topic "$topic"
    : >"$in"
    local taildir="" filech="" level=WARN
    [[ "$system" == *taildir* ]] && taildir=1
    # File channel rows: its directories in the run's work directory; INFO for its fsync count.
    [[ "$system" == rflume_file_* ]] && filech="$base.channel"
    [[ -n "$taildir$filech" ]] && level=INFO
    if [[ -n "$taildir" ]]; then
        write_taildir_conf "$base.conf" "$in" "$topic" "$3" "$4" "$5" "$filech"
    else
        write_conf "$base.conf" "$in" "$topic" "$3" "$4" "$5" "${6:-}" "$filech"
    fi
    "$RFLUME" agent --conf-file "$base.conf" --name a1 -Dflume.root.logger="$level,console" \
        >"$base.agent.log" 2>&1 &
    AGENT_PID=$!

    # Running = its `tail -F` (a child, or a grandchild under a guard process) has the (empty)
    # file open and watches it with inotify; an append before that could be taken for old
    # content and skipped.
    local tail_pid="" i fds=""
    # TAILDIR: the (empty) input exists before the agent starts, so it is tracked from offset 0
    # whenever the append lands; running = the agent says it started.
    for ((i = 0; i < 300 && ${taildir:-0} == 1; i++)); do
        kill -0 "$AGENT_PID" 2>/dev/null || die "$system: agent exited: $(tail -5 "$base.agent.log")"
        grep -q "agent a1 started" "$base.agent.log" 2>/dev/null && break
        sleep 0.05
    done
    for ((i = 0; i < 300 && ${taildir:-0} != 1; i++)); do
        kill -0 "$AGENT_PID" 2>/dev/null || die "$system: agent exited: $(tail -5 "$base.agent.log")"
        if [[ -z "$tail_pid" ]]; then
            tail_pid="$(descendants "$AGENT_PID" | awk '$2 == "tail" {print $1; exit}')"
        fi
        if [[ -n "$tail_pid" ]]; then
            fds="$(ls -l "/proc/$tail_pid/fd" 2>/dev/null)" || fds=""
            if [[ "$fds" == *"$in"* && "$fds" == *inotify* ]]; then
                break
            fi
        fi
        sleep 0.05
    done
    if [[ -z "$taildir" ]]; then
        [[ -n "$tail_pid" ]] || die "$system: no tail child of the agent after 15 s"
        [[ "$fds" == *inotify* ]] || log "$system: tail does not use inotify; continuing anyway"
    fi

    start_consumer "$topic" "$base.consumer"
    sleep 0.2
    thread_ticks "$AGENT_PID" >"$base.threads0"
    descendants "$AGENT_PID" >"$base.children"
    local a0 t0 pid name
    while read -r pid name; do
        echo "$pid $(cpu_ticks "$pid") $name"
    done <"$base.children" >"$base.children0"
    local b0 c0 m0
    b0=$(cpu_ticks "$BROKER_PID")
    c0=$(cpu_ticks "$CONS_PID")
    m0=$(machine_busy_ticks)
    a0=$(cpu_ticks "$AGENT_PID")
    t0=$(date +%s%N)
    cat "$INPUT" >>"$in"
    wait_done "$base.consumer"
    local a1 hwm b1 c1 m1
    a1=$(cpu_ticks "$AGENT_PID")
    m1=$(machine_busy_ticks)
    b1=$(cpu_ticks "$BROKER_PID")
    c1=$(cpu_ticks "$CONS_PID")
    while read -r pid name; do
        echo "$pid $(cpu_ticks "$pid") $name"
    done <"$base.children" >"$base.children1"
    thread_ticks "$AGENT_PID" >"$base.threads1"
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null || echo 0)
    kill -0 "$AGENT_PID" 2>/dev/null || die "$system: agent died during the run: $(tail -5 "$base.agent.log")"
    finish_consumer "$base.consumer" "$system"

    local secs cpu
    secs=$(ns_to_s "$(field done_epoch_ns "$base.consumer") - $t0")
    cpu=$(python3 -c "print(f'{($a1 - $a0) / $CLK_TCK:.2f}')")
    # CPU over the interval per agent thread (what `top -H` shows), per child process (`tail -F`,
    # any guard between; not part of the agent's figure), and of everything else sharing the
    # cores: is the machine saturated?
    {
        awk -v sys="$system" -v run="$run" -v hz="$CLK_TCK" '
            NR == FNR { before[$1] = $2; next }
            { name = $3; for (i = 4; i <= NF; i++) name = name " " $i
              d[name] += $2 - before[$1] }
            END { for (n in d) printf "%s\t%s\t%s\t%.2f\n", sys, run, n, d[n] / hz }
        ' "$base.threads0" "$base.threads1"
        awk -v sys="$system" -v run="$run" -v hz="$CLK_TCK" '
            NR == FNR { before[$1] = $2; next }
            { name = $3; for (i = 4; i <= NF; i++) name = name " " $i
              printf "%s\t%s\t(child process: %s)\t%.2f\n", sys, run, name, ($2 - before[$1]) / hz }
        ' "$base.children0" "$base.children1"
        printf '%s\t%s\t(other process: tansu broker)\t%s\n' "$system" "$run" \
            "$(python3 -c "print(f'{($b1 - $b0) / $CLK_TCK:.2f}')")"
        printf '%s\t%s\t(other process: bench_count consumer)\t%s\n' "$system" "$run" \
            "$(python3 -c "print(f'{($c1 - $c0) / $CLK_TCK:.2f}')")"
        printf '%s\t%s\t(whole machine: busy CPU s, all processes)\t%s\n' "$system" "$run" \
            "$(python3 -c "print(f'{($m1 - $m0) / $CLK_TCK:.2f}')")"
        printf '%s\t%s\t(whole machine: cores x seconds available)\t%s\n' "$system" "$run" \
            "$(python3 -c "print(f'{$(nproc) * $secs:.2f}')")"
    } >>"$THREADS"
    log "run $run: $system: ${secs} s, agent cpu ${cpu} s, peak rss ${hwm} KiB"

    local rc=0
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for ((i = 0; i < 400; i++)); do
        kill -0 "$AGENT_PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$AGENT_PID" 2>/dev/null; then
        log "$system: agent still running 20 s after SIGTERM; killing it"
        kill -KILL "$AGENT_PID" 2>/dev/null || true
    fi
    wait "$AGENT_PID" || rc=$?
    AGENT_PID=""
    [[ $rc -eq 0 ]] || log "$system: agent exited with status $rc after SIGTERM (see $base.agent.log)"
    local fsyncs=""
    if [[ -n "$filech" ]]; then
        # "file channel c1: closed with 0 events on disk; 1234 fsyncs, ..."
        fsyncs="$(grep -o '[0-9]* fsyncs' "$base.agent.log" | tail -1 | cut -d' ' -f1)"
        [[ -n "$fsyncs" ]] || log "$system: no fsync count in $base.agent.log"
        rm -rf "$filech"
    fi
    record "$system" "$run" "$secs" "$cpu" "$hwm" "$base.consumer" "$fsyncs"
    rm -f "$in"
}

# rsyslog imfile → omkafka (Debian's packages on a librdkafka ≥ 2.2, scripts/install-rsyslog.sh),
# timed like the rflume rows: one append to a file it already follows, until the consumer saw all.
# The template sends the line alone (%msg%), so the consumer checks every byte as for rflume.
run_rsyslog() { # RUN
    local run="$1" system=rsyslog
    local base="$WORK/$system-$run" topic="$system-$run" in="$WORK/in-$system-$run.log"
    create_topic "$topic"
    : >"$in"
    mkdir -p "$base.work"
    cat >"$base.conf" <<EOF
# Written by scripts/bench.sh
global(workDirectory="$base.work")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="line" type="string" string="%msg%")
input(type="imfile" File="$in" Tag="bench" ruleset="tokafka" freshStartTail="off")
ruleset(name="tokafka") {
  action(type="omkafka" broker=["$BOOT"] topic="$topic" template="line" partitions.number="1"
         confParam=["linger.ms=5", "batch.num.messages=10000", "acks=1"])
}
EOF
    LD_LIBRARY_PATH="$RSYSLOG_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        /usr/sbin/rsyslogd -n -f "$base.conf" -i "$base.pid" >"$base.agent.log" 2>&1 &
    AGENT_PID=$!
    # Following = rsyslogd holds the (empty) input open.
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$AGENT_PID" 2>/dev/null || die "rsyslog exited: $(tail -5 "$base.agent.log")"
        ls -l "/proc/$AGENT_PID/fd" 2>/dev/null | grep -qF "$in" && break
        sleep 0.05
    done
    start_consumer "$topic" "$base.consumer"
    sleep 0.2
    local a0 a1 t0 hwm
    a0=$(cpu_ticks "$AGENT_PID")
    t0=$(date +%s%N)
    cat "$INPUT" >>"$in"
    wait_done "$base.consumer"
    a1=$(cpu_ticks "$AGENT_PID")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null || echo 0)
    finish_consumer "$base.consumer" "$system"
    local secs cpu
    secs=$(ns_to_s "$(field done_epoch_ns "$base.consumer") - $t0")
    cpu=$(python3 -c "print(f'{($a1 - $a0) / $CLK_TCK:.2f}')")
    log "run $run: $system: ${secs} s, cpu ${cpu} s, peak rss ${hwm} KiB"
    stop_pid "$AGENT_PID" 5
    AGENT_PID=""
    record "$system" "$run" "$secs" "$cpu" "$hwm" "$base.consumer"
    rm -rf "$in" "$base.work"
}

wait_log() { # FILE PATTERN SECONDS: until FILE contains PATTERN (fails the run otherwise)
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$AGENT_PID" 2>/dev/null || die "agent exited: $(tail -5 "$1")"
        sleep 0.05
    done
    die "no '$2' in $1 after $3 s"
}

stop_agent() { # SIGTERM with --drain-timeout 0: the broker is unreachable, nothing drains
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
}

evict_from_cache() { # DIR: drops DIR's files from the page cache (theirs only), as after a reboot
    python3 - "$1" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        fd = os.open(os.path.join(root, name), os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}

replay_once() { # RUN LABEL CONF: starts the agent on the filled channel; records its replay time
    local run="$1" label="$2" conf="$3" logf="$WORK/replay-$1-$2.log"
    "$RFLUME" agent --conf-file "$conf" --name a1 --drain-timeout 0 -Dflume.root.logger=INFO,console \
        >"$logf" 2>&1 &
    AGENT_PID=$!
    wait_log "$logf" "replayed [0-9]* waiting events" 300
    local line events ms
    line="$(grep -o 'replayed [0-9]* waiting events.* in [0-9]* ms' "$logf" | head -1)"
    events="$(echo "$line" | awk '{print $2}')"
    ms="$(echo "$line" | grep -o 'in [0-9]* ms' | awk '{print $2}')"
    stop_agent
    [[ "$events" -ge "$LINES" ]] || die "replay: the channel held $events events, not $LINES (see $logf)"
    record "replay_$label" "$run" "$(python3 -c "print(f'{$ms / 1000:.3f}')")" 0 0 "" "" "$events"
    log "run $run: replay ($label page cache) of $events events: $ms ms ($line)"
}

run_replay() { # RUN: a file channel holding the whole input, restarted: how long is the replay?
    local run="$1" base="$WORK/replay-$1"
    # Port 1, where nothing listens: the sink cannot deliver, the channel keeps everything.
    write_conf "$base.conf" "$INPUT" "replay" 1000 1000 1000 100 "$base.channel" "cat $INPUT" "127.0.0.1:1"
    echo "a1.channels.c1.capacity = $((LINES > 1000000 ? LINES : 1000000))" >>"$base.conf"
    "$RFLUME" agent --conf-file "$base.conf" --name a1 --drain-timeout 0 -Dflume.root.logger=INFO,console \
        >"$base.fill.log" 2>&1 &
    AGENT_PID=$!
    wait_log "$base.fill.log" "exited with 0" "$CONSUME_TIMEOUT"
    stop_agent
    # After a power loss nothing is cached; after a crash of the agent alone, everything is.
    evict_from_cache "$base.channel"
    replay_once "$run" cold "$base.conf"
    replay_once "$run" warm "$base.conf"
    rm -rf "$base.channel"
}

run_unit() { # UNIT RUN
    case "$1" in
        ceiling) run_ceiling "$2" ;;
        raw_e2e) run_raw_e2e "$2" ;;
        # The seed's flume_kafka.conf: exec batchSize default 20, memory 10000/100, sink batch 20.
        rflume_seed) run_rflume rflume_seed "$2" 20 100 20 ;;
        # Larger batches. batchTimeout 100 ms: with the default 3000 the last partial exec batch
        # of the burst waits 3 s for its timeout (as in Flume), which would dominate the figure.
        rflume_large) run_rflume rflume_large "$2" 1000 1000 1000 100 ;;
        # TAILDIR with Flume's default batchSize 100, memory 10000/100, sink batch 100.
        rflume_taildir) run_rflume rflume_taildir "$2" 100 100 100 ;;
        # The file channel (one fsync per put): TAILDIR with Flume's default batchSize 100 and
        # with 1000, exec with large batches.
        rflume_file_taildir) run_rflume rflume_file_taildir "$2" 100 100 100 ;;
        rflume_file_taildir_large) run_rflume rflume_file_taildir_large "$2" 1000 1000 1000 ;;
        rflume_file_exec) run_rflume rflume_file_exec "$2" 1000 1000 1000 100 ;;
        replay) run_replay "$2" ;;
        rsyslog) run_rsyslog "$2" ;;
    esac
}

ALL_UNITS=(ceiling raw_e2e rflume_seed rflume_large rflume_taildir rflume_file_taildir rflume_file_taildir_large rflume_file_exec replay rsyslog)
if [[ -n $UNIT_LIST ]]; then
    read -r -a UNITS <<<"$UNIT_LIST"
    for u in "${UNITS[@]}"; do
        [[ " ${ALL_UNITS[*]} " == *" $u "* ]] || die "--units: unknown row $u (known: ${ALL_UNITS[*]})"
    done
else
    UNITS=("${ALL_UNITS[@]}")
fi
# rsyslog: left out, with the reason in the report, when it cannot be installed here.
RSYSLOG_NOTE=""
if [[ " ${UNITS[*]} " == *" rsyslog "* ]]; then
    if RSYSLOG_LIBS="$(bash scripts/install-rsyslog.sh 2>"$WORK/rsyslog-install.log")"; then
        log "rsyslog: /usr/sbin/rsyslogd with librdkafka from $RSYSLOG_LIBS"
    else
        RSYSLOG_NOTE="rsyslog row left out: $(tail -1 "$WORK/rsyslog-install.log")"
        log "$RSYSLOG_NOTE"
        read -r -a UNITS <<<"$(printf '%s\n' "${UNITS[@]}" | grep -vx rsyslog | tr '\n' ' ')"
    fi
fi
for ((run = 1; run <= RUNS; run++)); do
    start_broker "$run"
    log "run $run/$RUNS: broker on $BOOT (pid $BROKER_PID)"
    for ((u = 0; u < ${#UNITS[@]}; u++)); do
        run_unit "${UNITS[$(((u + run - 1) % ${#UNITS[@]}))]}" "$run"
    done
    stop_pid "$BROKER_PID" 2
    BROKER_PID=""
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
mkdir -p "$OUT"
REPORT="$OUT/bench-$(date +%Y%m%d-%H%M%S).md"
python3 - "$RESULTS" "$THREADS" "$LINES" "$BYTES" "$RUNS" >"$REPORT" <<'EOF'
import statistics, sys
from collections import defaultdict

results, threads, lines, nbytes, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
LABELS = [
    ("ceiling", "raw rdkafka producer — the ceiling (start → all acked)"),
    ("raw_e2e", "raw rdkafka producer, start → consumer saw all"),
    ("consumer", "consumer only (re-reads the ceiling's topic)"),
    ("rflume_seed", "rflume, seed config: exec batch 20, memory 10000/100, flumeBatchSize 20"),
    ("rflume_large", "rflume, large batches: exec batch 1000 (batchTimeout 100 ms), memory 10000/1000, flumeBatchSize 1000"),
    ("rflume_taildir", "rflume, TAILDIR: batchSize 100, memory 10000/100, flumeBatchSize 100"),
    ("rflume_file_taildir", "rflume, TAILDIR → file channel: batchSize 100, transactionCapacity 100, flumeBatchSize 100"),
    ("rflume_file_taildir_large", "rflume, TAILDIR → file channel: batchSize 1000, transactionCapacity 1000, flumeBatchSize 1000"),
    ("rflume_file_exec", "rflume, exec → file channel: exec batch 1000 (batchTimeout 100 ms), transactionCapacity 1000, flumeBatchSize 1000"),
    ("rsyslog", "rsyslog imfile → omkafka (Debian's rsyslog 8 on librdkafka from rdkafka-sys; linger.ms 5, batch.num.messages 10000, acks 1)"),
]
rows = defaultdict(dict)  # system -> run -> (secs, cpu, rss_kib)
gaps = defaultdict(dict)  # system -> run -> (max gap s, records before it)
fsyncs = defaultdict(dict)  # system -> run -> fsyncs
replays = defaultdict(dict)  # cold|warm -> run -> (events, seconds)
for line in open(results):
    system, run, n, secs, cpu, rss, gap, after, fs = line.rstrip("\n").split("\t")
    if system.startswith("replay_"):
        replays[system[len("replay_"):]][run] = (int(n), float(secs))
        continue
    rows[system][run] = (float(secs), float(cpu), float(rss))
    if gap:
        gaps[system][run] = (float(gap), int(after))
    if fs:
        fsyncs[system][run] = int(fs)

def cell(values, fmt):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(values[0])}–{fmt.format(values[-1])})"

print(f"{lines:,} lines, {nbytes / 1e6:.1f} MB, {runs} run(s); median (min–max)\n")
print("| system | lines | seconds | lines/s | MB/s | CPU s | CPU s per million lines | peak RSS MB | fsyncs/s | ratio to ceiling (lines/s) | ratio to raw+consumer |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
ceiling = rows.get("ceiling", {})
same_method = rows.get("raw_e2e", {})
for key, label in LABELS:
    r = rows.get(key)
    if not r:
        continue
    secs = [v[0] for v in r.values()]
    lps = [lines / v[0] for v in r.values()]
    mbs = [nbytes / 1e6 / v[0] for v in r.values()]
    cpu = [v[1] for v in r.values()]
    rss = [v[2] / 1024 for v in r.values()]
    if key == "consumer":
        ratio = same = "—"
    else:
        ratio = "1 (reference)" if key == "ceiling" else cell(
            [ceiling[run][0] / r[run][0] for run in r if run in ceiling], "{:.2f}")
        same = "—" if key == "ceiling" else "1 (reference)" if key == "raw_e2e" else cell(
            [same_method[run][0] / r[run][0] for run in r if run in same_method], "{:.2f}")
    fs = fsyncs.get(key)
    fps = cell([fs[run] / r[run][0] for run in fs if run in r], "{:,.0f}") if fs else "—"
    print(f"| {label} | {lines:,} | {cell(secs, '{:.2f}')} | {cell(lps, '{:,.0f}')} | {cell(mbs, '{:.1f}')} "
          f"| {cell(cpu, '{:.2f}')} | {cell([c * 1e6 / lines for c in cpu], '{:.2f}')} | {cell(rss, '{:.0f}')} | {fps} | {ratio} | {same} |")
for how, what in (("cold", "its files not in the page cache (as after a power loss)"),
                  ("warm", "its files in the page cache (as after a crash of the agent alone)")):
    r = replays.get(how)
    if r:
        ev = min(v[0] for v in r.values())
        print(f"\nFile channel restart with {ev:,} events waiting in it, {what}: replay in"
              f" {cell([v[1] for v in r.values()], '{:.3f}')} s (the time the agent logs)")

print("""
- seconds: the ceiling is the producer process from start to its last acknowledgement; "consumer
  only" is bench_count from connecting to its N-th record on a complete topic; every other row runs
  from the start of the producer (raw) or the one `cat >>` append (rflume) until an already
  connected consumer has seen all N records, so it includes the consumer's lag.
- ratio to ceiling: that row's lines/s over the ceiling's, pair by pair within a run, then median
  (min–max). ratio to raw+consumer: the same against the raw producer timed like rflume (start →
  consumer saw all, consumer running concurrently on the same cores): the like-for-like comparison.
- CPU s: user+sys of the producer process (raw rows, /usr/bin/time) or of the agent process over the
  timed interval (rflume rows, /proc/PID/stat; its child processes are listed separately below).
  Consumer row: the whole bench_count process, including loading its verification copy of the file.
- peak RSS MB (MiB): /usr/bin/time's maximum RSS (raw), VmHWM at the end (rflume). The consumer's
  includes its in-memory copy of the input used to verify every record.
- MB/s counts the input file's bytes, newlines included (MB = 10^6 bytes).
- fsyncs/s: the file channel's own fsyncs (the count it logs at close: group commits, segment
  creation, checkpoints) over the timed interval; TAILDIR's position file writes are not in it.
- Every consumer saw exactly N records, each line byte-identical and exactly once.""")

print("\nLongest pause between two consecutive records at the consumer, per run (seconds, after how many"
      " records): a long one means the pipeline waited for a timeout rather than ran slowly.\n")
for key, label in LABELS:
    if key in gaps:
        g = gaps[key]
        print(f"- {label}: " + ", ".join(f"{g[r][0]:.3f} s after {g[r][1]:,}" for r in sorted(g, key=int)))

per = defaultdict(lambda: defaultdict(list))
for line in open(threads):
    system, run, name, cpu = line.rstrip("\n").split("\t")
    per[system][name].append(float(cpu))
for key, label in LABELS:
    if key not in per:
        continue
    print(f"\nCPU seconds over the timed interval, {label} (median over runs): the agent's threads,"
          " its child processes, and the rest of the machine\n")
    print("| thread / process | CPU s |")
    print("|---|---|")
    rank = lambda name: next((i for i, p in enumerate(("(child", "(other", "(whole")) if name.startswith(p)), -1)
    items = sorted(per[key].items(), key=lambda kv: (rank(kv[0]), -statistics.median(kv[1])))
    for name, values in items:
        med = statistics.median(values)
        if med >= 0.01:
            print(f"| {name} | {med:.2f} |")
EOF
{
    echo
    [[ -z $RSYSLOG_NOTE ]] || echo "$RSYSLOG_NOTE"
    echo "Machine: $(nproc) cores, $(uname -sr); rflume $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); $("$TANSU" --version 2>&1 | head -1) memory storage, 1 partition."
} >>"$REPORT"
cat "$REPORT"
log "report written to $REPORT (total $((SECONDS - started)) s)"
