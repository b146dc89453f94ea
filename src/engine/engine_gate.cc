// The engine's per-row sampling pieces and MarginGate (margin_gate.h): the margin of the row the
// sampler sees, the reference recompute of low-margin greedy rows, and the override of the token and
// of that position's K/V when the reference disagrees.
//
// Where the margin is taken: after the model's softcap (the forward applies it), after logit_bias,
// the OpenAI penalties and a processor's mask (they move the greedy decision, so a raw-logit margin
// would miss flips they create), before temperature (greedy rows only, so temperature would only
// rescale tau). Agreement is decided by the request's own sampler on both rows, so the repetition
// penalty of `gannet run` is honoured too.
#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "engine/engine_live.h"

namespace gannet::engine {

std::span<const float> Engine::prepare_row(Live& r, std::span<const float> logits, std::vector<float>& buf) {
    const GenParams& p = r.req.params;
    const bool is_plain =
        p.logit_bias.empty() && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f && p.processor == nullptr;
    if (is_plain) {
        return logits;
    }
    buf.assign(logits.begin(), logits.end());
    for (auto [id, bias] : p.logit_bias) {
        if (id >= 0 && static_cast<size_t>(id) < buf.size()) {
            buf[static_cast<size_t>(id)] += bias;
        }
    }
    for (auto [id, n] : r.counts) {
        buf[static_cast<size_t>(id)] -= p.frequency_penalty * static_cast<float>(n) + p.presence_penalty;
    }
    if (p.processor != nullptr) {
        p.processor->process(buf);  // a mask of the matcher's current state: the same for both rows
    }
    return buf;
}

void Engine::after_sample(Live& r, int32_t tok, std::span<const float> logits, bool& is_finished) {
    const GenParams& p = r.req.params;
    if (p.processor != nullptr) {
        if (Status s = p.processor->accept(tok); !s.ok()) {
            is_finished = true;
            finish(r, failed(std::move(s)));
            return;
        }
    }
    if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
        ++r.counts[tok];
    }
    if (p.top_logprobs >= 0 && r.req.on_logprob) {
        TokenLogprob lp;
        lp.token = tok;
        lp.bytes = tok_.decode_token(tok, tokenizer::Tokenizer::RenderSpecial::kYes);
        const std::vector<std::pair<int32_t, float>> top =
            sampling::log_softmax_top(logits, tok, p.top_logprobs, lp.logprob);
        for (auto [id, l] : top) {
            lp.top.emplace_back(tok_.decode_token(id, tokenizer::Tokenizer::RenderSpecial::kYes), l);
        }
        if (Status s = guarded("on_logprob", [&] { r.req.on_logprob(lp); }); !s.ok()) {
            is_finished = true;
            finish(r, failed(std::move(s)));
        }
    }
}

int32_t Engine::sample_gated(Live& r, const sched::ScheduledSeq& s, std::span<const float> logits,
                             std::span<const int32_t> history, bool& is_finished) {
    if (!r.is_gated && !r.req.on_trace) {
        return sample_row(r, logits, history, is_finished);
    }
    StepTrace trace;
    std::span<const float> row = prepare_row(r, logits, r.row);
    trace.margin = logit_margin(row);
    int32_t tok = r.sampler.sample(row, history);
    std::span<const float> chosen = logits;  // raw logits of the emitted token's row (logprobs)
    if (r.is_gated) {
        ++n_gated_rows_;
        trace.is_verified = r.mode == Determinism::kAlways || trace.margin < config_.margin_tau;
    }
    if (trace.is_verified) {
        ++n_verified_rows_;
        Result<std::span<const float>> ref = runner_->run_reference(s);
        if (!ref.has_value()) {
            is_finished = true;
            finish(r, failed(ref.error()));
            return tok;
        }
        for (size_t i = 0; i < logits.size(); ++i) {
            trace.ref_max_abs_diff = std::max(trace.ref_max_abs_diff, std::fabs((*ref)[i] - logits[i]));
        }
        const int32_t ref_tok = r.sampler.sample(prepare_row(r, *ref, r.row_ref), history);
        if (ref_tok != tok) {
            if (Status c = runner_->commit_reference(); !c.ok()) {
                is_finished = true;
                finish(r, failed(std::move(c)));
                return tok;
            }
            ++n_overrides_;
            trace.is_overridden = true;
            tok = ref_tok;
            chosen = *ref;
        }
    }
    after_sample(r, tok, chosen, is_finished);
    if (r.req.on_trace && !is_finished) {
        trace.token = tok;
        trace.n_generated = r.n_generated + 1;
        if (Status t = guarded("on_trace", [&] { r.req.on_trace(trace); }); !t.ok()) {
            is_finished = true;
            finish(r, failed(std::move(t)));
        }
    }
    return tok;
}

bool Engine::has_gated_row(const sched::SchedulerOutput& out) const {
    for (const sched::ScheduledSeq& s : out.seqs) {
        if (!s.is_logits_needed) {
            continue;
        }
        auto it = by_seq_.find(s.seq_id);
        if (it != by_seq_.end() && live_.at(it->second)->is_gated) {
            return true;
        }
    }
    return false;
}

Status Engine::check_determinism(const GenParams& p) const {
    if (!p.determinism.has_value()) {
        return Status();
    }
    const Determinism mode = *p.determinism;
    if (is_verifying(mode)) {
        if (p.temperature != 0.0f) {
            return make_error(ErrorCode::kInvalidArgument,
                              "deterministic: '%s' verifies greedy decoding and needs temperature 0, got %g",
                              determinism_name(mode), static_cast<double>(p.temperature));
        }
        Status s = runner_->check_reference_path();
        if (!s.ok()) {
            return make_error(s.code(), "deterministic: '%s': %s", determinism_name(mode), s.message().c_str());
        }
    }
    if (mode == Determinism::kInvariant && !runner_->is_batch_invariant()
        && config_.determinism != Determinism::kInvariant) {
        return make_error(ErrorCode::kInvalidArgument,
                          "deterministic: 'invariant' on this device needs a server started with --deterministic "
                          "invariant (it is '%s')",
                          determinism_name(config_.determinism));
    }
    return Status();
}

}  // namespace gannet::engine
