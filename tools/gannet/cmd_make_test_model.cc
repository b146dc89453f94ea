// gannet make-test-model: writes a small random-weight GGUF of one architecture (for scripts and
// tests; not a user-facing command).
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "model/test_models.h"
#include "model_cli.h"
#include "multimodal/test_projectors.h"

namespace gannet::app {
namespace {

int run_make_test_model(const std::vector<std::string>& args) {
    std::string arch = "llama";
    std::string dtype = "f32";
    std::string out;
    int64_t seed = 1;
    int64_t layers = 0;
    int64_t ctx = 512;
    bool is_tied = false;
    bool is_fast = false;
    bool is_media = false;
    int64_t embd = 0, ff = 0, heads = 0, kv_heads = 0, vocab = 0;
    Flags flags("make-test-model");
    flags.add_string("--arch", &arch, "llama, qwen2, qwen3, gemma3 or gemma4");
    flags.add_string("--dtype", &dtype, "dtype of the matrices: f32, f16, bf16, q8_0, q4_0");
    flags.add_string("-o,--out", &out, "output GGUF file");
    flags.add_int("--seed", &seed, "weights seed (default 1)");
    flags.add_int("--layers", &layers, "layers (default 2, gemma3/gemma4 6)");
    flags.add_int("--ctx", &ctx, "context length (default 512)");
    flags.add_int("--embd", &embd, "embedding width (default 64)");
    flags.add_int("--ff", &ff, "FFN width (default 128)");
    flags.add_int("--heads", &heads, "attention heads (default 4)");
    flags.add_int("--kv-heads", &kv_heads, "kv heads (default 2)");
    flags.add_int("--vocab", &vocab,
                  "vocabulary size, padded with word pieces that decode to text (default: the tiny vocabulary)");
    flags.add_bool("--tied", &is_tied, "tie the output matrix to the embeddings");
    flags.add_bool("--fast", &is_fast, "uniform weights drawn on all cores (for benchmark-sized models)");
    flags.add_bool("--media", &is_media, "gemma4 only: add random image and audio projectors (gemma4uv/gemma4ua)");
    if (wants_help(args)) {
        std::printf("gannet make-test-model: write a small random-weight model\n%s", flags.usage().c_str());
        return 0;
    }
    Status s = flags.parse(args);
    if (s.ok()) {
        s = require_flag(flags.was_set("--out"), "-o/--out");
    }
    const std::optional<tensor::DType> dt = tensor::dtype_from_name(dtype);
    if (s.ok() && !dt) {
        s = make_error(ErrorCode::kInvalidArgument, "--dtype: unknown dtype '%s'", dtype.c_str());
    }
    if (s.ok()
        && (layers < 0 || layers > 256 || ctx < 1 || ctx > (1 << 20) || embd < 0 || embd > 16384 || ff < 0 || ff > 65536
            || heads < 0 || heads > 256 || kv_heads < 0 || kv_heads > 256 || vocab < 0 || vocab > (1 << 20))) {
        s = make_error(
            ErrorCode::kInvalidArgument,
            "--layers must be in [0, 256], --ctx in [1, 2^20], --embd <= 16384, --ff <= 65536, heads <= 256, "
            "--vocab <= 2^20");
    }
    if (s.ok() && is_media && arch != "gemma4") {
        s = make_error(ErrorCode::kInvalidArgument, "--media needs --arch gemma4, got '%s'", arch.c_str());
    }
    if (s.ok()) {
        Result<gguf::Writer> w = model::build_test_model({.arch = arch,
                                                          .dtype = *dt,
                                                          .seed = static_cast<uint64_t>(seed),
                                                          .n_layers = layers,
                                                          .n_ctx = ctx,
                                                          .is_tied = is_tied,
                                                          .n_embd = embd,
                                                          .n_ff = ff,
                                                          .n_heads = heads,
                                                          .n_kv_heads = kv_heads,
                                                          .n_vocab = vocab,
                                                          .is_fast_random = is_fast});
        s = w.error();
        if (s.ok() && is_media) {
            const int64_t n_embd = embd > 0 ? embd : 64;
            s = multimodal::add_test_projectors(*w, n_embd, 16, 1120, static_cast<uint64_t>(seed) + 1);
        }
        if (s.ok()) {
            s = w->write(out);
        }
    }
    return s.ok() ? 0 : fail("make-test-model", s);
}

}  // namespace

GANNET_COMMAND("make-test-model", "(internal) write a small random-weight GGUF model for tests", run_make_test_model);

}  // namespace gannet::app
