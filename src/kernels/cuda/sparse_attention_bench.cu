#include <algorithm>
#include <cmath>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "kernels/cuda/paged_attention.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/sparse_attention.h"
#include "kernels/cuda/sparse_attention_bench.h"

namespace gannet::kernels::cuda {
namespace {

using gannet::cuda::DeviceBuffer;
using gannet::cuda::Event;
using gannet::cuda::EventTiming;
using gannet::cuda::Stream;

__global__ void fill_kernel(float* x, size_t n, uint64_t seed) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        uint64_t z = seed * 0x100000000ULL + i + 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        x[i] = static_cast<float>(static_cast<double>(z >> 40) / static_cast<double>(1u << 23) - 1.0);
    }
}

__global__ void iota_kernel(int32_t* x, int32_t n, int32_t start) {
    for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        x[i] = start + i;
    }
}

Result<DeviceBuffer> alloc_floats(size_t n) {
    return DeviceBuffer::allocate(n * sizeof(float));
}

class Bench {
public:
    explicit Bench(const SparseBenchOptions& o) : o_(o) {}

    Status init() {
        GANNET_ASSIGN_OR_RETURN(stream_, Stream::create());
        GANNET_ASSIGN_OR_RETURN(start_, Event::create(EventTiming::kEnabled));
        GANNET_ASSIGN_OR_RETURN(mid_, Event::create(EventTiming::kEnabled));
        GANNET_ASSIGN_OR_RETURN(stop_, Event::create(EventTiming::kEnabled));
        n_blocks_ = static_cast<int32_t>((o_.ctx + o_.block - 1) / o_.block);
        layout_ = kvcache::KvCacheLayout{.n_blocks = n_blocks_,
                                         .n_layers = 1,
                                         .n_kv_heads = static_cast<int32_t>(o_.n_kv_heads),
                                         .head_dim = static_cast<int32_t>(o_.head_dim),
                                         .block_size = static_cast<int32_t>(o_.block),
                                         .dtype = kvcache::KvDType::kF32,
                                         .key_summary = kvcache::KeySummaryKind::kNone};
        GANNET_RETURN_IF_ERROR(layout_.validate());
        GANNET_ASSIGN_OR_RETURN(kv_, DeviceBuffer::allocate(layout_.total_bytes()));
        fill_kernel<<<4096, 256, 0, stream_.get()>>>(kv_.as<float>(), layout_.total_bytes() / sizeof(float), 11);
        const size_t kv_row = static_cast<size_t>(o_.n_kv_heads * o_.head_dim);
        GANNET_ASSIGN_OR_RETURN(k_, alloc_floats(static_cast<size_t>(o_.ctx) * kv_row));  // contiguous, flash
        GANNET_ASSIGN_OR_RETURN(v_, alloc_floats(static_cast<size_t>(o_.ctx) * kv_row));
        fill_kernel<<<4096, 256, 0, stream_.get()>>>(k_.as<float>(), static_cast<size_t>(o_.ctx) * kv_row, 12);
        fill_kernel<<<4096, 256, 0, stream_.get()>>>(v_.as<float>(), static_cast<size_t>(o_.ctx) * kv_row, 13);
        GANNET_ASSIGN_OR_RETURN(idx_k_, alloc_floats(static_cast<size_t>(o_.ctx * o_.index_dim)));
        fill_kernel<<<4096, 256, 0, stream_.get()>>>(idx_k_.as<float>(), static_cast<size_t>(o_.ctx * o_.index_dim),
                                                     14);
        GANNET_ASSIGN_OR_RETURN(table_, DeviceBuffer::allocate(static_cast<size_t>(n_blocks_) * sizeof(int32_t)));
        iota_kernel<<<64, 256, 0, stream_.get()>>>(table_.as<int32_t>(), n_blocks_, 0);
        GANNET_RETURN_IF_ERROR(gannet::cuda::cuda_status(cudaGetLastError(), "bench fill launch"));
        return stream_.synchronize();
    }

