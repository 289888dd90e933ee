#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the operations tests use as an operator would:
# tmux (rflume top), systemd-analyze (the unit), dpkg-deb and rpmbuild (the packages), objdump
# (the glibc measurement), openssl and python3 (an https configuration server), stunnel4 (TLS in
# front of the test broker, whose own TLS does not work: ../shared/kafka-test-infra.md), node and
# npm (the avsc peer of the Avro RPC tests). Only what is
# missing is installed, so a warm machine spends no time here.
set -euo pipefail
declare -A package_of=(
    [tmux]=tmux
    [systemd-analyze]=systemd
    [dpkg-deb]=dpkg
    [rpmbuild]=rpm
    [objdump]=binutils
    [openssl]=openssl
    [python3]=python3
    [stunnel4]=stunnel4
    [node]=nodejs
    [npm]=npm
)
missing=()
for tool in "${!package_of[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
echo "installing: ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
else
    sudo=()
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
