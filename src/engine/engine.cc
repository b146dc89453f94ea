#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/check.h"
#include "base/log.h"
#include "engine/diffusion_engine.h"
#include "engine/engine_live.h"
#include "sampling/stop_strings.h"

namespace gannet::engine {
namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Bytes of `s` that form complete UTF-8 characters (a multi-byte character split across tokens is
// held back until its last byte arrives).
size_t utf8_complete_prefix(const std::string& s) {
    size_t n = s.size();
    size_t i = n;
    int back = 0;
    while (i > 0 && back < 4) {
        const unsigned char c = static_cast<unsigned char>(s[i - 1]);
        if ((c & 0xC0) != 0x80) {  // lead byte or ASCII
            size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
            return (n - (i - 1)) >= need ? n : i - 1;
        }
        --i;
        ++back;
    }
    return n;
}

FinishInfo done(const char* reason) {
    FinishInfo f;
    f.finish_reason = reason;
    return f;
}

// FNV-1a over n floats' bytes, from a seed mixed into the offset basis.
uint64_t fnv1a(const float* data, size_t n_floats, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    for (size_t b = 0; b < n_floats * sizeof(float); ++b) {
        h = (h ^ bytes[b]) * 1099511628211ull;
    }
    return h;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(model::Model& model, const tokenizer::Tokenizer& tok,
                                               const EngineConfig& config) {
    if (config.n_ctx < 1 || config.n_kv_blocks < 1 || config.block_size < 1 || config.max_batch_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "engine: ctx, kv blocks, block size and batch tokens must be >= 1");
    }
    if (model.config().is_diffusion()) {
        if (config.determinism != Determinism::kOff) {
            return make_error(ErrorCode::kInvalidArgument,
                              "engine: deterministic %s is not available for diffusion models (expected off)",
                              determinism_name(config.determinism));
        }
        // A shell with no loop thread: every call goes to the DiffusionEngine.
        sched::SchedulerConfig sc;
        sc.blocks.n_blocks = 1;
        sc.blocks.block_size = config.block_size;
        GANNET_ASSIGN_OR_RETURN(sched::Scheduler sched, sched::Scheduler::create(sc));
        GANNET_ASSIGN_OR_RETURN(std::unique_ptr<DiffusionEngine> d, DiffusionEngine::create(model, tok, config));
        std::unique_ptr<Engine> e(new Engine(model, tok, config, sc, std::move(sched), nullptr));
        e->diffusion_ = std::move(d);
        return e;
    }
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> runner,
                            runner::Runner::create(model, {.n_blocks = config.n_kv_blocks,
                                                           .block_size = config.block_size,
                                                           .n_threads = config.n_threads,
                                                           .kv_type = config.kv_type}));
    return create(model, tok, config, std::move(runner));
}

Result<std::unique_ptr<Engine>> Engine::create(model::Model& model, const tokenizer::Tokenizer& tok,
                                               const EngineConfig& config, std::unique_ptr<runner::StepRunner> runner) {
    if (config.n_ctx < 1 || config.n_kv_blocks < 1 || config.block_size < 1 || config.max_batch_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "engine: ctx, kv blocks, block size and batch tokens must be >= 1");
    }
    if (runner == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "engine: no runner");
    }
    if (model.config().is_diffusion()) {
        return make_error(ErrorCode::kUnimplemented,
                          "engine: diffusion models run on the CPU engine only (this runner has no decoder mode)");
    }
    if (!(config.margin_tau >= 0.0f) || !std::isfinite(config.margin_tau)) {
        return make_error(ErrorCode::kInvalidArgument, "engine: margin tau must be a finite number >= 0, got %g",
                          static_cast<double>(config.margin_tau));
    }
    if (is_verifying(config.determinism)) {
        if (Status s = runner->check_reference_path(); !s.ok()) {
            return make_error(s.code(), "engine: deterministic %s: %s", determinism_name(config.determinism),
                              s.message().c_str());
        }
    }
    sched::SchedulerConfig sc;
    sc.max_batch_tokens = config.max_batch_tokens;
    sc.max_running_seqs = std::min(config.max_running_seqs, config.max_batch_tokens);
    sc.blocks.n_blocks = config.n_kv_blocks;
    sc.blocks.block_size = config.block_size;
    GANNET_ASSIGN_OR_RETURN(sched::Scheduler sched, sched::Scheduler::create(sc));
    std::unique_ptr<Engine> e(new Engine(model, tok, config, sc, std::move(sched), std::move(runner)));
    e->thread_ = std::thread([p = e.get()] { p->loop(); });
    return e;
}

