// gannet bench constrain: MaskBench over a folder of JSONSchemaBench schema files with a
// tokenizer from a GGUF (src/constrain/maskbench.h); ends with one JSON line on stdout.
#include <cstdio>
#include <string>
#include <vector>

#include "constrain/maskbench.h"
#include "flags.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace gannet::app {

int bench_constrain_main(const std::vector<std::string>& args) {
    std::string schemas, vocab_path;
    int64_t limit = 0, max_ws = 0, shard = 0, n_shards = 1;
    double timeout_s = 60, slow_mask_us = 0;
    bool is_json = false, is_verbose = false, is_pattern_at_end = false;
    Flags flags("bench constrain");
    flags.add_string("--schemas", &schemas, "folder of MaskBench schema files (*.json)");
    flags.add_string("--vocab", &vocab_path,
                     "GGUF whose tokenizer tokenizes the instances (a vocab-only GGUF is enough)");
    flags.add_int("--limit", &limit, "only the first N files in name order (default: all)");
    flags.add_int("--shard", &shard, "with --shards N: run files whose index % N is this (default 0)");
    flags.add_int("--shards", &n_shards, "split the files into N interleaved shards (default 1)");
    flags.add_int("--max-whitespace", &max_ws, "blanks allowed in a row between JSON tokens (default 0: compact)");
    flags.add_float("--schema-timeout", &timeout_s, "seconds per schema before it counts as a timeout (default 60)");
    flags.add_float("--slow-mask-us", &slow_mask_us,
                    "report (stderr) each schema whose slowest mask took at least this long, and where");
    flags.add_bool("--patterns-at-end", &is_pattern_at_end,
                   "check patterns only when a string closes (no per-character masks)");
    flags.add_bool("--json", &is_json, "print only the final JSON line on stdout");
    flags.add_bool("-v,--verbose", &is_verbose, "one line per schema on stderr");
    if (Status s = flags.parse(args); !s.ok()) {
        std::fprintf(stderr, "%s\n%s", s.message().c_str(), flags.usage().c_str());
        return 1;
    }
    if (n_shards < 1 || shard < 0 || shard >= n_shards) {
        std::fprintf(stderr, "bench constrain: --shard %lld must be in [0, --shards %lld)\n",
                     static_cast<long long>(shard), static_cast<long long>(n_shards));
        return 1;
    }
    if (schemas.empty() || vocab_path.empty()) {
        std::fprintf(stderr, "bench constrain: --schemas and --vocab are required\n%s", flags.usage().c_str());
        return 1;
    }
    auto file = gguf::File::open(vocab_path);
    if (!file.has_value()) {
        std::fprintf(stderr, "bench constrain: %s\n", file.error().message().c_str());
        return 1;
    }
    auto tok = tokenizer::Tokenizer::from_gguf(*file);
    if (!tok.has_value()) {
        std::fprintf(stderr, "bench constrain: %s\n", tok.error().message().c_str());
        return 1;
    }
    auto r =
        constrain::run_maskbench({.schemas_dir = schemas,
                                  .limit = static_cast<int32_t>(limit),
                                  .shard = static_cast<int32_t>(shard),
                                  .n_shards = static_cast<int32_t>(n_shards),
                                  .is_pattern_per_byte = !is_pattern_at_end,
                                  .max_whitespace = static_cast<int32_t>(max_ws),
                                  .schema_timeout_s = timeout_s,
                                  .slow_mask_us = slow_mask_us},
                                 **tok, [&](const std::string& name, const std::string& verdict) {
                                     if (is_verbose || verdict.starts_with("slow") || (verdict != "pass" && !is_json)) {
                                         std::fprintf(stderr, "%s: %s\n", name.c_str(), verdict.c_str());
                                     }
                                 });
    if (!r.has_value()) {
        std::fprintf(stderr, "%s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("%s\n", r->to_json().c_str());
    return 0;
}

}  // namespace gannet::app
