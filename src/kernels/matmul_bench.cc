// Micro benchmarks for kernels::matmul on TinyLlama-1.1B shapes, plus a DRAM bandwidth probe to
// compare decode against. Run: build-<you>/src/kernels/matmul_bench [--benchmark_filter=...]
//
// Decode reads every weight byte once per token, so its figure of merit is weight GB/s against the
// probe's GB/s. To measure DRAM rather than the 32 MiB L3, each benchmark rotates over enough
// copies of the weight matrix to cover >= 256 MiB, as a real forward pass (600 MB-2 GB of weights)
// does. Prefill (64 tokens) is compute-bound: watch GFLOP/s. Refuses to run outside Release builds.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kquants.h"
#include "tensor/quant.h"
#include "tensor/quant_k_quantize.h"

namespace gannet::kernels {
namespace {

using tensor::DType;

constexpr size_t kRotateBytes = size_t{256} << 20;  // 8x the L3 of the machine this was tuned on

// GANNET_BENCH_ROTATE_MIB overrides kRotateBytes (0: one copy, cache-resident when it fits), to
// separate a kernel's compute speed from DRAM speed.
size_t rotate_bytes() {
    const char* env = std::getenv("GANNET_BENCH_ROTATE_MIB");
    return env != nullptr ? static_cast<size_t>(std::atoll(env)) << 20 : kRotateBytes;
}

struct BenchShape {
    const char* name;
    int64_t n_out;
    int64_t n_in;
};

// TinyLlama-1.1B: n_embd 2048, 4 KV heads x 64, n_ff 5632, vocab 32000.
constexpr BenchShape kShapes[] = {
    {"attn_q_2048x2048", 2048, 2048},   {"attn_kv_256x2048", 256, 2048},    {"ffn_up_5632x2048", 5632, 2048},
    {"ffn_down_2048x5632", 2048, 5632}, {"output_32000x2048", 32000, 2048},
};

// Weights with realistic values (quantized from uniform floats, so no NaN or subnormal scales that
// could slow the FPU), `copies` times over. 64 distinct rows are tiled: contents do not affect speed.
std::vector<uint8_t> make_weights(DType dtype, int64_t n_out, int64_t n_in, size_t copies) {
    const size_t row_bytes = tensor::row_size_bytes(dtype, n_in);
    const int64_t n_distinct = std::min<int64_t>(64, n_out);
    std::vector<float> src(static_cast<size_t>(n_in));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n_out) * copies);
    for (int64_t r = 0; r < n_distinct; ++r) {
        for (float& v : src) {
            v = dist(rng);
        }
        uint8_t* dst = &w[static_cast<size_t>(r) * row_bytes];
        if (tensor::is_k_quant_writable(dtype)) {
            tensor::quantize_row_weighted(dtype, src.data(), dst, n_in, /*importance=*/nullptr).ignore();
        } else {
            tensor::quantize_row(dtype, src.data(), dst, n_in).ignore();
        }
    }
    for (size_t off = static_cast<size_t>(n_distinct) * row_bytes; off < w.size(); off += row_bytes) {
        std::memcpy(&w[off], &w[off % (static_cast<size_t>(n_distinct) * row_bytes)], row_bytes);
    }
    return w;
}

void bm_matmul(benchmark::State& state, DType dtype, BenchShape shape, int64_t n_tokens, int n_threads, Isa isa) {
    const size_t matrix_bytes = tensor::row_size_bytes(dtype, shape.n_in) * static_cast<size_t>(shape.n_out);
    const size_t copies = std::max<size_t>(1, (rotate_bytes() + matrix_bytes - 1) / matrix_bytes);
    const std::vector<uint8_t> w = make_weights(dtype, shape.n_out, shape.n_in, copies);
    std::vector<float> x(static_cast<size_t>(n_tokens * shape.n_in));
    std::mt19937 rng(2);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : x) {
        v = dist(rng);
    }
    std::vector<float> y(static_cast<size_t>(n_tokens * shape.n_out));
    ThreadPool pool(n_threads);
    MatmulArgs a{nullptr, dtype, shape.n_in, shape.n_out, n_tokens, x.data(), y.data()};
    size_t copy = 0;
    for (auto _ : state) {
        a.w = &w[copy * matrix_bytes];
        copy = (copy + 1) % copies;
        const Status st = matmul(a, pool, isa);
        if (!st.ok()) {
            state.SkipWithError(st.to_string().c_str());
            break;
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * matrix_bytes));
    const double gflop = 2.0 * static_cast<double>(shape.n_in * shape.n_out * n_tokens) * 1e-9;
    state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["weight_GB/s"] =
        benchmark::Counter(static_cast<double>(matrix_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Q4_1/Q5_x/K-quants: the fused int8 kernels (what matmul() runs), AVX2 and AVX-512 VNNI builds,
// against dequantize-then-FMA (matmul_rows_dequant_avx2 called directly).
enum class KquantPath { kFusedAvx2, kFusedAvx512, kDequant };

const char* kquant_path_name(KquantPath path) {
    switch (path) {
        case KquantPath::kFusedAvx2: return "fused_avx2";
        case KquantPath::kFusedAvx512: return "fused_avx512";
        case KquantPath::kDequant: return "dequant";
    }
    return "?";
}

void bm_kquant_path(benchmark::State& state, DType dtype, BenchShape shape, int64_t n_tokens, KquantPath path) {
    const size_t matrix_bytes = tensor::row_size_bytes(dtype, shape.n_in) * static_cast<size_t>(shape.n_out);
    const size_t copies = std::max<size_t>(1, (rotate_bytes() + matrix_bytes - 1) / matrix_bytes);
    const std::vector<uint8_t> w = make_weights(dtype, shape.n_out, shape.n_in, copies);
    std::vector<float> x(static_cast<size_t>(n_tokens * shape.n_in));
    std::mt19937 rng(2);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : x) {
        v = dist(rng);
    }
    std::vector<float> y(static_cast<size_t>(n_tokens * shape.n_out));
    ThreadPool pool(2);
    MatmulArgs a{nullptr, dtype, shape.n_in, shape.n_out, n_tokens, x.data(), y.data()};
    size_t copy = 0;
    for (auto _ : state) {
        a.w = &w[copy * matrix_bytes];
        copy = (copy + 1) % copies;
        if (path != KquantPath::kDequant) {
            const Status st = matmul(a, pool, path == KquantPath::kFusedAvx512 ? Isa::kAvx512 : Isa::kAvx2);
            if (!st.ok()) {
                state.SkipWithError(st.to_string().c_str());
                break;
            }
        } else {
            pool.run(
                [&](int t) { detail::matmul_rows_dequant_avx2(a, a.n_out * t / 2, a.n_out * (t + 1) / 2).ignore(); });
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * matrix_bytes));
    const double gflop = 2.0 * static_cast<double>(shape.n_in * shape.n_out * n_tokens) * 1e-9;
    state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsIterationInvariantRate);
}

