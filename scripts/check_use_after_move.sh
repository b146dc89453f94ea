#!/usr/bin/env bash
# Use-after-move as an error for the code that handles affine budgets (src/budget, src/agent): C++
# cannot reject a use of a moved-from Budget at compile time, so clang-tidy's bugprone-use-after-move
# does, with warnings as errors. Run by scripts/check.sh; usage: check_use_after_move.sh [BUILD_DIR].
# First a planted use-after-move must be caught, so a misconfigured clang-tidy cannot pass silently.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
tidy=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$tidy" ]; then
    echo "check_use_after_move: clang-tidy not found (apt install clang-tidy-14)" >&2
    exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
    echo "check_use_after_move: $build/compile_commands.json missing (configure first)" >&2
    exit 1
fi
checks='-*,bugprone-use-after-move'
probe=$(mktemp --suffix=.cc)
trap 'rm -f "$probe"' EXIT
cat >"$probe" <<'CC'
#include <utility>
#include "budget/budget.h"
gannet::Result<gannet::budget::Budget> twice(gannet::budget::Budget b) {
    gannet::Result<gannet::budget::Budget> r = std::move(b).spend(1);
    return std::move(b).spend(1);
}
CC
if "$tidy" --quiet -checks="$checks" -warnings-as-errors="$checks" "$probe" -- -std=c++20 -I"$root/src" \
        >/dev/null 2>&1; then
    echo "check_use_after_move: clang-tidy did not flag the planted use-after-move; the check is broken" >&2
    exit 1
fi
# The library sources; tests are left out (they use moved-from budgets on purpose, under NOLINT, and
# gtest's headers would triple the time).
mapfile -t files < <(cd "$root" && ls src/budget/*.cc src/agent/*.cc 2>/dev/null | grep -v '_test\.cc$' || true)
echo "check_use_after_move: ${#files[@]} files in src/budget and src/agent"
cd "$root"
# One clang-tidy per file, as many at once as there are cores; any finding fails the check.
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 1 "$tidy" --quiet -p "$build" -checks="$checks" \
    -warnings-as-errors="$checks" 2> >(grep -v " warnings\? generated\.$" >&2)
