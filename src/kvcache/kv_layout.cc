#include "kvcache/kv_layout.h"

namespace gannet::kvcache {

size_t kv_dtype_size_bytes(KvDType dtype) {
    switch (dtype) {
        case KvDType::kF32: return 4;
        case KvDType::kF16: return 2;
        case KvDType::kBF16: return 2;
    }
    return 0;
}

const char* kv_dtype_name(KvDType dtype) {
    switch (dtype) {
        case KvDType::kF32: return "f32";
        case KvDType::kF16: return "f16";
        case KvDType::kBF16: return "bf16";
    }
    return "?";
}

Status KvCacheLayout::validate() const {
    const struct {
        const char* name;
        int32_t value;
    } fields[] = {{"n_blocks", n_blocks},
                  {"n_layers", n_layers},
                  {"n_kv_heads", n_kv_heads},
                  {"head_dim", head_dim},
                  {"block_size", block_size}};
    for (const auto& f : fields) {
        if (f.value < 1) {
            return make_error(ErrorCode::kInvalidArgument, "kvcache: layout: %s must be >= 1, got %d", f.name, f.value);
        }
    }
    if (kv_dtype_size_bytes(dtype) == 0) {
        return make_error(ErrorCode::kInvalidArgument, "kvcache: layout: unknown dtype %d", static_cast<int>(dtype));
    }
    // Check before every multiply so the product cannot wrap.
    constexpr uint64_t kMaxBytes = uint64_t{1} << 62;
    uint64_t bytes = kv_dtype_size_bytes(dtype) * 2;
    for (int32_t f : {n_blocks, n_layers, n_kv_heads, head_dim, block_size}) {
        if (bytes > kMaxBytes / static_cast<uint64_t>(f)) {
            return make_error(ErrorCode::kInvalidArgument,
                              "kvcache: layout: %d blocks x %d layers x %d heads x %d dims x %d tokens overflows",
                              n_blocks, n_layers, n_kv_heads, head_dim, block_size);
        }
        bytes *= static_cast<uint64_t>(f);
    }
    return Status();
}

}  // namespace gannet::kvcache
