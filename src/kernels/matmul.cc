// matmul() dispatch: validate, pick the ISA, quantize the activations once per call (Q4_0/Q8_0
// weights; the K-quants and Q4_1/Q5_x to their own int8 format, matmul_kquants.h), then split the
// weight rows over the pool. Each thread gets a contiguous run of whole 16-row groups, so every
// weight byte is read by exactly one thread, once per call (the kernels tile tokens inside a row
// group, see matmul_avx2.cc).
//
// Napkin math. Decode (1 token) moves the weight bytes once and does 2 flops per weight: for
// TinyLlama-1.1B in Q4_0 (~0.6 GB of matmul weights) that is ~27 ms/token at 22 GB/s, so the
// kernels only need to out-run DRAM (~11 GB/s per thread with 2 threads; they do ~20 alone).
// Prefill (64 tokens) reuses each 16-row block from L2 for all tokens and is compute-bound.
#include "kernels/matmul.h"

#include <cpuid.h>

#include <algorithm>
#include <vector>

#include "base/result.h"
#include "kernels/matmul_internal.h"
#include "kernels/matmul_kquants.h"

namespace gannet::kernels {
namespace {

using detail::QuantizedX;
using tensor::DType;

// Row split granularity: 16 rows = one cache block of the SIMD kernels (a multiple of their 4-row
// register tile), so a thread boundary never cuts a tile.
constexpr int64_t kRowGroup = 16;
constexpr size_t kAlign = 64;

// F16C from CPUID leaf 1 (ECX bit 29): clang 14, which the fuzz build uses, has no
// __builtin_cpu_supports("f16c").
bool cpu_has_f16c() {
    unsigned eax = 0;
    unsigned ebx = 0;
    unsigned ecx = 0;
    unsigned edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}

bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

bool cpu_has_avx512() {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
           && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

size_t align_up(size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}

// Carves QuantizedX out of `base` (kAlign-aligned, matmul_scratch_size_bytes() bytes).
QuantizedX carve(const MatmulArgs& a, uint8_t* base) {
    QuantizedX q;
    q.n_in = a.n_in;
    q.n_blocks = a.n_in / detail::kXBlock;
    const size_t n_scales = static_cast<size_t>(a.n_tokens * q.n_blocks);
    q.qs = reinterpret_cast<int8_t*>(base);
    q.d = reinterpret_cast<float*>(base + align_up(static_cast<size_t>(a.n_tokens * a.n_in)));
    q.qsum = reinterpret_cast<int32_t*>(q.d + n_scales);
    return q;
}

// Everything a worker needs, behind one pointer: a lambda capturing only `&job` fits in
// std::function's inline storage, so dispatching to the pool does not allocate.
struct Job {
    const MatmulArgs* a;
    const QuantizedX* q;
    Isa isa;
    int n_threads;
    int64_t n_groups;
};

void run_rows(const Job& job, int thread) {
    const int64_t g0 = job.n_groups * thread / job.n_threads;
    const int64_t g1 = job.n_groups * (thread + 1) / job.n_threads;
    const int64_t r0 = g0 * kRowGroup;
    const int64_t r1 = std::min(job.a->n_out, g1 * kRowGroup);
    if (r0 >= r1) {
        return;
    }
    if (job.isa == Isa::kAvx512) {
        detail::matmul_rows_avx512(*job.a, *job.q, r0, r1);
    } else {
        detail::matmul_rows_avx2(*job.a, *job.q, r0, r1);
    }
}

void quantize_tokens(const Job& job, int thread) {
    const int64_t t0 = job.a->n_tokens * thread / job.n_threads;
    const int64_t t1 = job.a->n_tokens * (thread + 1) / job.n_threads;
    if (t0 < t1) {
        detail::quantize_x_avx2(*job.a, *job.q, t0, t1);
    }
}

// Reference fallback for dtypes without SIMD kernels, rows split over the pool. Allocates a row
// buffer per thread: these dtypes are not on any hot path yet.
// Row-split fallback for dtypes without a fused SIMD kernel: `rows` is the portable reference or,
// on AVX2 machines, the dequantize-then-FMA path of matmul_kquants.h (same values up to summation
// order, 30-80x faster on prefill).
using RowsFn = Status (*)(const MatmulArgs&, int64_t, int64_t);

Status run_rows_fallback(const MatmulArgs& a, ThreadPool& pool, RowsFn rows) {
    std::vector<Status> statuses(static_cast<size_t>(pool.n_threads()));
    const int n_threads = pool.n_threads();
    pool.run([&](int t) {
        const int64_t r0 = a.n_out * t / n_threads;
        const int64_t r1 = a.n_out * (t + 1) / n_threads;
        if (r0 < r1) {
            statuses[static_cast<size_t>(t)] = rows(a, r0, r1);
        }
    });
    for (const Status& s : statuses) {
        GANNET_RETURN_IF_ERROR(s);
    }
    return Status();
}

// The caller's scratch when it is big enough and aligned, else a buffer per calling thread that
// grows to the largest shape seen (the engine thread calls with a handful of shapes, so it reaches
// its final size within the first step).
uint8_t* scratch_base(const MatmulArgs& a, size_t need) {
    uint8_t* base = static_cast<uint8_t*>(a.scratch);
    if (base == nullptr || a.scratch_size_bytes < need || reinterpret_cast<uintptr_t>(base) % kAlign != 0) {
        thread_local std::vector<uint8_t> buffer;
        if (buffer.size() < need + kAlign) {
            buffer.resize(need + kAlign);
        }
        const uintptr_t p = reinterpret_cast<uintptr_t>(buffer.data());
        base = buffer.data() + (kAlign - p % kAlign) % kAlign;
    }
    return base;
}

using FusedRowsFn = void (*)(const MatmulArgs&, const detail::QuantizedXK&, int64_t, int64_t);

struct FusedJob {
    const MatmulArgs* a;
    const detail::QuantizedXK* q;
    FusedRowsFn rows;
    int n_threads;
    int64_t n_groups;
};

// `isa` is kAvx2 or kAvx512 (resolved by the caller).
Status run_fused(const MatmulArgs& a, ThreadPool& pool, int block, Isa isa) {
    uint8_t* base = scratch_base(a, detail::xk_scratch_bytes(a.n_tokens, a.n_in, block));
    const detail::QuantizedXK q = detail::carve_xk(a.n_tokens, a.n_in, block, base);
    const FusedRowsFn rows = isa == Isa::kAvx512 ? detail::matmul_rows_kquant_avx512 : detail::matmul_rows_kquant_avx2;
    FusedJob job{&a, &q, rows, pool.n_threads(), (a.n_out + kRowGroup - 1) / kRowGroup};
    if (a.n_tokens >= 8 && pool.n_threads() > 1) {
        pool.run([&job](int t) {
            const int64_t t0 = job.a->n_tokens * t / job.n_threads;
            const int64_t t1 = job.a->n_tokens * (t + 1) / job.n_threads;
            if (t0 < t1) {
                detail::quantize_xk_avx2(*job.a, *job.q, t0, t1);
            }
        });
    } else {
        detail::quantize_xk_avx2(a, q, 0, a.n_tokens);
    }
    if (pool.n_threads() == 1 || job.n_groups == 1) {
        rows(a, q, 0, a.n_out);
        return Status();
    }
    pool.run([&job](int t) {
        const int64_t g0 = job.n_groups * t / job.n_threads;
        const int64_t g1 = job.n_groups * (t + 1) / job.n_threads;
        const int64_t r0 = g0 * kRowGroup;
        const int64_t r1 = std::min(job.a->n_out, g1 * kRowGroup);
        if (r0 < r1) {
            job.rows(*job.a, *job.q, r0, r1);
        }
    });
    return Status();
}

}  // namespace

namespace detail {

bool has_simd_kernel(DType dtype) {
    switch (dtype) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16:
        case DType::kQ8_0:
        case DType::kQ4_0: return true;
        default: return false;
    }
}

bool uses_quantized_x(DType dtype) {
    return dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
}

}  // namespace detail

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::kAuto: return "auto";
        case Isa::kPortable: return "portable";
        case Isa::kAvx2: return "avx2";
        case Isa::kAvx512: return "avx512";
    }
    return "?";
}

