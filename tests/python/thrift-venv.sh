#!/usr/bin/env bash
# The independent Thrift implementation the thrift source and sink are tested against: PyPI's
# `thrift` (Apache's Python library: TCompactProtocol, TBinaryProtocol, TFramedTransport), pinned,
# installed into its own venv $RFLUME_TOOLS/python-thrift (default ~/.cache/rflume) when missing.
# tests/python/flume_thrift.py speaks Flume's flume.thrift over it. Prints the venv's python on
# stdout (everything else goes to stderr: `RFLUME_THRIFT_PYTHON=$(bash tests/python/thrift-venv.sh)`).
#
# Safe to run concurrently: installs happen under a lock. Needs python3 with venv, and PyPI.
set -euo pipefail

THRIFT_VERSION=0.20.0
TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
VENV="$TOOLS/python-thrift"
MARKER="$VENV/.thrift-$THRIFT_VERSION"

log() { echo "python-thrift: $*" >&2; }
ready() { [[ -x "$VENV/bin/python" && -f "$MARKER" ]]; }

if ready; then
    echo "$VENV/bin/python"
    exit 0
fi
mkdir -p "$TOOLS"
exec 9>"$TOOLS/.python-thrift.lock"
if ! flock -n 9; then
    log "another install is running; waiting for it"
    flock 9
fi
if ready; then
    echo "$VENV/bin/python"
    exit 0
fi
python="${RFLUME_PYTHON3:-python3}"
command -v "$python" >/dev/null 2>&1 || { log "error: $python not found"; exit 1; }
log "creating $VENV with $("$python" --version 2>&1) and thrift==$THRIFT_VERSION"
rm -rf "$VENV"
"$python" -m venv "$VENV" >&2
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "thrift==$THRIFT_VERSION" >&2; then
    log "error: cannot install thrift==$THRIFT_VERSION from PyPI (offline?); the thrift RPC tests need it"
    exit 1
fi
"$VENV/bin/python" -c "import thrift.protocol.TCompactProtocol" >&2
touch "$MARKER"
echo "$VENV/bin/python"
