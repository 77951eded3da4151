#!/usr/bin/env bash
# Installs, with apt-get, whatever ccdialer needs to build, test and run that is not
# already on this Debian 12 machine. Idempotent: when everything is present it only checks.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang
    libxml2-dev libmariadb-dev libssl-dev libcmocka-dev
    mariadb-server mariadb-client
    procps
    # ops/ and the daemon: the metrics endpoint, sd_notify
    libmicrohttpd-dev libsystemd-dev
    # tests of the endpoint (curl, promtool), the unit (systemd-analyze), the man pages
    # (groff, man-db) and the .deb (dpkg-dev for dpkg-shlibdeps, init-system-helpers)
    curl prometheus systemd groff-base man-db dpkg-dev init-system-helpers
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all packages present"
    exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The system MariaDB service is never used: tests and the demo start a private server.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the system mariadb service on install when it can; we do not need it.
# The same for Prometheus, installed only for its promtool.
for unit in mariadb prometheus; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
        $SUDO systemctl stop "$unit" || true
    fi
done
echo "setup: done"
