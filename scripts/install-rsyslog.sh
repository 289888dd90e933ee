#!/usr/bin/env bash
# Finds or installs what the benchmark's rsyslog row needs and prints the directory to put first
# on LD_LIBRARY_PATH: Debian's rsyslog and rsyslog-kafka (imfile → omkafka), and a librdkafka.so.1
# of at least 2.2, because Debian 12's 2.0.2 cannot parse the test broker's ApiVersions v3
# answer (../shared/kafka-test-infra.md). That library is built once from the librdkafka source
# the rdkafka-sys crate ships (same soname, ABI-compatible) into
# ~/.cache/rflume/librdkafka-VERSION/ (RFLUME_CACHE overrides ~/.cache/rflume).
# Exits 1 with the reason on stderr when something cannot be had (not root, no apt, no crate
# source): the benchmark then leaves the row out with that note.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE="${RFLUME_CACHE:-$HOME/.cache/rflume}"
say() { echo "install-rsyslog: $*" >&2; }

if [[ ! -x /usr/sbin/rsyslogd || ! -f /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so && ! -f /usr/lib/rsyslog/omkafka.so ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "rsyslog and rsyslog-kafka are not installed, and apt-get cannot install them here (needs root)"
        exit 1
    fi
    say "installing Debian packages rsyslog rsyslog-kafka"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends rsyslog rsyslog-kafka >&2 \
        || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends rsyslog rsyslog-kafka >&2; } \
        || { say "apt-get could not install rsyslog rsyslog-kafka"; exit 1; }
    # The package may start a system daemon; the benchmark runs its own.
    pkill -x rsyslogd 2>/dev/null || true
fi

# The librdkafka source bundled with the rdkafka-sys crate that Cargo.lock pins.
version="$(awk '/^name = "rdkafka-sys"/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)"
[[ -n $version ]] || { say "no rdkafka-sys in Cargo.lock"; exit 1; }
lib_version="${version#*+}"
out="$CACHE/librdkafka-$lib_version"
if [[ -f $out/librdkafka.so.1 ]]; then
    echo "$out"
    exit 0
fi
src=""
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-"$version"/librdkafka; do
    [[ -f $d/configure ]] && src="$d" && break
done
if [[ -z $src ]]; then
    cargo fetch --locked >&2 || true
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-"$version"/librdkafka; do
        [[ -f $d/configure ]] && src="$d" && break
    done
fi
[[ -n $src ]] || { say "the rdkafka-sys $version crate source is not in Cargo's registry"; exit 1; }
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
say "building librdkafka $lib_version from $src (about a minute)"
cp -a "$src" "$build/librdkafka"
(
    cd "$build/librdkafka"
    ./configure --disable-zstd --disable-lz4-ext >"$build/configure.log" 2>&1
    make -j"$(nproc)" -C src librdkafka.so.1 >"$build/make.log" 2>&1
) || { say "building librdkafka failed: $(tail -3 "$build/make.log" "$build/configure.log" 2>/dev/null)"; exit 1; }
mkdir -p "$out"
cp "$build/librdkafka/src/librdkafka.so.1" "$out/"
echo "$out"
