#include "tokenizer/vocab.h"

#include <climits>
#include <string_view>

namespace gannet::tokenizer {
namespace {

// An optional token id key: absent keeps `out`; present must be a valid id (or -1/UINT32_MAX,
// which some converters write for "none").
Status read_id(const gguf::File& file, std::string_view key, int64_t n_vocab, TokenId* out) {
    if (file.find_value(key) == nullptr) {
        return Status();
    }
    Result<int64_t> v = file.get_int(key);
    if (!v.has_value()) {
        return v.error();
    }
    if (*v == -1 || *v == 0xFFFFFFFFll) {
        *out = -1;
        return Status();
    }
    if (*v < 0 || *v >= n_vocab) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: %.*s = %lld is out of range [0, %lld)",
                          static_cast<int>(key.size()), key.data(), static_cast<long long>(*v),
                          static_cast<long long>(n_vocab));
    }
    *out = static_cast<TokenId>(*v);
    return Status();
}

Status read_bool(const gguf::File& file, std::string_view key, bool* out) {
    Result<bool> v = file.get_bool_or(key, *out);
    if (!v.has_value()) {
        return v.error();
    }
    *out = *v;
    return Status();
}

const gguf::Value* find_array(const gguf::File& file, std::string_view key) {
    const gguf::Value* v = file.find_value(key);
    return (v != nullptr && v->type == gguf::ValueType::kArray) ? v : nullptr;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

}  // namespace

int byte_token_value(std::string_view text) {
    if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') {
        return -1;
    }
    const int hi = hex_digit(text[3]);
    const int lo = hex_digit(text[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

Result<Vocab> vocab_from_gguf(const gguf::File& file) {
    Vocab vocab;
    const gguf::Value* model = file.find_value("tokenizer.ggml.model");
    if (model == nullptr || model->type != gguf::ValueType::kString) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: missing string tokenizer.ggml.model");
    }
    if (model->str == "llama") {
        vocab.model = VocabModel::kSpm;
    } else if (model->str == "gpt2") {
        vocab.model = VocabModel::kBpe;
    } else {
        return make_error(ErrorCode::kUnimplemented,
                          "tokenizer: tokenizer.ggml.model '%.*s' is not supported (expected llama or gpt2)",
                          static_cast<int>(model->str.size()), model->str.data());
    }

    const gguf::Value* tokens = find_array(file, "tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->array_type != gguf::ValueType::kString || tokens->strings.empty()) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: missing or empty string array tokenizer.ggml.tokens");
    }
    const size_t n_vocab = tokens->strings.size();
    if (n_vocab > static_cast<size_t>(INT32_MAX)) {  // token ids are int32; the parser bounded it by the file
        return make_error(ErrorCode::kDataLoss, "tokenizer: tokenizer.ggml.tokens has %zu entries, at most %d allowed",
                          n_vocab, INT32_MAX);
    }
    vocab.tokens.assign(tokens->strings.begin(), tokens->strings.end());

    if (const gguf::Value* scores = find_array(file, "tokenizer.ggml.scores")) {
        if (scores->numbers_f.size() != n_vocab) {
            return make_error(ErrorCode::kDataLoss,
                              "tokenizer: tokenizer.ggml.scores has %zu float entries, expected %zu",
                              scores->numbers_f.size(), n_vocab);
        }
        vocab.scores.assign(scores->numbers_f.begin(), scores->numbers_f.end());
    }
    if (const gguf::Value* types = find_array(file, "tokenizer.ggml.token_type")) {
        if (types->numbers_i.size() != n_vocab) {
            return make_error(ErrorCode::kDataLoss,
                              "tokenizer: tokenizer.ggml.token_type has %zu integer entries, expected %zu",
                              types->numbers_i.size(), n_vocab);
        }
        vocab.types.reserve(n_vocab);
        for (int64_t t : types->numbers_i) {
            // Unknown type numbers are kept as kUndefined rather than rejected: newer converters add types.
            vocab.types.push_back(t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kUndefined);
        }
    }

    if (vocab.model == VocabModel::kBpe) {
        const gguf::Value* merges = find_array(file, "tokenizer.ggml.merges");
        if (merges == nullptr || merges->array_type != gguf::ValueType::kString) {
            return make_error(ErrorCode::kDataLoss, "tokenizer: gpt2 vocab lacks string array tokenizer.ggml.merges");
        }
        vocab.merges.assign(merges->strings.begin(), merges->strings.end());
        Result<std::string> pre = file.get_string("tokenizer.ggml.pre");
        vocab.pre = pre.has_value() ? *pre : "default";
        vocab.add_space_prefix = false;
        // Llama 3 style vocabs start every sequence with <|begin_of_text|>.
        vocab.add_bos = vocab.pre == "llama-bpe" || vocab.pre == "llama3";
    } else {
        // SentencePiece defaults (what llama.cpp assumes for "llama" vocabs without the keys).
        vocab.bos_id = 1;
        vocab.eos_id = 2;
        vocab.unk_id = 0;
        vocab.add_bos = true;
    }

    const auto n = static_cast<int64_t>(n_vocab);
    GANNET_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.bos_token_id", n, &vocab.bos_id));
    GANNET_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eos_token_id", n, &vocab.eos_id));
    GANNET_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eot_token_id", n, &vocab.eot_id));
    GANNET_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eom_token_id", n, &vocab.eom_id));
    GANNET_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.unknown_token_id", n, &vocab.unk_id));
    GANNET_RETURN_IF_ERROR(read_bool(file, "tokenizer.ggml.add_bos_token", &vocab.add_bos));
    GANNET_RETURN_IF_ERROR(read_bool(file, "tokenizer.ggml.add_eos_token", &vocab.add_eos));
    GANNET_RETURN_IF_ERROR(read_bool(file, "tokenizer.ggml.add_space_prefix", &vocab.add_space_prefix));
    if (vocab.bos_id >= n || vocab.eos_id >= n || vocab.unk_id >= n) {
        return make_error(ErrorCode::kDataLoss, "tokenizer: default special ids do not fit a %zu-token vocab", n_vocab);
    }
    return vocab;
}

}  // namespace gannet::tokenizer
