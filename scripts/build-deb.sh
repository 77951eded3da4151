#!/usr/bin/env bash
# Builds the Debian package of the engine: ccdialer_<version>_<arch>.deb
#   scripts/build-deb.sh [--build-dir DIR] [--out DIR]
# Without --build-dir it configures and builds a release tree in build/deb-build (only
# the three installed programs).  With --build-dir it packages an existing build (the
# test suite reuses its plain build).  The package is made from `cmake --install
# --prefix /usr` into a staging root: binaries stripped, man pages compressed, the
# dependencies computed by dpkg-shlibdeps, /etc files as conffiles, maintainer scripts
# from packaging/debian (system user, unit enabled but not started).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bdir=""
out="$root/build"
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) bdir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps cmake; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

if [ -z "$bdir" ]; then
    bdir="$root/build/deb-build"
    cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCD_SANITIZE=none >/dev/null
    cmake --build "$bdir" -j"${CCD_JOBS:-2}" --target ccdialerd ccdialer-eccp ccdialer-db
fi

work=$(mktemp -d /tmp/ccdeb.XXXXXX)
trap 'rm -rf "$work"' EXIT
stage="$work/root"
DESTDIR="$stage" cmake --install "$bdir" --prefix /usr --strip >"$work/install.log"

version=$("$stage/usr/sbin/ccdialerd" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
# Debian policy: man pages compressed, reproducibly (no name or time in the gzip header).
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +

# dpkg-shlibdeps wants a source package around the binaries it looks at.
mkdir -p "$work/src/debian"
printf 'Source: ccdialer\n\nPackage: ccdialer\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$stage/usr/sbin/ccdialerd" \
    "$stage/usr/bin/ccdialer-eccp" "$stage/usr/bin/ccdialer-db" 2>"$work/shlibdeps.err" |
    sed -n 's/^shlibs:Depends=//p')
if [ -z "$shlibs" ]; then
    cat "$work/shlibdeps.err" >&2
    echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2
    exit 1
fi

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
    "$root/packaging/debian/control.in" >"$stage/DEBIAN/control"
install -m 0644 "$root/packaging/debian/conffiles" "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "$root/packaging/debian/$s" "$stage/DEBIAN/$s"
done

mkdir -p "$out"
deb="$out/ccdialer_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
