#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tokenizer/prompt.h"
#include "tokenizer/utf8.h"

namespace gannet::tokenizer {
namespace {

using Ids = std::vector<TokenId>;
constexpr const char* kSp = "\xe2\x96\x81";  // U+2581

// A tiny SentencePiece vocab: <unk> <s> </s>, byte tokens for '\n' and 0xC3 0xA9 ('é'), then pieces.
Vocab tiny_spm() {
    Vocab v;
    v.model = VocabModel::kSpm;
    auto add = [&](std::string text, float score, TokenType type) {
        v.tokens.push_back(std::move(text));
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0, TokenType::kUnknown);                    // 0
    add("<s>", 0, TokenType::kControl);                      // 1
    add("</s>", 0, TokenType::kControl);                     // 2
    add("<0x0A>", 0, TokenType::kByte);                      // 3
    add("<0xC3>", 0, TokenType::kByte);                      // 4
    add("<0xA9>", 0, TokenType::kByte);                      // 5
    add(kSp, -1, TokenType::kNormal);                        // 6
    add("h", -2, TokenType::kNormal);                        // 7
    add("i", -2, TokenType::kNormal);                        // 8
    add(std::string(kSp) + "h", -3, TokenType::kNormal);     // 9
    add("hi", -1.5, TokenType::kNormal);                     // 10
    add(std::string(kSp) + "hi", -0.5, TokenType::kNormal);  // 11
    v.bos_id = 1;
    v.eos_id = 2;
    v.unk_id = 0;
    v.add_bos = true;
    return v;
}

std::unique_ptr<Tokenizer> make(Vocab v) {
    Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_vocab(std::move(v));
    EXPECT_TRUE(t.has_value()) << t.error().to_string();
    return t.has_value() ? std::move(t).value() : nullptr;
}

TEST(SpmTokenizerTest, MergesByScoreAfterPrependingASpace) {
    auto t = make(tiny_spm());
    // "hi" -> "▁hi": "hi" (-1.5) merges before "▁h" (-3), then "▁" + "hi" = "▁hi".
    EXPECT_EQ(t->encode("hi", AddBos::kNo), (Ids{11}));
    EXPECT_EQ(t->encode("hi", AddBos::kDefault), (Ids{1, 11}));
    EXPECT_EQ(t->encode("hi hi", AddBos::kNo), (Ids{11, 11}));
}

// The one BOS rule: plain text follows add_bos; rendered text gets BOS unless it starts with it.
TEST(PromptTest, BosIsAddedOnceWhereTheVocabAsksForIt) {
    auto t = make(tiny_spm());
    EXPECT_EQ(prompt_bos(*t), 1);
    EXPECT_EQ(encode_prompt(*t, "hi", PromptKind::kPlain), (Ids{1, 11}));
    EXPECT_EQ(encode_prompt(*t, "hi", PromptKind::kRendered), (Ids{1, 11}));
    const Ids rendered = encode_prompt(*t, "<s>hi", PromptKind::kRendered);
    EXPECT_EQ(rendered, t->encode("<s>hi", AddBos::kNo));
    EXPECT_EQ(std::count(rendered.begin(), rendered.end(), 1), 1);  // one BOS, the template's
    Vocab no_bos = tiny_spm();
    no_bos.add_bos = false;
    auto u = make(std::move(no_bos));
    EXPECT_EQ(prompt_bos(*u), -1);
    EXPECT_EQ(encode_prompt(*u, "hi", PromptKind::kPlain), (Ids{11}));
}

TEST(SpmTokenizerTest, UnknownCharactersFallBackToByteTokensOrUnk) {
    auto t = make(tiny_spm());
    EXPECT_EQ(t->encode("h\n", AddBos::kNo), (Ids{9, 3}));
    EXPECT_EQ(t->encode("hé", AddBos::kNo), (Ids{9, 4, 5}));
    EXPECT_EQ(t->encode("hx", AddBos::kNo), (Ids{9, 0}));  // no <0x78>: <unk>
}

TEST(SpmTokenizerTest, SpecialTokenTextBecomesTheTokenAndRestartsTheSpacePrefix) {
    auto t = make(tiny_spm());
    EXPECT_EQ(t->encode("hi</s>hi", AddBos::kNo), (Ids{11, 2, 11}));
    EXPECT_EQ(t->encode("<s>", AddBos::kNo), (Ids{1}));
}

TEST(SpmTokenizerTest, DecodeDropsThePrependedSpaceAndRendersSpecialOnRequest) {
    auto t = make(tiny_spm());
    const Ids ids = t->encode("hi hé\n", AddBos::kDefault);
    EXPECT_EQ(t->decode(ids, Tokenizer::RenderSpecial::kNo), "hi hé\n");
    EXPECT_EQ(t->decode(ids, Tokenizer::RenderSpecial::kYes), "<s> hi hé\n");
    EXPECT_EQ(t->decode_token(4, Tokenizer::RenderSpecial::kNo), "\xc3");
    EXPECT_EQ(t->decode_token(99, Tokenizer::RenderSpecial::kYes), "");
    EXPECT_TRUE(t->is_end_of_generation(2));
    EXPECT_FALSE(t->is_end_of_generation(11));
}

// A tiny byte-level vocab: the 256 byte stand-ins, then "ab", "abc", "Ġabc" and <|end|>.
Vocab tiny_bpe(const std::string& pre) {
    Vocab v;
    v.model = VocabModel::kBpe;
    v.pre = pre;
    for (const std::string& s : byte_to_unicode()) {
        v.tokens.push_back(s);
    }
    v.tokens.insert(v.tokens.end(), {"ab", "abc",
                                     "\xc4\xa0"
                                     "abc",
                                     "<|end|>"});  // 256..259
    v.types.assign(v.tokens.size(), TokenType::kNormal);
    v.types[259] = TokenType::kControl;
    v.merges = {"a b", "ab c", "\xc4\xa0 abc"};
    v.eos_id = 259;
    return v;
}

TEST(BpeTokenizerTest, MergesByRankWithinPreTokenizedWords) {
    auto t = make(tiny_bpe("gpt-2"));
    EXPECT_EQ(t->encode("abc abc", AddBos::kNo), (Ids{257, 258}));
    // "abd": "a b" merges, then nothing: ab + d (byte token ids are the byte values).
    EXPECT_EQ(t->encode("abd", AddBos::kNo), (Ids{256, 'd'}));
    EXPECT_EQ(t->encode("abc<|end|>", AddBos::kNo), (Ids{257, 259}));
}

TEST(BpeTokenizerTest, DecodesEveryByteBack) {
    auto t = make(tiny_bpe("qwen2"));
    std::string all;
    for (int b = 1; b < 256; ++b) {
        all.push_back(static_cast<char>(b));
    }
    all += " abc\n\t\xff";
    EXPECT_EQ(t->decode(t->encode(all, AddBos::kNo), Tokenizer::RenderSpecial::kNo), all);
    EXPECT_EQ(t->decode({257, 259}, Tokenizer::RenderSpecial::kNo), "abc");
    EXPECT_EQ(t->decode({257, 259}, Tokenizer::RenderSpecial::kYes), "abc<|end|>");
    EXPECT_TRUE(t->is_end_of_generation(259));
    EXPECT_EQ(t->eot_id(), 259);
}

TEST(TokenizerErrorsTest, InconsistentVocabsAreDataLoss) {
    Vocab empty;
    EXPECT_EQ(Tokenizer::from_vocab(empty).error().code(), ErrorCode::kDataLoss);
    Vocab scores = tiny_spm();
    scores.scores.pop_back();
    EXPECT_EQ(Tokenizer::from_vocab(scores).error().code(), ErrorCode::kDataLoss);
    Vocab bad_id = tiny_spm();
    bad_id.eos_id = 1000;
    Result<std::unique_ptr<Tokenizer>> r = Tokenizer::from_vocab(bad_id);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(r.error().message().find("1000"), std::string::npos);
}

TEST(TokenizerErrorsTest, UnknownPreTokenizerIsUnimplemented) {
    EXPECT_EQ(Tokenizer::from_vocab(tiny_bpe("martian")).error().code(), ErrorCode::kUnimplemented);
}

// Writes a minimal GGUF v3 (no tensors) holding the given string / string-array metadata.
class GgufWriter {
public:
    void str(const std::string& key, const std::string& value) {
        head(key, 8);
        string(value);
        ++n_kv_;
    }
    void str_array(const std::string& key, const std::vector<std::string>& values) {
        head(key, 9);
        u32(8);
        u64(values.size());
        for (const std::string& v : values) {
            string(v);
        }
        ++n_kv_;
    }
    std::string write() {
        char path[] = "/tmp/gannet_tok_test_XXXXXX";
        const int fd = mkstemp(path);
        std::string out = "GGUF";
        auto put = [&](uint64_t v, int n) {
            out.append(reinterpret_cast<const char*>(&v), n);
        };
        put(3, 4);
        put(0, 8);
        put(n_kv_, 8);
        out += body_;
        EXPECT_EQ(::write(fd, out.data(), out.size()), static_cast<ssize_t>(out.size()));
        ::close(fd);
        return path;
    }

private:
    void head(const std::string& key, uint32_t type) {
        string(key);
        u32(type);
    }
    void string(const std::string& s) {
        u64(s.size());
        body_ += s;
    }
    void u32(uint32_t v) { body_.append(reinterpret_cast<const char*>(&v), 4); }
    void u64(uint64_t v) { body_.append(reinterpret_cast<const char*>(&v), 8); }
    std::string body_;
    uint64_t n_kv_ = 0;
};

Status load(GgufWriter& w) {
    const std::string path = w.write();
    Result<gguf::File> f = gguf::File::open(path);
    std::remove(path.c_str());
    if (!f.has_value()) {
        return f.error();
    }
    Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_gguf(*f);
    return t.has_value() ? Status() : t.error();
}

TEST(TokenizerGgufTest, MissingTokensArrayIsDataLoss) {
    GgufWriter w;
    w.str("tokenizer.ggml.model", "llama");
    Status s = load(w);
    EXPECT_EQ(s.code(), ErrorCode::kDataLoss);
    EXPECT_NE(s.message().find("tokenizer.ggml.tokens"), std::string::npos) << s.message();
}

TEST(TokenizerGgufTest, UnknownModelIsUnimplemented) {
    GgufWriter w;
    w.str("tokenizer.ggml.model", "t5-unigram");
    w.str_array("tokenizer.ggml.tokens", {"a", "b"});
    Status s = load(w);
    EXPECT_EQ(s.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(s.message().find("t5-unigram"), std::string::npos) << s.message();
}

TEST(TokenizerGgufTest, Gpt2WithoutMergesIsDataLoss) {
    GgufWriter w;
    w.str("tokenizer.ggml.model", "gpt2");
    w.str_array("tokenizer.ggml.tokens", {"a", "b"});
    EXPECT_EQ(load(w).code(), ErrorCode::kDataLoss);
}

TEST(TokenizerGgufTest, MinimalSpmVocabLoads) {
    GgufWriter w;
    w.str("tokenizer.ggml.model", "llama");
    w.str_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    EXPECT_TRUE(load(w).ok());
}

}  // namespace
}  // namespace gannet::tokenizer