Engine::Engine(model::Model& model, const tokenizer::Tokenizer& tok, const EngineConfig& config,
               sched::SchedulerConfig sched_config, sched::Scheduler sched, std::unique_ptr<runner::StepRunner> runner)
    : model_(model),
      tok_(tok),
      config_(config),
      sched_config_(std::move(sched_config)),
      sched_(std::move(sched)),
      runner_(std::move(runner)) {
    n_blocks_total_ = config.n_kv_blocks;
    cpu_runner_ = dynamic_cast<runner::Runner*>(runner_.get());
}

Engine::~Engine() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Status Engine::validate(const EngineRequest& request) const {
    if (request.prompt.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    }
    if (request.params.max_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument, "max_tokens must be >= 1");
    }
    const int64_t need = static_cast<int64_t>(request.prompt.size()) + request.params.max_tokens;
    if (need > config_.n_ctx) {
        return make_error(ErrorCode::kInvalidArgument,
                          "This model's maximum context length is %d tokens. However, you requested %lld tokens "
                          "(%zu in the messages, %d in the completion).",
                          config_.n_ctx, static_cast<long long>(need), request.prompt.size(),
                          request.params.max_tokens);
    }
    for (int32_t t : request.prompt) {
        if (t < 0 || t >= model_.config().n_vocab) {
            return make_error(ErrorCode::kInvalidArgument, "prompt token %d is out of range", t);
        }
    }
    return check_determinism(request.params);
}

Result<uint64_t> Engine::submit(EngineRequest request) {
    if (diffusion_ != nullptr) {
        return diffusion_->submit(std::move(request));
    }
    GANNET_RETURN_IF_ERROR(validate(request));
    GANNET_RETURN_IF_ERROR(prepare_soft_tokens(request));
    uint64_t h = 0;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (incoming_.size() >= config_.max_queue) {
            return make_error(ErrorCode::kResourceExhausted, "the server is overloaded (%zu requests queued)",
                              incoming_.size());
        }
        h = next_handle_++;
        incoming_.emplace_back(h, std::move(request));
        g_queue_.store(static_cast<int32_t>(incoming_.size()));
    }
    cv_.notify_one();
    return h;
}

Result<std::vector<uint64_t>> Engine::submit_batch(std::vector<EngineRequest> requests) {
    if (diffusion_ != nullptr) {
        return diffusion_->submit_batch(std::move(requests));
    }
    for (EngineRequest& r : requests) {
        GANNET_RETURN_IF_ERROR(validate(r));
        GANNET_RETURN_IF_ERROR(prepare_soft_tokens(r));
    }
    std::vector<uint64_t> handles;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (incoming_.size() + requests.size() > config_.max_queue) {
            return make_error(ErrorCode::kResourceExhausted, "the server is overloaded (%zu requests queued)",
                              incoming_.size());
        }
        for (EngineRequest& r : requests) {
            handles.push_back(next_handle_++);
            incoming_.emplace_back(handles.back(), std::move(r));
        }
        g_queue_.store(static_cast<int32_t>(incoming_.size()));
    }
    cv_.notify_one();
    return handles;
}

