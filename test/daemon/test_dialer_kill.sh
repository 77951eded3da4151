#!/usr/bin/env bash
# The dialer survives a crash: ccdialerd is killed with SIGKILL mid-campaign (calls in
# flight, numbers claimed) and started again.  The new instance releases what the dead one
# had claimed (recovery at start, once the dead one's heartbeat is past its lease), goes on
# dialing, and no number is dialed beyond its retries.  Needs the private MariaDB from
# scripts/test.sh.  Usage: test_dialer_kill.sh CCDIALERD PBXSIM SOURCE_DIR
set -u
ccd=$1 sim=$2 src=$3
. "$(dirname "${BASH_SOURCE[0]}")/../common/sh_helpers.sh"
need_test_db

tmp=$(mktemp -d /tmp/ccdk.XXXXXX)
sim_pid=""
d_pid=""
db="ccd_dlkill_$$"
sql() { mariadb --socket="$CCD_TEST_DB_SOCKET" -u"$CCD_TEST_DB_USER" -p"$CCD_TEST_DB_PASSWORD" \
    -N -B "$db" -e "$1"; }
cleanup() {
    [ -n "$d_pid" ] && kill -9 "$d_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    wait 2>/dev/null
    mariadb --socket="$CCD_TEST_DB_SOCKET" -u"$CCD_TEST_DB_USER" -p"$CCD_TEST_DB_PASSWORD" \
        -e "DROP DATABASE IF EXISTS $db" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$sim" --port 0 --username d --secret d-secret --time-scale 20 --login-wait-ms 200 \
    --quiet-noise >"$tmp/sim.out" 2>"$tmp/sim.log" &
sim_pid=$!
wait_for 20 grep -q listening "$tmp/sim.out" || { echo "FAIL: pbxsim did not start"; exit 1; }
ami_port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/sim.out" | head -1)
cat >"$tmp/c.conf" <<CONF
[ami]
host = 127.0.0.1
port = $ami_port
username = d
secret = d-secret
reconnect_min_ms = 50
reconnect_max_ms = 500
[database]
socket = $CCD_TEST_DB_SOCKET
user = $CCD_TEST_DB_USER
password = env:CCD_TEST_DB_PASSWORD
name = $db
[eccp]
enabled = no
[agi]
enabled = no
[dialer]
cycle_ms = 200
originate_timeout = 15
[log]
level = info
target = $tmp/ccdialerd.log
CONF

check "--init-db creates the schema" "$ccd" -c "$tmp/c.conf" --init-db
sql "SOURCE $src/db/seed/demo.sql"
# Campaign 3: 200 answering numbers, 3 attempts each, progressive; the demo campaign off.
sql "UPDATE campaign SET estatus = 'I' WHERE id = 1;
     INSERT INTO campaign (id, name, datetime_init, datetime_end, daytime_init, daytime_end,
       retries, trunk, context, queue, max_canales, script, estatus, callerid)
       VALUES (3, 'Kill test', CURDATE() - INTERVAL 1 DAY, CURDATE() + INTERVAL 30 DAY,
       '00:00:00', '23:59:59', 3, 'Local/\$OUTNUM\$@customers', 'dialer-queue', '8000', 0, '',
       'A', '5550100');
     INSERT INTO ccd_campaign_pacing (id_campaign, mode, max_channels) VALUES (3, 'progressive', 0);
     INSERT INTO campaign_lists (id, id_campaign, type, name, upload, date_entered, status,
       total_calls, pending_calls) VALUES (3, 3, 0, 'Kill', 'k.csv', NOW(), 1, 200, 200);
     INSERT INTO calls (id, id_list, phone) SELECT 5000 + seq, 3, 5000 + seq FROM seq_1_to_200;"
check "the campaign is in place" test "$(sql "SELECT COUNT(*) FROM calls WHERE id_list = 3")" = 200

start_daemon() {
    "$ccd" -f -c "$tmp/c.conf" &
    d_pid=$!
}
# Agents log in from their phones through the PBX (its agent-login context).
login_agents() {
    local a
    for a in 9000 9001 9002 9003 9004; do
        exec 3<>"/dev/tcp/127.0.0.1/$ami_port" || return 1
        printf 'Action: Login\r\nUsername: d\r\nSecret: d-secret\r\n\r\nAction: Originate\r\nActionID: login-%s\r\nChannel: Local/1%s@phones\r\nContext: agent-login\r\nExten: %s\r\nPriority: 1\r\nAsync: true\r\n\r\n' \
            "$a" "${a:1}" "$a" >&3
        timeout "$(t 10)" grep -q -m1 "successfully queued" <&3 || { exec 3>&-; return 1; }
        exec 3>&-
    done
}
dialed() { sql "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND retries > 0"; }
ge() { [ "$($1)" -ge "$2" ]; }

start_daemon
# main's NOTICE "ready" ends its line ("already ..." elsewhere in the log must not count).
readies() { [ "$(grep -c " main: ready$" "$tmp/ccdialerd.log" 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
check "the daemon gets ready" wait_for 30 readies 1
check "the agents log in" login_agents
check "the dialer places calls" wait_for 60 ge dialed 20
old=$(sql "SELECT instance_id FROM ccd_engine LIMIT 1")
# Killed while numbers are claimed (calls in flight; the journal releases finished ones).
in_flight() { [ "$(sql "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = '$old'")" -ge 1 ]; }
check "numbers are in flight" wait_for 30 in_flight
kill -9 "$d_pid"
wait "$d_pid" 2>/dev/null
d_pid=""
claimed=$(sql "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = '$old'")
check "the killed engine left numbers claimed ($claimed)" test "$claimed" -ge 1
# The lease (180 s) passes: the dead engine's heartbeat is made old instead of waiting.
sql "UPDATE ccd_engine SET heartbeat = NOW() - INTERVAL 1 HOUR WHERE instance_id = '$old'"

start_daemon
check "the restarted daemon gets ready" wait_for 30 readies 2
# A function, so that every poll asks the database again.
released() { [ "$(sql "SELECT COUNT(*) FROM calls WHERE ccd_claim_owner = '$old'")" = 0 ]; }
check "its start released the dead engine's claims" wait_for 30 released
check "dialing goes on until every number was tried" wait_for 120 ge dialed 200
stuck() { [ "$(sql "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND status IN ('Placing', 'Ringing', 'OnQueue')")" = 0 ]; }
check "no row is left in flight" wait_for 60 stuck
check "no number beyond its 3 attempts" \
    test "$(sql "SELECT COUNT(*) FROM calls WHERE id_list = 3 AND retries > 3")" = 0
# One statement, so both counts come from one read view: the daemon may still be dialing
# retries, and a claim committing between two SELECTs would add to only the second.
check "one Placing progress row per attempt" test "$(sql "SELECT
    (SELECT COUNT(*) FROM call_progress_log WHERE id_campaign_outgoing = 3 AND new_status = 'Placing')
    - (SELECT SUM(retries) FROM calls WHERE id_list = 3)")" = 0
kill -TERM "$d_pid"
check "an orderly stop after the recovery" wait "$d_pid"
d_pid=""
sh_summary
