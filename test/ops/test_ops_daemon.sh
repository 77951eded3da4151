#!/usr/bin/env bash
# The running daemon as a monitoring system and systemd see it:
#  - sd_notify: READY=1 once the database is reached and ECCP listens, WATCHDOG=1 pings
#    (WATCHDOG_USEC set), STOPPING=1 on SIGTERM (a stand-in notification socket);
#  - /metrics, scraped before and after the test sends N ECCP requests: the counters
#    moved by exactly N; promtool accepts the output;
#  - /healthz, /readyz and ccdialerd --status, with the PBX up and after it is gone;
#  - no configured secret (AMI secret, database password, an ECCP password tried)
#    anywhere in the daemon's log or its notifications.
# Needs the private MariaDB from scripts/test.sh.
# Usage: test_ops_daemon.sh CCDIALERD PBXSIM CCDIALER_ECCP NOTIFY_LISTEN
set -u
ccd=$1 sim=$2 cli=$3 listen=$4
. "$(dirname "${BASH_SOURCE[0]}")/../common/sh_helpers.sh"
need_test_db

tmp=$(mktemp -d /tmp/ccdo.XXXXXX)
sim_pid="" d_pid="" l_pid=""
db="ccd_ops_$$"
cleanup() {
    [ -n "$d_pid" ] && kill -9 "$d_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    [ -n "$l_pid" ] && kill "$l_pid" 2>/dev/null
    wait 2>/dev/null
    mariadb --no-defaults -S "$CCD_TEST_DB_SOCKET" -u "$CCD_TEST_DB_USER" -p"$CCD_TEST_DB_PASSWORD" \
        -e "DROP DATABASE IF EXISTS $db" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

http_code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport$1"; }
is_code() { [ "$(http_code "$1")" = "$2" ]; }
scrape() { curl -sf "http://127.0.0.1:$mport/metrics" >"$1"; }
value() { # value FILE SERIES: the sample's value (series written exactly as exposed)
    awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "missing" }' "$1"
}

ami_secret="ami-Secr3t-$$-x"
eccp_secret="eccp-Pa55-$$-y"
"$sim" --port 0 --username d --secret "$ami_secret" >"$tmp/sim.out" 2>"$tmp/sim.log" &
sim_pid=$!
wait_for 20 grep -q listening "$tmp/sim.out" || { echo "FAIL: pbxsim did not start"; exit 1; }
ami_port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/sim.out" | head -1)
eport=$(free_port 25000 2000)
mport=$(free_port 27000 2000)
cat >"$tmp/c.conf" <<CONF
[ami]
host = 127.0.0.1
port = $ami_port
username = d
secret = $ami_secret
[database]
socket = $CCD_TEST_DB_SOCKET
user = $CCD_TEST_DB_USER
password = env:CCD_TEST_DB_PASSWORD
name = $db
[eccp]
bind = 127.0.0.1
port = $eport
allowed_networks = 127.0.0.0/8
[agi]
enabled = no
[log]
level = debug
target = $tmp/ccdialerd.log
[metrics]
enabled = yes
bind = 127.0.0.1
port = $mport
CONF

check "--init-db" "$ccd" -c "$tmp/c.conf" --init-db
"$ccd" -c "$tmp/c.conf" --status >"$tmp/status0.out" 2>&1
check "--status without a daemon exits 3" test $? -eq 3
check "and says it is not running" grep -q "not running" "$tmp/status0.out"

"$listen" "$tmp/notify.sock" "$(t 200)" >"$tmp/notify.out" &
l_pid=$!
wait_for 10 test -S "$tmp/notify.sock" || { echo "FAIL: notify_listen did not bind"; exit 1; }
NOTIFY_SOCKET="$tmp/notify.sock" WATCHDOG_USEC=900000 "$ccd" -f -c "$tmp/c.conf" 2>"$tmp/stderr.out" &
d_pid=$!

check "sd_notify READY=1 arrives" wait_for 60 grep -q "READY=1" "$tmp/notify.out"
# READY is sent after ECCP listens and the metrics endpoint is up: both answer at once.
check "ECCP listens when READY is sent" bash -c "exec 3<>/dev/tcp/127.0.0.1/$eport"
check "/healthz answers 200 when READY is sent" is_code /healthz 200
check "watchdog pings arrive (WATCHDOG_USEC set)" \
    wait_for 30 bash -c "[ \$(grep -c '^WATCHDOG=1' '$tmp/notify.out') -ge 3 ]"
check "/readyz turns 200 once the PBX login is done" wait_for 60 is_code /readyz 200
curl -s "http://127.0.0.1:$mport/readyz" >"$tmp/readyz.out"
check "/readyz lists the database as up" grep -q "^database: up" "$tmp/readyz.out"
check "/readyz lists the AMI server as up" grep -q "^ami default: up" "$tmp/readyz.out"
"$ccd" -c "$tmp/c.conf" --status >"$tmp/status1.out" 2>&1
check "--status on a ready daemon exits 0" test $? -eq 0
check "--status prints the readiness for a person" grep -q "^ready" "$tmp/status1.out"
check "--status prints the threads' liveness" grep -q "^threads: alive" "$tmp/status1.out"
check "an unknown path is 404" is_code /nope 404
check "POST is refused with 405" \
    test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$mport/metrics")" = 405

check "scrape before" scrape "$tmp/m1.txt"
n=7
for i in $(seq 1 $n); do
    "$cli" -n -p "$eport" getrequestlist >/dev/null 2>&1 || echo "getrequestlist $i failed"
