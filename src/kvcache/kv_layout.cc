#include "kvcache/kv_layout.h"

namespace gannet::kvcache {

int32_t kv_dtype_block_elems(KvDType dtype) {
    switch (dtype) {
        case KvDType::kF32:
        case KvDType::kF16:
        case KvDType::kBF16: return 1;
        case KvDType::kQ8_0:
        case KvDType::kQ4_0: return 32;
    }
    return 0;
}

size_t kv_dtype_block_bytes(KvDType dtype) {
    switch (dtype) {
        case KvDType::kF32: return 4;
        case KvDType::kF16: return 2;
        case KvDType::kBF16: return 2;
        case KvDType::kQ8_0: return 34;  // f16 scale + 32 x int8
        case KvDType::kQ4_0: return 18;  // f16 scale + 32 x 4 bits
    }
    return 0;
}

const char* kv_dtype_name(KvDType dtype) {
    switch (dtype) {
        case KvDType::kF32: return "f32";
        case KvDType::kF16: return "f16";
        case KvDType::kBF16: return "bf16";
        case KvDType::kQ8_0: return "q8_0";
        case KvDType::kQ4_0: return "q4_0";
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
    if (kv_dtype_block_bytes(dtype) == 0) {
        return make_error(ErrorCode::kInvalidArgument, "kvcache: layout: unknown dtype %d", static_cast<int>(dtype));
    }
    const int32_t per_block = kv_dtype_block_elems(dtype);
    if (head_dim % per_block != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "kvcache: layout: head_dim %d is not a multiple of %d, which a %s cache needs "
                          "(use --kv-type f32 or f16)",
                          head_dim, per_block, kv_dtype_name(dtype));
    }
    if (index_dim < 0 || index_dim > (1 << 16)) {
        return make_error(ErrorCode::kInvalidArgument, "kvcache: layout: index_dim must be 0..65536, got %d",
                          index_dim);
    }
    // Check before every multiply so the product cannot wrap.
    constexpr uint64_t kMaxBytes = uint64_t{1} << 62;
    uint64_t bytes = kv_dtype_block_bytes(dtype) * 2;
    for (int32_t f : {n_blocks, n_layers, n_kv_heads, head_dim / per_block, block_size}) {
        if (bytes > kMaxBytes / static_cast<uint64_t>(f)) {
            return make_error(ErrorCode::kInvalidArgument,
                              "kvcache: layout: %d blocks x %d layers x %d heads x %d dims x %d tokens overflows",
                              n_blocks, n_layers, n_kv_heads, head_dim, block_size);
        }
        bytes *= static_cast<uint64_t>(f);
    }
    return Status();
}

int64_t n_blocks_in_budget(const KvCacheLayout& layout, uint64_t budget_bytes) {
    const size_t per_block = layout.block_bytes();
    return per_block == 0 ? 0 : static_cast<int64_t>(budget_bytes / per_block);
}

}  // namespace gannet::kvcache
