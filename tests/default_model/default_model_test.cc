// The shipped default model: the C++ forward agrees with PyTorch on held-out text, `gannet run`
// finds the model without -m and writes English, and `gannet perplexity` on the held-out text
// stays at the value recorded when the model was trained (models/README.md).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "base/test_paths.h"
#include "base/thread_pool.h"
#include "model/model.h"
#include "runner/runner.h"

namespace gannet {
namespace {

const std::string kModel = source_dir() + "/models/gannet-default.gguf";
const std::string kFixtures = source_dir() + "/tests/fixtures/default-model";

// Runs the gannet binary with `args`; returns stdout, sets *exit_code.
std::string run_gannet(const std::string& args, int* exit_code, const std::string& env = "") {
    const std::string cmd = env + " " + std::string(GANNET_BINARY) + " " + args + " 2>/dev/null";
    FILE* pipe = popen(cmd.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) {
        out.append(buf, n);
    }
    const int status = pclose(pipe);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

TEST(DefaultModelTest, LastLogitsMatchPyTorchOnHeldOutWindows) {
    Result<std::string> windows_text = read_file(kFixtures + "/windows.json");
    ASSERT_TRUE(windows_text.has_value()) << windows_text.error().to_string();
    const nlohmann::json windows = nlohmann::json::parse(*windows_text);
    Result<std::string> logits_bytes = read_file(kFixtures + "/last_logits.f32");
    ASSERT_TRUE(logits_bytes.has_value());
    const int64_t n_vocab = windows["n_vocab"].get<int64_t>();
    const float* reference = reinterpret_cast<const float*>(logits_bytes->data());

    Result<std::unique_ptr<model::Model>> m = model::Model::load(kModel);
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    size_t w = 0;
    for (const auto& window : windows["windows"]) {
        const std::vector<int32_t> tokens = window.get<std::vector<int32_t>>();
        Result<std::unique_ptr<runner::Runner>> runner = runner::Runner::create(
            **m, {.n_blocks = static_cast<int32_t>((tokens.size() + 15) / 16), .block_size = 16, .n_threads = 2});
        ASSERT_TRUE(runner.has_value()) << runner.error().to_string();
        Result<std::span<const float>> logits = (*runner)->run_sequence(tokens, 0, model::LogitsMode::kLast);
        ASSERT_TRUE(logits.has_value()) << logits.error().to_string();
        const float* ref = reference + w * static_cast<size_t>(n_vocab);
        // Relative error as in tests/fixtures/default-model/README.md: max |a-b| / max |b|.
        float max_diff = 0, max_ref = 0;
        for (int64_t i = 0; i < n_vocab; ++i) {
            max_diff = std::max(max_diff, std::fabs((*logits)[i] - ref[i]));
            max_ref = std::max(max_ref, std::fabs(ref[i]));
        }
        EXPECT_LE(max_diff / max_ref, 1e-3f) << "window " << w;
        const int64_t top = std::max_element(logits->begin(), logits->end()) - logits->begin();
        EXPECT_EQ(top, windows["top1"][w].get<int64_t>()) << "window " << w;
        ++w;
    }
    EXPECT_EQ(w, 3u);
}

TEST(DefaultModelTest, RunWithoutModelFlagWritesEnglish) {
    int code = 0;
    const std::string text = run_gannet("run -p 'Once upon a time' -n 60 --temp 0", &code);
    ASSERT_EQ(code, 0);
    std::ifstream dict_file("/usr/share/dict/words");
    ASSERT_TRUE(dict_file.good()) << "needs /usr/share/dict/words (Debian package wamerican)";
    std::set<std::string> dict;
    for (std::string line; std::getline(dict_file, line);) {
        std::transform(line.begin(), line.end(), line.begin(), [](unsigned char c) { return std::tolower(c); });
        dict.insert(line);
    }
    std::vector<std::string> words;
    std::string cur;
    for (char c : text + " ") {
        if (std::isalpha(static_cast<unsigned char>(c))) {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!cur.empty()) {
            words.push_back(cur);
            cur.clear();
        }
    }
    ASSERT_GE(words.size(), 20u) << text;
    size_t known = 0;
    std::map<std::string, int> counts;
    for (const std::string& word : words) {
        known += dict.count(word);
        ++counts[word];
    }
    int most = 0;
    for (const auto& [word, n] : counts) {
        most = std::max(most, n);
    }
    EXPECT_GE(static_cast<double>(known) / words.size(), 0.7) << text;  // mostly real words
    EXPECT_LE(static_cast<double>(most) / words.size(), 0.3) << text;   // not a loop of one word
}

TEST(DefaultModelTest, MissingDefaultModelIsAClearError) {
    int code = 0;
    run_gannet("run -p hi -n 1", &code, "GANNET_MODEL=/nonexistent/model.gguf");
    EXPECT_EQ(code, 1);
}

TEST(DefaultModelTest, HeldOutPerplexityStaysAtTheRecordedValue) {
    int code = 0;
    const std::string out =
        run_gannet("perplexity -m " + kModel + " -f " + source_dir() + "/models/heldout.txt -t 2", &code);
    ASSERT_EQ(code, 0);
    const size_t at = out.rfind("perplexity: ");
    ASSERT_NE(at, std::string::npos) << out;
    const double ppl = std::stod(out.substr(at + 12));
    // Recorded with the C++ binary when the model was trained (models/README.md): 19.4355.
    EXPECT_NEAR(ppl, 19.4355, 0.01);
}

// The 2-bit QAT model as shipped (plans/mobile-2bit.json: Q2_K/Q3_K/Q4_K/Q4_0/Q8_0 tensors), run
// through the fused K-quant kernels: its perplexity must stay near the F16 model's, where the
// same plan applied without QAT gives 21.52 (training/README.md).
TEST(DefaultModelTest, TwoBitQatModelStaysAtTheRecordedPerplexity) {
    int code = 0;
    const std::string out = run_gannet("perplexity -m " + source_dir() + "/models/gannet-default-qat2-mobile.gguf -f "
                                           + source_dir() + "/models/heldout.txt -t 2",
                                       &code);
    ASSERT_EQ(code, 0);
    const size_t at = out.rfind("perplexity: ");
    ASSERT_NE(at, std::string::npos) << out;
    const double ppl = std::stod(out.substr(at + 12));
    // Recorded with the C++ binary on 2026-11-28 (models/README.md): 19.7211.
    EXPECT_NEAR(ppl, 19.7211, 0.01);
}

}  // namespace
}  // namespace gannet
