// The determinism benchmark: groups of prompts plus random fillers submitted as one batch
// (Engine::submit_batch), traced token by token (EngineRequest::on_trace), compared with batch 1.
#include "engine/determinism_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <random>

#include "base/log.h"

namespace gannet::engine {
namespace {

// What one request produced: a StepTrace per token, and how it finished.
struct Traced {
    std::vector<StepTrace> steps;
    Status status;
};

struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    size_t n_done = 0;
};

std::vector<int32_t> filler_prompt(std::mt19937_64& rng, int64_t n_vocab, const DeterminismBenchOptions& o) {
    std::uniform_int_distribution<int32_t> len(o.filler_min_tokens, o.filler_max_tokens);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
    std::vector<int32_t> p(static_cast<size_t>(len(rng)));
    for (int32_t& t : p) {
        t = pick(rng);
    }
    return p;
}

// Submits prompts as one batch and waits for all; traces in prompts order.
Result<std::vector<Traced>> run_batch(Engine& engine, const std::vector<std::vector<int32_t>>& prompts,
                                      int32_t max_tokens) {
    auto traced = std::make_shared<std::vector<Traced>>(prompts.size());
    auto w = std::make_shared<Waiter>();
    std::vector<EngineRequest> reqs;
    for (size_t i = 0; i < prompts.size(); ++i) {
        EngineRequest r;
        r.prompt = prompts[i];
        r.params.max_tokens = max_tokens;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;  // every sequence runs every step, so steps line up across runs
        r.on_trace = [traced, i](const StepTrace& t) {
            (*traced)[i].steps.push_back(t);
        };
        r.on_finish = [traced, w, i](const FinishInfo& f) {
            std::lock_guard<std::mutex> lock(w->mu);
            (*traced)[i].status = f.status;
            ++w->n_done;
            w->cv.notify_all();
        };
        reqs.push_back(std::move(r));
    }
    GANNET_RETURN_IF_ERROR(engine.submit_batch(std::move(reqs)).error());
    std::unique_lock<std::mutex> lock(w->mu);
    w->cv.wait(lock, [&] { return w->n_done == prompts.size(); });
    for (const Traced& t : *traced) {
        GANNET_RETURN_IF_ERROR(t.status);
    }
    return std::move(*traced);
}

// Every prompt once at batch size b: groups of up to b/2 prompts (at least 1), each padded with random
// fillers to b, so every batch past 1 mixes prompts with requests of other lengths and contents.
// Returns the prompts' traces in order; counts rows, verifications and time into res.
Result<std::vector<Traced>> run_batch_size(Engine& engine, std::span<const std::vector<int32_t>> prompts, int32_t b,
                                           const DeterminismBenchOptions& o, BatchSizeResult& res) {
    std::mt19937_64 rng(o.seed * 1000003u + static_cast<uint64_t>(b));
    const int64_t n_vocab = engine.runner_vocab();
    std::vector<Traced> out;
    const auto t0 = std::chrono::steady_clock::now();
    const size_t group = static_cast<size_t>(std::max(1, b / 2));
    for (size_t start = 0; start < prompts.size(); start += group) {
        const size_t n_real = std::min(prompts.size() - start, group);
        std::vector<std::vector<int32_t>> batch(prompts.begin() + static_cast<std::ptrdiff_t>(start),
                                                prompts.begin() + static_cast<std::ptrdiff_t>(start + n_real));
        while (batch.size() < static_cast<size_t>(b)) {
            batch.push_back(filler_prompt(rng, n_vocab, o));
        }
        GANNET_ASSIGN_OR_RETURN(std::vector<Traced> traced, run_batch(engine, batch, o.max_tokens));
        for (size_t i = 0; i < traced.size(); ++i) {
            for (const StepTrace& t : traced[i].steps) {
                ++res.n_rows;
                ++res.n_tokens;
                res.n_verified += t.is_verified ? 1 : 0;
                res.max_ref_diff = std::max(res.max_ref_diff, t.ref_max_abs_diff);
                if (t.is_overridden) {
                    ++res.n_overrides;
                    res.override_margins.push_back(t.margin);
                }
            }
            if (i < n_real) {
                out.push_back(std::move(traced[i]));
            }
        }
    }
    res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

void compare(const std::vector<Traced>& ref, const std::vector<Traced>& got, BatchSizeResult& res) {
    for (size_t i = 0; i < ref.size(); ++i) {
        const std::vector<StepTrace>& a = ref[i].steps;
        const std::vector<StepTrace>& b = got[i].steps;
        const size_t n = std::min(a.size(), b.size());
        size_t k = 0;
        while (k < n && a[k].token == b[k].token) {
            ++k;
        }
        if (k == n && a.size() == b.size()) {
            ++res.n_identical;
            res.n_steps_compared += static_cast<int64_t>(n);
            continue;
        }
        res.n_steps_compared += static_cast<int64_t>(std::min(k + 1, n));
        ++res.n_flips;
        if (k < n) {
            res.flip_margins.push_back(b[k].margin);
            res.flip_margins_b1.push_back(a[k].margin);
        }
    }
}

std::string json_floats(const std::vector<float>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%s%.6g", i > 0 ? "," : "", static_cast<double>(v[i]));
        if (std::isfinite(v[i])) {
            s += buf;
        } else {
            s += i > 0 ? ",null" : "null";
        }
    }
    return s + "]";
}

// The q-quantile of v (nearest rank); 0 for an empty v.
float quantile(std::vector<float> v, double q) {
    if (v.empty()) {
        return 0.0f;
    }
    std::sort(v.begin(), v.end());
    const size_t i = static_cast<size_t>(std::min<double>(q * static_cast<double>(v.size()), double(v.size() - 1)));
    return v[i];
}

}  // namespace

