#include "model/test_models.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "tensor/quant.h"

namespace gannet::model {
namespace {

// llama.cpp's token types.
constexpr int64_t kTypeNormal = 1;
constexpr int64_t kTypeUnknown = 2;
constexpr int64_t kTypeControl = 3;
constexpr int64_t kTypeByte = 6;

// Default shapes small enough that a forward pass takes microseconds, yet with every feature
// exercised: GQA (4 query heads over 2 kv heads), and for qwen3 a head dim unlike n_embd / n_heads.
constexpr int64_t kEmbd = 64;
constexpr int64_t kHeads = 4;
constexpr int64_t kKvHeads = 2;
constexpr int64_t kFf = 128;

struct Dims {
    int64_t n_embd, n_ff, n_heads, n_kv_heads, head_dim;
};

struct Vocab {
    std::vector<std::string> tokens;
    std::vector<double> scores;
    std::vector<int64_t> types;
    void add(std::string t, double score, int64_t type) {
        tokens.push_back(std::move(t));
        scores.push_back(score);
        types.push_back(type);
    }
};

// <unk>, <s>, </s>, 256 byte tokens, printable ASCII (space as U+2581), then a few merges whose
// scores make SentencePiece prefer them.
Vocab make_vocab() {
    Vocab v;
    v.add("<unk>", 0.0, kTypeUnknown);
    v.add("<s>", 0.0, kTypeControl);
    v.add("</s>", 0.0, kTypeControl);
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        v.add(name, 0.0, kTypeByte);
    }
    v.add("\xe2\x96\x81", -1.0, kTypeNormal);
    for (char c = '!'; c <= '~'; ++c) {
        v.add(std::string(1, c), -2.0, kTypeNormal);
    }
    const char* merges[] = {"\xe2\x96\x81t",
                            "he",
                            "\xe2\x96\x81the",
                            "in",
                            "er",
                            "an",
                            "\xe2\x96\x81"
                            "a",
                            "on"};
    double score = -0.5;
    for (const char* m : merges) {
        v.add(m, score, kTypeNormal);
        score += 0.01;
    }
    return v;
}

// Pads the vocabulary to n_vocab with normal word pieces, "▁a".."▁z", "▁aa".."▁zz", "▁aaa"...,
// shortest first (so every piece's prefix is a piece too and SentencePiece can merge up to it), so
// a benchmark model's sampled tokens stream as text: placeholder tokens would decode to nothing.
void pad_with_words(Vocab& v, int64_t n_vocab) {
    std::unordered_set<std::string> seen(v.tokens.begin(), v.tokens.end());
    for (int len = 1; static_cast<int64_t>(v.tokens.size()) < n_vocab; ++len) {
        std::string word(static_cast<size_t>(len), 'a');
        while (static_cast<int64_t>(v.tokens.size()) < n_vocab) {
            std::string piece = "\xe2\x96\x81" + word;
            if (seen.insert(piece).second) {
                v.add(std::move(piece), -3.0 - 0.01 * len, kTypeNormal);
            }
            // Next word of this length in a..z order; done after "zz..z".
            int i = len - 1;
            while (i >= 0 && word[static_cast<size_t>(i)] == 'z') {
                word[static_cast<size_t>(i)] = 'a';
                --i;
            }
            if (i < 0) {
                break;
            }
            ++word[static_cast<size_t>(i)];
        }
    }
}

struct Builder {
    const TestModelOptions& opt;
    gguf::Writer& w;
    std::mt19937_64 rng;

