// Golden tests against llama.cpp's vocab-only GGUFs and their expected ids (made with the reference
// Hugging Face tokenizers): every case of every vocab must match exactly.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/test_paths.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace gannet::tokenizer {
namespace {

std::string vocab_dir() {
    return shared_data_dir() + "/third_party/llama.cpp-vocab/";
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// .inp: each text is followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> read_inputs(const std::string& path) {
    const std::string all = read_all(path);
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    size_t start = 0;
    for (size_t pos; (pos = all.find(sep, start)) != std::string::npos; start = pos + sep.size()) {
        texts.push_back(all.substr(start, pos - start));
    }
    return texts;
}

// .out: line N holds the space-separated ids of text N.
std::vector<std::vector<TokenId>> read_outputs(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::vector<TokenId>> outs;
    for (std::string line; std::getline(in, line);) {
        std::istringstream ss(line);
        std::vector<TokenId> ids;
        for (TokenId id; ss >> id;) {
            ids.push_back(id);
        }
        outs.push_back(ids);
    }
    return outs;
}

std::string ids_str(const std::vector<TokenId>& ids) {
    std::string s;
    for (TokenId id : ids) {
        s += std::to_string(id) + " ";
    }
    return s;
}

class VocabGoldenTest : public testing::TestWithParam<std::string> {};

TEST_P(VocabGoldenTest, EncodesEveryCaseLikeTheReferenceAndDecodesBack) {
    const std::string base = vocab_dir() + "ggml-vocab-" + GetParam() + ".gguf";
    Result<gguf::File> file = gguf::File::open(base);
    ASSERT_TRUE(file.has_value()) << file.error().to_string();
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(*file);
    ASSERT_TRUE(tok.has_value()) << tok.error().to_string();

    const std::vector<std::string> texts = read_inputs(base + ".inp");
    const std::vector<std::vector<TokenId>> expected = read_outputs(base + ".out");
    ASSERT_EQ(texts.size(), expected.size());
    ASSERT_GE(texts.size(), 40u);
    int n_pass = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        const std::vector<TokenId> got = (*tok)->encode(texts[i], AddBos::kNo);
        EXPECT_EQ(ids_str(got), ids_str(expected[i])) << "case " << i << ": '" << texts[i] << "'";
        EXPECT_EQ((*tok)->decode(got, Tokenizer::RenderSpecial::kNo), texts[i]) << "round trip of case " << i;
        n_pass += got == expected[i] ? 1 : 0;
    }
    std::printf("vocab %s: %d/%zu cases match\n", GetParam().c_str(), n_pass, texts.size());
}

INSTANTIATE_TEST_SUITE_P(LlamaCppVocabs, VocabGoldenTest,
                         testing::Values("gpt-2", "llama-spm", "phi-3", "starcoder", "falcon", "deepseek-coder"),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                             std::string name = param_info.param;
                             for (char& c : name) {
                                 c = (c == '-') ? '_' : c;
                             }
                             return name;
                         });

}  // namespace
}  // namespace gannet::tokenizer
