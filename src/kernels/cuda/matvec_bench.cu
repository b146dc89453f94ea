// Micro benchmark of the decode matrix-vector kernels at Llama-3-8B shapes, with a device-to-device
// copy probe in the same run so every GB/s figure has its own ceiling beside it.
// Usage: matvec_bench [iterations]. Not a test; refuses to run outside Release builds.
// Rows marked /i8 are the int8-activation (dp4a) path (Q4_0/Q8_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K), its
// quantize-x kernel included; /s8 is Q4_0 in the split layout (weight_layout.h) the same way, /sp the
// split layout with x quantized beforehand (the fused decode's case: the product kernel alone); the
// others use f32 activations.
//
// Method (../../../.library/device/METHOD.md): weights are random (never zeros); every shape gets
// enough copies of W to span >= 512 MB so replays rotate through memory instead of hitting the 50 MB
// L2; launches are captured in a CUDA graph and replayed so launch gaps stay out of the kernel time;
// the figure is the median over repeats. GB/s counts the bytes of W once per product (x and y are
// under 0.1% of them) against the copy's bytes read plus written.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/cuda/cuda_status.h"
#include "base/cuda/device_buffer.h"
#include "base/cuda/stream.h"
#include "kernels/cuda/matvec.h"
#include "kernels/cuda/weight_layout.h"
#include "tensor/dtype.h"

