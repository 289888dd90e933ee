#!/usr/bin/env bash
# Builds the .deb and .rpm packages from a clean clone:
#   bash scripts/package.sh                 # release build, packages in target/packages/
#   bash scripts/package.sh --binary PATH   # package an existing binary (the test suite does this)
#
# One staged tree (packaging/ holds every file) is packed twice: by dpkg-deb (Debian's own tool,
# always on Debian/Ubuntu) and by rpmbuild (Debian package `rpm`; skipped with a message when
# absent). The binary links OpenSSL and zlib statically, so the packages depend on glibc (and
# libgcc_s, part of every glibc system) only; the minimum glibc is read from the binary's symbol
# versions (`objdump -T`) and written into the dependencies.
#
# Options: --binary PATH, --out DIR (default target/packages), --version V (default Cargo.toml's),
#          --no-rpm, --fast (quick gzip compression, for tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary=""
out="target/packages"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
want_rpm=1
compression=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --no-rpm) want_rpm=0; shift ;;
        --fast) compression=(-Zgzip -z1); shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

if [[ -z "$binary" ]]; then
    cargo build --release --locked
    binary="target/release/rflume"
fi
[[ -x "$binary" ]] || { echo "no executable at $binary" >&2; exit 1; }
command -v objdump >/dev/null || { echo "objdump (binutils) is needed to measure the glibc version" >&2; exit 1; }

# The newest glibc symbol version the binary needs is the oldest glibc it runs on.
min_glibc="$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
needed="$(objdump -p "$binary" | awk '/NEEDED/ {print $2}' | sort | tr '\n' ' ')"
for lib in $needed; do
    case "$lib" in
        libc.so.6|libm.so.6|libgcc_s.so.1|ld-linux-x86-64.so.2|libpthread.so.0|libdl.so.2|librt.so.1|libutil.so.1) ;;
        *) echo "error: $binary needs $lib beyond glibc; link it statically (see Cargo.toml)" >&2; exit 1 ;;
    esac
done
echo "binary needs: $needed(glibc >= $min_glibc)" >&2

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/root"

install -D -m 0755 "$binary" "$stage/usr/bin/rflume"
strip --strip-debug "$stage/usr/bin/rflume" 2>/dev/null || true
# Inert until the administrator opts in (README, "Install"): nothing named flume-ng is put on
# the PATH, so a real Flume stays what `flume-ng` runs.
mkdir -p "$stage/usr/lib/rflume/bin"
ln -s /usr/bin/rflume "$stage/usr/lib/rflume/bin/flume-ng"
install -D -m 0644 "packaging/systemd/rflume@.service" "$stage/usr/lib/systemd/system/rflume@.service"
install -D -m 0644 packaging/example.conf "$stage/etc/rflume/example.conf"
install -D -m 0644 README.md "$stage/usr/share/doc/rflume/README.md"
printf 'rflume\nLicense: Apache-2.0 (see https://www.apache.org/licenses/LICENSE-2.0)\n' \
    > "$stage/usr/share/doc/rflume/copyright"
install -d -m 0750 "$stage/var/lib/rflume"

# --- .deb ---------------------------------------------------------------------------------
deb_root="$work/deb"
cp -a "$stage" "$deb_root"
install -d "$deb_root/DEBIAN"
installed_kb="$(du -sk "$deb_root" | cut -f1)"
cat > "$deb_root/DEBIAN/control" <<EOF
Package: rflume
Version: $version
Architecture: amd64
Maintainer: rflume maintainers <rflume@localhost>
Installed-Size: $installed_kb
Depends: libc6 (>= $min_glibc), libgcc-s1 | libgcc1, adduser | passwd
Section: admin
Priority: optional
Homepage: https://flume.apache.org/
Description: loss-free drop-in replacement for Apache Flume's flume-ng agent
 rflume runs Apache Flume agent configurations (same properties file, same Kafka
 records) as a small native service, with Flume's HTTP metrics, Prometheus, health
 checks, systemd notify and hot reload.
EOF
echo "/etc/rflume/example.conf" > "$deb_root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "packaging/deb/$s" "$deb_root/DEBIAN/$s"
done
deb="$out/rflume_${version}_amd64.deb"
dpkg-deb "${compression[@]}" --root-owner-group --build "$deb_root" "$deb" >&2
echo "$deb"

# --- .rpm ---------------------------------------------------------------------------------
if [[ $want_rpm -eq 1 ]]; then
    if command -v rpmbuild >/dev/null; then
        top="$work/rpmbuild"
        mkdir -p "$top"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT}
        rpmbuild -bb --quiet \
            --define "_topdir $top" \
            --define "rflume_version ${version//-/_}" \
            --define "rflume_min_glibc $min_glibc" \
            --define "rflume_stage $stage" \
            --define "__strip /bin/true" \
            --define "debug_package %{nil}" \
            ${compression:+--define "_binary_payload w1.gzdio"} \
            packaging/rpm/rflume.spec >&2
        find "$top/RPMS" -name '*.rpm' -exec cp {} "$out/" \; -exec sh -c 'echo "'"$out"'/$(basename "$1")"' _ {} \;
    else
        echo "rpmbuild not found (apt-get install rpm): .rpm skipped" >&2
    fi
fi
