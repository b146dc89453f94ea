#include "server/embedder.h"

#include <algorithm>
#include <cmath>

namespace gannet::server {

namespace {

// Prefill chunk: bounds the activation buffers (gate/up are [n_tokens, n_ff]) however long the
// input, as the engine's max_batch_tokens does; the positions still run 0..n-1 over one cache.
constexpr int32_t kChunkTokens = 512;

Result<Pooling> pooling_of(const model::Model& m) {
    const std::string key = m.config().arch_name + ".pooling_type";
    GANNET_ASSIGN_OR_RETURN(int64_t type, m.file().get_int_or(key, 1));
    switch (type) {
        case 1: return Pooling::kMean;
        case 2: return Pooling::kFirst;
        case 3: return Pooling::kLast;
        default:
            return make_error(ErrorCode::kUnimplemented,
                              "embeddings: %s is %lld (0 none, 4 rank); this server pools 1 mean, 2 cls or 3 last",
                              key.c_str(), static_cast<long long>(type));
    }
}

}  // namespace

const char* pooling_name(Pooling p) {
    switch (p) {
        case Pooling::kMean: return "mean";
        case Pooling::kFirst: return "first";
        case Pooling::kLast: return "last";
    }
    return "?";
}

Result<std::unique_ptr<Embedder>> Embedder::create(const std::string& model_path, int32_t n_ctx, int n_threads) {
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<model::Model> m, model::Model::load(model_path));
    GANNET_ASSIGN_OR_RETURN(Pooling pooling, pooling_of(*m));
    constexpr int32_t kBlockSize = 16;
    GANNET_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> r,
                            runner::Runner::create(*m, {.n_blocks = (n_ctx + kBlockSize - 1) / kBlockSize,
                                                        .block_size = kBlockSize,
                                                        .n_threads = std::max(1, n_threads)}));
    return std::unique_ptr<Embedder>(new Embedder(std::move(m), std::move(r), n_ctx, pooling));
}

Embedder::Embedder(std::unique_ptr<model::Model> model, std::unique_ptr<runner::Runner> runner, int32_t n_ctx,
                   Pooling pooling)
    : model_(std::move(model)), runner_(std::move(runner)), n_ctx_(n_ctx), pooling_(pooling) {
    thread_ = std::thread([this] { loop(); });
}

Embedder::~Embedder() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        is_stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

Status Embedder::enqueue(Job job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (jobs_.size() >= kMaxQueued) {
            return make_error(ErrorCode::kResourceExhausted, "embeddings: %zu requests already queued", jobs_.size());
        }
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return Status();
}

Status Embedder::submit(std::vector<std::vector<int32_t>> inputs, Done done) {
    return enqueue([this, inputs = std::move(inputs), done = std::move(done)](bool is_cancelled) {
        if (is_cancelled) {
            done(make_error(ErrorCode::kCancelled, "embeddings: the server is stopping"));
            return;
        }
        Embeddings out;
        for (const std::vector<int32_t>& tokens : inputs) {
            Result<std::vector<float>> v = embed_one(tokens);
            if (!v.has_value()) {
                done(v.error());
                return;
            }
            out.push_back(std::move(*v));
        }
        done(std::move(out));
    });
}

Status Embedder::submit_score(std::vector<int32_t> tokens, int32_t top_n, ScoreDone done) {
    return enqueue([this, tokens = std::move(tokens), top_n, done = std::move(done)](bool is_cancelled) {
        if (is_cancelled) {
            done(make_error(ErrorCode::kCancelled, "prompt logprobs: the server is stopping"));
            return;
        }
        done(score(tokens, top_n));
    });
}

void Embedder::loop() {
    while (true) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return is_stopping_ || !jobs_.empty(); });
            if (is_stopping_) {
                std::deque<Job> left = std::move(jobs_);
                jobs_.clear();
                lock.unlock();  // the callbacks may submit elsewhere; never under our lock
                for (Job& j : left)
                    j(/*is_cancelled=*/true);
                return;
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job(/*is_cancelled=*/false);
    }
}