done
"$cli" -n -p "$eport" nosuchrequest >/dev/null 2>&1
"$cli" -p "$eport" -u agentconsole -P "$eccp_secret" getpauses >/dev/null 2>&1
check "scrape after" scrape "$tmp/m2.txt"
delta() { # delta SERIES: after - before
    local a b
    a=$(value "$tmp/m1.txt" "$1")
    b=$(value "$tmp/m2.txt" "$1")
    [ "$a" = missing ] || [ "$b" = missing ] && { echo "missing:$1"; return; }
    echo $((b - a))
}
check "N getrequestlist requests moved their counter by N" \
    test "$(delta 'ccdialer_eccp_requests_total{request="getrequestlist"}')" = "$n"
check "and no getrequestlist error was counted" \
    test "$(delta 'ccdialer_eccp_request_errors_total{request="getrequestlist"}')" = 0
check "an unknown request counts as unknown" \
    test "$(delta 'ccdialer_eccp_requests_total{request="unknown"}')" = 1
check "and as an unknown error (501)" \
    test "$(delta 'ccdialer_eccp_request_errors_total{request="unknown"}')" = 1
check "the refused login counts as a login request" \
    test "$(delta 'ccdialer_eccp_requests_total{request="login"}')" = 1
check "and as a login error (401)" \
    test "$(delta 'ccdialer_eccp_request_errors_total{request="login"}')" = 1
check "n+2 connections were accepted" \
    test "$(delta 'ccdialer_eccp_connections_accepted_total')" = $((n + 2))
check "the AMI server is up in /metrics" test "$(value "$tmp/m2.txt" 'ccdialer_ami_up{server="default"}')" = 1
check "one AMI connection so far" \
    test "$(value "$tmp/m2.txt" 'ccdialer_ami_connects_total{server="default"}')" = 1
check "AMI events were counted" \
    test "$(value "$tmp/m2.txt" 'ccdialer_ami_events_total{server="default"}')" -gt 0
check "the database is up in /metrics" test "$(value "$tmp/m2.txt" ccdialer_db_up)" = 1
check "ready in /metrics" test "$(value "$tmp/m2.txt" ccdialer_ready)" = 1
check "the write queue depth is exposed" grep -q '^ccdialer_db_write_queue_depth [0-9]' "$tmp/m2.txt"
check "the registry inbox depth is exposed" grep -q '^ccdialer_registry_inbox_depth [0-9]' "$tmp/m2.txt"
check "agents by state are exposed" grep -q '^ccdialer_agents{state="ready"} [0-9]' "$tmp/m2.txt"
check "the dialer's agents in wrap-up are exposed" grep -q '^ccdialer_dialer_agents_wrapping [0-9]' "$tmp/m2.txt"
check "the campaigns' abandon ratios are exposed" grep -q '^# TYPE ccdialer_dialer_abandon_ratio gauge$' "$tmp/m2.txt"
check "the pacers' allowances are exposed" grep -q '^# TYPE ccdialer_dialer_pacer_allowance gauge$' "$tmp/m2.txt"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$tmp/m2.txt" >"$tmp/promtool.out" 2>&1
    check "promtool check metrics accepts the output" test $? -eq 0
    [ -s "$tmp/promtool.out" ] && cat "$tmp/promtool.out"
else
    echo "FAIL: promtool is not installed (scripts/setup.sh installs the prometheus package)"
    fails=$((fails + 1))
fi

# The PBX goes away: not ready, but alive.
kill "$sim_pid"
wait "$sim_pid" 2>/dev/null
sim_pid=""
check "/readyz turns 503 when the PBX is gone" wait_for 30 is_code /readyz 503
check "/healthz stays 200 (the engine itself is fine)" is_code /healthz 200
"$ccd" -c "$tmp/c.conf" --status >"$tmp/status2.out" 2>&1
check "--status exits 1 when not ready" test $? -eq 1
check "and names the AMI server as down" grep -q "^ami default: down" "$tmp/status2.out"
scrape "$tmp/m3.txt"
check "ccdialer_ami_up is 0" test "$(value "$tmp/m3.txt" 'ccdialer_ami_up{server="default"}')" = 0
check "ccdialer_ready is 0" test "$(value "$tmp/m3.txt" ccdialer_ready)" = 0

kill -TERM "$d_pid"
wait "$d_pid"
rc=$?
d_pid=""
check "SIGTERM stops it with status 0" test $rc -eq 0
check "sd_notify STOPPING=1 was sent" grep -q "STOPPING=1" "$tmp/notify.out"
check "the metrics endpoint is closed after the stop" test "$(http_code /healthz)" = 000

for s in "$ami_secret" "$eccp_secret" "$CCD_TEST_DB_PASSWORD"; do
    check "secret ${s:0:3}... is not in the log" bash -c "! grep -qF -- '$s' '$tmp/ccdialerd.log'"
    check "secret ${s:0:3}... is not in the notifications" bash -c "! grep -qF -- '$s' '$tmp/notify.out'"
done
check "libmicrohttpd had nothing to warn about at start" \
    bash -c "! grep -q 'MHD_OPTION' '$tmp/ccdialerd.log' '$tmp/stderr.out'"
check "the log is not empty (the grep saw a debug-level run)" test "$(wc -l <"$tmp/ccdialerd.log")" -gt 10

if [ "$fails" -ne 0 ]; then
    echo "--- daemon log (tail)"
    tail -n 40 "$tmp/ccdialerd.log"
    echo "--- notifications"
    head -n 20 "$tmp/notify.out"
fi
sh_summary