Isa best_isa() {
    // Resolved once: cpuid does not change while the process runs.
    static const Isa best = cpu_has_avx512() ? Isa::kAvx512 : cpu_has_avx2() ? Isa::kAvx2 : Isa::kPortable;
    return best;
}

bool isa_supported(Isa isa) {
    switch (isa) {
        case Isa::kAuto:
        case Isa::kPortable: return true;
        case Isa::kAvx2: return cpu_has_avx2();
        case Isa::kAvx512: return cpu_has_avx512();
    }
    return false;
}

size_t matmul_scratch_size_bytes(const MatmulArgs& a) {
    if (a.n_tokens <= 0 || a.n_in <= 0) {
        return 0;
    }
    if (const int block = detail::xk_block(a.w_dtype); block > 0) {
        return a.n_in % block == 0 ? detail::xk_scratch_bytes(a.n_tokens, a.n_in, block) : 0;
    }
    if (!detail::uses_quantized_x(a.w_dtype)) {
        return 0;
    }
    const size_t n_scales = static_cast<size_t>(a.n_tokens * (a.n_in / detail::kXBlock));
    return align_up(static_cast<size_t>(a.n_tokens * a.n_in)) + 2 * n_scales * sizeof(float);
}

Status matmul(const MatmulArgs& a, ThreadPool& pool) {
    return matmul(a, pool, Isa::kAuto);
}

