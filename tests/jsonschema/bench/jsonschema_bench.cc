// Validation throughput of the compiled validator on benchmark cases (a folder holding schema.json
// and instances.jsonl), reported as nanoseconds per validation so it lines up with ajv's and the
// Blaze CLI's numbers from run_bench.sh. Instances are parsed once; only validate() is timed.
// Usage: jsonschema_bench [--min-time-ms N | --iters N] CASE_DIR...   (Release builds only)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "json/json.h"
#include "jsonschema/validator.h"

namespace {

using Clock = std::chrono::steady_clock;

// fixed_iters > 0: run exactly that many validations per instance (for `perf stat` instruction
// counts, which a loaded machine does not distort) instead of calibrating on time.
int run_case(const std::string& dir, double min_time_ms, size_t fixed_iters) {
    gannet::Result<nlohmann::json> schema = gannet::json::parse_file(dir + "/schema.json");
    if (!schema.has_value()) {
        std::fprintf(stderr, "jsonschema_bench: %s\n", schema.error().to_string().c_str());
        return 1;
    }
    gannet::Result<gannet::jsonschema::Validator> v = gannet::jsonschema::Validator::compile(*schema);
    if (!v.has_value()) {
        std::fprintf(stderr, "jsonschema_bench: %s: %s\n", dir.c_str(), v.error().to_string().c_str());
        return 1;
    }
    std::vector<nlohmann::json> instances;
    std::ifstream in(dir + "/instances.jsonl");
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            instances.push_back(nlohmann::json::parse(line));
        }
    }
    if (instances.empty()) {
        std::fprintf(stderr, "jsonschema_bench: %s: no instances\n", dir.c_str());
        return 1;
    }
    // Per instance: calibrate a loop count that runs at least min_time_ms, then time it. The sum
    // of valid results is printed so the compiler cannot drop the calls.
    double total_ns = 0;
    size_t n_valid = 0;
    for (const nlohmann::json& instance : instances) {
        n_valid += v->validate(instance);
        size_t n_iters = fixed_iters > 0 ? fixed_iters : 64;
        double ns = 0;
        while (true) {
            const auto start = Clock::now();
            size_t sink = 0;
            for (size_t i = 0; i < n_iters; ++i) {
                sink += v->validate(instance);
            }
            const double elapsed = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
            if (sink > n_iters) {
                std::abort();  // unreachable; keeps `sink` alive
            }
            if (fixed_iters > 0 ? n_iters >= fixed_iters
                                : elapsed >= min_time_ms * 1e6 / static_cast<double>(instances.size())) {
                ns = elapsed / static_cast<double>(n_iters);
                break;
            }
            n_iters *= 2;
        }
        total_ns += ns;
    }
    std::printf(
        "{\"validator\":\"gannet\",\"case\":\"%s\",\"ns_per_validation\":%.1f,\"n_instances\":%zu,\"n_valid\":%zu}\n",
        dir.substr(dir.find_last_of('/') + 1).c_str(), total_ns / static_cast<double>(instances.size()),
        instances.size(), n_valid);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
    std::fprintf(stderr, "jsonschema_bench: refusing to run a non-Release build\n");
    return 1;
#endif
    double min_time_ms = 300;
    size_t fixed_iters = 0;
    int rc = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--min-time-ms" && i + 1 < argc) {
            min_time_ms = std::atof(argv[++i]);
            continue;
        }
        if (arg == "--iters" && i + 1 < argc) {
            fixed_iters = static_cast<size_t>(std::atoll(argv[++i]));
            continue;
        }
        rc |= run_case(arg, min_time_ms, fixed_iters);
    }
    return rc;
}
