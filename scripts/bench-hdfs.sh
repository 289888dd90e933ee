#!/usr/bin/env bash
# HDFS sink throughput, the collector's pipeline: TAILDIR → file channel → hdfs, into a real HDFS
# (Hadoop 2.7.3's NameNode and one DataNode on loopback, from scripts/install-hadoop.sh's jars).
#
#   bash scripts/bench-hdfs.sh [--lines N] [--batch-size B] [--bin PATH]
#
# Default: 1,000,000 lines of 100 bytes written to the log before the agent starts, TAILDIR and
# the hdfs sink with batches of 1000 (Flume's default hdfs.batchSize is 100: try --batch-size
# 100), DataStream text, files rolled at 128 MiB, the release binary (built if missing). Timed
# from the agent's start until its sink has committed the N-th event (the metrics server's
# EventDrainSuccessCount, polled every 20 ms); the bytes in HDFS are then checked with Hadoop's
# own shell. Prints the wall time, lines/s, MB/s and the agent's CPU seconds and peak RSS.
# Not part of the test suite; figures vary ±30 % on a shared machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=1000000
BATCH=1000
BIN=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --lines) N="$2"; shift 2 ;;
        --batch-size) BATCH="$2"; shift 2 ;;
        --bin) BIN="$2"; shift 2 ;;
        *) echo "usage: $0 [--lines N] [--batch-size B] [--bin PATH]" >&2; exit 2 ;;
    esac
done
if [[ -z "$BIN" ]]; then
    cargo build --release --quiet --bin rflume
    BIN="${CARGO_TARGET_DIR:-target}/release/rflume"
fi
[[ -x "$BIN" ]] || { echo "no rflume binary at $BIN" >&2; exit 1; }
JARS="$(bash scripts/install-hadoop.sh)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NN=$(free_port); NN_HTTP=$(free_port); DN=$(free_port); DN_HTTP=$(free_port); DN_IPC=$(free_port)
METRICS=$(free_port)
mkdir -p "$WORK/conf" "$WORK/extra/webapps/hdfs" "$WORK/extra/webapps/datanode" "$WORK/logs"
prop() { echo "<property><name>$1</name><value>$2</value></property>"; }
{
    echo "<configuration>"
    prop fs.defaultFS "hdfs://127.0.0.1:$NN"
    prop hadoop.tmp.dir "$WORK/tmp"
    echo "</configuration>"
} > "$WORK/conf/core-site.xml"
{
    echo "<configuration>"
    prop dfs.replication 1
    prop dfs.namenode.name.dir "$WORK/name"
    prop dfs.datanode.data.dir "$WORK/data"
    prop dfs.namenode.rpc-address "127.0.0.1:$NN"
    prop dfs.namenode.http-address "127.0.0.1:$NN_HTTP"
    prop dfs.namenode.secondary.http-address "127.0.0.1:0"
    prop dfs.datanode.address "127.0.0.1:$DN"
    prop dfs.datanode.http.address "127.0.0.1:$DN_HTTP"
    prop dfs.datanode.ipc.address "127.0.0.1:$DN_IPC"
    prop dfs.datanode.hostname 127.0.0.1
    prop dfs.webhdfs.enabled false
    prop dfs.permissions.enabled false
    prop dfs.namenode.datanode.registration.ip-hostname-check false
    prop dfs.namenode.safemode.extension 0
    echo "</configuration>"
} > "$WORK/conf/hdfs-site.xml"
printf 'log4j.rootLogger=WARN,console\nlog4j.appender.console=org.apache.log4j.ConsoleAppender\nlog4j.appender.console.target=System.err\nlog4j.appender.console.layout=org.apache.log4j.PatternLayout\nlog4j.appender.console.layout.ConversionPattern=%%d %%p %%c{2}: %%m%%n\nlog4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode=INFO\n' > "$WORK/conf/log4j.properties"
CP="$WORK/conf:$WORK/extra:$JARS/*"
JAVA=(java -Xmx256m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true -cp "$CP")
"${JAVA[@]}" org.apache.hadoop.hdfs.server.namenode.NameNode -format -nonInteractive > "$WORK/format.log" 2>&1
"${JAVA[@]}" org.apache.hadoop.hdfs.server.namenode.NameNode > "$WORK/nn.log" 2>&1 &
PIDS+=($!)
"${JAVA[@]}" org.apache.hadoop.hdfs.server.datanode.DataNode > "$WORK/dn.log" 2>&1 &
PIDS+=($!); DNPID=$!
deadline=$((SECONDS + 120))
until grep -qs "Successfully sent block report" "$WORK/dn.log"; do
    kill -0 "$DNPID" 2>/dev/null || { echo "the DataNode exited:" >&2; tail -20 "$WORK/dn.log" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "HDFS did not start within 120 s" >&2; exit 1; }
    sleep 0.2
