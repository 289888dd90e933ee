#!/usr/bin/env bash
# Where the seed pipeline's resident memory is, idle and after a burst: VmRSS/VmHWM split into
# RssAnon (heap, stacks: what the configuration's data takes) and RssFile (mapped files: the
# binary's own code pages and libc), and the largest mappings by name. The seed config
# (conf/flume_kafka.conf: exec tail -F, memory 10000/100, Kafka sink batchSize 20) runs against
# a fresh local tansu broker; LINES lines of 100 bytes are appended at once. Not a test.
#
#   bash scripts/bench-rss.sh               # 1,000,000 lines
#   LINES=100000 bash scripts/bench-rss.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LINES="${LINES:-1000000}"
RFLUME="${RFLUME:-target/release/rflume}"
[[ -x "$RFLUME" ]] || cargo build --release --locked --bin rflume
source scripts/bench-lib.sh
bench_work
start_broker
"$TANSU" topic create seed --broker "tcp://127.0.0.1:$PORT" --partitions 1 >"$WORK/topic.log" 2>&1
: >"$WORK/app.log"
sed -e "s#^a1.sources.r1.command = .*#a1.sources.r1.command = tail -F $WORK/app.log#" \
    -e "s#^a1.sinks.k1.brokerList = .*#a1.sinks.k1.brokerList = 127.0.0.1:$PORT#" \
    -e "s#^a1.sinks.k1.topic = .*#a1.sinks.k1.topic = seed#" conf/flume_kafka.conf >"$WORK/a.conf"
"$RFLUME" agent --conf-file "$WORK/a.conf" --name a1 >"$WORK/agent.log" 2>&1 &
AGENT=$!
PIDS+=("$AGENT")
sleep 3 # started, connected, idle

ticks() { sed 's/.*) //' /proc/"$AGENT"/stat | awk '{print $12 + $13}'; }
report() { # LABEL
    local kib
    printf '| %s |' "$1"
    for kib in VmRSS VmHWM RssAnon RssFile; do
        awk -v k="$kib:" '$1 == k {printf " %.1f MiB |", $2 / 1024}' /proc/"$AGENT"/status
    done
    echo
}
echo "| seed config | VmRSS | VmHWM | RssAnon | RssFile |"
echo "|---|---|---|---|---|"
report idle
python3 - "$WORK/app.log" "$LINES" <<'EOF'
import sys
with open(sys.argv[1], "ab") as f:
    f.write(b"".join(b"%099d\n" % i for i in range(int(sys.argv[2]))))
EOF
# Done when the agent's CPU count stops moving for a second (it is idle again).
prev=-1
for ((i = 0; i < 120; i++)); do
    sleep 1
    cur="$(ticks)"
    [[ $cur == "$prev" ]] && break
    prev=$cur
done
report "after $(python3 -c "print(f'{$LINES:,}')") lines"
echo
echo "Largest mappings after the burst (Rss summed by mapped file; unnamed: heap arenas and stacks):"
echo
awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "") ? "(unnamed)" : $6}
     /^Rss:/ {rss[name] += $2}
     END {for (n in rss) if (rss[n] >= 512) printf "- %.1f MiB %s\n", rss[n] / 1024, n}' \
    /proc/"$AGENT"/smaps | sort -k2 -rn | head -6
