#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: every file where the README and the man
# pages say, the installed binaries run, the configuration is never overwritten, the
# man pages render cleanly, and systemd accepts the unit (systemd-analyze verify; the
# hardening scored by systemd-analyze security).
# Usage: test_install.sh BUILD_DIR
set -u
build=$1
. "$(dirname "${BASH_SOURCE[0]}")/../common/sh_helpers.sh"
tmp=$(mktemp -d /tmp/ccdi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix

check "cmake --install succeeds" bash -c "cmake --install '$build' --prefix '$p' >'$tmp/install.log' 2>&1"
for f in sbin/ccdialerd bin/ccdialer-eccp bin/ccdialer-db etc/ccdialer/ccdialer.conf \
    etc/logrotate.d/ccdialer lib/systemd/system/ccdialerd.service lib/sysusers.d/ccdialer.conf \
    share/man/man8/ccdialerd.8 share/man/man5/ccdialer.conf.5 share/man/man1/ccdialer-eccp.1 \
    share/man/man1/ccdialer-db.1 share/doc/ccdialer/ccdialer.conf.sample \
    share/doc/ccdialer/asterisk/extensions_ccdialer.conf \
    share/doc/ccdialer/asterisk/extensions_ccdialer_agi.conf; do
    check "installed: $f" test -s "$p/$f"
done
check "the configuration is not world-readable (it holds secrets)" \
    test "$(stat -c %a "$p/etc/ccdialer/ccdialer.conf")" = 640
check "the binaries are executable" test -x "$p/sbin/ccdialerd" -a -x "$p/bin/ccdialer-eccp" -a -x "$p/bin/ccdialer-db"

# --- the installed binaries run ---
for b in sbin/ccdialerd bin/ccdialer-eccp bin/ccdialer-db; do
    check "$b: every shared library resolves" bash -c "! ldd '$p/$b' | grep -q 'not found'"
done
check "installed ccdialerd --version" bash -c "'$p/sbin/ccdialerd' --version | grep -q '^ccdialerd [0-9]'"
check "installed ccdialerd accepts the installed configuration" \
    "$p/sbin/ccdialerd" --check-config -c "$p/etc/ccdialer/ccdialer.conf"
check "installed ccdialerd --help lists --status" bash -c "'$p/sbin/ccdialerd' --help | grep -q -- --status"
check "installed ccdialer-db prints the schema" bash -c "'$p/bin/ccdialer-db' sql | grep -q 'CREATE TABLE'"
"$p/bin/ccdialer-eccp" >/dev/null 2>"$tmp/eccp.err"
check "installed ccdialer-eccp without a request prints its usage" grep -q "usage: ccdialer-eccp" "$tmp/eccp.err"

# --- an upgrade keeps the admin's configuration ---
echo "# edited by the admin" >>"$p/etc/ccdialer/ccdialer.conf"
check "a second install succeeds" bash -c "cmake --install '$build' --prefix '$p' >'$tmp/install2.log' 2>&1"
check "and keeps the edited configuration" grep -q "edited by the admin" "$p/etc/ccdialer/ccdialer.conf"
check "saying so" grep -q "Keeping existing" "$tmp/install2.log"
check "the sample under share/doc is the pristine one" \
    bash -c "! grep -q 'edited by the admin' '$p/share/doc/ccdialer/ccdialer.conf.sample'"

# --- the unit names the installed paths; systemd accepts it ---
unit=$p/lib/systemd/system/ccdialerd.service
check "the unit starts the installed daemon in the foreground" \
    grep -qx "ExecStart=$p/sbin/ccdialerd -f -c $p/etc/ccdialer/ccdialer.conf" "$unit"
check "the unit is Type=notify with a watchdog" bash -c "grep -qx 'Type=notify' '$unit' && grep -q '^WatchdogSec=' '$unit'"
check "the unit restarts on failure as a dedicated user" \
    bash -c "grep -qx 'Restart=on-failure' '$unit' && grep -qx 'User=ccdialer' '$unit'"
if command -v systemd-analyze >/dev/null 2>&1; then
    # MANPATH: verify also checks that the Documentation= man pages exist.
    MANPATH=$p/share/man systemd-analyze verify "$unit" >"$tmp/verify.out" 2>&1
    check "systemd-analyze verify accepts the unit" test $? -eq 0
    [ -s "$tmp/verify.out" ] && cat "$tmp/verify.out"
    systemd-analyze security --offline=true "$unit" >"$tmp/security.out" 2>&1
    score=$(sed -n 's/.*Overall exposure level for ccdialerd.service: \([0-9.]*\).*/\1/p' "$tmp/security.out")
    echo "systemd-analyze security: exposure ${score:-?} (0 = fully sandboxed, 10 = exposed)"
    check "the hardening keeps the exposure low (< 2.0)" awk -v s="${score:-99}" 'BEGIN { exit !(s < 2.0) }'
else
    echo "FAIL: systemd-analyze is not installed (scripts/setup.sh installs systemd)"
    fails=$((fails + 1))
fi

# --- man pages render without warnings ---
for m in man8/ccdialerd.8 man5/ccdialer.conf.5 man1/ccdialer-eccp.1 man1/ccdialer-db.1; do
    out=$(groff -man -Tutf8 -ww -z "$p/share/man/$m" 2>&1)
    check "man page $m renders without warnings" test -z "$out"
    [ -n "$out" ] && echo "$out"
done
check "the man pages carry the version" grep -q "ccdialer $("$p/sbin/ccdialerd" --version | cut -d' ' -f2)" \
    "$p/share/man/man8/ccdialerd.8"

sh_summary
