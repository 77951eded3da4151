#!/usr/bin/env bash
# A private MariaDB server for tests, benchmarks and the demo, living entirely in one directory.
#
#   scripts/mariadb-private.sh start DIR   initialise DIR/data if needed, start mariadbd, wait, create the test user
#   scripts/mariadb-private.sh stop DIR    clean shutdown (waits for the process to exit)
#   scripts/mariadb-private.sh env DIR     print the export line tests read (eval "$(... env DIR)")
#   scripts/mariadb-private.sh status DIR  exit 0 when a server is running there
#
# The server never touches the system MariaDB: no option files are read (--no-defaults), the only
# listener is the unix socket DIR/mysql.sock (skip-networking), and it runs as the invoking user
# (--user=root when run as root, which mariadbd otherwise refuses).
#
# Extra server options may be passed through CCD_MARIADB_OPTS (space-separated), e.g. the benchmarks
# keep the default durable settings; nothing here weakens them.
set -euo pipefail

TEST_USER=ccdtest
TEST_PASSWORD=ccdtest-pw

die() { echo "mariadb-private: $*" >&2; exit 1; }

usage() { die "usage: $0 start|stop|env|status DIR"; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sock="$dir/mysql.sock"
pidf="$dir/mariadbd.pid"
logf="$dir/mariadbd.log"
data="$dir/data"

# sun_path is 108 bytes; a longer path would make mariadbd fail with an obscure error.
if [ ${#sock} -ge 100 ]; then
    die "socket path too long (${#sock} bytes): $sock; use a shorter DIR"
fi

find_bin() {
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
        for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
            if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
        done
    done
    return 1
}

MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd not found (run scripts/setup.sh)"
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
CLIENT=$(find_bin mariadb mysql) || die "mariadb client not found"
ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found"

running_pid() {
    # Prints the pid of a live mariadbd owning DIR, or nothing.
    [ -f "$pidf" ] || return 0
    local pid
    pid=$(cat "$pidf" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null && grep -q "mariadbd\|mysqld" "/proc/$pid/comm" 2>/dev/null; then
        echo "$pid"
    fi
}

root_sql() {
    "$CLIENT" --no-defaults --protocol=socket --socket="$sock" -uroot "$@"
}

cmd_start() {
    local pid
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        die "a server is already running in $dir (pid $pid); stop it first"
    fi
    if [ -S "$sock" ]; then
        # A socket file without a live server: left over from a crash (the pid file may be gone too).
        if "$ADMIN" --no-defaults --protocol=socket --socket="$sock" -uroot --connect-timeout=2 ping \
            >/dev/null 2>&1; then
            die "something already answers on $sock; refusing to start a second server"
        fi
        rm -f "$sock"
    fi
    local user
    user=$(id -un)
    # A tmpdir of its own: at startup mariadbd deletes every "#sql*" file in its tmpdir as
    # left over from a crash, so with a shared /tmp one server starting (or bootstrapping)
    # removes the temporary tables another one is using (seen: "Could not remove temporary
    # table '/tmp/#sql-temptable-...'" and a failed mariadb-install-db on a busy machine).
    mkdir -p "$dir/tmp"
    if [ ! -d "$data/mysql" ]; then
        mkdir -p "$data"
        "$INSTALL_DB" --no-defaults --datadir="$data" --user="$user" --tmpdir="$dir/tmp" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    local opts=()
    if [ -n "${CCD_MARIADB_OPTS:-}" ]; then
        read -r -a opts <<<"$CCD_MARIADB_OPTS"
    fi
    # setsid: the server must not die with the shell (or test runner) that started it.
    setsid "$MARIADBD" --no-defaults --datadir="$data" --tmpdir="$dir/tmp" --socket="$sock" --pid-file="$pidf" \
        --log-error="$logf" --skip-networking --user="$user" \
        --innodb-buffer-pool-size=512M --max-connections=500 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        "${opts[@]}" </dev/null >/dev/null 2>&1 &
    local spid=$!
    local i
    for i in $(seq 1 300); do
        if "$ADMIN" --no-defaults --protocol=socket --socket="$sock" -uroot --connect-timeout=1 ping \
            >/dev/null 2>&1; then
            break
        fi
        if ! kill -0 "$spid" 2>/dev/null; then
            tail -20 "$logf" >&2 || true
            die "mariadbd exited during startup (log: $logf)"
        fi
        sleep 0.1
    done
    "$ADMIN" --no-defaults --protocol=socket --socket="$sock" -uroot ping >/dev/null 2>&1 ||
        { tail -20 "$logf" >&2 || true; die "mariadbd did not answer within 30 s (log: $logf)"; }
    # The test user may create and drop any database: tests make throwaway ones.
    root_sql -e "CREATE USER IF NOT EXISTS '$TEST_USER'@'localhost' IDENTIFIED BY '$TEST_PASSWORD';
                 GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'localhost' WITH GRANT OPTION;
                 FLUSH PRIVILEGES;" || die "could not create the test user"
    echo "mariadb-private: running in $dir (pid $(cat "$pidf"), socket $sock)"
}

cmd_stop() {
    local pid
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        echo "mariadb-private: no server running in $dir"
        return 0
    fi
    if ! "$ADMIN" --no-defaults --protocol=socket --socket="$sock" -uroot shutdown >/dev/null 2>&1; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    local i
    for i in $(seq 1 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        die "mariadbd (pid $pid) did not stop within 60 s"
    fi
    echo "mariadb-private: stopped (pid $pid)"
}

cmd_env() {
    printf "export CCD_TEST_DB_SOCKET=%q CCD_TEST_DB_USER=%q CCD_TEST_DB_PASSWORD=%q CCD_TEST_DB_DIR=%q\n" \
        "$sock" "$TEST_USER" "$TEST_PASSWORD" "$dir"
}

case "$cmd" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) [ -n "$(running_pid)" ] && { echo "running (pid $(running_pid))"; exit 0; } || { echo "not running"; exit 1; } ;;
*) usage ;;
esac
