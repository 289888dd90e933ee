#!/usr/bin/env bash
# Hadoop 2.7.3's jars for the HDFS sink's tests (tests/hdfs*.rs, harness tests/common/hdfs.rs):
# installs them only when missing and prints the jar folder on stdout (everything else goes to
# stderr, so callers can write `RFLUME_HADOOP=$(scripts/install-hadoop.sh)`).
#
# No Hadoop distribution is downloadable from these machines, but PyPI's source package
# pyspark==2.4.8 bundles Hadoop 2.7.3's jars (hadoop-hdfs with the NameNode and DataNode,
# hadoop-common with FsShell); they run on Java 17 with plain `java -cp`, no Hadoop scripts (see
# ../shared/hdfs-test-infra.md). A plain `pip download pyspark==2.4.8` fails in its metadata
# step, hence the venv with an old setuptools and --no-build-isolation. The archive is checked
# against its sha256 and only deps/jars is kept:
#   $RFLUME_TOOLS/hadoop-2.7.3/jars/     (RFLUME_TOOLS defaults to ~/.cache/rflume)
# A `.complete` marker is written last, so a warm machine is done in milliseconds and an
# interrupted install is redone. Safe to run concurrently: installs happen under a lock.
set -euo pipefail

TOOLS="${RFLUME_TOOLS:-$HOME/.cache/rflume}"
HOME_DIR="$TOOLS/hadoop-2.7.3"
JARS="$HOME_DIR/jars"
SHA256=3a19b71b8dc8dd91ebc943604a05e1ab01bce052456d42937035632d852d78dc

log() { echo "install-hadoop: $*" >&2; }
trap 'log "error: command failed at line $LINENO: $BASH_COMMAND"' ERR
ready() { [[ -f "$HOME_DIR/.complete" && -f "$JARS/hadoop-hdfs-2.7.3.jar" ]]; }

if ready; then
    echo "$JARS"
    exit 0
fi
mkdir -p "$TOOLS"
exec 9>"$TOOLS/.hadoop.lock"
if ! flock -n 9; then
    log "another install is running; waiting for it"
    flock 9
fi
if ready; then
    echo "$JARS"
    exit 0
fi

command -v java >/dev/null 2>&1 || log "warning: java not found; the HDFS tests need Java 8+"
python="${RFLUME_PYTHON3:-python3}"
work="$(mktemp -d "$TOOLS/.hadoop-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "downloading pyspark==2.4.8 (Hadoop 2.7.3's jars) from PyPI"
"$python" -m venv "$work/venv" >&2
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --no-input wheel 'setuptools<70' >&2
"$work/venv/bin/pip" download --quiet --disable-pip-version-check --no-input --no-deps \
    --no-build-isolation -d "$work" pyspark==2.4.8 >&2
echo "$SHA256  $work/pyspark-2.4.8.tar.gz" | sha256sum -c --quiet >&2
tar xzf "$work/pyspark-2.4.8.tar.gz" -C "$work" pyspark-2.4.8/deps/jars
rm -rf "$HOME_DIR"
mkdir -p "$HOME_DIR"
mv "$work/pyspark-2.4.8/deps/jars" "$JARS"
date -u +%FT%TZ >"$HOME_DIR/.complete"
log "installed $(ls "$JARS" | wc -l) jars in $JARS"
echo "$JARS"
