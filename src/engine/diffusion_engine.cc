#include "engine/diffusion_engine.h"

#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "engine/metrics.h"
#include "sampling/stop_strings.h"

namespace gannet::engine {
namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

FinishInfo failed(Status s) {
    FinishInfo f;
    f.status = std::move(s);
    return f;
}

Result<kvcache::KvDType> kv_dtype_of(tensor::DType t) {
    switch (t) {
        case tensor::DType::kF32: return kvcache::KvDType::kF32;
        case tensor::DType::kF16: return kvcache::KvDType::kF16;
        case tensor::DType::kQ8_0: return kvcache::KvDType::kQ8_0;
        case tensor::DType::kQ4_0: return kvcache::KvDType::kQ4_0;
        default: break;
    }
    return make_error(ErrorCode::kInvalidArgument, "engine: kv type %s is not a cache type", tensor::dtype_name(t));
}

// The GenParams a diffusion model cannot honour: each is refused by name rather than ignored.
Status check_params(const GenParams& p) {
    auto refuse = [](const char* what) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: '%s' is not supported by diffusion models", what);
    };
    if (p.top_logprobs >= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "diffusion: 'logprobs' is not available from a diffusion model (its canvases are sampled "
                          "in parallel and the appended tokens are argmax picks, not draws)");
    }
    if (p.top_p != 1.0f)
        return refuse("top_p");
    if (p.top_k != 0)
        return refuse("top_k");
    if (p.min_p != 0.0f)
        return refuse("min_p");
    if (p.repeat_penalty != 1.0f)
        return refuse("repeat_penalty");
    if (!p.logit_bias.empty())
        return refuse("logit_bias");
    if (p.frequency_penalty != 0.0f)
        return refuse("frequency_penalty");
    if (p.presence_penalty != 0.0f)
        return refuse("presence_penalty");
    if (p.processor != nullptr)
        return refuse("response_format / tools (constrained decoding)");
    if (p.determinism.has_value() && *p.determinism != Determinism::kOff)
        return refuse("deterministic");
    if (!(p.temperature > 0.0f) || p.temperature > 100.0f) {
        return make_error(ErrorCode::kInvalidArgument,
                          "diffusion: temperature is %g, expected in (0, 100] (it scales the t_max 0.8 -> t_min 0.4 "
                          "schedule; 1 keeps it)",
                          p.temperature);
    }
    if (p.diffusion_steps < 0 || p.diffusion_steps > sampling::kMaxDenoisingSteps) {
        return make_error(ErrorCode::kInvalidArgument, "diffusion: diffusion_steps is %d, expected 1..%d (0: 48)",
                          p.diffusion_steps, sampling::kMaxDenoisingSteps);
    }
    return Status();
}

}  // namespace

struct DiffusionEngine::Live {
    uint64_t handle = 0;
    EngineRequest req;
    sampling::EntropyBoundSampler sampler;
    sampling::StopStringMatcher stops;
    std::vector<kvcache::BlockId> blocks;
    std::vector<int32_t> to_encode;  // the prompt, then each appended canvas, until the encoder runs
    int32_t n_cached = 0;            // positions [0, n_cached) are in the cache
    std::vector<int32_t> canvas;     // [C]
    std::vector<int32_t> argmax;     // [C]
    std::vector<float> processed;    // [C, V] the last step's logits / T: the next self-conditioning
    bool has_self_cond = false;
    int32_t cur_step = 0;  // steps left on the canvas in progress; 0: none
    int32_t n_canvases_left = 0;
    int32_t n_blocks_needed = 0;
    int32_t n_generated = 0;
    int64_t n_passes = 0;
    std::string pending_bytes;
    double t_submit = 0.0, t_first = 0.0, t_last = 0.0;
    bool is_finished = false;
    Live(sampling::EntropyBoundSampler s, std::vector<std::string> stop)
        : sampler(std::move(s)), stops(std::move(stop)) {}
};