// The prefix cache keys blocks by token ids, and every image's placeholders are the same id: two
// different images would share KV. The placeholder's id does not reach the model (its embedding row
// is replaced), so it is swapped for a hash of its soft-token row: equal media still share blocks,
// different media do not.
Status Engine::prepare_soft_tokens(EngineRequest& request) const {
    if (request.soft == nullptr) {
        return Status();
    }
    if (cpu_runner_ == nullptr) {
        return make_error(ErrorCode::kUnimplemented, "image and audio input run on the cpu device only");
    }
    const model::SoftTokens& s = *request.soft;
    const size_t n_embd = static_cast<size_t>(model_.config().n_embd);
    const uint64_t n_vocab = static_cast<uint64_t>(model_.config().n_vocab);
    auto token_of = [n_vocab](uint64_t hash) {
        return static_cast<int32_t>(hash % n_vocab);
    };
    if (s.rows.size() != s.positions.size() * n_embd) {
        return make_error(ErrorCode::kInvalidArgument, "soft tokens: %zu values for %zu positions of width %zu",
                          s.rows.size(), s.positions.size(), n_embd);
    }
    for (size_t i = 0; i < s.positions.size(); ++i) {
        const int32_t p = s.positions[i];
        if (p < 0 || static_cast<size_t>(p) >= request.prompt.size() || (i > 0 && p <= s.positions[i - 1])) {
            return make_error(ErrorCode::kInvalidArgument,
                              "soft token position %d: expected ascending positions inside the %zu-token prompt", p,
                              request.prompt.size());
        }
        request.prompt[static_cast<size_t>(p)] = token_of(fnv1a(s.rows.data() + i * n_embd, n_embd, 0));
    }
    // A bidirectional span's KV depends on all of it: its ids hash the whole span (and the offset),
    // so two images that share leading patches do not share blocks.
    for (const model::PositionSpan& span : s.bidirectional) {
        const auto first = std::lower_bound(s.positions.begin(), s.positions.end(), span.begin);
        const size_t k0 = static_cast<size_t>(first - s.positions.begin());
        const size_t n = span.end > span.begin ? static_cast<size_t>(span.end - span.begin) : 0;
        if (n == 0 || first == s.positions.end() || *first != span.begin || k0 + n > s.positions.size()
            || s.positions[k0 + n - 1] != span.end - 1) {
            return make_error(ErrorCode::kInvalidArgument, "soft tokens: span [%d, %d) is not a run of soft positions",
                              span.begin, span.end);
        }
        const uint64_t whole = fnv1a(s.rows.data() + k0 * n_embd, n * n_embd, 0);
        for (size_t k = 0; k < n; ++k) {
            request.prompt[static_cast<size_t>(span.begin) + k] = token_of(fnv1a(nullptr, 0, whole + k));
        }
    }
    return Status();
}

void Engine::cancel(uint64_t handle) {
    if (diffusion_ != nullptr) {
        diffusion_->cancel(handle);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        cancels_.insert(handle);
    }
    cv_.notify_one();
}

void Engine::finish(Live& r, FinishInfo info) {
    if (r.is_finished) {
        return;
    }
    r.is_finished = true;
    if (info.status.ok()) {
        std::string rest = r.stops.stopped() ? std::string() : r.stops.feed(r.pending_bytes) + r.stops.flush();
        r.pending_bytes.clear();
        if (!rest.empty() && r.req.on_text) {
            Status s = guarded("on_text", [&] { r.req.on_text(rest); });
            if (!s.ok()) {
                info = failed(std::move(s));
            }
        }
    }
    if (info.status.ok()) {
        ++n_requests_ok_;
    } else {
        ++n_requests_err_;
        if (info.status.code() == ErrorCode::kCancelled) {
            ++n_requests_cancelled_;
        }
    }
    info.prompt_tokens = static_cast<int32_t>(r.req.prompt.size());
    info.completion_tokens = r.n_generated;
    info.cached_tokens = std::max(0, r.cached_tokens);
    if (r.n_generated > 0) {
        info.first_token_s = r.t_first - r.t_submit;
        info.decode_s = r.t_last - r.t_first;
    }
    if (r.req.on_finish) {
        (void)guarded("on_finish", [&] { r.req.on_finish(info); });  // logged; nothing is left to tell
    }
}

