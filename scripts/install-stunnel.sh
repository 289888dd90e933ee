#!/usr/bin/env bash
# Installs Debian's stunnel4 when missing: the TLS tests (tests/kafka_security.rs,
# tests/kafka_sasl.rs) terminate TLS with it in front of the plaintext test broker, because
# tansu's own TLS does not work (../shared/kafka-test-infra.md).
set -euo pipefail
if command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1; then
    exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "install-stunnel: apt-get install -y stunnel4" >&2
"${sudo[@]}" apt-get install -y stunnel4 >&2 \
    || { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y stunnel4 >&2; }
