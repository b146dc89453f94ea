#!/usr/bin/env bash
# Runs every test but the GPU ones: the fast unit tests first, then the slow ones.
set -euo pipefail
build=${1:-build}
jobs=$(nproc)
ctest --test-dir "$build" -L fast -LE gpu --output-on-failure -j "$jobs"
ctest --test-dir "$build" -LE 'fast|gpu' --output-on-failure -j "$jobs"
