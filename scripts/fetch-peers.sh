#!/usr/bin/env bash
# Fetch the JVM peers of the second test tier (real Apache Kafka and Apache Flume) from Maven
# Central, only when missing, and print the cache folder on stdout (everything else goes to stderr,
# so callers can write `RFLUME_PEERS=$(scripts/fetch-peers.sh)`).
#
# Each peer set is a tiny Maven project under tests/peers/<set>/pom.xml that lists the peer's jars;
# `mvn dependency:copy-dependencies` copies that set's runtime classpath into
#   $RFLUME_TOOLS/peers/<set>/lib/        (RFLUME_TOOLS defaults to ~/.cache/rflume)
# A set may also have a requirements.txt (PyPI packages, e.g. pyspark), installed with
# `pip install --target $RFLUME_TOOLS/peers/<set>/site` (never into the system's Python).
# A `.complete` marker holding the sha256 of the set's files is written last, so a warm machine is done in
# milliseconds, an interrupted fetch is redone, and editing a pom refetches that set. Tests then
# start a peer with plain `java -cp '<set>/lib/*' MAIN` (see tests/peers/README.md).
#
# Nothing fetched is committed. Maven's own download cache is kept under $RFLUME_TOOLS/peers/m2
# (not ~/.m2), so that other Maven users of the machine neither see nor disturb it.
#
# Arguments: set names to fetch (default: every folder of tests/peers/ with a pom.xml).
# Safe to run concurrently (test processes may call it in parallel): fetches happen under a lock
# and each set's lib/ is moved into place atomically.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
PEERS="$TOOLS/peers"

log() { echo "fetch-peers: $*" >&2; }
die() { log "error: $*"; exit 1; }
# A command failing under `set -e` must not end the fetch without a word.
trap 'log "error: command failed at line $LINENO: $BASH_COMMAND"' ERR

if [[ $# -gt 0 ]]; then
    sets=("$@")
else
    sets=()
    for pom in tests/peers/*/pom.xml; do
        sets+=("$(basename "$(dirname "$pom")")")
    done
fi

# Hash of the files that define a set (its pom, and its requirements.txt if it has one).
pom_sum() {
    local files=("tests/peers/$1/pom.xml")
    [[ -f "tests/peers/$1/requirements.txt" ]] && files+=("tests/peers/$1/requirements.txt")
    cat "${files[@]}" | sha256sum | cut -d' ' -f1
}
complete() { [[ -f "$PEERS/$1/.complete" && "$(cat "$PEERS/$1/.complete")" == "$(pom_sum "$1")" ]]; }

missing=()
for set in "${sets[@]}"; do
    [[ -f "tests/peers/$set/pom.xml" ]] || die "no such peer set: tests/peers/$set/pom.xml"
    complete "$set" || missing+=("$set")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$PEERS"
    exit 0
fi

command -v mvn >/dev/null 2>&1 || die "mvn not found: the JVM test tier needs Maven and Java 17"
mkdir -p "$PEERS"

# Serialise fetchers; whoever waited re-checks, since the first one has probably done the job.
exec 9>"$PEERS/.fetch.lock"
if ! flock -n 9; then
    log "another fetch is running; waiting for it"
    flock 9
fi

start=$SECONDS
for set in "${missing[@]}"; do
    complete "$set" && continue
    log "fetching $set from Maven Central (tests/peers/$set/pom.xml)"
    work="$(mktemp -d "$PEERS/.fetch-$set.XXXXXX")"
    # -B: no progress bars in CI logs; -q keeps Maven quiet unless it fails (then the log is shown).
    if ! mvn -B -q -f "tests/peers/$set/pom.xml" \
        -Dmaven.repo.local="$PEERS/m2" \
        dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "mvn could not fetch $set (is Maven Central reachable?)"
    fi
    [[ -n "$(ls "$work/lib")" ]] || die "mvn fetched no jar for $set"
    rm -f "$work/mvn.log"
    if [[ -f "tests/peers/$set/requirements.txt" ]]; then
        log "installing tests/peers/$set/requirements.txt from PyPI"
        if ! python3 -m pip install --disable-pip-version-check --no-warn-script-location -q \
            --target "$work/site" -r "tests/peers/$set/requirements.txt" >"$work/pip.log" 2>&1; then
            cat "$work/pip.log" >&2
            rm -rf "$work"
            die "pip could not install tests/peers/$set/requirements.txt"
        fi
        rm -f "$work/pip.log"
    fi
    pom_sum "$set" >"$work/.complete"
    # Same filesystem, so the swap is a rename: a reader sees the old set or the new one.
    rm -rf "$PEERS/$set.old"
    [[ -e "$PEERS/$set" ]] && mv "$PEERS/$set" "$PEERS/$set.old"
    mv "$work" "$PEERS/$set"
    rm -rf "$PEERS/$set.old"
    log "$set: $(ls "$PEERS/$set/lib" | wc -l) jars, $(du -sh "$PEERS/$set/lib" | cut -f1)"
done
log "fetched ${missing[*]} in $((SECONDS - start)) s"
echo "$PEERS"
