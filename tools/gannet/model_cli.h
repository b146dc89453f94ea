// Small helpers shared by the model subcommands (run, logits, perplexity, bench): --help detection,
// thread-count and model loading with one-line errors. Header-only because tools/gannet compiles
// only main.cc, flags.cc and cmd_*.cc. Thread-safety: pure.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "tensor/kv_quant.h"

namespace gannet::app {

inline bool wants_help(const std::vector<std::string>& args) {
    for (const std::string& a : args) {
        if (a == "--help" || a == "-h") {
            return true;
        }
    }
    return false;
}

// -t value: 0 means all hardware threads. kInvalidArgument outside [0, 1024].
inline Result<int> resolve_threads(int64_t requested) {
    if (requested < 0 || requested > 1024) {
        return make_error(ErrorCode::kInvalidArgument, "-t/--threads is %lld, expected 0 (all) to 1024",
                          static_cast<long long>(requested));
    }
    return requested == 0 ? default_thread_count() : static_cast<int>(requested);
}

inline Status require_flag(bool is_set, const char* names) {
    if (is_set) {
        return Status();
    }
    return make_error(ErrorCode::kInvalidArgument, "%s is required", names);
}

// --kv-type: how cached keys and values are stored. Unknown names fail with one line naming the types.
inline constexpr const char* kKvTypeHelp =
    "KV cache type: f32 (default, exact), f16, q8_0 (~3.8x fewer bytes) or q4_0 (~7x; lossier)";
inline Status parse_kv_type(const std::string& name, tensor::DType* out) {
    GANNET_ASSIGN_OR_RETURN(*out, tensor::kv_type_from_name(name));
    return Status();
}

// --sparse-attention (issue 17).
inline constexpr const char* kSparseAttentionHelp =
    "block-sparse attention: off, quest (training-free block selection, any model) or msa (models with an MSA "
    "index branch); default: msa for those, off for the rest";

inline bool file_exists(const std::string& path) {
    return ::access(path.c_str(), R_OK) == 0;
}

// The model `run` and `serve` use when no -m is given: $GANNET_MODEL, else the shipped
// models/gannet-default.gguf found next to an installed binary (<prefix>/share/gannet/models/) or
// in the source tree the binary was built from. kNotFound names every place that was tried.
inline Result<std::string> default_model_path() {
    if (const char* env = std::getenv("GANNET_MODEL")) {
        return std::string(env);
    }
    std::vector<std::string> candidates;
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        std::string dir(exe);
        dir = dir.substr(0, dir.rfind('/'));
        candidates.push_back(dir + "/../share/gannet/models/gannet-default.gguf");
    }
#ifdef GANNET_SOURCE_DIR
    candidates.push_back(std::string(GANNET_SOURCE_DIR) + "/models/gannet-default.gguf");
#endif
    std::string tried;
    for (const std::string& c : candidates) {
        if (file_exists(c)) {
            return c;
        }
        tried += (tried.empty() ? "" : ", ") + c;
    }
    return make_error(ErrorCode::kNotFound, "no -m given and no default model found (tried %s; set GANNET_MODEL)",
                      tried.c_str());
}

}  // namespace gannet::app