Result<std::unique_ptr<DiffusionEngine>> DiffusionEngine::create(model::Model& model, const tokenizer::Tokenizer& tok,
                                                                 const EngineConfig& config) {
    const model::ModelConfig& c = model.config();
    if (!c.is_diffusion()) {
        return make_error(ErrorCode::kInvalidArgument, "engine: %s is not a diffusion model", c.arch_name.c_str());
    }
    if (config.n_ctx < 1 || config.n_kv_blocks < 1 || config.block_size < 1 || config.n_threads < 1) {
        return make_error(ErrorCode::kInvalidArgument, "engine: ctx, kv blocks, block size and threads must be >= 1");
    }
    GANNET_ASSIGN_OR_RETURN(const kvcache::KvDType dtype, kv_dtype_of(config.kv_type));
    kvcache::KvCacheLayout lay;
    lay.n_blocks = config.n_kv_blocks;
    lay.n_layers = static_cast<int32_t>(c.n_layers);
    lay.n_kv_heads = static_cast<int32_t>(c.n_kv_heads);
    lay.head_dim = static_cast<int32_t>(c.head_dim_k);
    lay.block_size = config.block_size;
    lay.dtype = dtype;
    GANNET_ASSIGN_OR_RETURN(kvcache::KvStorage kv, kvcache::KvStorage::create(lay));
    std::unique_ptr<DiffusionEngine> e(new DiffusionEngine(model, tok, config, std::move(kv)));
    e->thread_ = std::thread([p = e.get()] { p->loop(); });
    return e;
}

DiffusionEngine::DiffusionEngine(model::Model& model, const tokenizer::Tokenizer& tok, const EngineConfig& config,
                                 kvcache::KvStorage kv)
    : model_(model), tok_(tok), config_(config), kv_(std::move(kv)), pool_(config.n_threads) {
    for (kvcache::BlockId b = config.n_kv_blocks - 1; b >= 0; --b) {
        free_blocks_.push_back(b);
    }
}

DiffusionEngine::~DiffusionEngine() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

Status DiffusionEngine::validate(const EngineRequest& request) const {
    const model::ModelConfig& c = model_.config();
    if (request.prompt.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
    }
    if (request.params.max_tokens < 1) {
        return make_error(ErrorCode::kInvalidArgument, "max_tokens must be >= 1");
    }
    GANNET_RETURN_IF_ERROR(check_params(request.params));
    if (request.soft != nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          "diffusion: image and audio input are not supported by diffusion models");
    }
    // Whole canvases: the last one ends at prompt + n_canvases * C.
    const int64_t n_canvases = (request.params.max_tokens + c.canvas_length - 1) / c.canvas_length;
    const int64_t need = static_cast<int64_t>(request.prompt.size()) + n_canvases * c.canvas_length;
    if (need > config_.n_ctx) {
        return make_error(ErrorCode::kInvalidArgument,
                          "This model's maximum context length is %d tokens. However, you requested %lld tokens "
                          "(%zu in the messages, %d in the completion, generated in %lld canvases of %lld).",
                          config_.n_ctx, static_cast<long long>(need), request.prompt.size(), request.params.max_tokens,
                          static_cast<long long>(n_canvases), static_cast<long long>(c.canvas_length));
    }
    const int64_t cached = need - c.canvas_length;  // the last canvas is never encoded
    if ((cached + config_.block_size - 1) / config_.block_size > config_.n_kv_blocks) {
        return make_error(ErrorCode::kInvalidArgument,
                          "the request needs %lld cached tokens, more than the %d KV blocks",
                          static_cast<long long>(cached), config_.n_kv_blocks);
    }
    for (int32_t t : request.prompt) {
        if (t < 0 || t >= c.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument, "prompt token %d is out of range", t);
        }
    }
    return Status();
}

Result<uint64_t> DiffusionEngine::submit(EngineRequest request) {
    GANNET_RETURN_IF_ERROR(validate(request));
    uint64_t h = 0;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (incoming_.size() >= config_.max_queue) {
            return make_error(ErrorCode::kResourceExhausted, "the server is overloaded (%zu requests queued)",
                              incoming_.size());
        }
        h = next_handle_++;
        incoming_.emplace_back(h, std::move(request));
    }
    cv_.notify_one();
    return h;
}

Result<std::vector<uint64_t>> DiffusionEngine::submit_batch(std::vector<EngineRequest> requests) {
    for (const EngineRequest& r : requests) {
        GANNET_RETURN_IF_ERROR(validate(r));
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
    }
    cv_.notify_one();
    return handles;
}

