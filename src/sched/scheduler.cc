#include "sched/scheduler.h"

#include <algorithm>
#include <utility>

namespace gannet::sched {

Result<Scheduler> Scheduler::create(const SchedulerConfig& config) {
    if (config.max_batch_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument, "sched: max_batch_tokens must be >= 1, got %d",
                          config.max_batch_tokens);
    }
    if (config.max_running_seqs < 1) {
        return make_error(ErrorCode::kInvalidArgument, "sched: max_running_seqs must be >= 1, got %d",
                          config.max_running_seqs);
    }
    GANNET_ASSIGN_OR_RETURN(kvcache::BlockManager blocks, kvcache::BlockManager::create(config.blocks));
    if (config.n_blocks_watermark < 0 || config.n_blocks_watermark >= config.blocks.n_blocks) {
        return make_error(ErrorCode::kInvalidArgument, "sched: n_blocks_watermark must be in [0, %d), got %d",
                          config.blocks.n_blocks, config.n_blocks_watermark);
    }
    return Scheduler(config, std::move(blocks));
}

Result<SeqId> Scheduler::add_request(Request request) {
    if (request.prompt.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "sched: empty prompt");
    }
    if (request.max_new_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument, "sched: max_new_tokens must be >= 1, got %d",
                          request.max_new_tokens);
    }
    // 64-bit: a hostile prompt length plus max_new_tokens must not wrap.
    const int64_t n_tokens_max = static_cast<int64_t>(request.prompt.size()) + request.max_new_tokens;
    const int64_t bs = blocks_.block_size();
    const int64_t n_blocks_max = (n_tokens_max + bs - 1) / bs;
    if (n_blocks_max > blocks_.n_blocks()) {
        return make_error(ErrorCode::kResourceExhausted,
                          "sched: request needs up to %lld tokens (%zu prompt + %d new), the kv cache holds %lld",
                          static_cast<long long>(n_tokens_max), request.prompt.size(), request.max_new_tokens,
                          static_cast<long long>(blocks_.n_blocks() * bs));
    }
    auto s = std::make_unique<Sequence>();
    s->id = next_id_++;
    s->n_tokens_prompt = static_cast<int32_t>(request.prompt.size());
    s->tokens = std::move(request.prompt);
    s->tokens.reserve(static_cast<size_t>(n_tokens_max));  // decode steps then never reallocate
    s->max_new_tokens = request.max_new_tokens;
    s->deadline_ms = request.deadline_ms;
    s->attention_mode = request.attention_mode;
    s->sampling = std::move(request.sampling);
    s->whole_spans = std::move(request.whole_spans);
    s->table = kvcache::BlockTable(blocks_.block_size());
    const SeqId id = s->id;
    waiting_.push_back(id);
    seqs_.emplace(id, std::move(s));
    return id;
}

Status Scheduler::cancel(SeqId id) {
    auto it = seqs_.find(id);
    if (it == seqs_.end()) {
        return make_error(ErrorCode::kNotFound, "sched: no live sequence %lld", static_cast<long long>(id));
    }
    it->second->is_cancelled = true;
    return Status();
}

const Sequence* Scheduler::find(SeqId id) const {
    auto it = seqs_.find(id);
    return it == seqs_.end() ? nullptr : it->second.get();
}

Sequence& Scheduler::seq(SeqId id) {
    auto it = seqs_.find(id);
    GANNET_CHECK(it != seqs_.end());
    return *it->second;
}

const SchedulerOutput& Scheduler::step(int64_t now_ms) {
    GANNET_CHECK(!is_step_in_flight_);  // every step() needs its on_step_done()
    is_step_in_flight_ = true;
    ++m_.n_steps;
    out_.seqs.clear();
    out_.block_copies.clear();
    out_.aborted.clear();
    out_.preempted.clear();
    out_.n_tokens = 0;

    remove_expired(now_ms);
    int32_t budget = config_.max_batch_tokens;
    schedule_decodes(budget);
    schedule_prefills(budget);
    // As vLLM does: after a preemption blocks are short, and admitting now would only thrash.
    if (out_.preempted.empty()) {
        admit(budget);
    }
    return out_;
}