Status matmul(const MatmulArgs& a, ThreadPool& pool, Isa isa) {
    GANNET_RETURN_IF_ERROR(detail::validate(a));
    if (!isa_supported(isa)) {
        return make_error(ErrorCode::kUnimplemented, "matmul: this CPU lacks the %s instruction set", isa_name(isa));
    }
    if (isa == Isa::kAuto) {
        isa = best_isa();
    }
    if (a.n_tokens == 0) {
        return Status();
    }
    if (isa == Isa::kPortable) {
        return run_rows_fallback(a, pool, detail::reference_rows);
    }
    if (!detail::has_simd_kernel(a.w_dtype)) {
        // Fused int8 kernels (AVX2 or AVX-512 VNNI build) for Q2_K..Q6_K, Q4_1, Q5_0, Q5_1 at every
        // token count: measured
        // (single core, weights in L2, n_in 2048) 50-116 GFLOP/s at 1, 4 and 64 tokens against
        // 3-37 GFLOP/s for dequantize-then-FMA, which stays for the remaining block types.
        if (const int block = detail::xk_block(a.w_dtype); block > 0) {
            return run_fused(a, pool, block, isa);
        }
        return run_rows_fallback(a, pool, detail::matmul_rows_dequant_avx2);
    }

    QuantizedX q;
    Job job{&a, &q, isa, pool.n_threads(), (a.n_out + kRowGroup - 1) / kRowGroup};
    if (detail::uses_quantized_x(a.w_dtype)) {
        q = carve(a, scratch_base(a, matmul_scratch_size_bytes(a)));
        // Quantizing is ~1% of the work, but for prefill it is worth splitting by token; for one
        // token the extra fork-join would cost more than it saves.
        if (a.n_tokens >= 8 && pool.n_threads() > 1) {
            pool.run([&job](int t) { quantize_tokens(job, t); });
        } else {
            detail::quantize_x_avx2(a, q, 0, a.n_tokens);
        }
    }
    if (pool.n_threads() == 1 || job.n_groups == 1) {
        job.n_threads = 1;
        run_rows(job, 0);
        return Status();
    }
    pool.run([&job](int t) { run_rows(job, t); });
    return Status();
}

}  // namespace gannet::kernels