done

python3 - "$WORK/logs/app.log" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"line-{i:08d} ".ljust(99, "x") + "\n")
PY
TXN=$(( BATCH > 1000 ? BATCH : 1000 ))
cat > "$WORK/a1.conf" <<CONF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = $WORK/logs/app\\\\.log
a1.sources.r1.positionFile = $WORK/taildir.json
a1.sources.r1.batchSize = $BATCH
a1.sources.r1.channels = c1
a1.channels.c1.type = file
a1.channels.c1.checkpointDir = $WORK/channel/checkpoint
a1.channels.c1.dataDirs = $WORK/channel/data
a1.channels.c1.transactionCapacity = $TXN
a1.channels.c1.capacity = $(( N + 1000 ))
a1.sinks.k1.type = hdfs
a1.sinks.k1.channel = c1
a1.sinks.k1.hdfs.path = hdfs://127.0.0.1:$NN/bench
a1.sinks.k1.hdfs.fileType = DataStream
a1.sinks.k1.hdfs.batchSize = $BATCH
a1.sinks.k1.hdfs.rollSize = 134217728
a1.sinks.k1.hdfs.rollCount = 0
a1.sinks.k1.hdfs.rollInterval = 0
CONF
TIME=(/usr/bin/time -f "%U %S %M")
[[ -x /usr/bin/time ]] || TIME=()
start=$(date +%s.%N)
"${TIME[@]}" "$BIN" agent -n a1 -f "$WORK/a1.conf" -Dflume.monitoring.type=http \
    -Dflume.monitoring.port="$METRICS" > "$WORK/a1.log" 2> "$WORK/a1.err" &
PIDS+=($!); A1=$!
drained() {
    curl -s "http://127.0.0.1:$METRICS/metrics" 2>/dev/null | python3 -c '
import json, sys
try:
    print(int(json.load(sys.stdin)["SINK.k1"]["EventDrainSuccessCount"]))
except Exception:
    print(0)'
}
deadline=$((SECONDS + 600))
until [[ "$(drained)" -ge "$N" ]]; do
    kill -0 "$A1" 2>/dev/null || { echo "the agent exited:" >&2; tail -20 "$WORK/a1.err" "$WORK/a1.log" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "not all $N lines committed within 600 s" >&2; exit 1; }
    sleep 0.02
done
end=$(date +%s.%N)
child="$(pgrep -P "$A1" || true)"
kill -TERM "${child:-$A1}" 2>/dev/null || true
wait "$A1" || true
bytes=$("${JAVA[@]}" -Dhadoop.root.logger=WARN,console org.apache.hadoop.fs.FsShell \
    -fs "hdfs://127.0.0.1:$NN" -du -s /bench 2>/dev/null | awk '{print $1}')
[[ "$bytes" -eq $(( N * 100 )) ]] || { echo "HDFS holds $bytes bytes, not $(( N * 100 ))" >&2; exit 1; }
secs=$(echo "$end - $start" | bc -l)
rate=$(echo "$N / $secs" | bc)
mbs=$(echo "$N * 100 / $secs / 1000000" | bc -l)
echo "TAILDIR -> file channel -> hdfs, $N lines of 100 bytes, batches of $BATCH: $(printf %.2f "$secs") s, $rate lines/s, $(printf %.1f "$mbs") MB/s; $bytes bytes in HDFS"
if [[ ${#TIME[@]} -gt 0 ]]; then
    read -r u s m < <(tail -1 "$WORK/a1.err")
    echo "  agent: CPU $(echo "$u + $s" | bc) s (start to stop), peak RSS $((m / 1024)) MiB"
fi