void Scheduler::remove_expired(int64_t now_ms) {
    // Collected first: abort() edits the queues being scanned.
    std::vector<std::pair<SeqId, Status>> doomed;
    auto scan = [&](SeqId id) {
        const Sequence& s = seq(id);
        if (s.is_cancelled) {
            doomed.emplace_back(
                id, make_error(ErrorCode::kCancelled, "sched: request %lld cancelled", static_cast<long long>(id)));
        } else if (s.deadline_ms <= now_ms) {
            doomed.emplace_back(id, make_error(ErrorCode::kDeadlineExceeded,
                                               "sched: request %lld passed its deadline by %lld ms after %d tokens",
                                               static_cast<long long>(id),
                                               static_cast<long long>(now_ms - s.deadline_ms), s.n_tokens_generated()));
        }
    };
    std::ranges::for_each(running_, scan);
    std::ranges::for_each(waiting_, scan);
    for (auto& [id, status] : doomed) {
        (status.code() == ErrorCode::kCancelled ? m_.n_cancelled : m_.n_deadline_exceeded) += 1;
        abort(id, std::move(status));
    }
}

void Scheduler::abort(SeqId id, Status status) {
    Sequence& s = seq(id);
    if (s.state == SeqState::kRunning) {
        blocks_.free(s.table);
        erase_running(id);
    } else {
        waiting_.erase(std::ranges::find(waiting_, id));
    }
    out_.aborted.push_back({id, std::move(status)});
    seqs_.erase(id);
}

void Scheduler::schedule_decodes(int32_t& budget) {
    // By index: preemption removes from the back, which is never behind i.
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
        Sequence& s = seq(running_[i]);
        if (s.table.n_tokens() == s.n_tokens()) {
            continue;  // every token has a slot: a prefill in progress, not a decode
        }
        GANNET_CHECK(s.n_tokens() - s.table.n_tokens() == 1);
        while (true) {
            if (blocks_.append_slots(s.table, 1, out_.block_copies).ok()) {
                add_to_batch(s, 1);
                --budget;
                break;
            }
            // Out of blocks: the youngest running sequence gives its blocks back. Sequences before
            // i are older and already scheduled, so the victim is never one of them.
            const SeqId victim = running_.back();
            preempt(victim);
            if (victim == s.id) {
                break;
            }
        }
    }
}

// The next prefill chunk of s under the budget: shortened to end before a whole span it would cut,
// unless the chunk starts at or inside that span (then the span cannot fit and is cut).
int32_t Scheduler::prefill_chunk(const Sequence& s, int32_t budget) const {
    const int32_t n = std::min(s.n_tokens() - s.n_tokens_computed, budget);
    const int32_t end = s.n_tokens_computed + n;
    for (const auto& [begin, span_end] : s.whole_spans) {
        if (begin < end && end < span_end && begin > s.n_tokens_computed) {
            return begin - s.n_tokens_computed;
        }
    }
    return n;
}

void Scheduler::schedule_prefills(int32_t& budget) {
    for (SeqId id : running_) {
        if (budget == 0) {
            return;
        }
        Sequence& s = seq(id);
        // Skips sequences already in this step, fully computed ones, and decodes left out for lack of budget.
        if (s.last_scheduled_step == m_.n_steps || s.n_tokens_computed == s.n_tokens()
            || s.table.n_tokens() != s.n_tokens()) {
            continue;
        }
        const int32_t n = prefill_chunk(s, budget);
        add_to_batch(s, n);
        budget -= n;
    }
}

void Scheduler::admit(int32_t& budget) {
    while (budget > 0 && !waiting_.empty() && n_running() < config_.max_running_seqs) {
        Sequence& s = seq(waiting_.front());
        const int32_t n_reserve = running_.empty() ? 0 : config_.n_blocks_watermark;
        Result<int32_t> n_cached = blocks_.start(s.table, s.tokens, n_reserve, out_.block_copies);
        if (!n_cached.has_value()) {
            return;  // FIFO: nobody overtakes the head of the queue
        }
        s.n_tokens_computed = *n_cached;
        if (s.n_tokens_cached < 0) {
            s.n_tokens_cached = std::min(*n_cached, s.n_tokens_prompt);
        }
        m_.n_tokens_prompt_admitted += s.n_tokens();
        m_.n_tokens_prefix_hit += *n_cached;
        s.state = SeqState::kRunning;
        waiting_.pop_front();
        insert_running(s.id);
        const int32_t n = prefill_chunk(s, budget);
        add_to_batch(s, n);
        budget -= n;
    }
}

