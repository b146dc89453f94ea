#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gannet::tokenizer {
namespace {

std::vector<std::string> split(std::string_view pre, std::string_view text) {
    Result<PreTokenizer> p = PreTokenizer::create(pre);
    EXPECT_TRUE(p.has_value()) << p.error().to_string();
    std::vector<std::string> out;
    if (p.has_value()) {
        for (std::string_view piece : p->split(text)) {
            out.emplace_back(piece);
        }
    }
    return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizerTest, Gpt2KeepsTheSpaceBeforeAWordWithTheWord) {
    EXPECT_EQ(split("gpt-2", "Hello world  !"), (V{"Hello", " world", " ", " !"}));
    EXPECT_EQ(split("gpt-2", "I'll go"), (V{"I", "'ll", " go"}));
}

TEST(PreTokenizerTest, LettersAreUnicodeAware) {
    EXPECT_EQ(split("gpt-2", "Führer нещо"), (V{"Führer", " нещо"}));
}

TEST(PreTokenizerTest, Llama3GroupsDigitsByThreeAndQwen2SplitsEachDigit) {
    EXPECT_EQ(split("llama-bpe", "12345 ab"), (V{"123", "45", " ab"}));
    EXPECT_EQ(split("qwen2", "123"), (V{"1", "2", "3"}));
    EXPECT_EQ(split("llama-bpe", "x\n\n y"), (V{"x", "\n\n", " y"}));
}

TEST(PreTokenizerTest, StarcoderSplitsDigitsBeforeTheGpt2Regex) {
    EXPECT_EQ(split("starcoder", "a 42"), (V{"a", " ", "4", "2"}));
}

TEST(PreTokenizerTest, PiecesAlwaysCoverTheInputEvenWithInvalidUtf8) {
    const std::string text = "ab\xff\xfe cd \xc3";
    for (const char* pre : {"gpt-2", "llama-bpe", "qwen2", "deepseek-coder", "deepseek-llm", "falcon", "default"}) {
        std::string joined;
        for (const std::string& piece : split(pre, text)) {
            EXPECT_FALSE(piece.empty()) << pre;
            joined += piece;
        }
        EXPECT_EQ(joined, text) << pre;
    }
}

TEST(PreTokenizerTest, UnknownNameIsUnimplemented) {
    Result<PreTokenizer> p = PreTokenizer::create("no-such-pre");
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code(), ErrorCode::kUnimplemented);
    EXPECT_NE(p.error().message().find("no-such-pre"), std::string::npos);
}

}  // namespace
}  // namespace gannet::tokenizer