void DiffusionEngine::cancel(uint64_t handle) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        cancels_.insert(handle);
    }
    cv_.notify_one();
}

void DiffusionEngine::finish(Live& r, FinishInfo info) {
    if (r.is_finished) {
        return;
    }
    r.is_finished = true;
    if (info.status.ok()) {
        const std::string rest = r.stops.stopped() ? std::string() : r.stops.feed(r.pending_bytes) + r.stops.flush();
        if (!rest.empty() && r.req.on_text) {
            r.req.on_text(rest);
        }
        ++n_requests_ok_;
    } else {
        ++n_requests_err_;
    }
    info.prompt_tokens = static_cast<int32_t>(r.req.prompt.size());
    info.completion_tokens = r.n_generated;
    info.decoder_passes = r.n_passes;
    if (r.t_first > 0.0) {
        info.first_token_s = r.t_first - r.t_submit;
        info.decode_s = r.t_last - r.t_first;
    }
    if (r.req.on_finish) {
        r.req.on_finish(info);
    }
}

void DiffusionEngine::release(Live& r) {
    free_blocks_.insert(free_blocks_.end(), r.blocks.rbegin(), r.blocks.rend());
    r.blocks.clear();
}

void DiffusionEngine::admit_incoming() {
    std::deque<std::pair<uint64_t, EngineRequest>> in;
    std::unordered_set<uint64_t> cancels;
    {
        std::lock_guard<std::mutex> lock(mu_);
        in.swap(incoming_);
        cancels.swap(cancels_);
    }
    const model::ModelConfig& c = model_.config();
    for (auto& [h, req] : in) {
        ++n_requests_;
        sampling::DiffusionSamplerConfig sc;
        sc.seed = req.params.seed;
        sc.t_min *= req.params.temperature;
        sc.t_max *= req.params.temperature;
        if (req.params.diffusion_steps > 0) {
            sc.max_denoising_steps = req.params.diffusion_steps;
        }
        sc.stability_threshold = std::min(sc.stability_threshold, sc.max_denoising_steps);
        auto sampler = sampling::EntropyBoundSampler::create(sc, static_cast<int32_t>(c.canvas_length),
                                                             static_cast<int32_t>(c.n_vocab));
        if (!sampler.has_value()) {
            ++n_requests_err_;
            if (req.on_finish) {
                req.on_finish(failed(sampler.error()));
            }
            continue;
        }
        auto r = std::make_unique<Live>(std::move(*sampler), req.params.stop);
        r->handle = h;
        r->t_submit = now_s();
        r->n_canvases_left = static_cast<int32_t>((req.params.max_tokens + c.canvas_length - 1) / c.canvas_length);
        const int64_t cached = static_cast<int64_t>(req.prompt.size()) + (r->n_canvases_left - 1) * c.canvas_length;
        r->n_blocks_needed = static_cast<int32_t>((cached + config_.block_size - 1) / config_.block_size);
        r->to_encode = req.prompt;
        r->canvas.resize(static_cast<size_t>(c.canvas_length));
        r->argmax.resize(static_cast<size_t>(c.canvas_length));
        n_prompt_tokens_ += static_cast<int64_t>(req.prompt.size());
        r->req = std::move(req);
        waiting_.push_back(std::move(r));
    }
    auto cancel_in = [&](auto& list) {
        for (auto& r : list) {
            if (cancels.count(r->handle) != 0) {
                finish(*r, failed(make_error(ErrorCode::kCancelled, "the request was cancelled")));
            }
        }
    };
    cancel_in(waiting_);
    cancel_in(running_);
}

bool DiffusionEngine::try_start(Live& r) {
    if (static_cast<int32_t>(free_blocks_.size()) < r.n_blocks_needed) {
        return false;
    }
    for (int32_t i = 0; i < r.n_blocks_needed; ++i) {
        r.blocks.push_back(free_blocks_.back());
        free_blocks_.pop_back();
    }
    return true;
}

