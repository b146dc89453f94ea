// Deterministic GGUF mutation test (issue #13): every count and integer field of every committed
// model fixture (tests/fixtures/models, quant, diffusion, msa) is set in turn to 0, 1, -1, 2^31-1,
// 2^32-1 and 2^63-1 (truncated to the field's width), and each mutant goes through the path
// `gannet run`, `logits` and `serve` take: gguf::File, model config, weight binding, tokenizer,
// chat template, the runner's paged KV cache and a two-token forward pass. Each must end in success or a clean
// "component: ..." error: an exception, abort or crash fails the test. The process runs under an
// address-space cap so an absurd allocation throws here instead of swapping the machine.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "gguf/gguf_fields_for_test.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "runner/runner.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace gannet::model {
namespace {

using gguf::testing::Field;

constexpr uint64_t kValues[] = {0, 1, ~uint64_t{0}, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF};

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// What the commands do with a model file, stopping at the first error.
Status load_like_the_commands(std::vector<uint8_t> bytes) {
    GANNET_ASSIGN_OR_RETURN(gguf::File file, gguf::File::from_bytes(std::move(bytes), "mutant.gguf"));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<Model> m, Model::from_file(std::move(file)));
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::from_gguf(m->file()));
    Result<tokenizer::ChatTemplate> tmpl = tokenizer::ChatTemplate::from_gguf(m->file(), *tok);
    std::string prompt = "hi there";
    if (tmpl.has_value()) {
        tokenizer::ChatMessage user;
        user.role = "user";
        user.content = prompt;
        GANNET_ASSIGN_OR_RETURN(prompt, tmpl->render({user}, tokenizer::ChatRenderOptions()));
    } else if (tmpl.error().code() != ErrorCode::kNotFound) {
        return tmpl.error();
    }
    std::vector<int32_t> tokens = tok->encode(prompt, tokenizer::AddBos::kDefault);
    tokens.resize(std::min<size_t>(tokens.size(), 2));
    if (tokens.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "test: the prompt encoded to no tokens");
    }
    // The one forward, as the commands drive it: one sequence through the runner's paged cache.
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> r,
                            runner::Runner::create(*m, {.n_blocks = 1, .block_size = 16, .n_threads = 1}));
    GANNET_ASSIGN_OR_RETURN(std::span<const float> logits, r->run_sequence(tokens, /*pos=*/0, LogitsMode::kLast));
    const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    (void)tok->decode_token(best, tokenizer::Tokenizer::RenderSpecial::kYes);
    return Status();
}

// Caps the address space at what the process maps now plus 4 GiB (sanitizer runtimes reserve
// terabytes of shadow, so the cap is left off under them).
void cap_address_space() {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    const uint64_t cap = pages * 4096 + (uint64_t{4} << 30);
    rlimit limit{};
    ASSERT_EQ(getrlimit(RLIMIT_AS, &limit), 0);
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > cap) {  // never raise a cap already there
        limit.rlim_cur = cap;
        ASSERT_EQ(setrlimit(RLIMIT_AS, &limit), 0);
    }
#endif
}

class GgufMutationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufMutationTest, EveryFieldAtEveryExtremeLoadsOrFailsCleanly) {
    cap_address_space();
    const std::string path = source_dir() + "/tests/fixtures/" + GetParam();
    const std::vector<uint8_t> original = read_bytes(path);
    ASSERT_FALSE(original.empty()) << path;
    const Status control = load_like_the_commands(original);
    ASSERT_TRUE(control.ok()) << control.message();
    std::optional<std::vector<Field>> fields = gguf::testing::FieldScanner(original).scan();
    ASSERT_TRUE(fields.has_value()) << path;