// Feeds one sampled token through detokenizing and stop strings; sets is_finished on a stop.
void Engine::emit_token(Live& r, int32_t token, bool& is_finished) {
    ++r.n_generated;
    ++n_generation_tokens_;
    const double t = now_s();
    {
        std::lock_guard<std::mutex> lock(metrics_mu_);
        if (r.n_generated == 1) {
            ttft_.observe(t - r.t_submit);
            r.t_first = t;
        } else {
            itl_.observe(t - r.t_last);
        }
    }
    r.t_last = t;
    if (!r.req.params.ignore_eos && tok_.is_end_of_generation(token)) {
        is_finished = true;
        finish(r, done("stop"));
        return;
    }
    r.pending_bytes += tok_.decode_token(token, tokenizer::Tokenizer::RenderSpecial::kNo);
    const size_t n = utf8_complete_prefix(r.pending_bytes);
    std::string text = r.stops.feed(std::string_view(r.pending_bytes).substr(0, n));
    r.pending_bytes.erase(0, n);
    if (!text.empty() && r.req.on_text) {
        Status s = guarded("on_text", [&] { r.req.on_text(text); });
        if (!s.ok()) {
            is_finished = true;
            finish(r, failed(std::move(s)));
            return;
        }
    }
    if (r.stops.stopped()) {
        is_finished = true;
        finish(r, done("stop"));
    }
    // The length stop is the scheduler's (Scheduler::on_step_done); loop() reports it.
}

int32_t Engine::sample_row(Live& r, std::span<const float> logits, std::span<const int32_t> history,
                           bool& is_finished) {
    const int32_t tok = r.sampler.sample(prepare_row(r, logits, r.row), history);
    after_sample(r, tok, logits, is_finished);
    return tok;
}

void Engine::admit_incoming() {
    std::deque<std::pair<uint64_t, EngineRequest>> in;
    std::unordered_set<uint64_t> cancels;
    {
        std::lock_guard<std::mutex> lock(mu_);
        in.swap(incoming_);
        cancels.swap(cancels_);
        g_queue_.store(0);
    }
    for (auto& [h, req] : in) {
        ++n_requests_;
        // Kept for the failure path: a request must hear back even when admitting it throws.
        std::function<void(const FinishInfo&)> on_finish = req.on_finish;
        Status s = guarded("admitting a request", [&] { admit(h, std::move(req)); });
        if (s.ok()) {
            continue;
        }
        ++n_exceptions_;
        if (auto it = live_.find(h); it != live_.end()) {
            finish(*it->second, failed(s));  // its sequence is cancelled below and leaves at the next step
            cancels.insert(h);
        } else if (on_finish) {
            ++n_requests_err_;
            (void)guarded("on_finish", [&] { on_finish(failed(s)); });
        }
    }
    for (uint64_t h : cancels) {
        auto it = live_.find(h);
        if (it != live_.end()) {
            (void)sched_.cancel(it->second->seq_id);
        }
    }
}

