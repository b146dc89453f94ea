#include "model/attention_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "kvcache/kv_storage.h"
#include "model/block_select.h"
#include "model/paged_attention.h"
#include "tensor/quant.h"

namespace gannet::model {
namespace {

template <typename T>
void grow(std::vector<T>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) {
        v.resize(static_cast<size_t>(n));
    }
}

// Uniform in [-1, 1) from a counter (splitmix64), so filling in parallel gives the same data.
float random_unit(uint64_t counter) {
    uint64_t z = counter + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<float>(static_cast<double>(z >> 40) / static_cast<double>(uint64_t{1} << 23) - 1.0);
}

void fill(float* x, int64_t n, uint64_t seed) {
    for (int64_t i = 0; i < n; ++i) {
        x[i] = random_unit(seed * 0x100000000ULL + static_cast<uint64_t>(i));
    }
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The cache, the config and the buffers of one benchmark.
class Bench {
public:
    Bench(ModelConfig c, kvcache::KvStorage kv, const AttentionBenchOptions& o)
        : c_(std::move(c)), kv_(std::move(kv)), o_(o) {}

    // Random K/V rows, stored in the cache's type (quantized from the same floats, so every type
    // sees the same data up to its rounding); the block summaries get the float keys.
    Status fill_cache(ThreadPool& pool) {
        const kvcache::KvCacheLayout& lay = kv_.layout();
        table_.resize(static_cast<size_t>(lay.n_blocks));
        for (int32_t b = 0; b < lay.n_blocks; ++b) {
            table_[static_cast<size_t>(b)] = b;
        }
        const int64_t n_tile = static_cast<int64_t>(lay.block_size) * lay.head_dim;
        std::vector<float> tiles(static_cast<size_t>(pool.n_threads() * 2 * n_tile));
        std::vector<Status> statuses(static_cast<size_t>(pool.n_threads()));
        const int n_threads = pool.n_threads();
        pool.run([&](int thread) {
            float* k = tiles.data() + static_cast<int64_t>(thread) * 2 * n_tile;
            float* v = k + n_tile;
            for (int64_t b = lay.n_blocks * thread / n_threads; b < lay.n_blocks * (thread + 1) / n_threads; ++b) {
                const auto blk = static_cast<kvcache::BlockId>(b);
                for (int32_t g = 0; g < lay.n_kv_heads; ++g) {
                    fill(k, n_tile, o_.seed * 1000003 + static_cast<uint64_t>(b * 2 * lay.n_kv_heads + 2 * g));
                    fill(v, n_tile, o_.seed * 1000003 + static_cast<uint64_t>(b * 2 * lay.n_kv_heads + 2 * g + 1));
                    Status& st = statuses[static_cast<size_t>(thread)];
                    if (st.ok()) {
                        st = tensor::quantize_row(o_.kv_type, k, kv_.k(blk, 0, g), n_tile);
                    }
                    if (st.ok()) {
                        st = tensor::quantize_row(o_.kv_type, v, kv_.v(blk, 0, g), n_tile);
                    }
                    for (int32_t slot = 0; slot < lay.block_size; ++slot) {
                        kv_.summaries().add_key(blk, 0, g, slot,
                                                std::span<const float>(k + static_cast<int64_t>(slot) * lay.head_dim,
                                                                       static_cast<size_t>(lay.head_dim)));
                    }
                }
                if (float* ik = kv_.index_k(blk, 0)) {
                    fill(ik, static_cast<int64_t>(lay.block_size) * lay.index_dim,
                         o_.seed * 7919 + static_cast<uint64_t>(b));
                }
            }
        });
        for (const Status& st : statuses) {
            GANNET_RETURN_IF_ERROR(st);
        }
        return Status();
    }

    // n_q query tokens at positions [p0, p0 + n_q) in one step: milliseconds of selection + attention
    // (selection alone in *select_ms), keys attended per query head in *keys_per_head.
    double run(SparseMode mode, int64_t p0, int64_t n_q, ThreadPool& pool, double* select_ms, double* keys_per_head) {
        const int n_threads = pool.n_threads();
        const int64_t max_kv = p0 + n_q;
        const int64_t stride = std::max<int64_t>(o_.topk + 1, c_.sparse.max_selected());
        const int64_t max_blocks = (max_kv + o_.block - 1) / o_.block;
        grow(tokens_, n_q);
        grow(positions_, n_q);
        grow(seq_of_, n_q);
        grow(q_, n_q * c_.q_dim());
        grow(att_, n_q * c_.n_heads * c_.head_dim_v);
        grow(scores_, static_cast<int64_t>(n_threads) * paged_attention_scratch_floats(c_));
        grow(ranges_, static_cast<int64_t>(n_threads) * kAttentionQueryBlock * 2 * stride);
        grow(sort_, static_cast<int64_t>(n_threads) * stride);
        grow(sel_, n_q * c_.n_kv_heads * stride);
        grow(bscores_, n_q * select_score_rows(c_) * max_blocks);
        grow(row_, static_cast<int64_t>(n_threads) * max_blocks);
        grow(order_, static_cast<int64_t>(n_threads) * max_blocks);
        grow(minmax_, static_cast<int64_t>(n_threads) * 2 * c_.head_dim_k);
        for (int64_t t = 0; t < n_q; ++t) {
            positions_[static_cast<size_t>(t)] = static_cast<int32_t>(p0 + t);
            seq_of_[static_cast<size_t>(t)] = 0;
        }
        fill(q_.data(), n_q * c_.q_dim(), o_.seed * 31 + static_cast<uint64_t>(p0));
        if (c_.sparse.has_index) {
            grow(idx_q_, n_q * c_.sparse.n_index_heads * c_.sparse.index_dim);
            fill(idx_q_.data(), n_q * c_.sparse.n_index_heads * c_.sparse.index_dim,
                 o_.seed * 37 + static_cast<uint64_t>(p0));
        }
        const BatchSeq seq{.tokens = std::span<const int32_t>(tokens_.data(), static_cast<size_t>(n_q)),
                           .pos = static_cast<int32_t>(p0),
                           .block_table = table_};
        const std::span<const BatchSeq> seqs(&seq, 1);
        const double t0 = now_ms();
        const int32_t* sel = nullptr;
        if (mode != SparseMode::kOff) {
            select_blocks_into({.c = &c_,
                                .seqs = seqs,
                                .kv = &kv_,
                                .modes = &mode,
                                .positions = positions_.data(),
                                .seq_of = seq_of_.data(),
                                .q = q_.data(),
                                .idx_q = idx_q_.data(),
                                .n_tokens = n_q,
                                .layer = 0,
                                .is_index_layer = c_.sparse.has_index,
                                .block = o_.block,
                                .quest_topk = o_.topk,
                                .stride = stride,
                                .sel = sel_.data(),
                                .max_blocks = max_blocks,
                                .scores = bscores_.data(),
                                .row = row_.data(),
                                .order = order_.data(),
                                .minmax = minmax_.data()},
                               pool);
            sel = sel_.data();
        }
        const double t1 = now_ms();
        paged_attention({.c = &c_,
                         .seqs = seqs,
                         .kv = &kv_,
                         .positions = positions_.data(),
                         .seq_of = seq_of_.data(),
                         .q = q_.data(),
                         .att = att_.data(),
                         .n_tokens = n_q,
                         .layer = 0,
                         .window = 0,
                         .sel = sel,
                         .sel_stride = stride,
                         .sparse_block = o_.block,
                         .scratch = scores_.data(),
                         .ranges = ranges_.data(),
                         .sort = sort_.data()},
                        pool);
        const double t2 = now_ms();
        if (select_ms != nullptr) {
            *select_ms = t1 - t0;
        }
        if (keys_per_head != nullptr) {  // of the last query
            const int64_t pos = p0 + n_q - 1;
            double keys = 0.0;
            for (int32_t g = 0; g < c_.n_kv_heads; ++g) {
                if (sel == nullptr || sel[((n_q - 1) * c_.n_kv_heads + g) * stride] == kDenseSelection) {
                    keys += static_cast<double>(pos + 1);
                    continue;
                }
                for (int64_t i = 0; i < stride; ++i) {
                    const int32_t b = sel[((n_q - 1) * c_.n_kv_heads + g) * stride + i];
                    if (b >= 0) {
                        keys += static_cast<double>(std::min((b + 1) * o_.block, pos + 1) - b * o_.block);
                    }
                }
            }
            *keys_per_head = keys / static_cast<double>(c_.n_kv_heads);
        }
        return t2 - t0;
    }

    // Milliseconds of the whole prefill over ctx tokens; *is_sampled when estimated.
    double prefill(SparseMode mode, ThreadPool& pool, bool* is_sampled, int64_t* queries_run) {
        const int64_t ctx = o_.ctx;
        if (ctx <= o_.exact_prefill_max) {
            constexpr int64_t kChunk = 512;  // the engine's default prefill chunk
            double total = 0.0;
            for (int64_t p = 0; p < ctx; p += kChunk) {
                total += run(mode, p, std::min(kChunk, ctx - p), pool, nullptr, nullptr);
            }
            *is_sampled = false;
            *queries_run = ctx;
            return total;
        }
        // Per-query time is ~ a + b * position (the keys visible grow linearly; the selection
        // too): least squares over the sampled points, summed over every position.
        const int64_t n_q = std::min(o_.sample_queries, ctx);
        const int64_t pts = std::max<int64_t>(2, o_.sample_points);
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int64_t i = 0; i < pts; ++i) {
            const int64_t p0 = (ctx - n_q) * (2 * i + 1) / (2 * pts);
            const double per_query = run(mode, p0, n_q, pool, nullptr, nullptr) / static_cast<double>(n_q);
            const double x = static_cast<double>(p0) + static_cast<double>(n_q - 1) / 2.0;
            sx += x;
            sy += per_query;
            sxx += x * x;
            sxy += x * per_query;
        }
        const double n = static_cast<double>(pts);
        const double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        const double a = (sy - b * sx) / n;
        const double c = static_cast<double>(ctx);
        *is_sampled = true;
        *queries_run = n_q * pts;
        return std::max(0.0, a * c + b * c * (c - 1.0) / 2.0);
    }

    double decode(SparseMode mode, ThreadPool& pool, double* select_ms, double* keys_per_head) {
        std::vector<double> times;
        std::vector<double> selects;
        for (int64_t r = 0; r < std::max<int64_t>(1, o_.decode_reps); ++r) {
            double s = 0.0;
            times.push_back(run(mode, o_.ctx - 1, 1, pool, &s, keys_per_head));
            selects.push_back(s);
        }
        std::sort(times.begin(), times.end());
        std::sort(selects.begin(), selects.end());
        *select_ms = selects[selects.size() / 2];
        return times[times.size() / 2];
    }

private:
    ModelConfig c_;
    kvcache::KvStorage kv_;
    AttentionBenchOptions o_;
    std::vector<kvcache::BlockId> table_;
    std::vector<int32_t> tokens_, positions_, seq_of_, sort_, sel_, order_;
    std::vector<float> q_, idx_q_, att_, scores_, bscores_, row_, minmax_;
    std::vector<int64_t> ranges_;
};

}  // namespace

