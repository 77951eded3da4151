# Shared by the shell tests (test/daemon, test/ops); sourced, never run.
#   check NAME COMMAND...   counts a pass, or prints "FAIL: NAME" and counts a failure
#                           (totals in $pass and $fails; the test ends with sh_summary)
#   need_test_db            exits with a FAIL unless the private MariaDB's variables are set
#   t SECONDS               a deadline scaled like the C tests' (test/common/ccd_test.h):
#                           sanitizer runs set CCD_TEST_TIMEOUT_MULTIPLIER; a bad value counts as 1
#   wait_for SECONDS CMD... polls CMD until it succeeds, for at most t SECONDS; 1 when it never did
#   free_port BASE SPAN     prints a port in [BASE, BASE+SPAN) that nothing listens on, starting
#                           from one picked by the shell's pid; each script takes its own range
#                           (below the ephemeral ports, 32768+) so tests run side by side
fails=0
pass=0
check() {
    local name=$1
    shift
    if "$@"; then pass=$((pass + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
sh_summary() { # the last command of a test: its exit status says whether all passed
    echo "$pass passed, $fails failed"
    [ "$fails" -eq 0 ]
}
need_test_db() {
    local v
    for v in CCD_TEST_DB_SOCKET CCD_TEST_DB_USER CCD_TEST_DB_PASSWORD; do
        if [ -z "${!v:-}" ]; then
            echo "FAIL: $v is not set: run through scripts/test.sh (private MariaDB)"
            exit 1
        fi
    done
}
mult=${CCD_TEST_TIMEOUT_MULTIPLIER:-1}
case "$mult" in '' | *[!0-9]* | 0) mult=1 ;; esac
t() { echo $(($1 * mult)); }
wait_for() {
    local limit=$(($(date +%s) + $1 * mult))
    shift
    while ! "$@"; do
        [ "$(date +%s)" -ge "$limit" ] && return 1
        sleep 0.1
    done
}
free_port() {
    local base=$1 span=$2 i p
    for ((i = 0; i < span; i++)); do
        p=$((base + ($$ + i) % span))
        # a refused connect means the port is free (bash's /dev/tcp; no extra tool)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