void Engine::admit(uint64_t h, EngineRequest req) {
    sampling::SamplerConfig sc{.temperature = req.params.temperature,
                               .top_k = req.params.top_k,
                               .top_p = req.params.top_p,
                               .min_p = req.params.min_p,
                               .repeat_penalty = req.params.repeat_penalty,
                               .repeat_last_n = req.params.repeat_last_n,
                               .seed = req.params.seed};
    auto sampler = sampling::Sampler::create(sc);
    if (!sampler.has_value()) {
        if (req.on_finish) {
            (void)guarded("on_finish", [&] { req.on_finish(failed(sampler.error())); });
        }
        ++n_requests_err_;
        return;
    }
    auto live = std::make_unique<Live>(std::move(*sampler), req.params.stop);
    live->handle = h;
    live->t_submit = now_s();
    // Greedy rows only: a sampled row's token depends on the draw, which the margin does not bound.
    live->mode = req.params.determinism.value_or(config_.determinism);
    live->is_gated = is_verifying(live->mode) && req.params.temperature == 0.0f;
    std::vector<std::pair<int32_t, int32_t>> whole_spans;  // images: prefill chunks keep them whole
    if (req.soft != nullptr) {
        for (const model::PositionSpan& span : req.soft->bidirectional) {
            whole_spans.emplace_back(span.begin, span.end);
        }
    }
    auto id = sched_.add_request({.prompt = req.prompt,
                                  .max_new_tokens = req.params.max_tokens,
                                  .whole_spans = std::move(whole_spans),
                                  .attention_mode = static_cast<uint8_t>(req.params.sparse_attention)});
    live->req = std::move(req);
    if (!id.has_value()) {
        finish(*live, failed(id.error()));
        return;
    }
    n_prompt_tokens_ += static_cast<int64_t>(live->req.prompt.size());
    if (live->req.soft != nullptr) {
        cpu_runner_->set_soft_tokens(*id, live->req.soft);  // submit() checked cpu_runner_
    }
    live->seq_id = *id;
    by_seq_[*id] = h;
    live_[h] = std::move(live);
}

// Thread entry of the engine: nothing escapes it (see engine.h, "Failure containment").
void Engine::loop() {
    while (true) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !incoming_.empty() || !cancels_.empty() || sched_.has_work(); });
            if (stop_) {
                break;
            }
        }
        try {
            step();
        } catch (const std::exception& e) {
            recover(e.what());
        } catch (...) {
            recover("a non-exception");
        }
    }
    // Shutdown: everything still live ends as cancelled.
    try {
        admit_incoming();
    } catch (const std::exception& e) {
        GANNET_LOG_ERROR("engine", "admitting at shutdown threw: %s", e.what());
    }
    for (auto& [h, r] : live_) {
        finish(*r, failed(make_error(ErrorCode::kCancelled, "the server is shutting down")));
    }
    live_.clear();
    by_seq_.clear();
}

void Engine::recover(const std::string& what) {
    ++n_exceptions_;
    GANNET_LOG_ERROR("engine", "step threw %s; failing %zu live requests and starting over", what.c_str(),
                     live_.size());
    std::unordered_map<uint64_t, std::unique_ptr<Live>> doomed;
    doomed.swap(live_);
    if (cpu_runner_ != nullptr) {
        cpu_runner_->forget_all_soft_tokens();
    }
    by_seq_.clear();
    // The scheduler may be mid-step (step() without on_step_done()): start from an empty one. Its
    // blocks are only ids over the runner's KV memory, so the runner needs no reset. Published
    // before the requests hear of it, so a client that reads /metrics next sees the blocks free.
    Result<sched::Scheduler> fresh = sched::Scheduler::create(sched_config_);
    GANNET_CHECK(fresh.has_value());  // the same config built the first one
    sched_ = std::move(*fresh);
    prev_hit_ = 0;
    prev_admitted_ = 0;
    prev_preemptions_ = 0;
    publish_metrics();
    for (auto& [h, r] : doomed) {
        finish(*r, failed(make_error(ErrorCode::kInternal, "engine: step failed: %s", what.c_str())));
    }
}