namespace gannet::kernels::cuda {
namespace {

using tensor::DType;

void die(const Status& s) {
    if (!s.ok()) {
        std::fprintf(stderr, "matvec_bench: %s\n", s.to_string().c_str());
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

// Random but valid values: 16-bit floats with magnitude < 2 and block scales around 1e-2, so the
// kernels do real arithmetic on finite numbers.
std::vector<uint8_t> random_weights(DType dtype, int64_t n_out, int64_t n_in, uint64_t seed) {
    const size_t bytes = tensor::row_size_bytes(dtype, n_in) * static_cast<size_t>(n_out);
    std::vector<uint8_t> w(bytes);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        std::memcpy(w.data() + i, &s, 8);
    }
    if (dtype == DType::kF16 || dtype == DType::kBF16) {
        auto* h = reinterpret_cast<uint16_t*>(w.data());
        for (size_t i = 0; i < bytes / 2; ++i) {
            h[i] = static_cast<uint16_t>((h[i] & 0x3fff) | (h[i] & 0x8000));
        }
    } else {
        const size_t block = tensor::type_size_bytes(dtype);
        for (size_t b = 0; b < bytes; b += block) {
            const uint16_t d = static_cast<uint16_t>(0x2000 | (w[b] & 0x3ff));  // ~1e-2 in fp16
            std::memcpy(w.data() + b, &d, 2);
        }
    }
    return w;
}

float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median milliseconds of one replay of `graph` (which runs `per_graph` products).
float time_graph(cudaGraphExec_t exec, cudaStream_t stream, int repeats) {
    gannet::cuda::Event a = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    gannet::cuda::Event b = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    for (int i = 0; i < 3; ++i) {  // warm-up: module load, first-touch of the weights
        die(gannet::cuda::cuda_status(cudaGraphLaunch(exec, stream), "graph launch"));
    }
    std::vector<float> ms;
    for (int r = 0; r < repeats; ++r) {
        die(a.record(stream));
        die(gannet::cuda::cuda_status(cudaGraphLaunch(exec, stream), "graph launch"));
        die(b.record(stream));
        die(b.synchronize());
        ms.push_back(must(b.elapsed_ms_since(a)));
    }
    return median(ms);
}

double copy_bandwidth_gbs(cudaStream_t stream) {
    const size_t bytes = size_t{1} << 30;
    gannet::cuda::DeviceBuffer src = must(gannet::cuda::DeviceBuffer::allocate(bytes));
    gannet::cuda::DeviceBuffer dst = must(gannet::cuda::DeviceBuffer::allocate(bytes));
    die(gannet::cuda::cuda_status(cudaMemset(src.data(), 0x5a, bytes), "memset"));
    gannet::cuda::Event a = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    gannet::cuda::Event b = must(gannet::cuda::Event::create(gannet::cuda::EventTiming::kEnabled));
    std::vector<float> ms;
    for (int r = 0; r < 23; ++r) {
        die(a.record(stream));
        die(gannet::cuda::cuda_status(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream),
                                      "copy"));
        die(b.record(stream));
        die(b.synchronize());
        if (r >= 3) {
            ms.push_back(must(b.elapsed_ms_since(a)));
        }
    }
    return 2.0 * static_cast<double>(bytes) / (static_cast<double>(median(ms)) * 1e-3) / 1e9;
}

struct Row {
    std::string name;
    double us;
    double gbs;
};

// kInt8Act: Q4_0/Q8_0/Q4_K/Q5_K through the int8-activation (dp4a) path, the quantize-x kernel included in
// the time; kF32Act: the f32-activation path. kSplit: Q4_0 in WeightLayout::kQ4_0Split (int8 path);
// kSplitPreQuantized: the same with x quantized once outside the timed graph (the fused decode, where
// rms_norm / glu write the int8 x), i.e. the product kernel alone.
enum class Variant { kF32Act, kInt8Act, kSplit, kSplitPreQuantized };

Row bench_one(DType dtype, int64_t n_out, int64_t n_in, int64_t n_tokens, Variant variant, cudaStream_t stream,
              int repeats) {
    const bool int8_act = variant != Variant::kF32Act;
    const bool is_split = variant == Variant::kSplit || variant == Variant::kSplitPreQuantized;
    std::vector<uint8_t> host = random_weights(dtype, n_out, n_in, static_cast<uint64_t>(n_out * 31 + n_in));
    if (is_split) {
        std::vector<uint8_t> gguf = host;
        die(repack_q4_0_split(gguf.data(), host.data(), n_out, n_in));
    }
    const size_t w_bytes = host.size();
    const size_t n_copies = std::max<size_t>(1, (size_t{512} << 20) / w_bytes + 1);
    std::vector<gannet::cuda::DeviceBuffer> copies;
    for (size_t c = 0; c < n_copies; ++c) {
        copies.push_back(must(gannet::cuda::DeviceBuffer::allocate(w_bytes)));
        die(gannet::cuda::cuda_status(cudaMemcpy(copies.back().data(), host.data(), w_bytes, cudaMemcpyHostToDevice),
                                      "upload"));
    }
    std::vector<float> xh(static_cast<size_t>(n_tokens * n_in));
    for (size_t i = 0; i < xh.size(); ++i) {
        xh[i] = 0.001f * static_cast<float>(static_cast<int>(i % 2001) - 1000);
        if (xh[i] == 0.0f) {
            xh[i] = 0.5f;
        }
    }
    gannet::cuda::DeviceBuffer x = must(gannet::cuda::DeviceBuffer::allocate(xh.size() * sizeof(float)));
    die(gannet::cuda::cuda_status(cudaMemcpy(x.data(), xh.data(), xh.size() * sizeof(float), cudaMemcpyHostToDevice),
                                  "upload x"));
    gannet::cuda::DeviceBuffer y =
        must(gannet::cuda::DeviceBuffer::allocate(static_cast<size_t>(n_tokens * n_out) * 4));
    MatvecArgs sizing;
    sizing.w_dtype = dtype;
    sizing.n_in = n_in;
    sizing.n_tokens = n_tokens;
    const size_t scratch_bytes = int8_act ? matvec_scratch_size_bytes(sizing) : 0;
    gannet::cuda::DeviceBuffer scratch =
        must(gannet::cuda::DeviceBuffer::allocate(scratch_bytes > 0 ? scratch_bytes : 256));
    if (variant == Variant::kSplitPreQuantized) {
        die(quantize_x_int8({.x = x.data(),
                             .x_dtype = DType::kF32,
                             .n_in = n_in,
                             .n_tokens = n_tokens,
                             .scratch = scratch.data(),
                             .scratch_size_bytes = scratch_bytes},
                            stream));
    }

    // One graph runs `per_graph` products, cycling through the copies.
    const int per_graph = static_cast<int>(std::max<size_t>(20, n_copies));
    cudaGraph_t graph = nullptr;
    die(gannet::cuda::cuda_status(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture"));
    for (int i = 0; i < per_graph; ++i) {
        MatvecArgs a;
        a.w = copies[static_cast<size_t>(i) % n_copies].data();
        a.w_dtype = dtype;
        a.w_layout = is_split ? WeightLayout::kQ4_0Split : WeightLayout::kGguf;
        a.is_x_quantized = variant == Variant::kSplitPreQuantized;
        a.n_in = n_in;
        a.n_out = n_out;
        a.n_tokens = n_tokens;
        a.x = x.data();
        a.y = y.as<float>();
        if (scratch_bytes > 0) {
            a.scratch = scratch.data();
            a.scratch_size_bytes = scratch_bytes;
        }
        die(matvec(a, stream));
    }
    die(gannet::cuda::cuda_status(cudaStreamEndCapture(stream, &graph), "end capture"));
    cudaGraphExec_t exec = nullptr;
    die(gannet::cuda::cuda_status(cudaGraphInstantiate(&exec, graph, 0), "instantiate"));
    const float ms = time_graph(exec, stream, repeats);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    const double us = static_cast<double>(ms) * 1e3 / per_graph;
    char name[96];
    const char* tag = variant == Variant::kSplitPreQuantized ? "/sp" : (is_split ? "/s8" : (int8_act ? "/i8" : "   "));
    std::snprintf(name, sizeof(name), "%-5s%s %6lldx%-6lld t=%lld", tensor::dtype_name(dtype), tag,
                  static_cast<long long>(n_out), static_cast<long long>(n_in), static_cast<long long>(n_tokens));
    return Row{name, us, static_cast<double>(w_bytes) / (us * 1e-6) / 1e9};
}

int run(int argc, char** argv) {
    if (std::string(GANNET_BUILD_TYPE) != "Release") {
        std::fprintf(stderr, "matvec_bench: built as %s; benchmarks need -DCMAKE_BUILD_TYPE=Release\n",
                     GANNET_BUILD_TYPE);
        return 1;
    }
    const int repeats = argc > 1 ? std::max(3, std::atoi(argv[1])) : 15;
    cudaDeviceProp prop{};
    die(gannet::cuda::cuda_status(cudaGetDeviceProperties(&prop, 0), "device properties"));
    std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    gannet::cuda::Stream stream = must(gannet::cuda::Stream::create());
    const double copy_gbs = copy_bandwidth_gbs(stream.get());
    std::printf("d2d copy (1 GiB, read+write): %.0f GB/s\n", copy_gbs);

    struct Shape {
        int64_t n_out;
        int64_t n_in;
    };
    const Shape shapes[] = {{4096, 4096}, {4096, 14336}, {14336, 4096}, {128256, 4096}};
    std::vector<Row> rows;
    // Q4_0 in the split layout (#6), with and without the quantize-x launch in the time.
    for (Variant v : {Variant::kSplit, Variant::kSplitPreQuantized}) {
        for (Shape s : shapes) {
            rows.push_back(bench_one(DType::kQ4_0, s.n_out, s.n_in, 1, v, stream.get(), repeats));
        }
    }
    // The int8-path types both ways (int8 activations + dp4a, and f32 activations), then the rest.
    for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K,
                        DType::kQ5_K, DType::kQ6_K}) {
        for (Shape s : shapes) {
            rows.push_back(bench_one(dtype, s.n_out, s.n_in, 1, Variant::kInt8Act, stream.get(), repeats));
        }
    }
    for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                        DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
        for (Shape s : shapes) {
            rows.push_back(bench_one(dtype, s.n_out, s.n_in, 1, Variant::kF32Act, stream.get(), repeats));
        }
    }
    // Small-batch decode: the weights are read once for all tokens.
    for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
        for (int64_t t : {2, 4, 8}) {
            rows.push_back(bench_one(dtype, 14336, 4096, t, Variant::kInt8Act, stream.get(), repeats));
        }
    }
    for (DType dtype : {DType::kQ4_0, DType::kF16, DType::kQ4_K, DType::kQ6_K}) {
        rows.push_back(bench_one(dtype, 14336, 4096, 4, Variant::kF32Act, stream.get(), repeats));
        rows.push_back(bench_one(dtype, 14336, 4096, 8, Variant::kF32Act, stream.get(), repeats));
    }
    std::printf("%-31s %10s %10s %8s\n", "matvec (n_out x n_in, tokens)", "us", "GB/s", "% copy");
    for (const Row& r : rows) {
        std::printf("%-31s %10.2f %10.0f %7.1f%%\n", r.name.c_str(), r.us, r.gbs, 100.0 * r.gbs / copy_gbs);
    }
    return 0;
}

}  // namespace
}  // namespace gannet::kernels::cuda

int main(int argc, char** argv) {
    return gannet::kernels::cuda::run(argc, argv);
}
