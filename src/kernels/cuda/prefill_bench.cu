// Where prefill time goes on the GPU: the seven Llama-3-8B projections through gemm() for Q4_0, Q8_0,
// F16 and BF16 weights (BF16 is the bare cuBLAS time, so Q - BF16 is the dequantize cost), and the
// attention of one layer (32/8 heads, head_dim 128, causal) with the reference and the flash kernel,
// at 512 and 4096 tokens. Ends with a per-layer sum and the implied 32-layer prefill tokens/s
// (matrix products + attention only: norms, RoPE, the KV store and the output head are left out).
// Usage: prefill_bench [iterations] [n_tokens...]. Not a test; refuses to run outside Release builds.
// Method: random finite weights (fp16 scales ~1e-2) and activations; every timing is the median of
// `iterations` runs between two events after 2 warm-up runs; W of each shape is 8-117 MB, mostly
// larger than the 50 MB L2.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/prefill_attention.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

void die(const Status& s) {
    if (!s.ok()) {
        std::fprintf(stderr, "prefill_bench: %s\n", s.to_string().c_str());
        std::exit(1);
    }
}

template <typename T>
T must(Result<T> r) {
    if (!r.has_value()) {
        die(r.error());
    }
    return std::move(r).value();
}

uint64_t next(uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

// 16-bit floats of magnitude < 2, block scales around 1e-2 in fp16: finite arithmetic everywhere.
std::vector<uint8_t> random_weights(DType dtype, int64_t n_out, int64_t n_in, uint64_t seed) {
    const size_t bytes = tensor::row_size_bytes(dtype, n_in) * static_cast<size_t>(n_out);
    std::vector<uint8_t> w(bytes);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        const uint64_t r = next(s);
        std::memcpy(w.data() + i, &r, 8);
    }
    if (dtype == DType::kF16 || dtype == DType::kBF16) {
        auto* h = reinterpret_cast<uint16_t*>(w.data());
        for (size_t i = 0; i < bytes / 2; ++i) {
            // fp16: exponent field < 15 keeps |x| < 2; bf16: exponent < 127 keeps |x| < 1 (0x3f7f).
            const uint16_t mag = dtype == DType::kF16 ? static_cast<uint16_t>(h[i] & 0x3bff)
                                                      : static_cast<uint16_t>(h[i] & 0x3f7f);
            h[i] = static_cast<uint16_t>(mag | (h[i] & 0x8000));
        }
    } else {
        const size_t block = tensor::type_size_bytes(dtype);
        for (size_t b = 0; b < bytes; b += block) {
            const uint16_t d = static_cast<uint16_t>(0x2000 | (w[b] & 0x3ff));
            std::memcpy(w.data() + b, &d, 2);
        }
    }
    return w;
}

gannet::cuda::DeviceBuffer upload_bytes(const void* host, size_t bytes) {
    gannet::cuda::DeviceBuffer d = must(gannet::cuda::DeviceBuffer::allocate(bytes));
    die(gannet::cuda::cuda_status(cudaMemcpy(d.data(), host, bytes, cudaMemcpyHostToDevice), "upload"));
    return d;
}

std::vector<float> random_floats(size_t n, uint64_t seed) {
    std::vector<float> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (float& x : v) {
        x = static_cast<float>(static_cast<int64_t>(next(s) % 2001) - 1000) * 1e-3f;
    }
    return v;
}

