#!/usr/bin/env bash
# The Python environment of the foreign consumer (tests/python/consume.py): creates it only when
# missing or when requirements.txt changed, and prints its python on stdout (everything else goes
# to stderr, so callers can write `RFLUME_PYTHON=$(tests/python/venv.sh)`).
#
# The venv lives in $RFLUME_TOOLS/python-venv (RFLUME_TOOLS defaults to ~/.cache/rflume), beside
# the tansu binary; a marker holding the sha256 of requirements.txt is written last, so a warm
# machine is done in milliseconds and an interrupted install is redone. Needs python3 (3.8+) with
# the venv module, and PyPI.
#
# Safe to run concurrently (test processes may call it in parallel): installs happen under a lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
VENV="$TOOLS/python-venv"
MARKER="$VENV/.requirements.sha256"

log() { echo "python-venv: $*" >&2; }

want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
ready() { [[ -x "$VENV/bin/python" && -f "$MARKER" && "$(cat "$MARKER")" == "$want" ]]; }

if ready; then
    echo "$VENV/bin/python"
    exit 0
fi

mkdir -p "$TOOLS"
exec 9>"$TOOLS/.python-venv.lock"
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
log "creating $VENV with $("$python" --version 2>&1) and $here/requirements.txt"
rm -rf "$VENV"
"$python" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt" >&2
echo "$want" >"$MARKER"
echo "$VENV/bin/python"
