// Checks Gannet against files llama.cpp's own quantizer made (tests/fixtures/quant/, README there):
//  1. Dequantization: every tensor of every llama.cpp file dequantizes to exactly the floats ggml's
//     to_float gives (FNV-1a hashes recorded with ggml itself in dequant_hashes.txt).
//  2. Logits: for each file, err_file = RMS over all positions and vocab of (logits(file) -
//     logits(F16)). The format's own error, err_own, is the same RMS for a model built from the F16
//     weights quantized by OUR quantizer to exactly the per-tensor types the llama.cpp file holds.
//     Passing needs err_file <= 1.3 * err_own: it fails when Gannet reads a llama.cpp file wrongly
//     (a misread block gives errors far above the format's rounding) or when our quantizer is >30%
//     better than llama.cpp's (then the bound is worth re-measuring).
//  3. Bytes: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 tensors are byte-identical to our quantizer's output.
//  4. Tensor error: our K-quant quantizer's weight RMSE against llama.cpp's on the same matrices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "base/thread_pool.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "runner/runner.h"
#include "tensor/quant.h"
#include "tensor/quant_k_quantize.h"

namespace gannet::quantize {
namespace {

using tensor::DType;

std::string dir() {
    return source_dir() + "/tests/fixtures/quant/";
}
const char* const kTypes[] = {"q4_0", "q8_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};

std::vector<float> dequantize_tensor(const gguf::File& f, const gguf::TensorInfo& info) {
    std::vector<float> y(static_cast<size_t>(info.n_elements()));
    EXPECT_TRUE(tensor::dequantize_row(info.dtype, f.tensor_data(info).data(), y.data(), info.n_elements()).ok());
    return y;
}

// Logits at every position of a fixed 64-token sequence.
std::vector<float> logits_of(gguf::File file) {
    std::unique_ptr<model::Model> m = model::Model::from_file(std::move(file)).value();
    const int64_t n = 64;
    std::vector<int32_t> tokens(n);
    for (int64_t i = 0; i < n; ++i) {
        tokens[i] = static_cast<int32_t>((i * 37 + 5) % m->config().n_vocab);
    }
    auto runner = runner::Runner::create(*m, {.n_blocks = 4, .block_size = 16, .n_threads = 2}).value();
    const std::span<const float> l = runner->run_sequence(tokens, 0, model::LogitsMode::kAll).value();
    return {l.begin(), l.end()};
}

double rms_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        s += (a[i] - b[i]) * (a[i] - b[i]);
    }
    return std::sqrt(s / static_cast<double>(a.size()));
}

// The F16 model with each tensor quantized by Gannet to the type `like` stores it in.
gguf::File ours_like(const gguf::File& f16, const gguf::File& like) {
    gguf::Writer w;
    for (const auto& [key, value] : like.metadata()) {
        w.set_value(key, value);
    }
    for (const gguf::TensorInfo& t : like.tensors()) {
        const gguf::TensorInfo* src = f16.find_tensor(t.name);
        EXPECT_NE(src, nullptr) << t.name;
        const std::vector<float> x = dequantize_tensor(f16, *src);
        const int64_t row = t.shape[0];
        const size_t rb = tensor::row_size_bytes(t.dtype, row);
        std::vector<uint8_t> out(rb * static_cast<size_t>(t.n_elements() / row));
        for (int64_t r = 0; r < t.n_elements() / row; ++r) {
            EXPECT_TRUE(
                tensor::quantize_row_weighted(t.dtype, x.data() + r * row, out.data() + r * rb, row, nullptr).ok());
        }
        EXPECT_TRUE(w.add_tensor(t.name, t.dtype, t.shape, out).ok());
    }
    return gguf::File::from_bytes(w.serialize(), "ours").value();
}

uint64_t fnv1a(const std::vector<float>& v) {
    uint64_t h = 1469598103934665603ULL;
    const auto* b = reinterpret_cast<const unsigned char*>(v.data());
    for (size_t k = 0; k < v.size() * sizeof(float); ++k) {
        h ^= b[k];
        h *= 1099511628211ULL;
    }
    return h;
}

TEST(QuantizeFixtureTest, DequantizationEqualsGgmlsBitForBit) {
    std::ifstream in(dir() + "dequant_hashes.txt");
    ASSERT_TRUE(in) << "missing " << dir() << "dequant_hashes.txt";
    std::map<std::string, std::unique_ptr<gguf::File>> files;
    std::string line;
    int n_checked = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string file, name, type, hash;
        ls >> file >> name >> type >> hash;
        if (!files.contains(file)) {
            files[file] = std::make_unique<gguf::File>(gguf::File::open(dir() + file).value());
        }
        const gguf::TensorInfo* t = files[file]->find_tensor(name);
        ASSERT_NE(t, nullptr) << file << " " << name;
        EXPECT_EQ(tensor::dtype_name(t->dtype), type) << file << " " << name;
        char got[17];
        std::snprintf(got, sizeof(got), "%016llx",
                      static_cast<unsigned long long>(fnv1a(dequantize_tensor(*files[file], *t))));
        EXPECT_EQ(got, hash) << file << " " << name << " (" << type << ")";
        ++n_checked;
    }
    EXPECT_GE(n_checked, 100);
}