    // Buffers for n_q queries (reused).
    Status reserve(int64_t n_q) {
        if (n_q <= reserved_) {
            return Status();
        }
        reserved_ = n_q;
        const size_t q = static_cast<size_t>(n_q);
        GANNET_ASSIGN_OR_RETURN(q_, alloc_floats(q * static_cast<size_t>(o_.n_heads * o_.head_dim)));
        GANNET_ASSIGN_OR_RETURN(out_, alloc_floats(q * static_cast<size_t>(o_.n_heads * o_.head_dim)));
        GANNET_ASSIGN_OR_RETURN(idx_q_, alloc_floats(q * static_cast<size_t>(o_.n_kv_heads * o_.index_dim)));
        GANNET_ASSIGN_OR_RETURN(positions_, DeviceBuffer::allocate(q * sizeof(int32_t)));
        GANNET_ASSIGN_OR_RETURN(scores_, alloc_floats(q * static_cast<size_t>(o_.n_kv_heads) * n_blocks_));
        GANNET_ASSIGN_OR_RETURN(
            ids_, DeviceBuffer::allocate(q * static_cast<size_t>(o_.n_kv_heads * o_.topk) * sizeof(int32_t)));
        GANNET_ASSIGN_OR_RETURN(scratch_, alloc_floats(q * static_cast<size_t>(o_.n_heads * o_.topk)
                                                       * static_cast<size_t>(o_.head_dim + 2)));
        fill_kernel<<<1024, 256, 0, stream_.get()>>>(q_.as<float>(), q * static_cast<size_t>(o_.n_heads * o_.head_dim),
                                                     21);
        fill_kernel<<<1024, 256, 0, stream_.get()>>>(idx_q_.as<float>(),
                                                     q * static_cast<size_t>(o_.n_kv_heads * o_.index_dim), 22);
        return gannet::cuda::cuda_status(cudaGetLastError(), "bench reserve launch");
    }