// Median milliseconds of fn() on `stream`.
float time_ms(const std::function<void()>& fn, cudaStream_t stream, int iterations) {
    gannet::cuda::Event a = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    gannet::cuda::Event b = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    for (int i = 0; i < 2; ++i) {
        fn();
    }
    std::vector<float> ms;
    for (int r = 0; r < iterations; ++r) {
        die(a.record(stream));
        fn();
        die(b.record(stream));
        die(b.synchronize());
        ms.push_back(must(b.elapsed_ms_since(a)));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

struct Shape {
    const char* name;
    int64_t n_out;
    int64_t n_in;
};

// Llama-3-8B: n_embd 4096, 32 heads / 8 KV heads of 128, n_ff 14336.
constexpr Shape kShapes[] = {{"wq", 4096, 4096},      {"wk", 1024, 4096},     {"wv", 1024, 4096},
                             {"wo", 4096, 4096},      {"w_gate", 14336, 4096}, {"w_up", 14336, 4096},
                             {"w_down", 4096, 14336}};
constexpr DType kDTypes[] = {DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16};
constexpr int kNDTypes = 4;

// Per dtype: the sum over the seven projections, in ms.
std::vector<float> bench_gemm(int64_t n_tokens, int iterations, cudaStream_t stream, cublasHandle_t cublas) {
    std::printf("gemm n_tokens=%lld (ms, TFLOP/s)\n", static_cast<long long>(n_tokens));
    std::printf("  %-7s %6s %6s", "matrix", "n_out", "n_in");
    for (DType d : kDTypes) {
        std::printf(" %18s", tensor::dtype_name(d));
    }
    std::printf("\n");
    const std::vector<float> x_host = random_floats(static_cast<size_t>(n_tokens * 14336), 11);
    gannet::cuda::DeviceBuffer x = upload_bytes(x_host.data(), x_host.size() * sizeof(float));
    gannet::cuda::DeviceBuffer y = must(gannet::cuda::DeviceBuffer::allocate(static_cast<size_t>(n_tokens) * 14336 * 4));
    std::vector<float> total(kNDTypes, 0.0f);
    uint64_t seed = 1;
    for (const Shape& s : kShapes) {
        std::printf("  %-7s %6lld %6lld", s.name, static_cast<long long>(s.n_out), static_cast<long long>(s.n_in));
        for (int di = 0; di < kNDTypes; ++di) {
            const DType dtype = kDTypes[di];
            const std::vector<uint8_t> w_host = random_weights(dtype, s.n_out, s.n_in, seed++);
            gannet::cuda::DeviceBuffer w = upload_bytes(w_host.data(), w_host.size());
            GemmArgs g{.w = w.data(),
                       .w_dtype = dtype,
                       .n_in = s.n_in,
                       .n_out = s.n_out,
                       .n_tokens = n_tokens,
                       .x = x.as<float>(),
                       .y = y.as<float>(),
                       .cublas = cublas};
            gannet::cuda::DeviceBuffer scratch = must(gannet::cuda::DeviceBuffer::allocate(gemm_scratch_size_bytes(g)));
            g.scratch = scratch.data();
            g.scratch_size_bytes = scratch.size_bytes();
            const float ms = time_ms([&] { die(gemm(g, stream)); }, stream, iterations);
            const double tflops = 2.0 * static_cast<double>(n_tokens * s.n_out * s.n_in) / (ms * 1e-3) / 1e12;
            std::printf(" %9.3f (%6.1f)", ms, tflops);
            total[static_cast<size_t>(di)] += ms;
        }
        std::printf("\n");
    }
    std::printf("  %-21s", "sum of 7");
    for (float t : total) {
        std::printf(" %9.3f         ", t);
    }
    std::printf("\n");
    return total;
}

// {reference ms, flash ms} for one Llama-3-8B layer's attention over n_tokens from position 0.
std::pair<float, float> bench_attention(int64_t n_tokens, int iterations, cudaStream_t stream) {
    const int64_t n_heads = 32;
    const int64_t n_kv_heads = 8;
    const int64_t head_dim = 128;
    const std::vector<float> q_host = random_floats(static_cast<size_t>(n_tokens * n_heads * head_dim), 21);
    const std::vector<float> kv_host = random_floats(static_cast<size_t>(n_tokens * n_kv_heads * head_dim), 22);
    std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
        pos[static_cast<size_t>(t)] = static_cast<int32_t>(t);
    }
    gannet::cuda::DeviceBuffer q = upload_bytes(q_host.data(), q_host.size() * 4);
    gannet::cuda::DeviceBuffer k = upload_bytes(kv_host.data(), kv_host.size() * 4);
    gannet::cuda::DeviceBuffer v = upload_bytes(kv_host.data(), kv_host.size() * 4);
    gannet::cuda::DeviceBuffer p = upload_bytes(pos.data(), pos.size() * 4);
    gannet::cuda::DeviceBuffer out = must(gannet::cuda::DeviceBuffer::allocate(q_host.size() * 4));
    PrefillAttentionArgs a{.q = q.as<float>(),
                           .positions = p.as<int32_t>(),
                           .k = k.as<float>(),
                           .k_stride = n_kv_heads * head_dim,
                           .v = v.as<float>(),
                           .v_stride = n_kv_heads * head_dim,
                           .out = out.as<float>(),
                           .n_tokens = n_tokens,
                           .n_heads = n_heads,
                           .n_kv_heads = n_kv_heads,
                           .head_dim_k = head_dim,
                           .head_dim_v = head_dim,
                           .n_kv = n_tokens,
                           .scale = 0.08838834764f};
    a.kernel = PrefillAttentionKernel::kReference;
    const float ref_ms = time_ms([&] { die(prefill_attention(a, stream)); }, stream, iterations);
    a.kernel = PrefillAttentionKernel::kFlash;
    const float flash_ms = time_ms([&] { die(prefill_attention(a, stream)); }, stream, iterations);
    // Causal: half of the n² score matrix, for Q Kᵀ and P V.
    const double flops = 2.0 * 2.0 * static_cast<double>(n_heads * head_dim) * static_cast<double>(n_tokens)
                         * static_cast<double>(n_tokens + 1) / 2.0;
    std::printf("attention n_tokens=%lld 32/8 heads x 128: reference %.3f ms (%.1f TFLOP/s), flash %.3f ms "
                "(%.1f TFLOP/s), %.1fx\n",
                static_cast<long long>(n_tokens), ref_ms, flops / (ref_ms * 1e-3) / 1e12, flash_ms,
                flops / (flash_ms * 1e-3) / 1e12, ref_ms / flash_ms);
    return {ref_ms, flash_ms};
}

int bench_main(int argc, char** argv) {
    if (std::string(GANNET_BUILD_TYPE) != "Release") {
        std::fprintf(stderr, "prefill_bench: built as %s; benchmark a Release build\n", GANNET_BUILD_TYPE);
        return 1;
    }
    const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
    std::vector<int64_t> token_counts;
    for (int i = 2; i < argc; ++i) {
        const long long n = std::atoll(argv[i]);
        if (n <= 0 || n > 65535) {
            std::fprintf(stderr, "prefill_bench: n_tokens %s out of range 1..65535\n", argv[i]);
            return 1;
        }
        token_counts.push_back(n);
    }
    if (token_counts.empty()) {
        token_counts = {512, 4096};
    }
    cudaDeviceProp prop{};
    die(gannet::cuda::cuda_status(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties"));
    std::printf("device: %s, %d SMs; median of %d runs\n", prop.name, prop.multiProcessorCount, iterations);
    gannet::cuda::Stream stream = must(gannet::cuda::Stream::create());
    CublasHandle cublas = must(CublasHandle::create());
    for (int64_t n_tokens : token_counts) {
        const std::vector<float> gemm_ms = bench_gemm(n_tokens, iterations, stream.get(), cublas.get());
        const auto [ref_ms, flash_ms] = bench_attention(n_tokens, iterations, stream.get());
        for (int di = 0; di < kNDTypes - 1; ++di) {  // BF16 is there for the split only
            const float layer_ms = gemm_ms[static_cast<size_t>(di)] + flash_ms;
            std::printf("layer n_tokens=%lld %s: gemm %.3f + flash attention %.3f = %.3f ms -> 32 layers %.0f tok/s "
                        "(with the reference attention %.0f tok/s)\n",
                        static_cast<long long>(n_tokens), tensor::dtype_name(kDTypes[di]),
                        gemm_ms[static_cast<size_t>(di)], flash_ms, layer_ms,
                        static_cast<double>(n_tokens) / (32.0 * layer_ms * 1e-3),
                        static_cast<double>(n_tokens) / (32.0 * (gemm_ms[static_cast<size_t>(di)] + ref_ms) * 1e-3));
        }
    }
    return 0;
}

}  // namespace
}  // namespace gannet::kernels::cuda

int main(int argc, char** argv) {
    return gannet::kernels::cuda::bench_main(argc, argv);
}
