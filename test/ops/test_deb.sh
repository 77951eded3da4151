#!/usr/bin/env bash
# The Debian package, end to end on this machine (as root): build it with
# scripts/build-deb.sh, inspect it (dependencies, conffiles, contents), install it
# (system user, configuration mode and group, unit enabled but not started, the
# installed daemon runs, systemd accepts the installed unit), reinstall over an edited
# configuration (kept), remove (configuration kept, unit masked) and purge (nothing
# left).  Everything it installed or created is removed again, also on failure.
# It refuses to touch a machine where ccdialer is already installed.
# Usage: test_deb.sh SOURCE_DIR BUILD_DIR
set -u
src=$1 build=$2
. "$(dirname "${BASH_SOURCE[0]}")/../common/sh_helpers.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL: installs a package: run as root (CI and scripts/test.sh do)"
    exit 1
fi
# installed, config-files, half-installed, ...; empty or not-installed when absent
pkg_state() { dpkg-query -W -f='${db:Status-Status}' ccdialer 2>/dev/null; }
st=$(pkg_state)
if [ -n "$st" ] && [ "$st" != not-installed ]; then
    echo "FAIL: a ccdialer package is already installed here; not touching it"
    exit 1
fi
user_existed=0
getent passwd ccdialer >/dev/null && user_existed=1
group_existed=0
getent group ccdialer >/dev/null && group_existed=1
tmp=$(mktemp -d /tmp/ccdeb-test.XXXXXX)
cleanup() {
    st=$(pkg_state)
    if [ -n "$st" ] && [ "$st" != not-installed ]; then
        dpkg --purge ccdialer >/dev/null 2>&1
    fi
    [ $user_existed -eq 0 ] && getent passwd ccdialer >/dev/null && userdel ccdialer 2>/dev/null
    [ $group_existed -eq 0 ] && getent group ccdialer >/dev/null && groupdel ccdialer 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build and inspect ---
deb=$(bash "$src/scripts/build-deb.sh" --build-dir "$build" --out "$tmp" 2>"$tmp/build.err")
check "scripts/build-deb.sh builds a .deb" test -s "${deb:-/nonexistent}"
[ -s "${deb:-/nonexistent}" ] || { cat "$tmp/build.err"; echo "$pass passed, $((fails)) failed"; exit 1; }
dpkg-deb -I "$deb" >"$tmp/info"
dpkg-deb -c "$deb" >"$tmp/contents"
check "the package is named ccdialer" grep -q "^ Package: ccdialer$" "$tmp/info"
for dep in libmariadb3 libmicrohttpd12 libsystemd0 libxml2 libssl3 libc6; do
    check "it depends on $dep" grep -q "^ Depends:.*$dep" "$tmp/info"
done
check "the configuration is a conffile" bash -c "dpkg-deb -e '$deb' '$tmp/ctl' && grep -qx /etc/ccdialer/ccdialer.conf '$tmp/ctl/conffiles'"
check "the logrotate file is a conffile" grep -qx /etc/logrotate.d/ccdialer "$tmp/ctl/conffiles"
for f in ./usr/sbin/ccdialerd ./usr/bin/ccdialer-eccp ./usr/bin/ccdialer-db \
    ./usr/lib/systemd/system/ccdialerd.service ./usr/share/man/man8/ccdialerd.8.gz \
    ./usr/share/man/man5/ccdialer.conf.5.gz ./etc/ccdialer/ccdialer.conf; do
    check "it contains $f" grep -q " $f\$" "$tmp/contents"
done
check "every file belongs to root" bash -c "! awk '{print \$2}' '$tmp/contents' | grep -v '^root/root\$' | grep -q ."

# --- install ---
check "dpkg -i installs it" bash -c "dpkg -i '$deb' >'$tmp/dpkg-i.log' 2>&1"
check "the system user ccdialer exists" bash -c "getent passwd ccdialer >/dev/null"
uid=$(id -u ccdialer 2>/dev/null || echo 99999)
check "as a system user (uid < 1000) without a login shell" \
    bash -c "[ $uid -lt 1000 ] && getent passwd ccdialer | grep -q ':/usr/sbin/nologin$'"
check "the configuration is root:ccdialer 0640" \
    test "$(stat -c '%U:%G %a' /etc/ccdialer/ccdialer.conf)" = "root:ccdialer 640"
check "the log directory belongs to the user" test "$(stat -c '%U' /var/log/ccdialer)" = ccdialer
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/ccdialerd.service
check "but the engine was not started" bash -c "! pgrep -x ccdialerd -u ccdialer >/dev/null"
check "the installed daemon runs" bash -c "/usr/sbin/ccdialerd --version | grep -q '^ccdialerd '"
check "and accepts the installed configuration" bash -c "/usr/sbin/ccdialerd --check-config -c /etc/ccdialer/ccdialer.conf >/dev/null"
check "the tools are on PATH" bash -c "command -v ccdialer-eccp && command -v ccdialer-db" >/dev/null
check "man finds ccdialerd(8)" bash -c "man -w 8 ccdialerd >/dev/null 2>&1"
check "systemd-analyze verify accepts the installed unit" \
    bash -c "systemd-analyze verify /usr/lib/systemd/system/ccdialerd.service >'$tmp/verify' 2>&1 || { cat '$tmp/verify'; false; }"

# --- reinstall over an edited configuration ---
echo "# edited by the admin" >>/etc/ccdialer/ccdialer.conf
check "reinstalling succeeds" bash -c "dpkg --force-confold -i '$deb' >'$tmp/dpkg-i2.log' 2>&1"
check "and keeps the edited configuration" grep -q "edited by the admin" /etc/ccdialer/ccdialer.conf

# --- remove, then purge ---
check "dpkg -r removes it" bash -c "dpkg -r ccdialer >'$tmp/dpkg-r.log' 2>&1"
check "the daemon is gone" test ! -e /usr/sbin/ccdialerd
check "the configuration stays after remove" grep -q "edited by the admin" /etc/ccdialer/ccdialer.conf
check "the unit is no longer enabled" test ! -e /etc/systemd/system/multi-user.target.wants/ccdialerd.service
check "dpkg --purge purges it" bash -c "dpkg --purge ccdialer >'$tmp/dpkg-p.log' 2>&1"
check "no configuration left" test ! -e /etc/ccdialer
check "no logrotate file left" test ! -e /etc/logrotate.d/ccdialer
check "no unit mask or link left" bash -c "! ls /etc/systemd/system/ccdialerd.service /etc/systemd/system/*.wants/ccdialerd.service 2>/dev/null | grep -q ."
check "no log directory left" test ! -e /var/log/ccdialer
st=$(pkg_state)
check "dpkg no longer has it" test -z "$st" -o "$st" = not-installed

sh_summary