    // Weights ~ N(0, 1/n_in) keep activations of order one through the layers.
    Status matrix(const std::string& name, int64_t n_in, int64_t n_out) {
        if (opt.is_fast_random) {
            return fast_matrix(name, n_in, n_out);
        }
        std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(static_cast<float>(n_in)));
        std::vector<float> v(static_cast<size_t>(n_in * n_out));
        for (float& x : v) {
            x = dist(rng);
        }
        const int64_t shape[2] = {n_in, n_out};
        return w.add_tensor_f32(name, opt.dtype, shape, v);
    }
    // Uniform on [-a, a] with a = sqrt(3 / n_in) (variance 1/n_in, as above). Each row is hashed from
    // (seed, tensor index, row), so the result does not depend on the thread count.
    Status fast_matrix(const std::string& name, int64_t n_in, int64_t n_out) {
        const size_t row_bytes = tensor::row_size_bytes(opt.dtype, n_in);
        std::vector<uint8_t> data(row_bytes * static_cast<size_t>(n_out));
        const float a = std::sqrt(3.0f / static_cast<float>(n_in));
        const uint64_t tensor_seed = opt.seed * 0x9E3779B97F4A7C15ull + w.n_tensors();
        const int n_threads = std::max(1u, std::thread::hardware_concurrency());
        std::vector<Status> errors(static_cast<size_t>(n_threads));
        std::vector<std::thread> threads;
        for (int t = 0; t < n_threads; ++t) {
            threads.emplace_back([&, t] {
                std::vector<float> row(static_cast<size_t>(n_in));
                for (int64_t r = t; r < n_out; r += n_threads) {
                    uint64_t state = tensor_seed ^ (static_cast<uint64_t>(r) * 0xD1B54A32D192ED03ull);
                    for (float& x : row) {
                        state += 0x9E3779B97F4A7C15ull;  // splitmix64
                        uint64_t z = state;
                        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                        z ^= z >> 31;
                        x = a * (static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
                    }
                    Status s = tensor::quantize_row(opt.dtype, row.data(),
                                                    data.data() + static_cast<size_t>(r) * row_bytes, n_in);
                    if (!s.ok()) {
                        errors[static_cast<size_t>(t)] = std::move(s);
                        return;
                    }
                }
            });
        }
        for (std::thread& th : threads) {
            th.join();
        }
        for (const Status& s : errors) {
            GANNET_RETURN_IF_ERROR(s);
        }
        const int64_t shape[2] = {n_in, n_out};
        return w.add_tensor(name, opt.dtype, shape, data);
    }
    // Norm weights near 1, biases near 0.
    Status vec(const std::string& name, int64_t n, float center) {
        std::normal_distribution<float> dist(center, 0.1f);
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) {
            x = dist(rng);
        }
        const int64_t shape[1] = {n};
        return w.add_tensor_f32(name, tensor::DType::kF32, shape, v);
    }
};

Status add_tensors(Builder& b, const std::string& arch, int64_t n_layers, const Dims& d, int64_t n_vocab) {
    const int64_t n_embd = d.n_embd;
    const int64_t n_ff = d.n_ff;
    const int64_t head_dim = d.head_dim;
    const int64_t q_dim = d.n_heads * head_dim;
    const int64_t kv_dim = d.n_kv_heads * head_dim;
    GANNET_RETURN_IF_ERROR(b.matrix("token_embd.weight", n_embd, n_vocab));
    GANNET_RETURN_IF_ERROR(b.vec("output_norm.weight", n_embd, 1.0f));
    if (!b.opt.is_tied) {
        GANNET_RETURN_IF_ERROR(b.matrix("output.weight", n_embd, n_vocab));
    }
    for (int64_t l = 0; l < n_layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        GANNET_RETURN_IF_ERROR(b.vec(p + "attn_norm.weight", n_embd, 1.0f));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", n_embd, q_dim));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", n_embd, kv_dim));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", n_embd, kv_dim));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", q_dim, n_embd));
        if (arch == "qwen2") {
            GANNET_RETURN_IF_ERROR(b.vec(p + "attn_q.bias", q_dim, 0.0f));
            GANNET_RETURN_IF_ERROR(b.vec(p + "attn_k.bias", kv_dim, 0.0f));
            GANNET_RETURN_IF_ERROR(b.vec(p + "attn_v.bias", kv_dim, 0.0f));
        }
        if (arch == "qwen3" || arch == "gemma3" || arch == "gemma4") {
            GANNET_RETURN_IF_ERROR(b.vec(p + "attn_q_norm.weight", head_dim, 1.0f));
            GANNET_RETURN_IF_ERROR(b.vec(p + "attn_k_norm.weight", head_dim, 1.0f));
        }
        GANNET_RETURN_IF_ERROR(b.vec(p + "ffn_norm.weight", n_embd, 1.0f));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", n_embd, n_ff));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", n_embd, n_ff));
        GANNET_RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", n_ff, n_embd));
        if (arch == "gemma3" || arch == "gemma4") {
            GANNET_RETURN_IF_ERROR(b.vec(p + "post_attention_norm.weight", n_embd, 1.0f));
            GANNET_RETURN_IF_ERROR(b.vec(p + "post_ffw_norm.weight", n_embd, 1.0f));
        }
        if (arch == "gemma4") {
            GANNET_RETURN_IF_ERROR(b.vec(p + "layer_output_scale.weight", 1, 1.0f));
        }
    }
    return Status();
}

}  // namespace