void DiffusionEngine::encode_pending() {
    std::vector<model::BatchSeq> batch;
    std::vector<Live*> who;
    for (auto& r : running_) {
        if (!r->is_finished && !r->to_encode.empty()) {
            batch.push_back({.tokens = r->to_encode,
                             .pos = r->n_cached,
                             .block_table = r->blocks,
                             .is_logits_needed = false,
                             .is_all_logits_needed = false});
            who.push_back(r.get());
        }
    }
    if (batch.empty()) {
        return;
    }
    Result<std::span<const float>> out = model_.forward_batch(batch, kv_, pool_);
    for (Live* r : who) {
        if (!out.has_value()) {
            finish(*r, failed(out.error()));
            continue;
        }
        r->n_cached += static_cast<int32_t>(r->to_encode.size());
        r->to_encode.clear();
        if (r->t_first == 0.0) {
            r->t_first = now_s();  // the prompt is in the cache: denoising starts
        }
        r->sampler.start_canvas(r->canvas);
        r->cur_step = r->sampler.config().max_denoising_steps;
        r->has_self_cond = false;
    }
}

void DiffusionEngine::denoise() {
    const model::ModelConfig& c = model_.config();
    const auto cv = static_cast<size_t>(c.canvas_length * c.n_vocab);
    std::vector<model::CanvasSeq> batch;
    std::vector<Live*> who;
    for (auto& r : running_) {
        if (!r->is_finished && r->cur_step > 0) {
            r->processed.resize(cv);
            batch.push_back({.canvas = r->canvas,
                             .pos = r->n_cached,
                             .block_table = r->blocks,
                             .self_cond_logits =
                                 r->has_self_cond ? std::span<const float>(r->processed) : std::span<const float>()});
            who.push_back(r.get());
        }
    }
    if (batch.empty()) {
        return;
    }
    Result<std::span<const float>> logits = model_.forward_canvas(batch, kv_, pool_);
    for (size_t i = 0; i < who.size(); ++i) {
        Live& r = *who[i];
        if (!logits.has_value()) {
            finish(r, failed(logits.error()));
            continue;
        }
        const sampling::DenoiseStep st =
            r.sampler.step(logits->subspan(i * cv, cv), r.cur_step, r.processed, r.canvas, r.argmax);
        r.has_self_cond = true;
        --r.cur_step;
        ++r.n_passes;
        ++n_decoder_passes_;
        n_canvas_rows_ += c.canvas_length;
        if (st.is_stop || r.cur_step == 0) {
            r.cur_step = 0;
            append_canvas(r);
        }
    }
}

bool DiffusionEngine::append_canvas(Live& r) {
    ++n_canvases_;
    --r.n_canvases_left;
    std::string text;
    bool is_eos = false;
    bool is_length = false;
    for (int32_t t : r.argmax) {
        if (!r.req.params.ignore_eos && tok_.is_end_of_generation(t)) {
            is_eos = true;
            break;
        }
        if (r.n_generated == r.req.params.max_tokens) {
            is_length = true;
            break;
        }
        ++r.n_generated;
        ++n_generation_tokens_;
        text += tok_.decode_token(t, tokenizer::Tokenizer::RenderSpecial::kNo);
    }
    r.t_last = now_s();
    r.pending_bytes += text;
    const bool is_last = is_eos || is_length || r.n_canvases_left == 0 || r.n_generated >= r.req.params.max_tokens;
    // Hold back a trailing partial UTF-8 character until the next canvas completes it; the last
    // canvas sends everything (and what the stop matcher held), so it too is one chunk.
    size_t n = r.pending_bytes.size();
    for (size_t back = 0; back < 4 && n > 0 && !is_last; ++back) {
        const auto ch = static_cast<unsigned char>(r.pending_bytes[n - 1 - back]);
        if ((ch & 0xC0) != 0x80) {
            const size_t need = ch < 0x80 ? 1 : (ch >> 5) == 0x6 ? 2 : (ch >> 4) == 0xE ? 3 : 4;
            if (back + 1 < need) {
                n = n - 1 - back;
            }
            break;
        }
    }
    std::string out = r.stops.feed(std::string_view(r.pending_bytes).substr(0, n));
    r.pending_bytes.erase(0, n);
    if (is_last) {
        out += r.stops.flush();  // "" once stopped; finish() then has nothing left to send
    }
    if (!out.empty() && r.req.on_text) {
        r.req.on_text(out);  // one canvas, one chunk
    }
    if (r.stops.stopped() || is_eos) {
        FinishInfo f;
        f.finish_reason = "stop";
        finish(r, std::move(f));
        return true;
    }
    if (is_last) {
        FinishInfo f;
        f.finish_reason = "length";
        finish(r, std::move(f));
        return true;
    }
    r.to_encode = r.argmax;  // the next canvas reads it from the cache
    return false;
}

