// apply_soft_tokens: the embeddings-override hook of the one forward. Multimodal prompts carry
// placeholder tokens (Gemma 4's <|image|>, <|audio|>) whose embedding rows are replaced by the
// projector's soft tokens; everything model-specific about media stays in src/multimodal, the
// forward only copies rows. Positions are absolute, so the engine can pass a prompt's rows with each
// of its prefill chunks and only the chunk's own rows are used.
#include <algorithm>
#include <cstring>

#include "model/model.h"

namespace gannet::model {

Status apply_soft_tokens(std::span<const BatchSeq> seqs, int64_t n_embd, float* x) {
    int64_t t0 = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const BatchSeq& s = seqs[i];
        const int64_t n = static_cast<int64_t>(s.tokens.size());
        const SoftTokenRows& soft = s.soft;
        if (!soft.empty()) {
            const size_t n_soft = soft.positions.size();
            if (soft.rows.size() != n_soft * static_cast<size_t>(n_embd)) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "model: soft tokens of batch entry %zu: %zu floats for %zu positions, expected %zu",
                                  i, soft.rows.size(), n_soft, n_soft * static_cast<size_t>(n_embd));
            }
            for (size_t k = 0; k < n_soft; ++k) {
                const int32_t p = soft.positions[k];
                if (p < 0 || (k > 0 && p <= soft.positions[k - 1])) {
                    return make_error(ErrorCode::kInvalidArgument,
                                      "model: soft token position %d (index %zu) of batch entry %zu: expected >= 0 "
                                      "and strictly ascending",
                                      p, k, i);
                }
            }
            // Only the positions of this step's tokens: [pos, pos + n).
            const auto lo = std::lower_bound(soft.positions.begin(), soft.positions.end(), s.pos);
            const auto hi = std::lower_bound(lo, soft.positions.end(), static_cast<int64_t>(s.pos) + n);
            for (auto it = lo; it != hi; ++it) {
                const size_t k = static_cast<size_t>(it - soft.positions.begin());
                std::memcpy(x + (t0 + (*it - s.pos)) * n_embd, soft.rows.data() + k * static_cast<size_t>(n_embd),
                            static_cast<size_t>(n_embd) * sizeof(float));
            }
        }
        t0 += n;
    }
    return Status();
}

Status fill_last_visible(std::span<const BatchSeq> seqs, const int32_t* positions, int32_t* last_visible) {
    int64_t t0 = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const BatchSeq& s = seqs[i];
        const int64_t n = static_cast<int64_t>(s.tokens.size());
        std::copy(positions + t0, positions + t0 + n, last_visible + t0);
        const int64_t step_last = static_cast<int64_t>(s.pos) + n - 1;
        int32_t prev_end = 0;
        for (const PositionSpan& span : s.soft.bidirectional) {
            if (span.begin < prev_end || span.end <= span.begin) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "model: bidirectional span [%d, %d) of batch entry %zu: expected non-empty, "
                                  "ascending and disjoint spans",
                                  span.begin, span.end, i);
            }
            prev_end = span.end;
            const int64_t lo = std::max<int64_t>(span.begin, s.pos);
            const int64_t hi = std::min<int64_t>(span.end - 1, step_last);
            for (int64_t p = lo; p <= hi; ++p) {
                last_visible[t0 + (p - s.pos)] = static_cast<int32_t>(hi);
            }
        }
        t0 += n;
    }
    return Status();
}

}  // namespace gannet::model