    int n_ok = 0;
    int n_errors = 0;
    for (const Field& f : *fields) {
        for (uint64_t v : kValues) {
            std::vector<uint8_t> bytes = original;
            gguf::testing::overwrite(bytes, f, v);
            if (bytes == original) {
                continue;
            }
            const std::string what = f.name + " = " + std::to_string(v);
            try {
                const Status s = load_like_the_commands(std::move(bytes));
                if (s.ok()) {
                    ++n_ok;
                    continue;
                }
                ++n_errors;
                // A clean error names its component ("gguf: ...", "model: ...") on one line.
                EXPECT_NE(s.message().find(": "), std::string::npos) << what << ": " << s.message();
                EXPECT_EQ(s.message().find('\n'), std::string::npos) << what << ": " << s.message();
            } catch (const std::exception& e) {
                ADD_FAILURE() << what << " threw " << e.what();
            }
        }
    }
    // Most mutants break the file; some (a token id, general.file_type) are harmless.
    EXPECT_GT(n_errors, static_cast<int>(fields->size()));
    EXPECT_GT(n_ok, 0);
    std::printf("%s: %zu fields, %d mutants loaded, %d refused cleanly\n", GetParam().c_str(), fields->size(), n_ok,
                n_errors);
}

std::vector<std::string> fixture_files() {
    std::vector<std::string> out;
    for (const char* dir : {"models", "quant", "diffusion", "msa"}) {
        for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/tests/fixtures/" + dir)) {
            if (e.path().extension() == ".gguf") {
                out.push_back(std::string(dir) + "/" + e.path().filename().string());
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufMutationTest, ::testing::ValuesIn(fixture_files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                             std::string name = param.param;
                             std::replace_if(
                                 name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
                             return name;
                         });

// The reproducer of issue #13: a valid small llama file whose block_count says 0xFFFFFFFF or 1e8
// threw std::bad_alloc before the count was checked against the file.
TEST(GgufMutation, HugeBlockCountIsRefusedNamingKeyValueAndLimit) {
    const std::vector<uint8_t> original = read_bytes(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    std::optional<std::vector<Field>> fields = gguf::testing::FieldScanner(original).scan();
    ASSERT_TRUE(fields.has_value());
    auto it =
        std::find_if(fields->begin(), fields->end(), [](const Field& f) { return f.name == "llama.block_count"; });
    ASSERT_NE(it, fields->end());
    for (uint64_t v : {uint64_t{0xFFFFFFFF}, uint64_t{100000000}, uint64_t{1000000}}) {
        std::vector<uint8_t> bytes = original;
        gguf::testing::overwrite(bytes, *it, v);
        const Status s = load_like_the_commands(std::move(bytes));
        EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
        EXPECT_EQ(s.message(), "model: llama.block_count is " + std::to_string(v) + ", expected 1..4096");
    }
    // Within the maximum but more layers than the file has tensors for.
    std::vector<uint8_t> bytes = original;
    gguf::testing::overwrite(bytes, *it, 3);
    EXPECT_EQ(load_like_the_commands(std::move(bytes)).message(),
              "model: llama.block_count is 3, but the file has 21 tensors (a layer needs 9), so at most 2 layers");
}

// Every hyperparameter's error names its key, the value read and the accepted range.
TEST(GgufMutation, EachHyperparameterIsRangeCheckedByName) {
    const std::vector<uint8_t> original = read_bytes(source_dir() + "/tests/fixtures/models/llama-f32.gguf");
    const std::vector<Field> fields = gguf::testing::FieldScanner(original).scan().value();
    const std::pair<const char*, const char*> cases[] = {
        {"llama.context_length", "expected 1..2147483647"},
        {"llama.embedding_length", "expected 1..1048576"},
        {"llama.feed_forward_length", "expected 1..4194304"},
        {"llama.attention.head_count", "expected 1..16384"},
        {"llama.attention.head_count_kv", "expected 1..16384"},
        {"llama.attention.key_length", "expected 1..16384"},
        {"llama.attention.value_length", "expected 1..16384"},
        {"llama.rope.dimension_count", "expected even and in [2, 16]"},
    };
    for (const auto& [key, range] : cases) {
        auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == key; });
        ASSERT_NE(it, fields.end()) << key;
        std::vector<uint8_t> bytes = original;
        gguf::testing::overwrite(bytes, *it, 0xFFFFFFFF);
        const Status s = load_like_the_commands(std::move(bytes));
        EXPECT_EQ(s.message(), "model: " + std::string(key) + " is 4294967295, " + range);
    }
}

}  // namespace
}  // namespace gannet::model
