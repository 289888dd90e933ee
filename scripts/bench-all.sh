#!/usr/bin/env bash
# The whole benchmark suite in one run, written to BENCHMARKS.md: bursts (1,000,000 x 100 B and
# 100,000 x 1 KiB; the plain producer as the ceiling, rflume's rows, rsyslog), the framework alone
# (seq -> memory -> null), steady rates with latency (idle, 100 and 10,000 lines/s, 1,000 files),
# and memory under a stalled broker; then the targets and what the figures say about them
# (benches/targets.md, written by hand from the figures). Not part of the test suite.
#
#   bash scripts/bench-all.sh                 # about 25 minutes; run it on a quiet machine
#   bash scripts/bench-all.sh --quick         # smaller inputs, 1 run each, short windows (~6 min)
#   bash scripts/bench-all.sh --out FILE      # somewhere else than BENCHMARKS.md
#
# Every figure is the median of the runs with (min-max). The machine's load when the run started
# and ended is in the header: figures taken while other work ran are not comparable.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=BENCHMARKS.md
QUICK=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --out) OUT="${2:?--out needs a file}"; shift 2 ;;
        *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
    esac
done
log() { printf '[bench-all %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cargo build --release --locked --bin rflume --example bench_raw_producer --example bench_count >&2
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if ((QUICK)); then
    RUNS=1 BURST=200000 KIB=20000 FRAMEWORK=1000000
    export WINDOW=10 IDLE_WINDOW=10 STALL=10
else
    RUNS=3 BURST=1000000 KIB=100000 FRAMEWORK=5000000
fi
load() { cut -d' ' -f1-3 /proc/loadavg; }
commas() { python3 -c "import sys; print(f'{int(sys.argv[1]):,}')" "$1"; }
started_load="$(load)"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"

burst() { # NAME ARGS...: one bench.sh report
    local dir="$TMP/$1"
    shift
    bash scripts/bench.sh --runs "$RUNS" --out "$dir" "$@" >&2
    cat "$dir"/bench-*.md
}

log "bursts: $BURST lines of 100 bytes"
burst b100 --lines "$BURST" >"$TMP/burst100.md"
log "bursts: $KIB lines of 1 KiB"
burst b1k --lines "$KIB" --line-bytes 1024 \
    --units "ceiling raw_e2e rflume_seed rflume_large rflume_taildir rsyslog" >"$TMP/burst1k.md"

log "framework: seq -> memory -> null, $FRAMEWORK events"
rates=()
for ((i = 0; i < RUNS; i++)); do
    { TIMEFORMAT=%R; time bash scripts/bench-framework.sh --events "$FRAMEWORK" >/dev/null 2>&1; } 2>"$TMP/fw.time"
    rates+=("$(awk -v n="$FRAMEWORK" '{printf "%.0f", n / $1}' "$TMP/fw.time")")
done
framework="$(python3 - "${rates[@]}" <<'EOF'
import statistics, sys
v = sorted(int(x) for x in sys.argv[1:])
out = f"{statistics.median(v):,.0f} events/s"
print(out + (f" ({v[0]:,}–{v[-1]:,})" if len(v) > 1 else ""))
EOF
)"

log "steady rates"
bash scripts/bench-steady.sh >"$TMP/steady.md"
log "stalled broker"
bash scripts/bench-stall.sh >"$TMP/stall.md"

{
    echo "# Benchmarks"
    echo
    echo "Produced by \`bash scripts/bench-all.sh$( ((QUICK)) && echo ' --quick')\` on $started,"
    echo "rflume $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'),"
    echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)."
    echo "Load average at the start: $started_load; at the end: $(load). Against the local tansu"
    echo "broker (memory storage, 1 partition, a fresh one per system and run). What each column"
    echo "means and how it is timed: \`benches/README.md\`; the scripts' own headers."
    echo
    echo "## Bursts: $(commas "$BURST") lines of 100 bytes, appended at once"
    echo
    cat "$TMP/burst100.md"
    echo
    echo "## Bursts: $(commas "$KIB") lines of 1 KiB"
    echo
    cat "$TMP/burst1k.md"
    echo
    echo "## Framework: seq → memory → null"
    echo
    echo "$(commas "$FRAMEWORK") events, batchSize 1000, whole process from start to exit, $RUNS run(s): **$framework**"
    echo "(\`bash scripts/bench-framework.sh --callgrind\` counts its instructions instead, for"
    echo "comparing two builds exactly)."
    echo
    echo "## Steady rates, idle, and 1,000 files (\`scripts/bench-steady.sh\`)"
    echo
    cat "$TMP/steady.md"
    echo
    echo "## Memory under a stalled broker (\`scripts/bench-stall.sh\`)"
    echo
    cat "$TMP/stall.md"
    echo
    cat benches/targets.md
} >"$OUT"
log "written to $OUT"
