#include "constrain/maskbench.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "base/status.h"
#include "constrain/constraint.h"
#include "json/json.h"

namespace gannet::constrain {
namespace {

using Clock = std::chrono::steady_clock;

// CPU time of this thread (µs): unlike wall time it does not count the slices the scheduler gave
// other processes, which on a shared machine make up most of the wall-clock tail.
double thread_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double percentile(std::vector<double>& v, double q) {
    if (v.empty())
        return 0;
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

enum class Walk { kAccepted, kRejectedByMask, kRejectedAtEnd, kTimeout };

// One instance through the masks; mask times (µs) are appended to `mask_us`.
// The slowest mask of a schema's walks and where it was (for --slow-mask-us).
struct SlowMask {
    double us = 0;
    std::string after;  // the text before the slow mask
};

// One instance through the masks; mask times (µs) are appended to `mask_us`.
Walk walk(const std::shared_ptr<const Grammar>& g, const std::shared_ptr<const TokenVocab>& vocab,
          const tokenizer::Tokenizer& tok, const std::string& text, Clock::time_point deadline,
          std::vector<double>& mask_us, std::vector<double>& mask_cpu_us, int64_t& n_tokens, SlowMask& slow) {
    Constraint c(g, vocab, {});
    TokenMask mask;
    for (int32_t t : tok.encode(text, tokenizer::AddBos::kNo)) {
        const double c0 = thread_cpu_us();
        const auto t0 = Clock::now();
        c.compute_mask(mask);
        const auto t1 = Clock::now();
        const double cpu_us = thread_cpu_us() - c0;
        mask_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        mask_cpu_us.push_back(cpu_us);
        if (cpu_us > slow.us) {
            slow.us = cpu_us;
            slow.after = c.text();
        }
        ++n_tokens;
        if (!mask.test(t) || !c.accept(t).ok())
            return Walk::kRejectedByMask;
        if (t1 > deadline)
            return Walk::kTimeout;
    }
    if (!c.is_complete())
        return Walk::kRejectedByMask;
    return c.validate(c.text()).ok() ? Walk::kAccepted : Walk::kRejectedAtEnd;
}

}  // namespace

std::string MaskBenchResult::to_json() const {
    return str_printf(
        "{\"schemas\":%lld,\"passing\":%lld,\"compile_errors\":%lld,\"validation_errors\":%lld,"
        "\"invalidation_errors\":%lld,\"timeouts\":%lld,\"tests\":%lld,\"tokens\":%lld,\"rejected_by_mask\":%lld,"
        "\"rejected_at_end\":%lld,\"mask_us_p50\":%.1f,\"mask_us_p99\":%.1f,\"mask_us_max\":%.1f,"
        "\"mask_cpu_us_p50\":%.1f,\"mask_cpu_us_p99\":%.1f,\"mask_cpu_us_max\":%.1f,"
        "\"compile_ms_p50\":%.3f,\"compile_ms_p99\":%.3f}",
        static_cast<long long>(n_schemas), static_cast<long long>(n_passing), static_cast<long long>(n_compile_errors),
        static_cast<long long>(n_validation_errors), static_cast<long long>(n_invalidation_errors),
        static_cast<long long>(n_timeouts), static_cast<long long>(n_tests), static_cast<long long>(n_tokens),
        static_cast<long long>(n_rejected_by_mask), static_cast<long long>(n_rejected_at_end), mask_us_p50, mask_us_p99,
        mask_us_max, mask_cpu_us_p50, mask_cpu_us_p99, mask_cpu_us_max, compile_ms_p50, compile_ms_p99);
}

Result<MaskBenchResult> run_maskbench(const MaskBenchOptions& options, const tokenizer::Tokenizer& tok,
                                      const std::function<void(const std::string&, const std::string&)>& progress) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(options.schemas_dir, ec)) {
        return make_error(ErrorCode::kNotFound, "bench constrain: --schemas %s: not a folder",
                          options.schemas_dir.c_str());
    }
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(options.schemas_dir, ec)) {
        if (e.path().extension() == ".json")
            files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (options.limit > 0 && files.size() > static_cast<size_t>(options.limit))
        files.resize(static_cast<size_t>(options.limit));
    if (options.n_shards > 1) {
        std::vector<std::string> mine;
        for (size_t i = static_cast<size_t>(options.shard); i < files.size();
             i += static_cast<size_t>(options.n_shards)) {
            mine.push_back(files[i]);
        }
        files.swap(mine);
    }
    const std::shared_ptr<const TokenVocab> vocab = TokenVocab::build(tok);
    MaskBenchResult r;
    std::vector<double> mask_us, mask_cpu_us, compile_ms;
    for (const std::string& path : files) {
        ++r.n_schemas;
        const std::string name = fs::path(path).filename().string();
        auto doc = gannet::json::parse_file(path);
        const auto t0 = Clock::now();
        MatcherOptions mo;
        mo.max_whitespace = options.max_whitespace;
        mo.is_pattern_per_byte = options.is_pattern_per_byte;
        auto g = doc.has_value() && doc->is_object() && doc->contains("schema")
                     ? Grammar::from_schema((*doc)["schema"], mo)
                     : Result<std::shared_ptr<const Grammar>>(make_error(ErrorCode::kInvalidArgument, "no schema"));
        if (!g.has_value()) {
            ++r.n_compile_errors;
            if (progress)
                progress(name, "compile: " + g.error().message());
            continue;
        }
        compile_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        const auto deadline =
            Clock::now()
            + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.schema_timeout_s));
        bool has_validation_error = false, has_invalidation_error = false, is_timeout = false;
        SlowMask slow;
        const nlohmann::json tests = doc->value("tests", nlohmann::json::array());
        for (const nlohmann::json& t : tests) {
            if (!t.is_object() || !t.contains("data"))
                continue;
            ++r.n_tests;
            const bool is_valid = t.value("valid", false);
            const Walk w =
                walk(*g, vocab, tok, gannet::json::dump(t["data"]), deadline, mask_us, mask_cpu_us, r.n_tokens, slow);
            if (w == Walk::kTimeout) {
                is_timeout = true;
                break;
            }
            if (is_valid && w != Walk::kAccepted)
                has_validation_error = true;
            if (!is_valid && w == Walk::kAccepted)
                has_invalidation_error = true;
            if (!is_valid && w == Walk::kRejectedByMask)
                ++r.n_rejected_by_mask;
            if (!is_valid && w == Walk::kRejectedAtEnd)
                ++r.n_rejected_at_end;
        }
        r.n_validation_errors += has_validation_error;
        r.n_invalidation_errors += has_invalidation_error;
        r.n_timeouts += is_timeout;
        const bool is_pass = !has_validation_error && !has_invalidation_error && !is_timeout;
        r.n_passing += is_pass;
        if (progress && options.slow_mask_us > 0 && slow.us >= options.slow_mask_us) {
            const size_t n = std::min<size_t>(slow.after.size(), 60);
            progress(name, str_printf("slow mask %.0f us (CPU) after %zu bytes: ...%s", slow.us, slow.after.size(),
                                      slow.after.substr(slow.after.size() - n).c_str()));
        }
        if (progress) {
            progress(name, is_timeout             ? "timeout"
                           : is_pass              ? "pass"
                           : has_validation_error ? "validation"
                                                  : "invalidation");
        }
    }
    r.mask_us_p50 = percentile(mask_us, 0.50);
    r.mask_us_p99 = percentile(mask_us, 0.99);
    r.mask_us_max = mask_us.empty() ? 0 : *std::max_element(mask_us.begin(), mask_us.end());
    r.mask_cpu_us_p50 = percentile(mask_cpu_us, 0.50);
    r.mask_cpu_us_p99 = percentile(mask_cpu_us, 0.99);
    r.mask_cpu_us_max = mask_cpu_us.empty() ? 0 : *std::max_element(mask_cpu_us.begin(), mask_cpu_us.end());
    r.compile_ms_p50 = percentile(compile_ms, 0.50);
    r.compile_ms_p99 = percentile(compile_ms, 0.99);
    return r;
}

}  // namespace gannet::constrain