// Read-only sum over 1 GiB split across threads: the ceiling for decode. Four independent 64-bit
// accumulators let -O2 vectorize with baseline SSE2, enough to saturate DRAM from two cores.
void bm_memory_bandwidth(benchmark::State& state) {
    const int n_threads = static_cast<int>(state.range(0));
    const size_t n = (size_t{1} << 30) / sizeof(uint64_t);
    std::vector<uint64_t> buf(n);
    for (size_t i = 0; i < n; ++i) {
        buf[i] = i;
    }
    ThreadPool pool(n_threads);
    std::vector<uint64_t> sums(static_cast<size_t>(n_threads) * 8);  // one cache line per thread
    for (auto _ : state) {
        pool.run([&](int t) {
            const size_t begin = n * static_cast<size_t>(t) / static_cast<size_t>(n_threads);
            const size_t end = n * static_cast<size_t>(t + 1) / static_cast<size_t>(n_threads);
            uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (size_t i = begin; i + 4 <= end; i += 4) {
                s0 += buf[i];
                s1 += buf[i + 1];
                s2 += buf[i + 2];
                s3 += buf[i + 3];
            }
            sums[static_cast<size_t>(t) * 8] = s0 + s1 + s2 + s3;
        });
        benchmark::DoNotOptimize(sums.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n * sizeof(uint64_t)));
    state.counters["read_GB/s"] = benchmark::Counter(static_cast<double>(n * sizeof(uint64_t)) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
    benchmark::RegisterBenchmark("membw_read_1GiB/threads:1", bm_memory_bandwidth)->Arg(1)->UseRealTime();
    benchmark::RegisterBenchmark("membw_read_1GiB/threads:2", bm_memory_bandwidth)->Arg(2)->UseRealTime();
    for (DType dtype : {DType::kQ6_K, DType::kQ4_K, DType::kQ5_K, DType::kQ3_K, DType::kQ2_K, DType::kQ4_1,
                        DType::kQ5_0, DType::kQ5_1}) {
        for (int64_t n_tokens : {1, 4, 16, 64}) {
            for (KquantPath path : {KquantPath::kFusedAvx512, KquantPath::kFusedAvx2, KquantPath::kDequant}) {
                if (path == KquantPath::kFusedAvx512 && !isa_supported(Isa::kAvx512)) {
                    continue;
                }
                const std::string name = std::string("kquant/") + tensor::dtype_name(dtype)
                                         + "/ffn_up_5632x2048/tokens:" + std::to_string(n_tokens) + "/"
                                         + kquant_path_name(path) + "/threads:2";
                benchmark::RegisterBenchmark(name.c_str(), bm_kquant_path, dtype, kShapes[2], n_tokens, path)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
    const DType dtypes[] = {DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16, DType::kF32};
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
        if (!isa_supported(isa)) {
            continue;
        }
        for (DType dtype : dtypes) {
            for (const BenchShape& shape : kShapes) {
                for (int64_t n_tokens : {1, 64}) {
                    // One thread too for decode on the best ISA: per-core kernel speed, next to the
                    // 2-thread figure that should sit at the DRAM limit.
                    for (int n_threads : {1, 2}) {
                        if (n_threads == 1 && (n_tokens != 1 || isa != best_isa())) {
                            continue;
                        }
                        const std::string name =
                            std::string("matmul/") + isa_name(isa) + "/" + tensor::dtype_name(dtype) + "/" + shape.name
                            + "/tokens:" + std::to_string(n_tokens) + "/threads:" + std::to_string(n_threads);
                        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, dtype, shape, n_tokens, n_threads, isa)
                            ->UseRealTime()
                            ->Unit(benchmark::kMicrosecond);
                    }
                }
            }
        }
    }
}

}  // namespace
}  // namespace gannet::kernels

int main(int argc, char** argv) {
    if (std::string(GANNET_BUILD_TYPE) != "Release") {
        std::fprintf(stderr, "matmul_bench: refusing to run a %s build; configure with -DCMAKE_BUILD_TYPE=Release\n",
                     GANNET_BUILD_TYPE);
        return 1;
    }
    gannet::kernels::register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