Result<AttentionBenchResult> bench_attention(const AttentionBenchOptions& o, ThreadPool& pool) {
    if (o.ctx < 1 || o.ctx > (int64_t{1} << 24) || o.n_kv_heads < 1 || o.n_heads % o.n_kv_heads != 0 || o.head_dim < 32
        || o.head_dim > 1024 || o.block < 1 || o.topk < 2) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench attention: ctx %lld (1..2^24), heads %lld/%lld, head_dim %lld, block %lld, top-k %lld "
                          "out of range",
                          static_cast<long long>(o.ctx), static_cast<long long>(o.n_heads),
                          static_cast<long long>(o.n_kv_heads), static_cast<long long>(o.head_dim),
                          static_cast<long long>(o.block), static_cast<long long>(o.topk));
    }
    if (o.mode == SparseMode::kDefault) {
        return make_error(ErrorCode::kInvalidArgument, "bench attention: --sparse must be msa, quest or off");
    }
    kvcache::KvDType kv_dtype = kvcache::KvDType::kF32;
    switch (o.kv_type) {
        case tensor::DType::kF32: kv_dtype = kvcache::KvDType::kF32; break;
        case tensor::DType::kF16: kv_dtype = kvcache::KvDType::kF16; break;
        case tensor::DType::kBF16: kv_dtype = kvcache::KvDType::kBF16; break;
        case tensor::DType::kQ8_0: kv_dtype = kvcache::KvDType::kQ8_0; break;
        case tensor::DType::kQ4_0: kv_dtype = kvcache::KvDType::kQ4_0; break;
        default:
            return make_error(ErrorCode::kInvalidArgument,
                              "bench attention: kv type %s is not f32, f16, bf16, q8_0 or q4_0",
                              tensor::dtype_name(o.kv_type));
    }
    ModelConfig c;
    c.arch_name = "bench";
    c.n_layers = 1;
    c.n_heads = o.n_heads;
    c.n_kv_heads = o.n_kv_heads;
    c.head_dim_k = c.head_dim_v = c.n_rot = o.head_dim;
    c.attn_scale = 1.0f / std::sqrt(static_cast<float>(o.head_dim));
    if (o.mode == SparseMode::kMsa) {  // M3's index branch: one 128-dim index head per KV group
        c.sparse = SparseAttentionConfig{.has_index = true,
                                         .block_size = o.block,
                                         .topk = o.topk,
                                         .n_index_heads = o.n_kv_heads,
                                         .index_dim = 128,
                                         .init_blocks = 0,
                                         .local_blocks = 1,
                                         .is_shared_selection = false,
                                         .is_local_in_topk = true,
                                         .layers = {1}};
    }
    const kvcache::KvCacheLayout layout{.n_blocks = static_cast<int32_t>((o.ctx + o.block - 1) / o.block),
                                        .n_layers = 1,
                                        .n_kv_heads = static_cast<int32_t>(o.n_kv_heads),
                                        .head_dim = static_cast<int32_t>(o.head_dim),
                                        .block_size = static_cast<int32_t>(o.block),
                                        .dtype = kv_dtype,
                                        .key_summary = kvcache::KeySummaryKind::kMinMax,
                                        .index_dim = c.sparse.has_index ? 128 : 0};
    GANNET_ASSIGN_OR_RETURN(kvcache::KvStorage kv, kvcache::KvStorage::create(layout));
    Bench bench(std::move(c), std::move(kv), o);
    GANNET_RETURN_IF_ERROR(bench.fill_cache(pool));
    AttentionBenchResult r;
    double unused = 0.0;
    bool dense_sampled = false;
    int64_t dense_run = 0;
    r.dense_decode_ms = bench.decode(SparseMode::kOff, pool, &unused, &unused);
    r.dense_prefill_ms = bench.prefill(SparseMode::kOff, pool, &dense_sampled, &dense_run);
    if (o.mode == SparseMode::kOff) {
        r.decode_ms = r.dense_decode_ms;
        r.prefill_ms = r.dense_prefill_ms;
        r.decode_keys_per_head = static_cast<double>(o.ctx);
    } else {
        r.decode_ms = bench.decode(o.mode, pool, &r.decode_select_ms, &r.decode_keys_per_head);
        r.prefill_ms = bench.prefill(o.mode, pool, &r.is_prefill_sampled, &r.prefill_queries_run);
    }
    r.is_prefill_sampled = r.is_prefill_sampled || dense_sampled;
    r.prefill_queries_run = std::max(r.prefill_queries_run, dense_run);
    return r;
}