Result<DeterminismReport> run_determinism_bench(Engine& engine, std::span<const std::vector<int32_t>> prompts,
                                                const DeterminismBenchOptions& options) {
    if (prompts.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "bench determinism: no prompts");
    }
    if (options.max_tokens < 1 || options.filler_min_tokens < 1
        || options.filler_max_tokens < options.filler_min_tokens) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench determinism: --max-tokens must be >= 1 and filler lengths 1 <= min <= max, got %d, "
                          "[%d, %d]",
                          options.max_tokens, options.filler_min_tokens, options.filler_max_tokens);
    }
    std::vector<int32_t> sizes = {1};
    for (int32_t b : options.batch_sizes) {
        if (b < 1) {
            return make_error(ErrorCode::kInvalidArgument, "bench determinism: batch sizes must be >= 1, got %d", b);
        }
        if (b != 1) {
            sizes.push_back(b);
        }
    }
    DeterminismReport rep;
    rep.mode = engine.config().determinism;
    rep.tau = engine.config().margin_tau;
    rep.n_prompts = static_cast<int32_t>(prompts.size());
    std::vector<Traced> ref;
    for (int32_t b : sizes) {
        BatchSizeResult res;
        res.batch_size = b;
        GANNET_ASSIGN_OR_RETURN(std::vector<Traced> got, run_batch_size(engine, prompts, b, options, res));
        GANNET_LOG_INFO("bench", "determinism mode=%s batch=%d rows=%lld verified=%lld overrides=%lld wall_s=%.2f",
                        determinism_name(rep.mode), b, static_cast<long long>(res.n_rows),
                        static_cast<long long>(res.n_verified), static_cast<long long>(res.n_overrides), res.wall_s);
        if (b == 1 && ref.empty()) {
            ref = std::move(got);
            for (const Traced& t : ref) {
                for (const StepTrace& s : t.steps) {
                    rep.margins_b1.push_back(s.margin);
                }
            }
            compare(ref, ref, res);
        } else {
            compare(ref, got, res);
        }
        rep.batches.push_back(std::move(res));
    }
    return rep;
}

