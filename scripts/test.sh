#!/usr/bin/env bash
# Runs the whole ccdialer test suite, the way CI does:
#   1. installs missing packages (scripts/setup.sh),
#   2. starts a private MariaDB server in a temporary directory,
#   3. builds and runs every ctest test (unit + integration) in a plain build,
#   4. rebuilds with ASan+UBSan and runs the whole suite again,
#   5. rebuilds with TSan and runs the threaded tests,
#   6. builds the .deb from the plain build, installs, removes and purges it (as root),
#   7. stops the server; exits non-zero if anything failed.
# Test deadlines are scaled by CCD_TEST_TIMEOUT_MULTIPLIER: 1 plain, 3 ASan, 5 TSan
# unless the environment already sets it.
# Usage: scripts/test.sh [--quick]   (--quick: plain build only)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=${CCD_JOBS:-2}
start_all=$(date +%s)

bash scripts/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }

# A short path: the unix socket path must stay under 108 bytes.
tmp=$(mktemp -d /tmp/ccdt.XXXXXX)
db_dir="$tmp/db"
cleanup() {
    bash scripts/mariadb-private.sh stop "$db_dir" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting a private MariaDB in $db_dir"
if ! bash scripts/mariadb-private.sh start "$db_dir"; then
    echo "test.sh: could not start the private MariaDB server" >&2
    exit 1
fi
eval "$(bash scripts/mariadb-private.sh env "$db_dir")"
export CCD_TEST_DB_DIR="$db_dir"

failed=()
timings=()

# Sanitized code runs several times slower, so the tests' deadlines (never their
# assertions) are stretched: every wait in test/ is scaled by
# CCD_TEST_TIMEOUT_MULTIPLIER (test/common/ccd_test.h, test/daemon/test_ccdialerd.sh).
# A value already in the environment wins over these defaults.
user_mult=${CCD_TEST_TIMEOUT_MULTIPLIER:-}
mult_for() { # mult_for VARIANT
    if [ -n "$user_mult" ]; then echo "$user_mult"; return; fi
    case $1 in asan) echo 3 ;; tsan) echo 5 ;; *) echo 1 ;; esac
}

# run_variant NAME SANITIZE CTEST_ARGS...
run_variant() {
    local name=$1 san=$2
    shift 2
    export CCD_TEST_TIMEOUT_MULTIPLIER
    CCD_TEST_TIMEOUT_MULTIPLIER=$(mult_for "$san")
    local bdir="$root/build/ci-$name" t0 t1
    t0=$(date +%s)
    echo "== [$name] configure + build (CCD_SANITIZE=$san)"
    if ! cmake -S "$root" -B "$bdir" -DCCD_SANITIZE="$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/cmake-$name.log" 2>&1; then
        cat "$tmp/cmake-$name.log"
        failed+=("$name: configure")
        return
    fi
    if ! cmake --build "$bdir" -j"$jobs" >"$tmp/build-$name.log" 2>&1; then
        tail -n 60 "$tmp/build-$name.log"
        failed+=("$name: build")
        return
    fi
    echo "== [$name] ctest $* (CCD_TEST_TIMEOUT_MULTIPLIER=$CCD_TEST_TIMEOUT_MULTIPLIER)"
    # Integration tests run side by side too: each uses its own database (named after its
    # pid) on the shared server or a private server of its own, ephemeral ports or a port
    # range of its own (free_port in test/common/sh_helpers.sh), and spends most of its time
    # waiting on sockets, so two at once nearly halve the wall time.
    if ! (cd "$bdir" && ctest --output-on-failure -j"$jobs" -LE 'integration|package' "$@"); then
        failed+=("$name: unit tests")
    fi
    if ! (cd "$bdir" && ctest --output-on-failure -j"$jobs" -L integration "$@"); then
        failed+=("$name: integration tests")
    fi
    t1=$(date +%s)
    timings+=("$name: $((t1 - t0)) s")
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/test/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/test/tsan.supp"

run_variant plain none
# The package test installs on this machine: once, from the plain build, not per variant.
t0=$(date +%s)
echo "== [package] build, install and remove the .deb"
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: not root: the .deb install test is skipped (CI runs as root)"
elif ! (cd "$root/build/ci-plain" && ctest --output-on-failure -L package); then
    failed+=("package: .deb test")
fi
timings+=("package: $(($(date +%s) - t0)) s")
if [ $quick -eq 0 ]; then
    run_variant asan asan
    run_variant tsan tsan -L threaded
fi

end_all=$(date +%s)
echo
echo "== timings"
for t in "${timings[@]}"; do echo "   $t"; done
echo "   total: $((end_all - start_all)) s"
if [ ${#failed[@]} -ne 0 ]; then
    echo "== FAILED:"
    for f in "${failed[@]}"; do echo "   $f"; done
    exit 1
fi
echo "== all test variants passed"
