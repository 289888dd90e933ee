# Shared by scripts/bench-steady.sh and scripts/bench-stall.sh (sourced, not run): a fresh tansu
# memory broker on a free loopback port, and the agent configuration both measure (exec `tail -F`
# with the seed's settings, or TAILDIR, into a memory channel and the Kafka sink).
# Needs TANSU, WORK and the PIDS array of the caller, whose cleanup kills what PIDS lists
# (`bench_work` sets all three up, with that cleanup).

# TANSU (installed when missing), a fresh WORK folder, and an empty PIDS; at exit, every process
# PIDS lists is killed and WORK removed.
bench_work() {
    TANSU="${TANSU:-$(bash scripts/install-tansu.sh)}"
    WORK="$(mktemp -d)"
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets PORT and BROKER (its pid, also added to PIDS).
start_broker() {
    PORT="$(free_port)"
    (cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine memory://tansu/) \
        >"$WORK/broker.log" 2>&1 &
    BROKER=$!
    PIDS+=("$BROKER")
    local i
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: tansu did not listen on $PORT within 10 s: $(tail -3 "$WORK/broker.log")" >&2
    return 1
}

config() { # KIND LOGFILE DIR TOPIC [CAPACITY]
    local kind=$1 log=$2 dir=$3 topic=$4 capacity=${5:-10000}
    echo "a1.sources = r1"
    echo "a1.channels = c1"
    echo "a1.sinks = k1"
    if [[ $kind == exec ]]; then
        echo "a1.sources.r1.type = exec"
        echo "a1.sources.r1.command = tail -F $log"
    else
        echo "a1.sources.r1.type = TAILDIR"
        echo "a1.sources.r1.positionFile = $dir/position.json"
        echo "a1.sources.r1.filegroups = f1"
        echo "a1.sources.r1.filegroups.f1 = $(dirname "$log")/.*\\.log"
    fi
    echo "a1.sources.r1.channels = c1"
    echo "a1.channels.c1.type = memory"
    echo "a1.channels.c1.capacity = $capacity"
    echo "a1.channels.c1.transactionCapacity = 100"
    echo "a1.sinks.k1.type = org.apache.flume.sink.kafka.KafkaSink"
    echo "a1.sinks.k1.channel = c1"
    echo "a1.sinks.k1.kafka.bootstrap.servers = 127.0.0.1:$PORT"
    echo "a1.sinks.k1.kafka.topic = $topic"
    [[ $kind == exec ]] && echo "a1.sinks.k1.batchSize = 20"
    return 0
}
