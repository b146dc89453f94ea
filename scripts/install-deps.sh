#!/usr/bin/env bash
# Installs the Debian packages Gannet builds and tests with, only those missing. Runs as root on a
# fresh Debian 12 (CI, `make demo`, `make check`); elsewhere it says what to install and fails.
# Each package is listed, with why, in docs/DEPENDENCIES.md.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config git ca-certificates curl
    googletest libgtest-dev libgmock-dev libbenchmark-dev
    nlohmann-json3-dev libpcre2-dev zlib1g-dev libtomlplusplus-dev libpng-dev libjpeg62-turbo-dev libwebp-dev
    libboost-dev libssl-dev libsqlite3-dev libhiredis-dev redis-server nginx-light
    python3-numpy wamerican nodejs npm
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# Node comes from the image on our machines (not Debian's nodejs); skip it when node already works.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=("${missing[@]/nodejs/}")
    missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages (run as root or install them): ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