    // Sparse: select (scores + top-k) then attend; returns total ms, *select_ms the selection.
    Result<double> sparse(int64_t p0, int64_t n_q, double* select_ms) {
        GANNET_RETURN_IF_ERROR(reserve(n_q));
        iota_kernel<<<64, 256, 0, stream_.get()>>>(positions_.as<int32_t>(), static_cast<int32_t>(n_q),
                                                   static_cast<int32_t>(p0));
        const int32_t max_blocks = static_cast<int32_t>((p0 + n_q + o_.block - 1) / o_.block);
        GANNET_RETURN_IF_ERROR(start_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(msa_block_scores({.idx_q = idx_q_.as<float>(),
                                                 .idx_k = idx_k_.as<float>(),
                                                 .positions = positions_.as<int32_t>(),
                                                 .n_q = static_cast<int32_t>(n_q),
                                                 .n_index_heads = static_cast<int32_t>(o_.n_kv_heads),
                                                 .index_dim = static_cast<int32_t>(o_.index_dim),
                                                 .n_keys = static_cast<int32_t>(p0 + n_q),
                                                 .block = static_cast<int32_t>(o_.block),
                                                 .max_blocks = max_blocks,
                                                 .out = scores_.as<float>()},
                                                stream_.get()));
        GANNET_RETURN_IF_ERROR(top_blocks({.scores = scores_.as<float>(),
                                           .positions = positions_.as<int32_t>(),
                                           .n_q = static_cast<int32_t>(n_q),
                                           .n_rows = static_cast<int32_t>(o_.n_kv_heads),
                                           .max_blocks = max_blocks,
                                           .block = static_cast<int32_t>(o_.block),
                                           .topk = static_cast<int32_t>(o_.topk),
                                           .stride = static_cast<int32_t>(o_.topk),
                                           .ids = ids_.as<int32_t>()},
                                          stream_.get()));
        GANNET_RETURN_IF_ERROR(mid_.record(stream_.get()));
        SparseAttentionArgs a{.q = q_.as<float>(),
                              .kv = kv_.data(),
                              .layout = layout_,
                              .layer = 0,
                              .block_table = table_.as<int32_t>(),
                              .positions = positions_.as<int32_t>(),
                              .ids = ids_.as<int32_t>(),
                              .stride = static_cast<int32_t>(o_.topk),
                              .n_q = static_cast<int32_t>(n_q),
                              .n_heads = static_cast<int32_t>(o_.n_heads),
                              .scale = 1.0f / std::sqrt(static_cast<float>(o_.head_dim)),
                              .out = out_.as<float>(),
                              .scratch = scratch_.as<float>()};
        a.scratch_floats = scratch_.size_bytes() / sizeof(float);
        GANNET_RETURN_IF_ERROR(sparse_attention(a, stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.synchronize());
        GANNET_ASSIGN_OR_RETURN(const float sel, mid_.elapsed_ms_since(start_));
        GANNET_ASSIGN_OR_RETURN(const float all, stop_.elapsed_ms_since(start_));
        if (select_ms != nullptr) {
            *select_ms = sel;
        }
        return static_cast<double>(all);
    }

    // Dense decode: paged_attention over every cached token, one query at position ctx - 1.
    Result<double> dense_decode() {
        GANNET_RETURN_IF_ERROR(reserve(1));
        if (dense_scratch_.size_bytes() == 0) {
            GANNET_ASSIGN_OR_RETURN(query_pos_, DeviceBuffer::allocate(sizeof(int32_t)));
            // The one query's position: the last cached token.
            iota_kernel<<<1, 32, 0, stream_.get()>>>(query_pos_.as<int32_t>(), 1, static_cast<int32_t>(o_.ctx - 1));
            PagedAttentionArgs probe{.layout = layout_,
                                     .max_blocks_per_seq = n_blocks_,
                                     .n_queries = 1,
                                     .n_heads = static_cast<int32_t>(o_.n_heads)};
            GANNET_ASSIGN_OR_RETURN(dense_scratch_, alloc_floats(paged_attention_scratch_floats(probe)));
        }
        PagedAttentionArgs a{.q = q_.as<float>(),
                             .kv = kv_.data(),
                             .layout = layout_,
                             .layer = 0,
                             .block_tables = table_.as<int32_t>(),
                             .max_blocks_per_seq = n_blocks_,
                             .positions = query_pos_.as<int32_t>(),
                             .n_queries = 1,
                             .n_heads = static_cast<int32_t>(o_.n_heads),
                             .scale = 1.0f / std::sqrt(static_cast<float>(o_.head_dim)),
                             .out = out_.as<float>(),
                             .scratch = dense_scratch_.as<float>(),
                             .scratch_floats = dense_scratch_.size_bytes() / sizeof(float)};
        GANNET_RETURN_IF_ERROR(start_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(paged_attention(a, stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.synchronize());
        GANNET_ASSIGN_OR_RETURN(const float ms, stop_.elapsed_ms_since(start_));
        return static_cast<double>(ms);
    }

    // Dense prefill of n_q queries at [p0, p0 + n_q): the flash kernel over contiguous K/V.
    Result<double> dense_prefill(int64_t p0, int64_t n_q) {
        GANNET_RETURN_IF_ERROR(reserve(n_q));
        iota_kernel<<<64, 256, 0, stream_.get()>>>(positions_.as<int32_t>(), static_cast<int32_t>(n_q),
                                                   static_cast<int32_t>(p0));
        const int64_t kv_row = o_.n_kv_heads * o_.head_dim;
        const PrefillAttentionArgs a{.q = q_.as<float>(),
                                     .positions = positions_.as<int32_t>(),
                                     .k = k_.as<float>(),
                                     .k_stride = kv_row,
                                     .v = v_.as<float>(),
                                     .v_stride = kv_row,
                                     .out = out_.as<float>(),
                                     .n_tokens = n_q,
                                     .n_heads = o_.n_heads,
                                     .n_kv_heads = o_.n_kv_heads,
                                     .head_dim_k = o_.head_dim,
                                     .head_dim_v = o_.head_dim,
                                     .n_kv = p0 + n_q,
                                     .scale = 1.0f / std::sqrt(static_cast<float>(o_.head_dim))};
        GANNET_RETURN_IF_ERROR(start_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(prefill_attention(a, stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.record(stream_.get()));
        GANNET_RETURN_IF_ERROR(stop_.synchronize());
        GANNET_ASSIGN_OR_RETURN(const float ms, stop_.elapsed_ms_since(start_));
        return static_cast<double>(ms);
    }

    // The whole prefill from sampled query runs (a + b * position per query, least squares).
    Result<double> prefill(bool is_sparse, int64_t* queries_run, bool* is_sampled) {
        const int64_t n_q = std::min(o_.sample_queries, o_.ctx);
        const int64_t pts = o_.ctx <= n_q ? 1 : std::max<int64_t>(2, o_.sample_points);
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int64_t i = 0; i < pts; ++i) {
            const int64_t p0 = pts == 1 ? 0 : (o_.ctx - n_q) * (2 * i + 1) / (2 * pts);
            double ms = 0.0;
            for (int rep = 0; rep < 2; ++rep) {  // the first run warms up
                if (is_sparse) {
                    GANNET_ASSIGN_OR_RETURN(ms, sparse(p0, n_q, nullptr));
                } else {
                    GANNET_ASSIGN_OR_RETURN(ms, dense_prefill(p0, n_q));
                }
            }
            if (pts == 1) {
                *queries_run = n_q;
                *is_sampled = false;
                return ms;
            }
            const double per_query = ms / static_cast<double>(n_q);
            const double x = static_cast<double>(p0) + static_cast<double>(n_q - 1) / 2.0;
            sx += x;
            sy += per_query;
            sxx += x * x;
            sxy += x * per_query;
        }
        const double n = static_cast<double>(pts);
        const double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        const double a = (sy - b * sx) / n;
        const double c = static_cast<double>(o_.ctx);
        *queries_run = n_q * pts;
        *is_sampled = true;
        return std::max(0.0, a * c + b * c * (c - 1.0) / 2.0);
    }

private:
    SparseBenchOptions o_;
    Stream stream_;
    Event start_, mid_, stop_;
    kvcache::KvCacheLayout layout_;
    int32_t n_blocks_ = 0;
    int64_t reserved_ = 0;
    DeviceBuffer kv_, k_, v_, idx_k_, table_, q_, out_, idx_q_, positions_, scores_, ids_, scratch_, query_pos_,
        dense_scratch_;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

Result<SparseBenchResult> bench_sparse_attention(const SparseBenchOptions& o) {
    if (o.ctx < 1 || o.ctx > (int64_t{1} << 24) || o.n_kv_heads < 1 || o.n_kv_heads > 16
        || o.n_heads % o.n_kv_heads != 0 || o.head_dim != 128 || o.block < 16 || o.topk < 2 || o.sample_queries < 1
        || o.sample_queries > 65535) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench attention (cuda): ctx %lld (1..2^24), kv heads %lld (1..16), head_dim %lld (128), "
                          "block %lld, top-k %lld out of range",
                          static_cast<long long>(o.ctx), static_cast<long long>(o.n_kv_heads),
                          static_cast<long long>(o.head_dim), static_cast<long long>(o.block),
                          static_cast<long long>(o.topk));
    }
    Bench b(o);
    GANNET_RETURN_IF_ERROR(b.init());
    SparseBenchResult r;
    std::vector<double> dense, sparse, select;
    for (int64_t i = 0; i < std::max<int64_t>(2, o.decode_reps); ++i) {
        GANNET_ASSIGN_OR_RETURN(const double d, b.dense_decode());
        dense.push_back(d);
        if (o.is_sparse) {
            double sel = 0.0;
            GANNET_ASSIGN_OR_RETURN(const double s, b.sparse(o.ctx - 1, 1, &sel));
            sparse.push_back(s);
            select.push_back(sel);
        }
    }
    r.dense_decode_ms = median(dense);
    bool dense_sampled = false;
    int64_t dense_run = 0;
    GANNET_ASSIGN_OR_RETURN(r.dense_prefill_ms, b.prefill(false, &dense_run, &dense_sampled));
    if (o.is_sparse) {
        r.decode_ms = median(sparse);
        r.decode_select_ms = median(select);
        GANNET_ASSIGN_OR_RETURN(r.prefill_ms, b.prefill(true, &r.prefill_queries_run, &r.is_prefill_sampled));
    } else {
        r.decode_ms = r.dense_decode_ms;
        r.prefill_ms = r.dense_prefill_ms;
    }
    r.is_prefill_sampled = r.is_prefill_sampled || dense_sampled;
    r.prefill_queries_run = std::max(r.prefill_queries_run, dense_run);
    return r;
}

}  // namespace gannet::kernels::cuda
