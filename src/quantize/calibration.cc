#include "quantize/calibration.h"

#include <algorithm>
#include <string>

#include "runner/runner.h"

namespace gannet::quantize {
namespace {

// Sums of squares per input column of every matrix, keyed by the tensor names each site feeds.
class Recorder {
public:
    Recorder(ImportanceMap* sums, const model::Model& m) : sums_(sums) {
        output_name_ = m.file().find_tensor("output.weight") != nullptr ? "output.weight" : "token_embd.weight";
    }

    void record(model::ActivationSite site, int64_t layer, const float* x, int64_t n_rows, int64_t dim) {
        const std::string p = "blk." + std::to_string(layer) + ".";
        switch (site) {
            case model::ActivationSite::kAttnInput:
                for (const char* m : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) {
                    add(p + m, x, n_rows, dim);
                }
                break;
            case model::ActivationSite::kAttnOutput: add(p + "attn_output.weight", x, n_rows, dim); break;
            case model::ActivationSite::kFfnInput:
                add(p + "ffn_gate.weight", x, n_rows, dim);
                add(p + "ffn_up.weight", x, n_rows, dim);
                break;
            case model::ActivationSite::kFfnDownInput: add(p + "ffn_down.weight", x, n_rows, dim); break;
            case model::ActivationSite::kOutputInput: add(output_name_, x, n_rows, dim); break;
        }
    }

private:
    // x: [n_rows, dim].
    void add(const std::string& name, const float* x, int64_t n_rows, int64_t dim) {
        std::vector<float>& s = (*sums_)[name];
        s.resize(static_cast<size_t>(dim), 0.0f);
        for (int64_t t = 0; t < n_rows; ++t) {
            for (int64_t j = 0; j < dim; ++j) {
                s[static_cast<size_t>(j)] += x[t * dim + j] * x[t * dim + j];
            }
        }
    }

    ImportanceMap* sums_;
    std::string output_name_;
};

}  // namespace

Result<CalibrationResult> collect_importance(model::Model& model, std::span<const int32_t> tokens, int64_t n_ctx,
                                             int n_threads) {
    const model::ModelConfig& c = model.config();
    if (tokens.empty() || n_ctx < 1 || n_ctx > c.n_ctx_train || n_threads < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "calibration: need at least one token, n_ctx in [1, %lld] and threads >= 1; got %zu "
                          "tokens, n_ctx %lld, %d threads",
                          static_cast<long long>(c.n_ctx_train), tokens.size(), static_cast<long long>(n_ctx),
                          n_threads);
    }
    const int32_t block_size = 16;
    GANNET_ASSIGN_OR_RETURN(
        std::unique_ptr<runner::Runner> runner,
        runner::Runner::create(model, {.n_blocks = static_cast<int32_t>((n_ctx + block_size - 1) / block_size),
                                       .block_size = block_size,
                                       .n_threads = n_threads}));
    CalibrationResult r;
    Recorder rec(&r.importance, model);
    model.set_activation_hook([&rec](model::ActivationSite site, int64_t layer, const float* x, int64_t n_rows,
                                     int64_t dim) { rec.record(site, layer, x, n_rows, dim); });
    Status st;
    for (size_t start = 0; start < tokens.size() && st.ok(); start += static_cast<size_t>(n_ctx)) {
        const size_t n = std::min(static_cast<size_t>(n_ctx), tokens.size() - start);
        // Every row's logits: the output statistics need every row's final-normed input.
        Result<std::span<const float>> logits =
            runner->run_sequence(tokens.subspan(start, n), 0, model::LogitsMode::kAll);
        if (!logits.has_value()) {
            st = logits.error();
            break;
        }
        r.n_tokens += static_cast<int64_t>(n);
        if (start + n == tokens.size()) {
            const std::span<const float> last = logits->subspan((n - 1) * static_cast<size_t>(c.n_vocab));
            r.logits.assign(last.begin(), last.end());
        }
    }
    model.set_activation_hook(nullptr);
    GANNET_RETURN_IF_ERROR(st);
    for (auto& [name, s] : r.importance) {
        for (float& v : s) {
            v /= static_cast<float>(r.n_tokens);
        }
    }
    return r;
}

}  // namespace gannet::quantize