Result<Embedder::Scored> Embedder::score(const std::vector<int32_t>& tokens, int32_t top_n) {
    const int64_t n_vocab = model_->config().n_vocab;
    const int32_t n = static_cast<int32_t>(tokens.size());
    if (n < 1 || n > n_ctx_ || top_n < 0) {
        return make_error(ErrorCode::kInvalidArgument, "prompt logprobs: %d tokens (expected 1..%d), top %d", n, n_ctx_,
                          top_n);
    }
    Scored out;
    std::vector<int32_t> order(static_cast<size_t>(n_vocab));
    for (int32_t pos = 0; pos + 1 < n; pos += kChunkTokens) {
        // Row r of a chunk at pos predicts token pos + r + 1; the last token predicts nothing.
        const int32_t len = std::min(kChunkTokens, n - 1 - pos);
        GANNET_ASSIGN_OR_RETURN(std::span<const float> logits,
                                runner_->run_sequence(std::span(tokens).subspan(static_cast<size_t>(pos), len), pos,
                                                      model::LogitsMode::kAll));
        for (int32_t r = 0; r < len; ++r) {
            const float* row = logits.data() + static_cast<int64_t>(r) * n_vocab;
            const float max = *std::max_element(row, row + n_vocab);
            double sum = 0.0;
            for (int64_t v = 0; v < n_vocab; ++v)
                sum += std::exp(static_cast<double>(row[v] - max));
            const float log_z = max + static_cast<float>(std::log(sum));  // log-softmax: x - log_z
            ScoredToken st{.token = tokens[static_cast<size_t>(pos + r + 1)], .logprob = 0.0f, .top = {}};
            st.logprob = row[st.token] - log_z;
            for (int64_t v = 0; v < n_vocab; ++v)
                order[static_cast<size_t>(v)] = static_cast<int32_t>(v);
            const int64_t k = std::min<int64_t>(top_n, n_vocab);
            std::partial_sort(order.begin(), order.begin() + k, order.end(),
                              [row](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
            for (int64_t i = 0; i < k; ++i)
                st.top.emplace_back(order[static_cast<size_t>(i)], row[order[static_cast<size_t>(i)]] - log_z);
            out.push_back(std::move(st));
        }
    }
    return out;
}

Result<std::vector<float>> Embedder::embed_one(const std::vector<int32_t>& tokens) {
    const int64_t dim = model_->config().n_embd;
    const int32_t n = static_cast<int32_t>(tokens.size());
    if (n < 1 || n > n_ctx_) {
        return make_error(ErrorCode::kInvalidArgument, "embeddings: an input of %d tokens, expected 1..%d", n, n_ctx_);
    }
    std::vector<double> sum(static_cast<size_t>(dim), 0.0);  // double: a mean over 8k rows keeps its digits
    // Causal attention: token 0's row depends on token 0 alone, so first-token pooling runs one token.
    const int32_t n_run = pooling_ == Pooling::kFirst ? 1 : n;
    // Mean pools every row; first and last need the final row of the (last) chunk only.
    const model::LogitsMode mode = pooling_ == Pooling::kMean ? model::LogitsMode::kAll : model::LogitsMode::kLast;
    for (int32_t pos = 0; pos < n_run; pos += kChunkTokens) {
        const int32_t len = std::min(kChunkTokens, n_run - pos);
        GANNET_ASSIGN_OR_RETURN(
            std::span<const float> rows,
            runner_->run_sequence(std::span(tokens).subspan(pos, len), pos, mode, model::OutputKind::kHidden));
        if (pooling_ == Pooling::kMean) {
            for (size_t r = 0; r < rows.size(); ++r)
                sum[r % static_cast<size_t>(dim)] += rows[r];
        } else if (pos + len == n_run) {
            std::copy(rows.begin(), rows.end(), sum.begin());
        }
    }
    double norm = 0.0;
    for (double x : sum)
        norm += x * x;
    norm = std::sqrt(norm);
    std::vector<float> v(static_cast<size_t>(dim));
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = norm > 0.0 ? static_cast<float>(sum[i] / norm) : 0.0f;  // the mean's scale cancels here
    return v;
}

}  // namespace gannet::server
