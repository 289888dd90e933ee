#!/usr/bin/env bash
# The independent Avro IPC implementation the avro source and sink are tested against: npm's
# avsc (MIT, no dependencies; Netty framing and the stateful handshake as Java's
# NettyTransceiver), pinned, installed into $RFLUME_TOOLS/node-avsc (default ~/.cache/rflume)
# when missing. Prints the node_modules directory for NODE_PATH on stdout (everything else goes
# to stderr, so callers can write `RFLUME_NODE_PATH=$(bash tests/node/avsc.sh)`).
#
# Safe to run concurrently: installs happen under a lock. Needs node and npm (the registry).
set -euo pipefail

AVSC_VERSION=5.7.9
TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
DIR="$TOOLS/node-avsc"
MARKER="$DIR/.avsc-$AVSC_VERSION"

log() { echo "node-avsc: $*" >&2; }
ready() { [[ -f "$MARKER" && -f "$DIR/node_modules/avsc/package.json" ]]; }

if ready; then
    echo "$DIR/node_modules"
    exit 0
fi
command -v node >/dev/null 2>&1 || { log "error: node not found (apt-get install nodejs npm)"; exit 1; }
command -v npm >/dev/null 2>&1 || { log "error: npm not found (apt-get install npm)"; exit 1; }
mkdir -p "$DIR"
exec 9>"$TOOLS/.node-avsc.lock"
if ! flock -n 9; then
    log "another install is running; waiting for it"
    flock 9
fi
if ready; then
    echo "$DIR/node_modules"
    exit 0
fi
log "installing avsc@$AVSC_VERSION into $DIR"
npm install --prefix "$DIR" --no-audit --no-fund --silent --no-save "avsc@$AVSC_VERSION" >&2
installed="$(node -e "console.log(require('$DIR/node_modules/avsc/package.json').version)")"
[[ "$installed" == "$AVSC_VERSION" ]] || { log "error: got avsc $installed, wanted $AVSC_VERSION"; exit 1; }
touch "$MARKER"
echo "$DIR/node_modules"
