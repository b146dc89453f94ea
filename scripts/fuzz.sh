#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets (*_fuzz.cc) with clang in their own build dir (coverage
# instrumentation, ASan+UBSan) and runs each for FUZZ_SECONDS on a working copy of its committed
# seed corpus (fuzz/corpus/<target>/). Fails when any target finds a crash, leak, timeout (> 10 s
# for one input) or an allocation above 2 GiB; the input that did it is left in
# <build>/fuzz-artifacts/<target>/. Prints one line per target: runs, cov, ft (libFuzzer's final
# stats), result. Usage: scripts/fuzz.sh [build-dir] [seconds-per-target] [target...]
set -euo pipefail

BUILD=${1:-build-fuzz}
SECS=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
JOBS=${JOBS:-$(nproc)}
cd "$(dirname "$0")/.."

if [ ! -f "$BUILD/build.ninja" ]; then
    if ! command -v "${FUZZ_CXX:-clang++-14}" >/dev/null; then
        echo "fuzz: ${FUZZ_CXX:-clang++-14} not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
        exit 2
    fi
    launcher=()
    if command -v ccache >/dev/null; then
        launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    fi
    CC=${FUZZ_CC:-clang-14} CXX=${FUZZ_CXX:-clang++-14} cmake -S . -B "$BUILD" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGANNET_FUZZ=ON "${launcher[@]}"
fi
cmake --build "$BUILD" -j "$JOBS" --target fuzz_targets

declare -A binary
while read -r name path; do
    binary[$name]=$path
done <"$BUILD/fuzz_targets.txt"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cut -d' ' -f1 "$BUILD/fuzz_targets.txt" | sort)
fi

failed=0
printf '%-20s %10s %7s %7s  %s\n' target runs cov ft result
for t in "${targets[@]}"; do
    bin=${binary[$t]:-}
    if [ -z "$bin" ]; then
        echo "fuzz: unknown target '$t' (known: ${!binary[*]})" >&2
        exit 2
    fi
    corpus="$BUILD/fuzz-corpus/$t"
    artifacts="$BUILD/fuzz-artifacts/$t/"
    log="$BUILD/fuzz-logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    if [ -d "fuzz/corpus/$t" ]; then
        cp -n "fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    fi
    result=ok
    if ! "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1; then
        result="FAILED (see $log, input in $artifacts)"
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    stats=$(grep -E '^#[0-9]+' "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+' | tail -1)
    cov=$(echo "$stats" | awk '{print $2}')
    ft=$(echo "$stats" | awk '{print $4}')
    printf '%-20s %10s %7s %7s  %s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