std::string attention_bench_json(const AttentionBenchOptions& o, const AttentionBenchResult& r,
                                 const std::string& device) {
    char buf[1024];
    std::snprintf(
        buf, sizeof(buf),
        "{\"bench\":\"attention\",\"ctx\":%lld,\"mode\":\"%s\",\"kv_type\":\"%s\",\"device\":\"%s\",\"heads\":%lld,"
        "\"kv_heads\":%lld,\"head_dim\":%lld,\"block\":%lld,\"topk\":%lld,\"prefill_ms\":%.3f,"
        "\"decode_ms\":%.4f,\"dense_prefill_ms\":%.3f,\"dense_decode_ms\":%.4f,\"prefill_speedup\":%.3f,"
        "\"decode_speedup\":%.3f,\"decode_select_ms\":%.4f,\"decode_keys_per_head\":%.0f,"
        "\"prefill_sampled\":%s,\"prefill_queries_run\":%lld}",
        static_cast<long long>(o.ctx), sparse_mode_name(o.mode), tensor::dtype_name(o.kv_type), device.c_str(),
        static_cast<long long>(o.n_heads), static_cast<long long>(o.n_kv_heads), static_cast<long long>(o.head_dim),
        static_cast<long long>(o.block), static_cast<long long>(o.topk), r.prefill_ms, r.decode_ms, r.dense_prefill_ms,
        r.dense_decode_ms, r.prefill_ms > 0 ? r.dense_prefill_ms / r.prefill_ms : 0.0,
        r.decode_ms > 0 ? r.dense_decode_ms / r.decode_ms : 0.0, r.decode_select_ms, r.decode_keys_per_head,
        r.is_prefill_sampled ? "true" : "false", static_cast<long long>(r.prefill_queries_run));
    return buf;
}

}  // namespace gannet::model
