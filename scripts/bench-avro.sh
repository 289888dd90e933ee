#!/usr/bin/env bash
# Avro (or Thrift) RPC throughput on loopback, no broker: agent a1 (seq → memory → avro sink)
# sends N events to agent c1 (avro source → memory → null sink); timed from a1's start until c1's
# null sink has seen the N-th event. `--rpc thrift` uses the thrift sink and source instead
# (`--protocol binary` for Thrift's binary protocol; compact is Flume's default).
#
#   bash scripts/bench-avro.sh [--events N] [--batch-size B] [--deflate] [--tls|--ssl]
#                              [--order flume-1.10|flume-1.9] [--bin PATH]
#                              [--rpc avro|thrift] [--protocol compact|binary]
#
# --tls (or --ssl): ssl = true on both ends (avro or thrift), with a throw-away CA and a PKCS#12 key store made by
# openssl in the work directory (the sink trusts that CA through a PEM truststore). --order sets
# ssl-deflate-order on both ends (it matters with --tls --deflate; default flume-1.10).
#
# Default: 2,000,000 events, Flume's batch-size 100, bodies as seq writes them (the event's number,
# 1-7 bytes), the release binary (built if missing). Prints the wall time, events/s and each
# agent's CPU seconds and peak RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=2000000
BATCH=100
BIN=""
DEFLATE=""
TLS=""
ORDER="flume-1.10"
RPC=avro
PROTOCOL=compact
while [[ $# -gt 0 ]]; do
    case "$1" in
        --events) N="$2"; shift 2 ;;
        --batch-size) BATCH="$2"; shift 2 ;;
        --deflate) DEFLATE="deflate"; shift ;;
        --tls|--ssl) TLS="tls"; shift ;;
        --order) ORDER="$2"; shift 2 ;;
        --bin) BIN="$2"; shift 2 ;;
        --rpc) RPC="$2"; shift 2 ;;
        --protocol) PROTOCOL="$2"; shift 2 ;;
        *) echo "usage: $0 [--events N] [--batch-size B] [--deflate] [--tls|--ssl] [--order O] [--bin PATH] [--rpc avro|thrift] [--protocol P]" >&2; exit 2 ;;
    esac
done
if [[ -z "$BIN" ]]; then
    cargo build --release --quiet --bin rflume
    BIN="${CARGO_TARGET_DIR:-target}/release/rflume"
fi
[[ -x "$BIN" ]] || { echo "no rflume binary at $BIN" >&2; exit 1; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TXN=$(( BATCH > 1000 ? BATCH : 1000 ))
COMPRESSION="${DEFLATE:-none}"
SOURCE_TLS=""
SINK_TLS=""
if [[ -n "$TLS" ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
        -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
    openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -CAcreateserial -days 1 -out "$WORK/server.pem" 2>/dev/null
    openssl pkcs12 -export -in "$WORK/server.pem" -inkey "$WORK/server.key" \
        -out "$WORK/server.p12" -passout pass:bench
    SOURCE_TLS="c1.sources.r1.ssl = true
c1.sources.r1.keystore = $WORK/server.p12
c1.sources.r1.keystore-type = PKCS12
c1.sources.r1.keystore-password = bench${DEFLATE:+
c1.sources.r1.ssl-deflate-order = $ORDER}"
    SINK_TLS="a1.sinks.k1.ssl = true
a1.sinks.k1.truststore = $WORK/ca.pem
a1.sinks.k1.truststore-type = PEM${DEFLATE:+
a1.sinks.k1.ssl-deflate-order = $ORDER}"
fi
case "$RPC" in
    avro) SRC_EXTRA="c1.sources.r1.compression-type = $COMPRESSION"
          SINK_EXTRA="a1.sinks.k1.compression-type = $COMPRESSION" ;;
    thrift) SRC_EXTRA="c1.sources.r1.protocol = $PROTOCOL"
            SINK_EXTRA="a1.sinks.k1.protocol = $PROTOCOL"; COMPRESSION="none, $PROTOCOL protocol" ;;
    *) echo "--rpc avro or --rpc thrift" >&2; exit 2 ;;
esac
cat > "$WORK/c1.conf" <<CONF
c1.sources = r1
c1.channels = ch
c1.sinks = k1
c1.sources.r1.type = $RPC
c1.sources.r1.bind = 127.0.0.1
c1.sources.r1.port = $PORT
$SRC_EXTRA
c1.sources.r1.channels = ch
$SOURCE_TLS
c1.channels.ch.type = memory
c1.channels.ch.capacity = 100000
c1.channels.ch.transactionCapacity = $TXN
c1.sinks.k1.type = null
c1.sinks.k1.batchSize = 1000
c1.sinks.k1.logEveryNEvents = $N
c1.sinks.k1.channel = ch
CONF
cat > "$WORK/a1.conf" <<CONF
a1.sources = s1
a1.channels = c1
a1.sinks = k1
a1.sources.s1.type = seq
a1.sources.s1.totalEvents = $N
a1.sources.s1.batchSize = 1000
a1.sources.s1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = $TXN
a1.sinks.k1.type = $RPC
a1.sinks.k1.channel = c1
a1.sinks.k1.hostname = 127.0.0.1
a1.sinks.k1.port = $PORT
a1.sinks.k1.batch-size = $BATCH
$SINK_EXTRA
$SINK_TLS
CONF
# `time -f` of GNU time gives each agent's CPU seconds and peak RSS.
TIME=(/usr/bin/time -f "%U %S %M")
[[ -x /usr/bin/time ]] || TIME=()
"${TIME[@]}" "$BIN" agent -n c1 -f "$WORK/c1.conf" > "$WORK/c1.log" 2> "$WORK/c1.err" &
PIDS+=($!); C1=$!
# Waits for a log line; gives up with the agent's log when the agent is gone.
await_line() {
    local pid=$1 side=$2 needle=$3
    until grep -qs "$needle" "$WORK/$side.err" "$WORK/$side.log"; do
        kill -0 "$pid" 2>/dev/null || { echo "$side exited:" >&2; cat "$WORK/$side.err" >&2; exit 1; }
        sleep 0.01
    done
}
await_line "$C1" c1 "started on"
start=$(date +%s.%N)
"${TIME[@]}" "$BIN" agent -n a1 -f "$WORK/a1.conf" > "$WORK/a1.log" 2> "$WORK/a1.err" &
PIDS+=($!); A1=$!
await_line "$C1" c1 "successful processed"
end=$(date +%s.%N)
# SIGTERM to the agents themselves (children of time, when time is used).
for parent in "$A1" "$C1"; do
    child="$(pgrep -P "$parent" || true)"
    kill -TERM "${child:-$parent}" 2>/dev/null || true
done
wait "$A1" || true
wait "$C1" || true
secs=$(echo "$end - $start" | bc -l)
rate=$(echo "$N / $secs" | bc)
echo "$RPC sink -> $RPC source, $N events, batch-size $BATCH, compression $COMPRESSION, tls ${TLS:-off}${DEFLATE:+${TLS:+ ($ORDER)}}: $(printf %.2f "$secs") s, $rate events/s"
if [[ ${#TIME[@]} -gt 0 ]]; then
    for side in a1 c1; do
        read -r u s m < <(tail -1 "$WORK/$side.err")
        echo "  $side: CPU $(echo "$u + $s" | bc) s, peak RSS $((m / 1024)) MiB"
    done
fi