void Engine::step() {
    admit_incoming();
    if (!sched_.has_work()) {
        return;
    }
    const int64_t now_ms = static_cast<int64_t>(now_s() * 1000.0);
    const sched::SchedulerOutput& out = sched_.step(now_ms);
    ++n_steps_;
    for (const sched::AbortedSeq& a : out.aborted) {
        auto it = by_seq_.find(a.seq_id);
        if (it != by_seq_.end()) {
            finish(*live_[it->second], failed(a.status));
            forget_soft_tokens(a.seq_id);
            live_.erase(it->second);
            by_seq_.erase(it);
        }
    }
    // Prefix-hit accounting for the client: n_tokens_cached is set at first admission.
    for (const sched::ScheduledSeq& s : out.seqs) {
        auto it = by_seq_.find(s.seq_id);
        if (it == by_seq_.end())
            continue;
        Live& r = *live_[it->second];
        if (r.cached_tokens < 0) {
            if (const sched::Sequence* seq = sched_.find(s.seq_id); seq != nullptr && seq->n_tokens_cached >= 0) {
                r.cached_tokens = seq->n_tokens_cached;
            }
        }
    }
    auto logits = runner_->run(out);
    if (!logits.has_value()) {
        GANNET_LOG_ERROR("engine", "forward failed: %s", logits.error().message().c_str());
    } else if (has_gated_row(out)) {
        // run_reference() reuses the model's logits buffer: keep the step's rows apart first.
        step_logits_.assign(logits->begin(), logits->end());
        logits = std::span<const float>(step_logits_);
    }
    const size_t n_vocab = static_cast<size_t>(model_.config().n_vocab);
    size_t row = 0;
    std::vector<sched::SampledToken>& sampled = sampled_;
    sampled.clear();
    std::vector<uint64_t> done;
    for (const sched::ScheduledSeq& s : out.seqs) {
        if (!s.is_logits_needed)
            continue;
        const uint64_t h = by_seq_.at(s.seq_id);
        Live& r = *live_[h];
        const sched::Sequence* seq = sched_.find(s.seq_id);
        int32_t tok = 0;
        bool is_finished = false;
        if (!logits.has_value()) {
            is_finished = true;
            finish(r, failed(logits.error()));
        } else {
            std::span<const float> lr = logits->subspan(row * n_vocab, n_vocab);
            std::span<const int32_t> hist;
            if (seq != nullptr)
                hist = seq->tokens;
            tok = sample_gated(r, s, lr, hist, is_finished);
            if (!is_finished) {
                emit_token(r, tok, is_finished);
            }
        }
        ++row;
        sampled.push_back({.seq_id = s.seq_id, .token = tok, .is_finished = is_finished});
        if (is_finished)
            done.push_back(h);
    }
    for (sched::SeqId id : sched_.on_step_done(sampled)) {  // the scheduler's length stops
        const uint64_t h = by_seq_.at(id);
        FinishInfo length;
        length.finish_reason = "length";
        finish(*live_[h], std::move(length));
        done.push_back(h);
    }
    for (uint64_t h : done) {
        forget_soft_tokens(live_[h]->seq_id);
        by_seq_.erase(live_[h]->seq_id);
        live_.erase(h);
    }
    publish_metrics();
}

void Engine::publish_metrics() {
    const sched::SchedulerMetrics m = sched_.metrics();
    n_hit_tokens_ += m.n_tokens_prefix_hit - prev_hit_;
    n_query_tokens_ += m.n_tokens_prompt_admitted - prev_admitted_;
    prev_hit_ = m.n_tokens_prefix_hit;
    prev_admitted_ = m.n_tokens_prompt_admitted;
    n_preemptions_ += m.n_preemptions - prev_preemptions_;
    prev_preemptions_ = m.n_preemptions;
    g_waiting_.store(m.n_waiting);
    g_running_.store(m.n_running);
    g_blocks_used_.store(m.n_blocks_active);
}