std::string DeterminismReport::json() const {
    // Arrays aligned with batch_sizes, one entry per batch size.
    std::string sizes, flip, ident, trig, toks, flips, overrides, diffs, fm;
    char buf[200];
    auto add = [&buf](std::string& to, size_t i, const char* fmt, double v) {
        std::snprintf(buf, sizeof(buf), fmt, v);
        to += i > 0 ? "," : "";
        to += buf;
    };
    for (size_t i = 0; i < batches.size(); ++i) {
        const BatchSizeResult& b = batches[i];
        add(sizes, i, "%.0f", b.batch_size);
        add(flip, i, "%.6g", b.flip_rate());
        add(ident, i, "%.2f", 100.0 * b.n_identical / std::max(1, n_prompts));
        add(trig, i, "%.4f", b.trigger_rate());
        add(toks, i, "%.1f", b.tok_s());
        add(flips, i, "%.0f", static_cast<double>(b.n_flips));
        add(overrides, i, "%.0f", static_cast<double>(b.n_overrides));
        add(diffs, i, "%.6g", static_cast<double>(b.max_ref_diff));
        fm += i > 0 ? "," : "";
        fm += json_floats(b.flip_margins);
    }
    std::string s = "{\"mode\":\"";
    s += determinism_name(mode);
    std::snprintf(buf, sizeof(buf), "\",\"tau\":%.6g,\"n_prompts\":%d", static_cast<double>(tau), n_prompts);
    s += buf;
    s += ",\"batch_sizes\":[" + sizes + "],\"flip_rate\":[" + flip + "],\"identical_pct\":[" + ident;
    s += "],\"trigger_rate\":[" + trig + "],\"tok_s\":[" + toks + "],\"n_flips\":[" + flips;
    s += "],\"n_overrides\":[" + overrides + "],\"ref_max_abs_diff\":[" + diffs + "],\"flip_margins\":[" + fm + "]";
    std::snprintf(buf, sizeof(buf),
                  ",\"margin_b1_min\":%.6g,\"margin_b1_p01\":%.6g,\"margin_b1_p10\":%.6g,\"margin_b1_p50\":%.6g}",
                  static_cast<double>(quantile(margins_b1, 0.0)), static_cast<double>(quantile(margins_b1, 0.01)),
                  static_cast<double>(quantile(margins_b1, 0.10)), static_cast<double>(quantile(margins_b1, 0.50)));
    return s + buf;
}

Calibration calibrate_tau(const DeterminismReport& off, const DeterminismReport& always) {
    Calibration c;
    float top = -1.0f;
    for (const BatchSizeResult& b : off.batches) {
        c.n_flips += b.n_flips;
        for (float m : b.flip_margins) {
            top = std::max(top, m);
        }
        for (float m : b.flip_margins_b1) {
            top = std::max(top, m);
        }
    }
    for (const BatchSizeResult& b : always.batches) {
        c.n_overrides += b.n_overrides;
        c.max_ref_diff = std::max(c.max_ref_diff, b.max_ref_diff);
        for (float m : b.override_margins) {
            top = std::max(top, m);
        }
    }
    c.max_margin = top;
    // Strictly above the largest one: the gate verifies margin < tau.
    c.tau = top < 0.0f ? 0.0f : std::nextafter(top, std::numeric_limits<float>::infinity());
    int64_t below = 0;
    for (float m : off.margins_b1) {
        below += m < c.tau ? 1 : 0;
    }
    c.trigger_rate = off.margins_b1.empty() ? 0.0 : double(below) / double(off.margins_b1.size());
    return c;
}

std::string Calibration::json() const {
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "{\"calibrate\":true,\"tau\":%.9g,\"n_flips\":%lld,\"n_overrides\":%lld,\"max_margin\":%.9g,"
                  "\"trigger_rate\":%.4f,\"max_ref_diff\":%.6g}",
                  static_cast<double>(tau), static_cast<long long>(n_flips), static_cast<long long>(n_overrides),
                  static_cast<double>(max_margin), trigger_rate, static_cast<double>(max_ref_diff));
    return buf;
}

}  // namespace gannet::engine