Result<gguf::Writer> build_test_model(const TestModelOptions& opt) {
    const std::string& arch = opt.arch;
    if (arch != "llama" && arch != "qwen2" && arch != "qwen3" && arch != "gemma3" && arch != "gemma4") {
        return make_error(ErrorCode::kInvalidArgument,
                          "test model: unknown architecture '%s' (expected llama, qwen2, qwen3, gemma3 or gemma4)",
                          arch.c_str());
    }
    const bool is_gemma = arch == "gemma3" || arch == "gemma4";
    const int64_t n_layers = opt.n_layers > 0 ? opt.n_layers : (is_gemma ? 6 : 2);
    Dims d{opt.n_embd > 0 ? opt.n_embd : kEmbd, opt.n_ff > 0 ? opt.n_ff : kFf, opt.n_heads > 0 ? opt.n_heads : kHeads,
           opt.n_kv_heads > 0 ? opt.n_kv_heads : kKvHeads, 0};
    if (d.n_embd % 32 != 0 || d.n_ff % 32 != 0 || d.n_embd % d.n_heads != 0 || d.n_heads % d.n_kv_heads != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "test model: n_embd %lld and n_ff %lld must be multiples of 32, n_embd of n_heads %lld, "
                          "n_heads of n_kv_heads %lld",
                          static_cast<long long>(d.n_embd), static_cast<long long>(d.n_ff),
                          static_cast<long long>(d.n_heads), static_cast<long long>(d.n_kv_heads));
    }
    // qwen3 gets a head dim twice n_embd / n_heads, so q_dim != n_embd is exercised.
    d.head_dim = (arch == "qwen3" ? 2 : 1) * d.n_embd / d.n_heads;
    const int64_t head_dim = d.head_dim;
    Vocab vocab = make_vocab();
    const int64_t first_media_token = static_cast<int64_t>(vocab.tokens.size());
    if (arch == "gemma4") {  // Gemma 4's media markers, in gemma4.*_token_id order below
        for (const char* t : {"<|image>", "<image|>", "<|image|>", "<|audio>", "<audio|>", "<|audio|>"}) {
            vocab.add(t, 0.0, kTypeControl);
        }
    }
    if (opt.n_vocab > 0 && opt.n_vocab < static_cast<int64_t>(vocab.tokens.size())) {
        return make_error(ErrorCode::kInvalidArgument, "test model: n_vocab %lld is below the tiny vocabulary's %zu",
                          static_cast<long long>(opt.n_vocab), vocab.tokens.size());
    }
    pad_with_words(vocab, opt.n_vocab);
    const int64_t n_vocab = static_cast<int64_t>(vocab.tokens.size());

    gguf::Writer w;
    w.set_string("general.architecture", arch);
    w.set_string("general.name", "gannet-test-" + arch);
    w.set_u32(arch + ".context_length", static_cast<uint32_t>(opt.n_ctx));
    w.set_u32(arch + ".embedding_length", static_cast<uint32_t>(d.n_embd));
    w.set_u32(arch + ".block_count", static_cast<uint32_t>(n_layers));
    w.set_u32(arch + ".feed_forward_length", static_cast<uint32_t>(d.n_ff));
    w.set_u32(arch + ".attention.head_count", static_cast<uint32_t>(d.n_heads));
    w.set_u32(arch + ".attention.head_count_kv", static_cast<uint32_t>(d.n_kv_heads));
    w.set_u32(arch + ".attention.key_length", static_cast<uint32_t>(head_dim));
    w.set_u32(arch + ".attention.value_length", static_cast<uint32_t>(head_dim));
    w.set_u32(arch + ".rope.dimension_count", static_cast<uint32_t>(head_dim));
    w.set_f32(arch + ".rope.freq_base", arch == "llama" ? 10000.0f : 1000000.0f);
    w.set_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
    if (is_gemma) {
        w.set_u32(arch + ".attention.sliding_window", 4);
    }
    if (arch == "gemma4") {  // gemma3's cadence: five sliding layers, then a global one
        std::vector<int64_t> pattern;
        for (int64_t l = 0; l < n_layers; ++l) {
            pattern.push_back((l + 1) % 6 != 0 && l + 1 != n_layers ? 1 : 0);
        }
        w.set_array_ints("gemma4.attention.sliding_window_pattern", gguf::ValueType::kBool, pattern);
        const char* keys[] = {"boi", "eoi", "image", "boa", "eoa", "audio"};
        for (int64_t i = 0; i < 6; ++i) {
            w.set_u32(std::string("gemma4.") + keys[i] + "_token_id", static_cast<uint32_t>(first_media_token + i));
        }
    }
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_array_strings("tokenizer.ggml.tokens", vocab.tokens);
    w.set_array_floats("tokenizer.ggml.scores", gguf::ValueType::kF32, vocab.scores);
    w.set_array_ints("tokenizer.ggml.token_type", gguf::ValueType::kI32, vocab.types);
    w.set_u32("tokenizer.ggml.unknown_token_id", 0);
    w.set_u32("tokenizer.ggml.bos_token_id", 1);
    w.set_u32("tokenizer.ggml.eos_token_id", 2);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    // ChatML, so `gannet run --chat` works; the markers are spelled out in characters here.
    w.set_string("tokenizer.chat_template",
                 "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");

    Builder b{opt, w, std::mt19937_64(opt.seed)};
    GANNET_RETURN_IF_ERROR(add_tensors(b, arch, n_layers, d, n_vocab));
    return w;
}

Status write_test_model(const TestModelOptions& options, const std::string& path) {
    GANNET_ASSIGN_OR_RETURN(gguf::Writer w, build_test_model(options));
    return w.write(path);
}

}  // namespace gannet::model
