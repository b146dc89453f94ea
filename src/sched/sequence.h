// A request as the scheduler sees it (Request), and its state while it waits or runs (Sequence).
// Token ids only: sampling parameters travel opaquely, and text lives in the engine.
// Not thread-safe: owned by the engine loop.
#pragma once

#include <any>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "kvcache/block_table.h"

namespace gannet::sched {

using kvcache::TokenId;
using SeqId = int64_t;  // assigned in arrival order: a lower id arrived earlier

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

struct Request {
    std::vector<TokenId> prompt;  // REQUIRES (checked): not empty
    // The engine finishes the sequence by this many generated tokens at the latest. The scheduler
    // rejects requests whose prompt + max_new_tokens could never fit the whole cache.
    int32_t max_new_tokens = 256;
    int64_t deadline_ms = kNoDeadline;  // absolute, on the clock the engine passes to Scheduler::step()
    std::any sampling{};                // the engine's sampling parameters; sched never looks inside
    // [begin, end) prompt positions a prefill chunk should not end inside (an image whose tokens
    // attend to each other: its later keys must be computed in the same step). A span longer than
    // the token budget is still cut. Ascending, disjoint.
    std::vector<std::pair<int32_t, int32_t>> whole_spans = {};
    uint8_t attention_mode = 0;  // the runner's per-sequence attention (model::SparseMode); sched only carries it
};

enum class SeqState { kWaiting, kRunning };

struct Sequence {
    SeqId id = 0;
    SeqState state = SeqState::kWaiting;
    std::vector<TokenId> tokens;  // prompt, then generated tokens
    int32_t n_tokens_prompt = 0;
    int32_t max_new_tokens = 0;
    // Leading tokens whose KV is in the cache. Reset to 0 on preemption: everything is recomputed
    // (minus what the prefix cache still holds).
    int32_t n_tokens_computed = 0;
    // Prompt tokens served by the prefix cache at first admission (usage.prompt_tokens_details.cached_tokens);
    // -1 until admitted. Later re-admissions after preemption do not change what the client is told.
    int32_t n_tokens_cached = -1;
    int64_t deadline_ms = kNoDeadline;
    uint8_t attention_mode = 0;  // Request::attention_mode
    bool is_cancelled = false;
    int32_t n_preemptions = 0;
    int64_t last_scheduled_step = -1;  // Scheduler-internal: the step that last scheduled it
    std::any sampling;
    std::vector<std::pair<int32_t, int32_t>> whole_spans;  // Request::whole_spans
    kvcache::BlockTable table;

    int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
    int32_t n_tokens_generated() const { return n_tokens() - n_tokens_prompt; }
};

}  // namespace gannet::sched
