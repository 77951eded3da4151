#!/usr/bin/env bash
# Installs, with apt-get, whatever ccdialer needs to build, test and run that is not
# already on this Debian 12 machine. Idempotent: when everything is present it only checks.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang
    libxml2-dev libmariadb-dev libssl-dev libcmocka-dev
    mariadb-server mariadb-client
    procps
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
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mariadb 2>/dev/null; then
    $SUDO systemctl stop mariadb || true
fi
echo "setup: done"
