#!/usr/bin/env bash
# Validation throughput, side by side: gannet (jsonschema_bench, Release), ajv (node) and the Blaze
# CLI (@sourcemeta/jsonschema, run as a separate program, never linked), on MCP-style tool schemas
# (bench/cases/) and a few suite schemas. Prints a markdown table of ns per validation.
# Usage: tests/jsonschema/bench/run_bench.sh BUILD_DIR      (e.g. build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "$1" && pwd)"
node_dir="$build/tests/jsonschema/node"
work="$build/tests/jsonschema/bench-work"
suite="${GANNET_SHARED_DIR:-$here/../../../../shared}/third_party/JSON-Schema-Test-Suite"
"$here/../npm_install.sh" "$node_dir"
bench_bin="$build/tests/jsonschema/jsonschema_bench"
[[ -x "$bench_bin" ]] || { echo "build jsonschema_bench first: cmake --build $build --target jsonschema_bench" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
cp -r "$here/cases/." "$work/"
NODE_PATH="$node_dir/node_modules" node "$here/make_suite_cases.mjs" "$suite" "$work"
cp "$here/ajv_bench.mjs" "$node_dir/ajv_bench.mjs"   # resolve "ajv" from the installed node_modules
blaze="$node_dir/node_modules/.bin/jsonschema"
min_ms="${MIN_TIME_MS:-300}"
loop="${BLAZE_LOOP:-100000}"

declare -A gannet ajv blaze_ns
for dir in "$work"/*/; do
    name="$(basename "$dir")"
    gannet[$name]="$("$bench_bin" --min-time-ms "$min_ms" "$dir" | sed -E 's/.*"ns_per_validation":([0-9.]+).*/\1/')"
    ajv[$name]="$(node "$node_dir/ajv_bench.mjs" --min-time-ms "$min_ms" "$dir" | sed -E 's/.*"ns_per_validation":([0-9.]+).*/\1/')"
    # Blaze prints "file[i]: PASS|FAIL <mean> +- <stddev> us (...)" per instance; average the means.
    blaze_ns[$name]="$( ("$blaze" validate "$dir/schema.json" "$dir/instances.jsonl" --benchmark --fast --loop "$loop" \
        -d https://json-schema.org/draft/2020-12/schema 2>&1 || true) |
        sed -nE 's/.*(PASS|FAIL) ([0-9.]+) \+- .*/\2/p' | awk '{s+=$1; n++} END {if (n) printf "%.1f", s*1000/n; else print "n/a"}')"
done
echo "| case | gannet ns | ajv ns | Blaze CLI ns | ajv / gannet | Blaze / gannet |"
echo "|---|---:|---:|---:|---:|---:|"
for name in $(printf '%s\n' "${!gannet[@]}" | sort); do
    g="${gannet[$name]}"; a="${ajv[$name]}"; b="${blaze_ns[$name]}"
    awk -v n="$name" -v g="$g" -v a="$a" -v b="$b" 'BEGIN {
        rb = (b == "n/a") ? "n/a" : sprintf("%.2fx", b / g);
        printf "| %s | %.0f | %.0f | %s | %.2fx | %s |\n", n, g, a, (b == "n/a") ? "n/a" : sprintf("%.0f", b), a / g, rb }'
done
