// Test helpers for the scheduler: a fake engine whose "model" picks each next token as a hash of
// the tokens so far, so a sequence's output does not depend on batching, chunking or preemption.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "sched/scheduler.h"

namespace gannet::sched::testing {

inline TokenId next_token(std::span<const TokenId> tokens) {
    uint64_t h = 1469598103934665603ULL;
    for (TokenId t : tokens) {
        h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ULL;
    }
    return static_cast<TokenId>(h % 1000);
}

// What a sequence generates when run alone: the reference for every batched run.
inline std::vector<TokenId> expected_tokens(std::vector<TokenId> prompt, int32_t n_new) {
    for (int32_t i = 0; i < n_new; ++i) {
        prompt.push_back(next_token(prompt));
    }
    return prompt;
}

// Samples a token for every is_logits_needed entry of `out`, finishing sequences at max_new_tokens,
// and records the final tokens of finished sequences in `finished`.
inline std::vector<SampledToken> sample(const Scheduler& s, const SchedulerOutput& out,
                                        std::map<SeqId, std::vector<TokenId>>* finished = nullptr) {
    std::vector<SampledToken> sampled;
    for (const ScheduledSeq& e : out.seqs) {
        if (!e.is_logits_needed) {
            continue;
        }
        const Sequence* q = s.find(e.seq_id);
        const TokenId t = next_token(q->tokens);
        const bool is_finished = q->n_tokens_generated() + 1 == q->max_new_tokens;
        if (is_finished && finished != nullptr) {
            std::vector<TokenId> all = q->tokens;
            all.push_back(t);
            (*finished)[e.seq_id] = std::move(all);
        }
        sampled.push_back({e.seq_id, t, is_finished});
    }
    return sampled;
}

}  // namespace gannet::sched::testing
