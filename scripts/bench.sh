#!/usr/bin/env bash
# Builds the benchmarks (RelWithDebInfo, no sanitizers) and runs every one of them, printing
# their `metric <name> <value> <unit>` lines; the whole output also goes to build/bench/results.txt.
# Each benchmark finishes in under a minute; the database ones start a private MariaDB themselves
# unless CCD_TEST_DB_SOCKET points at one.
# Usage: scripts/bench.sh [benchmark ...]   (default: ami_ingest db_write db_select eccp_load eccp_fair ops_scrape pacing pacing_dp
#        agi_sessions dialer_scale)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >/dev/null
bdir="$root/build/bench-release"
cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCD_SANITIZE=none >/dev/null
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(ami_ingest db_write db_select eccp_load eccp_fair ops_scrape pacing pacing_dp agi_sessions dialer_scale)
cmake --build "$bdir" -j2 --target "${benches[@]}" >/dev/null
out="$bdir/bench/results.txt"
: >"$out"
for b in "${benches[@]}"; do
    echo "== $b ($(date -u +%H:%M:%S))" | tee -a "$out"
    "$bdir/bench/$b" 2>&1 | tee -a "$out"
done
echo "== results in $out"
