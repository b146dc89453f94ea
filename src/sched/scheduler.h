// Continuous-batching scheduler: forms every step from all running sequences under a token budget.
// Each step: (1) drop cancelled and past-deadline sequences, (2) one decode token for every running
// sequence that needs one, oldest first, preempting the youngest running sequences by recompute
// when blocks run out, (3) prefill chunks for running sequences, oldest first, (4) admit waiting
// requests in FIFO order while blocks (after prefix-cache hits) and budget last. Pure CPU
// bookkeeping: the engine runs the forward between step() and on_step_done():
//
//   while (sched.has_work()) {
//       const SchedulerOutput& out = sched.step(now_ms());
//       report out.aborted to their clients;
//       kv.copy_blocks(out.block_copies);          // before the forward
//       forward(out.seqs);                         // writes KV for each chunk, logits where asked
//       sched.on_step_done(sample(out.seqs));      // one token per is_logits_needed entry
//   }
//
// Not thread-safe: owned and called only by the engine loop.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "kvcache/block_manager.h"
#include "sched/sequence.h"

namespace gannet::sched {

struct SchedulerConfig {
    int32_t max_batch_tokens = 2048;  // --max-batch-tokens: tokens computed per step, decodes and prefill
    // Keep <= max_batch_tokens: otherwise the youngest running sequences skip decode steps until
    // older ones finish.
    int32_t max_running_seqs = 256;
    // Admission leaves this many blocks available so running sequences can decode a while before
    // anyone is preempted. Ignored when nothing runs, so a lone request always gets in.
    int32_t n_blocks_watermark = 0;
    kvcache::BlockManagerConfig blocks;
};

// One sequence's share of a step. Views point into the scheduler and stay valid until the next
// step() or on_step_done().
struct ScheduledSeq {
    SeqId seq_id = 0;
    std::span<const TokenId> tokens;                // [n] tokens whose KV this step computes
    int32_t pos = 0;                                // position of tokens[0]; tokens[i] is at pos + i
    std::span<const kvcache::BlockId> block_table;  // covers positions [0, pos + n)
    // The chunk reaches the end of the known tokens: sample the next token from its last logits.
    bool is_logits_needed = false;
    uint8_t attention_mode = 0;  // Request::attention_mode, for the runner
};

struct AbortedSeq {
    SeqId seq_id = 0;
    Status status;  // kCancelled, kDeadlineExceeded
};

struct SchedulerOutput {
    std::vector<ScheduledSeq> seqs;                // decodes first, then prefill chunks; oldest first in each
    std::vector<kvcache::BlockCopy> block_copies;  // perform before the forward (any order)
    std::vector<AbortedSeq> aborted;               // removed this step; their blocks are freed
    std::vector<SeqId> preempted;                  // sent back to waiting; will be recomputed
    int32_t n_tokens = 0;                          // sum of seqs[i].tokens.size() <= max_batch_tokens
};

// What the engine sampled for one is_logits_needed entry of the last step.
struct SampledToken {
    SeqId seq_id = 0;
    TokenId token = 0;
    // Stop token or stop string: the sequence leaves. The length stop is not the engine's to call:
    // on_step_done() ends a sequence at max_new_tokens itself and reports it.
    bool is_finished = false;
};

// Monotonic counters and current gauges, for /metrics.
struct SchedulerMetrics {
    int64_t n_steps = 0;
    int64_t n_preemptions = 0;
    int64_t n_tokens_prompt_admitted = 0;  // tokens of every admission, re-admissions included
    int64_t n_tokens_prefix_hit = 0;       // of those, served by the prefix cache
    int64_t n_tokens_computed = 0;         // tokens whose KV was computed (recompute included)
    int64_t n_finished = 0;
    int64_t n_cancelled = 0;
    int64_t n_deadline_exceeded = 0;
    int64_t n_block_copies = 0;
    int64_t n_block_evictions = 0;
    int32_t n_waiting = 0;  // queue depth
    int32_t n_running = 0;
    int32_t n_blocks = 0;
    int32_t n_blocks_active = 0;  // held by sequences
    int32_t n_blocks_cached = 0;  // in the prefix cache (held or evictable)
};

class Scheduler {
public:
    // kInvalidArgument for a bad budget, seq limit, watermark or block config.
    static Result<Scheduler> create(const SchedulerConfig& config);

    // Queues a request at the back. kInvalidArgument for an empty prompt or max_new_tokens < 1;
    // kResourceExhausted when prompt + max_new_tokens needs more blocks than the whole cache.
    Result<SeqId> add_request(Request request);
    // Marks the sequence cancelled; the next step() removes it, frees its blocks and reports it in
    // `aborted`. Safe between step() and on_step_done(). kNotFound for an unknown or finished id.
    Status cancel(SeqId id);

    // Forms the next step at time now_ms (the clock of Request::deadline_ms). The view lives until
    // the next call of step() or on_step_done(). REQUIRES: the previous step was done.
    const SchedulerOutput& step(int64_t now_ms);
    // The forward of the last step ran. `sampled` holds exactly one entry for each of its
    // is_logits_needed sequences (any order). Finished sequences leave and free their blocks; their
    // full blocks stay in the prefix cache. This is the one place that checks max_new_tokens: a
    // sequence whose token reaches it (and was not finished by its sampler) leaves too, and is
    // returned (the engine reports finish_reason "length"); the view lives until the next call.
    // REQUIRES (a CHECK): the above.
    std::span<const SeqId> on_step_done(std::span<const SampledToken> sampled);

    // nullptr once finished or aborted. Valid until the next step() or on_step_done().
    const Sequence* find(SeqId id) const;
    int32_t n_waiting() const { return static_cast<int32_t>(waiting_.size()); }
    int32_t n_running() const { return static_cast<int32_t>(running_.size()); }
    bool has_work() const { return !waiting_.empty() || !running_.empty(); }
    SchedulerMetrics metrics() const;
    const kvcache::BlockManager& blocks() const { return blocks_; }
    // The block invariants over every live sequence (kInternal on a violation). For tests.
    Status verify() const;

private:
    Scheduler(const SchedulerConfig& config, kvcache::BlockManager blocks)
        : config_(config), blocks_(std::move(blocks)) {}

    Sequence& seq(SeqId id);
    void remove_expired(int64_t now_ms);
    void abort(SeqId id, Status status);
    void schedule_decodes(int32_t& budget);
    void schedule_prefills(int32_t& budget);
    int32_t prefill_chunk(const Sequence& s, int32_t budget) const;
    void admit(int32_t& budget);
    void preempt(SeqId id);
    void add_to_batch(Sequence& s, int32_t n_tokens);
    void insert_running(SeqId id);
    void erase_running(SeqId id);

    SchedulerConfig config_;
    kvcache::BlockManager blocks_;
    std::unordered_map<SeqId, std::unique_ptr<Sequence>> seqs_;  // every live sequence; stable addresses
    std::deque<SeqId> waiting_;                                  // FIFO; preempted ones return to the front
    std::vector<SeqId> running_;                                 // ascending id: oldest first
    SchedulerOutput out_;
    std::vector<SeqId> length_stops_;  // on_step_done's result
    SeqId next_id_ = 1;
    bool is_step_in_flight_ = false;
    SchedulerMetrics m_;
};

}  // namespace gannet::sched