void Scheduler::preempt(SeqId id) {
    Sequence& s = seq(id);
    // Computed full blocks were committed to the prefix cache after their step, so they stay cached
    // (evictable) and the re-admission will likely hit them instead of recomputing.
    blocks_.free(s.table);
    s.n_tokens_computed = 0;
    s.state = SeqState::kWaiting;
    ++s.n_preemptions;
    ++m_.n_preemptions;
    erase_running(id);
    waiting_.push_front(id);
    out_.preempted.push_back(id);
}

void Scheduler::add_to_batch(Sequence& s, int32_t n_tokens) {
    GANNET_CHECK(n_tokens >= 1 && s.n_tokens_computed + n_tokens <= s.table.n_tokens());
    const auto first = static_cast<size_t>(s.n_tokens_computed);
    out_.seqs.push_back({.seq_id = s.id,
                         .tokens = std::span<const TokenId>(s.tokens).subspan(first, static_cast<size_t>(n_tokens)),
                         .pos = s.n_tokens_computed,
                         .block_table = s.table.blocks(),
                         .is_logits_needed = s.n_tokens_computed + n_tokens == s.n_tokens(),
                         .attention_mode = s.attention_mode});
    out_.n_tokens += n_tokens;
    s.last_scheduled_step = m_.n_steps;
}

std::span<const SeqId> Scheduler::on_step_done(std::span<const SampledToken> sampled) {
    GANNET_CHECK(is_step_in_flight_);
    is_step_in_flight_ = false;
    length_stops_.clear();
    size_t n_logits = 0;
    for (const ScheduledSeq& e : out_.seqs) {
        Sequence& s = seq(e.seq_id);
        s.n_tokens_computed += static_cast<int32_t>(e.tokens.size());
        m_.n_tokens_computed += static_cast<int64_t>(e.tokens.size());
        blocks_.commit(s.table, s.tokens, s.n_tokens_computed);
        n_logits += e.is_logits_needed ? 1 : 0;
    }
    GANNET_CHECK(sampled.size() == n_logits);
    for (const SampledToken& t : sampled) {
        Sequence& s = seq(t.seq_id);
        // Only a sequence that was just computed to its end takes a token; this also rejects duplicates.
        GANNET_CHECK(s.last_scheduled_step == m_.n_steps && s.n_tokens_computed == s.n_tokens());
        s.tokens.push_back(t.token);
        const bool is_length_stop = !t.is_finished && s.n_tokens_generated() >= s.max_new_tokens;
        if (is_length_stop) {
            length_stops_.push_back(s.id);
        }
        if (t.is_finished || is_length_stop) {
            const SeqId id = s.id;  // a copy: erase() destroys s
            blocks_.free(s.table);
            erase_running(id);
            seqs_.erase(id);
            ++m_.n_finished;
        }
    }
    blocks_.finish_step();
    out_.seqs.clear();  // the views point at sequences that may be gone
    return length_stops_;
}

void Scheduler::insert_running(SeqId id) {
    running_.insert(std::ranges::upper_bound(running_, id), id);
}

void Scheduler::erase_running(SeqId id) {
    auto it = std::ranges::lower_bound(running_, id);
    GANNET_CHECK(it != running_.end() && *it == id);
    running_.erase(it);
}

SchedulerMetrics Scheduler::metrics() const {
    SchedulerMetrics m = m_;
    m.n_block_copies = blocks_.n_copies();
    m.n_block_evictions = blocks_.n_evictions();
    m.n_waiting = n_waiting();
    m.n_running = n_running();
    m.n_blocks = blocks_.n_blocks();
    m.n_blocks_active = blocks_.n_active();
    m.n_blocks_cached = blocks_.n_cached();
    return m;
}

Status Scheduler::verify() const {
    std::vector<const kvcache::BlockTable*> tables;
    for (const auto& [id, s] : seqs_) {
        if (s->state == SeqState::kWaiting && !s->table.empty()) {
            return make_error(ErrorCode::kInternal, "sched: waiting sequence %lld holds blocks",
                              static_cast<long long>(id));
        }
        tables.push_back(&s->table);
    }
    if (seqs_.size() != running_.size() + waiting_.size()) {
        return make_error(ErrorCode::kInternal, "sched: %zu sequences but %zu running + %zu waiting", seqs_.size(),
                          running_.size(), waiting_.size());
    }
    return blocks_.verify(tables);
}

}  // namespace gannet::sched
