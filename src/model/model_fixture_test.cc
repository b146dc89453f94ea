// Golden test: Gannet's logits against Hugging Face transformers' for the tiny random-weight models
// in tests/fixtures/models (made by training/make_reference_fixtures.py). Every position of the
// 24-token sequence is compared. rel err of a position = max_i |gannet_i - hf_i| / max_i |hf_i|;
// bounds: F32 <= 1e-4, F16/BF16 <= 5e-3 (each dtype has its own reference computed on the rounded
// weights, so all should in fact sit near the float32 noise floor), and the argmax must agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "model/model.h"
#include "runner/runner.h"

namespace gannet::model {
namespace {

std::string fixture_dir() {
    return source_dir() + "/tests/fixtures/models";
}

// {"tokens": [1, 2, ...], ...}: the ints between the first '[' and ']'.
std::vector<int32_t> parse_tokens(const std::string& json) {
    std::vector<int32_t> ids;
    const size_t open = json.find('[');
    const size_t close = json.find(']', open);
    size_t pos = open + 1;
    while (pos < close) {
        size_t used = 0;
        ids.push_back(std::stoi(json.substr(pos, close - pos), &used));
        pos += used;
        while (pos < close && (json[pos] == ',' || json[pos] == ' ')) {
            ++pos;
        }
    }
    return ids;
}

struct FixtureCase {
    std::string arch;
    std::string dtype;
    double tolerance;
};

class FixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(FixtureTest, LogitsMatchHuggingFaceAtEveryPosition) {
    const FixtureCase c = GetParam();
    const std::string base = fixture_dir() + "/" + c.arch;
    const std::string gguf_path = base + "-" + c.dtype + ".gguf";
    // The fixtures are committed (training/make_reference_fixtures.py): a missing one is a failure,
    // not a reason to skip.
    ASSERT_TRUE(std::filesystem::exists(gguf_path)) << "fixture missing: " << gguf_path;
    const std::vector<int32_t> tokens = parse_tokens(read_file(base + ".tokens.json").value());
    const std::string ref_bytes = read_file(base + "-" + c.dtype + ".logits.f32").value();
    std::unique_ptr<Model> m = Model::load(gguf_path).value();
    const int64_t n_vocab = m->config().n_vocab;
    ASSERT_EQ(ref_bytes.size(), tokens.size() * n_vocab * sizeof(float));
    std::vector<float> ref(ref_bytes.size() / sizeof(float));
    std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());

    // The one forward for one sequence: runner::Runner::run_sequence over Model::forward_batch.
    const int32_t n_blocks = static_cast<int32_t>((tokens.size() + 15) / 16);
    auto runner = runner::Runner::create(*m, {.n_blocks = n_blocks, .block_size = 16, .n_threads = 2}).value();
    std::span<const float> got = runner->run_sequence(tokens, 0, LogitsMode::kAll).value();
    double worst = 0.0;
    for (size_t t = 0; t < tokens.size(); ++t) {
        const std::span<const float> g = got.subspan(t * n_vocab, n_vocab);
        const std::span<const float> r = std::span<const float>(ref).subspan(t * n_vocab, n_vocab);
        double max_diff = 0.0, max_ref = 0.0;
        for (int64_t i = 0; i < n_vocab; ++i) {
            max_diff = std::max(max_diff, std::abs(static_cast<double>(g[i]) - r[i]));
            max_ref = std::max(max_ref, std::abs(static_cast<double>(r[i])));
        }
        const double rel = max_diff / max_ref;
        worst = std::max(worst, rel);
        EXPECT_LE(rel, c.tolerance) << "position " << t;
        EXPECT_EQ(std::max_element(g.begin(), g.end()) - g.begin(), std::max_element(r.begin(), r.end()) - r.begin())
            << "argmax at position " << t;
    }
    std::printf("%s-%s: worst rel err %.2e over %zu positions\n", c.arch.c_str(), c.dtype.c_str(), worst,
                tokens.size());
}

std::vector<FixtureCase> all_cases() {
    std::vector<FixtureCase> out;
    for (const char* arch : {"llama", "qwen2", "qwen3", "gemma3"}) {
        out.push_back({arch, "f32", 1e-4});
        out.push_back({arch, "f16", 5e-3});
        out.push_back({arch, "bf16", 5e-3});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& p) { return p.param.arch + "_" + p.param.dtype; });

}  // namespace
}  // namespace gannet::model