void DiffusionEngine::step() {
    admit_incoming();
    while (!waiting_.empty() && !waiting_.front()->is_finished && try_start(*waiting_.front())) {
        running_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
    }
    while (!waiting_.empty() && waiting_.front()->is_finished) {
        waiting_.pop_front();
    }
    encode_pending();
    denoise();
    std::vector<std::unique_ptr<Live>> keep;
    for (auto& r : running_) {
        if (r->is_finished) {
            release(*r);
        } else {
            keep.push_back(std::move(r));
        }
    }
    running_.swap(keep);
    g_running_.store(static_cast<int32_t>(running_.size()));
    g_waiting_.store(static_cast<int32_t>(waiting_.size()));
}

// Thread entry: an exception from a step or a callback fails the live requests and the loop goes on.
void DiffusionEngine::loop() {
    while (true) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] {
                return stop_ || !incoming_.empty() || !cancels_.empty() || !running_.empty() || !waiting_.empty();
            });
            if (stop_) {
                break;
            }
        }
        try {
            step();
        } catch (const std::exception& e) {
            GANNET_LOG_ERROR("engine", "diffusion step threw %s; failing the live requests", e.what());
            for (auto* list : {&running_}) {
                for (auto& r : *list) {
                    if (!r->is_finished) {
                        r->is_finished = true;
                        ++n_requests_err_;
                        if (r->req.on_finish) {
                            FinishInfo f =
                                failed(make_error(ErrorCode::kInternal, "engine: step failed: %s", e.what()));
                            try {
                                r->req.on_finish(f);
                            } catch (...) {
                                GANNET_LOG_ERROR("engine", "on_finish threw while failing a request");
                            }
                        }
                    }
                    release(*r);
                }
                list->clear();
            }
        }
    }
    try {
        admit_incoming();
        for (auto* list : {&waiting_}) {
            for (auto& r : *list) {
                finish(*r, failed(make_error(ErrorCode::kCancelled, "the server is shutting down")));
            }
        }
        for (auto& r : running_) {
            finish(*r, failed(make_error(ErrorCode::kCancelled, "the server is shutting down")));
        }
    } catch (const std::exception& e) {
        GANNET_LOG_ERROR("engine", "diffusion shutdown threw: %s", e.what());
    }
}

std::string DiffusionEngine::metrics_text() const {
    std::string s;
    s += render_scalar("gannet_requests_total", "counter", "Requests accepted by the engine.",
                       static_cast<double>(n_requests_.load()));
    s += render_scalar("gannet_requests_succeeded_total", "counter", "Requests that finished normally.",
                       static_cast<double>(n_requests_ok_.load()));
    s += render_scalar("gannet_requests_failed_total", "counter", "Requests that were cancelled or failed.",
                       static_cast<double>(n_requests_err_.load()));
    s += render_scalar("gannet_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
                       static_cast<double>(n_prompt_tokens_.load()));
    s += render_scalar("gannet_generation_tokens_total", "counter", "Generated tokens.",
                       static_cast<double>(n_generation_tokens_.load()));
    s += render_scalar("gannet_diffusion_steps", "counter",
                       "Denoising steps (decoder passes over one request's canvas), summed over requests.",
                       static_cast<double>(n_decoder_passes_.load()));
    s += render_scalar("gannet_diffusion_canvases_total", "counter", "Canvases appended.",
                       static_cast<double>(n_canvases_.load()));
    const double passes = static_cast<double>(n_decoder_passes_.load());
    s += render_scalar("gannet_diffusion_tokens_per_forward", "gauge",
                       "Generated tokens per decoder pass (transformers' tokens_per_forward), since start.",
                       passes > 0.0 ? static_cast<double>(n_generation_tokens_.load()) / passes : 0.0);
    s += render_scalar("gannet_running_requests", "gauge", "Requests running.", static_cast<double>(g_running_.load()));
    s += render_scalar("gannet_queue_depth", "gauge", "Requests waiting for KV blocks.",
                       static_cast<double>(g_waiting_.load()));
    return s;
}

}  // namespace gannet::engine