TEST(QuantizeFixtureTest, LlamaCppFilesAreWithin30PercentOfTheFormatsOwnLogitError) {
    const gguf::File f16 = gguf::File::open(dir() + "tiny-f16.gguf").value();
    const std::vector<float> base = logits_of(gguf::File::open(dir() + "tiny-f16.gguf").value());
    for (const char* type : kTypes) {
        gguf::File theirs = gguf::File::open(dir() + "tiny-" + type + ".gguf").value();
        const double err_own = rms_diff(logits_of(ours_like(f16, theirs)), base);
        const double err_file = rms_diff(logits_of(std::move(theirs)), base);
        std::printf("%-5s err_file %.5f err_own %.5f ratio %.3f\n", type, err_file, err_own, err_file / err_own);
        EXPECT_GT(err_file, 0.0) << type;
        EXPECT_LE(err_file, 1.3 * err_own) << type;
    }
}

TEST(QuantizeFixtureTest, SimpleTypesAreByteIdenticalToLlamaCpps) {
    const gguf::File f16 = gguf::File::open(dir() + "tiny-f16.gguf").value();
    int n_tensors = 0;
    for (const char* type : {"q4_0", "q8_0", "q4_1", "q5_0", "q5_1"}) {
        const gguf::File theirs = gguf::File::open(dir() + "tiny-" + type + ".gguf").value();
        const DType t = tensor::dtype_from_name(type).value();
        for (const gguf::TensorInfo& info : theirs.tensors()) {
            if (info.dtype != t) {
                continue;
            }
            const std::vector<float> x = dequantize_tensor(f16, *f16.find_tensor(info.name));
            std::vector<uint8_t> ours(info.size_bytes);
            ASSERT_TRUE(tensor::quantize_row(t, x.data(), ours.data(), info.n_elements()).ok());
            const std::span<const uint8_t> want = theirs.tensor_data(info);
            EXPECT_TRUE(std::equal(want.begin(), want.end(), ours.begin(), ours.end())) << type << " " << info.name;
            ++n_tensors;
        }
    }
    // 7 matrices per file, plus token_embd in the Q8_0 file (the other four put it at Q6_K).
    EXPECT_EQ(n_tensors, 5 * 7 + 1);
}

// Bounds measured on this fixture (ratios printed by the test): our search is within a few percent
// of llama.cpp's reference quantizers, better on some types; 1.10 leaves room for noise only.
TEST(QuantizeFixtureTest, OurKQuantTensorErrorIsComparableToLlamaCpps) {
    const gguf::File f16 = gguf::File::open(dir() + "tiny-f16.gguf").value();
    for (const char* type : {"q2_k", "q3_k", "q4_k", "q5_k", "q6_k"}) {
        const gguf::File theirs = gguf::File::open(dir() + "tiny-" + type + ".gguf").value();
        const DType k = tensor::dtype_from_name(type).value();
        double err_theirs = 0, err_ours = 0;
        int64_t n = 0;
        for (const gguf::TensorInfo& t : theirs.tensors()) {
            if (t.dtype != k) {
                continue;
            }
            const std::vector<float> x = dequantize_tensor(f16, *f16.find_tensor(t.name));
            const std::vector<float> y = dequantize_tensor(theirs, t);
            std::vector<uint8_t> q(tensor::row_size_bytes(k, t.shape[0]));
            std::vector<float> z(static_cast<size_t>(t.shape[0]));
            for (int64_t r = 0; r < t.n_elements() / t.shape[0]; ++r) {
                const float* xr = x.data() + r * t.shape[0];
                ASSERT_TRUE(tensor::quantize_row_weighted(k, xr, q.data(), t.shape[0], nullptr).ok());
                ASSERT_TRUE(tensor::dequantize_row(k, q.data(), z.data(), t.shape[0]).ok());
                for (int64_t i = 0; i < t.shape[0]; ++i) {
                    err_ours += (xr[i] - z[i]) * (xr[i] - z[i]);
                    err_theirs += (xr[i] - y[r * t.shape[0] + i]) * (xr[i] - y[r * t.shape[0] + i]);
                }
            }
            n += t.n_elements();
        }
        ASSERT_GT(n, 0) << type;
        const double ratio = std::sqrt(err_ours / err_theirs);
        std::printf("%-5s tensor RMSE ours/llama.cpp %.3f over %lld weights\n", type, ratio, static_cast<long long>(n));
        EXPECT_LT(ratio, 1.10) << type;
    }
}

}  // namespace
}  // namespace gannet::quantize