Result<FinishInfo> Engine::generate(EngineRequest request) {
    struct Waiter {
        std::mutex mu;
        std::condition_variable cv;
        bool is_done = false;
        FinishInfo info;
    };
    auto w = std::make_shared<Waiter>();
    request.on_finish = [w, user = std::move(request.on_finish)](const FinishInfo& info) {
        if (user) {
            user(info);
        }
        std::lock_guard<std::mutex> lock(w->mu);
        w->info = info;
        w->is_done = true;
        w->cv.notify_all();
    };
    GANNET_RETURN_IF_ERROR(submit(std::move(request)).error());
    std::unique_lock<std::mutex> lock(w->mu);
    w->cv.wait(lock, [&] { return w->is_done; });
    GANNET_RETURN_IF_ERROR(w->info.status);
    return w->info;
}

std::string Engine::metrics_text() const {
    if (diffusion_ != nullptr) {
        return diffusion_->metrics_text();
    }
    std::string s;
    s += render_scalar("gannet_requests_total", "counter", "Requests accepted by the engine.",
                       static_cast<double>(n_requests_.load()));
    s += render_scalar("gannet_requests_succeeded_total", "counter", "Requests that finished normally.",
                       static_cast<double>(n_requests_ok_.load()));
    s += render_scalar("gannet_requests_failed_total", "counter", "Requests that were cancelled or failed.",
                       static_cast<double>(n_requests_err_.load()));
    s += render_scalar("gannet_requests_cancelled_total", "counter",
                       "Requests cancelled (the client went away, or shutdown); also counted as failed.",
                       static_cast<double>(n_requests_cancelled_.load()));
    s += render_scalar("gannet_engine_exceptions_total", "counter",
                       "Exceptions caught on the engine thread (each failed the live requests with an internal error).",
                       static_cast<double>(n_exceptions_.load()));
    s += render_scalar("gannet_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
                       static_cast<double>(n_prompt_tokens_.load()));
    s += render_scalar("gannet_generation_tokens_total", "counter", "Generated tokens.",
                       static_cast<double>(n_generation_tokens_.load()));
    s += render_scalar("gannet_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
                       static_cast<double>(n_hit_tokens_.load()));
    s += render_scalar("gannet_prefix_cache_query_tokens_total", "counter",
                       "Prompt tokens looked up in the prefix cache.", static_cast<double>(n_query_tokens_.load()));
    s += render_scalar("gannet_preemptions_total", "counter", "Sequences preempted by recompute.",
                       static_cast<double>(n_preemptions_.load()));
    s += render_scalar("gannet_engine_steps_total", "counter", "Engine steps (batched forwards).",
                       static_cast<double>(n_steps_.load()));
    s += render_scalar("gannet_margin_gated_rows_total", "counter",
                       "Greedy rows of requests with deterministic margin or always (MarginGate's candidates).",
                       static_cast<double>(n_gated_rows_.load()));
    s += render_scalar("gannet_margin_verified_steps_total", "counter",
                       "Gated rows recomputed on the reference path (margin below tau, or always).",
                       static_cast<double>(n_verified_rows_.load()));
    s += render_scalar("gannet_margin_overrides_total", "counter",
                       "Verified rows whose reference token differed: emitted instead, with the reference K/V.",
                       static_cast<double>(n_overrides_.load()));
    s += render_scalar("gannet_queue_depth", "gauge", "Requests waiting for admission.",
                       static_cast<double>(g_waiting_.load() + g_queue_.load()));
    s += render_scalar("gannet_running_requests", "gauge", "Requests running.", static_cast<double>(g_running_.load()));
    s += render_scalar("gannet_kv_blocks_used", "gauge", "KV cache blocks held by sequences.",
                       static_cast<double>(g_blocks_used_.load()));
    s += render_scalar("gannet_kv_blocks_total", "gauge", "KV cache blocks.", static_cast<double>(n_blocks_total_));
    std::lock_guard<std::mutex> lock(metrics_mu_);
    s += ttft_.render("gannet_time_to_first_token_seconds", "Time from submission to the first token.");
    s += itl_.render("gannet_inter_token_latency_seconds", "Time between consecutive tokens of a request.");
    return s;
}

}  // namespace gannet::engine
