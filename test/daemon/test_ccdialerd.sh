#!/usr/bin/env bash
# The ccdialerd binary as an admin uses it: options, --check-config errors, --init-db,
# the pid file (and its lock against a second daemon), SIGHUP log reopening, and an
# orderly SIGTERM shutdown.  Needs the private MariaDB from scripts/test.sh.
# Usage: test_ccdialerd.sh CCDIALERD PBXSIM SOURCE_DIR
set -u
ccd=$1 sim=$2 src=$3
. "$(dirname "${BASH_SOURCE[0]}")/../common/sh_helpers.sh"
need_test_db

tmp=$(mktemp -d /tmp/ccdd.XXXXXX)
sim_pid=""
d_pid=""
cleanup() {
    [ -n "$d_pid" ] && kill -9 "$d_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- options and configuration checking (no servers needed) ---
out=$("$ccd" --version)
check "--version prints the version" grep -q '^ccdialerd [0-9]' <<<"$out"
"$ccd" --bogus >/dev/null 2>&1
check "an unknown option exits 2" test $? -eq 2
check "the sample configuration is valid" "$ccd" --check-config -c "$src/conf/ccdialer.conf"
printf '[eccp]\nport = 20005\nidle_timeout = soon\n' >"$tmp/bad.conf"
err=$("$ccd" --check-config -c "$tmp/bad.conf" 2>&1)
rc=$?
check "a bad value exits 1" test $rc -eq 1
check "a bad value is reported as file:line" grep -q "bad.conf:3: .*idle_timeout" <<<"$err"
err=$("$ccd" --check-config -c "$tmp/missing.conf" 2>&1)
check "a missing file exits 1 with its name" grep -q "missing.conf" <<<"$err"

# --- a running daemon against pbxsim and the database ---
"$sim" --port 0 --username d --secret d-secret >"$tmp/sim.out" 2>"$tmp/sim.log" &
sim_pid=$!
wait_for 20 grep -q listening "$tmp/sim.out" || { echo "FAIL: pbxsim did not start"; exit 1; }
ami_port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/sim.out" | head -1)
db="ccd_daemon_$$"
eccp_port=$(free_port 21000 2000)
agi_port=$(free_port 23000 2000)
cat >"$tmp/c.conf" <<CONF
[general]
pid_file = $tmp/ccdialerd.pid
[ami]
host = 127.0.0.1
port = $ami_port
username = d
secret = env:TEST_AMI_SECRET
[database]
socket = $CCD_TEST_DB_SOCKET
user = $CCD_TEST_DB_USER
password = env:CCD_TEST_DB_PASSWORD
name = $db
[eccp]
bind = 127.0.0.1
port = $eccp_port
allowed_networks = 127.0.0.0/8
[agi]
enabled = yes
bind = 127.0.0.1
port = $agi_port
[log]
level = info
target = $tmp/ccdialerd.log
CONF
export TEST_AMI_SECRET=d-secret

"$ccd" -f -c "$tmp/c.conf" 2>"$tmp/early.err"
check "refuses to start on a database that was never initialised" test $? -ne 0
check "and says to run --init-db" grep -q -- "--init-db" "$tmp/ccdialerd.log"
"$ccd" -c "$tmp/c.conf" 2>"$tmp/bg.err"
check "in the background, a failed start still exits non-zero" test $? -ne 0
check "and says why on stderr" grep -q "startup failed" "$tmp/bg.err"
check "--init-db creates the schema" "$ccd" -c "$tmp/c.conf" --init-db
check "--init-db twice is harmless" "$ccd" -c "$tmp/c.conf" --init-db

"$ccd" -f -c "$tmp/c.conf" &
d_pid=$!
check "the daemon gets ready" wait_for 30 grep -q "ready" "$tmp/ccdialerd.log"
check "the pid file holds its pid" wait_for 5 grep -qx "$d_pid" "$tmp/ccdialerd.pid"
check "it logs in to the PBX" wait_for 30 grep -q "logged in to 127.0.0.1:$ami_port" "$tmp/ccdialerd.log"
check "the secret never reaches the log" bash -c "! grep -q d-secret '$tmp/ccdialerd.log'"
# FastAGI ([agi] enabled): a session for agentlogin gets its first command.
agi_first=$(timeout "$(t 10)" bash -c "exec 3<>/dev/tcp/127.0.0.1/$agi_port;
  printf 'agi_network: yes\nagi_network_script: agentlogin\nagi_uniqueid: 1.1\n\n' >&3;
  IFS= read -r line <&3; printf '%s' \"\$line\"" 2>/dev/null)
check "FastAGI serves a session" test "$agi_first" = "GET DATA agent-user 5000 10"

"$ccd" -f -c "$tmp/c.conf" >/dev/null 2>&1
check "a second daemon on the same pid file refuses to start" test $? -eq 1
check "saying another one runs" grep -q "another ccdialerd is running" "$tmp/ccdialerd.log"
check "the first one still owns the pid file" grep -qx "$d_pid" "$tmp/ccdialerd.pid"

mv "$tmp/ccdialerd.log" "$tmp/ccdialerd.log.1"
kill -HUP "$d_pid"
check "SIGHUP reopens the log file (logrotate)" wait_for 10 grep -q "log reopened" "$tmp/ccdialerd.log"

kill -TERM "$d_pid"
wait "$d_pid"
rc=$?
d_pid=""
check "SIGTERM stops it with status 0" test $rc -eq 0
check "after an orderly shutdown" grep -q "stopped" "$tmp/ccdialerd.log"
check "and removes the pid file" test ! -e "$tmp/ccdialerd.pid"

# --- the same as a real daemon (no -f): the start command returns once it is ready ---
"$ccd" -c "$tmp/c.conf"
check "started in the background, the command exits 0 once ready" test $? -eq 0
bg_pid=$(cat "$tmp/ccdialerd.pid" 2>/dev/null)
check "the daemon wrote its pid" test -n "$bg_pid"
check "and is running" kill -0 "${bg_pid:-0}"
[ -n "$bg_pid" ] && kill -TERM "$bg_pid"
check "SIGTERM ends the background daemon" wait_for 30 bash -c "! kill -0 ${bg_pid:-0} 2>/dev/null"
check "which removes its pid file" wait_for 5 test ! -e "$tmp/ccdialerd.pid"

mariadb --no-defaults -S "$CCD_TEST_DB_SOCKET" -u "$CCD_TEST_DB_USER" -p"$CCD_TEST_DB_PASSWORD" \
    -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
sh_summary
