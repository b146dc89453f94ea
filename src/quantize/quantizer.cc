#include "quantize/quantizer.h"

#include <filesystem>
#include <mutex>
#include <string_view>

#include "base/status.h"
#include "gguf/gguf_writer.h"
#include "tensor/quant.h"
#include "tensor/quant_k_quantize.h"

namespace gannet::quantize {

using tensor::DType;

namespace {

// Bits per weight of each target (block bytes * 8 / block elements), to compare precisions for the
// output-matrix rule without a table per pair.
double bits_per_weight(DType t) {
    return 8.0 * static_cast<double>(tensor::type_size_bytes(t)) / static_cast<double>(tensor::block_size(t));
}

constexpr size_t kNoRule = static_cast<size_t>(-1);

bool fits(DType t, int64_t row) {
    return row % tensor::block_size(t) == 0;
}

// Rule 4 of the header: the type a row that `t` cannot hold falls back to.
DType fallback_type(DType t, int64_t row) {
    DType f = DType::kF16;
    switch (t) {
        case DType::kQ2_K:
        case DType::kQ3_K: f = DType::kQ4_0; break;
        case DType::kQ4_K: f = DType::kQ5_0; break;
        case DType::kQ5_K: f = DType::kQ5_1; break;
        case DType::kQ6_K: f = DType::kQ8_0; break;
        default: break;
    }
    return fits(f, row) ? f : DType::kF16;
}

bool is_norm_or_vector(const gguf::TensorInfo& info) {
    return info.shape.size() < 2 || std::string_view(info.name).ends_with("_norm.weight");
}

}  // namespace

const char* choice_reason_name(ChoiceReason r) {
    switch (r) {
        case ChoiceReason::kKeep: return "keep";
        case ChoiceReason::kPlan: return "plan";
        case ChoiceReason::kDefault: return "default";
        case ChoiceReason::kOutputRule: return "output";
        case ChoiceReason::kFallback: return "fallback";
    }
    return "?";
}

uint32_t llama_ftype(DType dtype) {
    switch (dtype) {
        case DType::kF32: return 0;
        case DType::kF16: return 1;
        case DType::kQ4_0: return 2;
        case DType::kQ4_1: return 3;
        case DType::kQ8_0: return 7;
        case DType::kQ5_0: return 8;
        case DType::kQ5_1: return 9;
        case DType::kQ2_K: return 10;
        case DType::kQ3_K: return 11;  // Q3_K_S: every matrix Q3_K
        case DType::kQ4_K: return 14;  // Q4_K_S
        case DType::kQ5_K: return 16;  // Q5_K_S
        case DType::kQ6_K: return 18;
        case DType::kBF16: return 32;
        default: return 0;
    }
}

Result<std::vector<TensorChoice>> choose_types(const gguf::File& in, const QuantizeOptions& options) {
    if (!is_quant_target(options.dtype)) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: %s is not a quantization type (expected one of %s)",
                          tensor::dtype_name(options.dtype), quant_type_names());
    }
    const bool has_output = in.find_tensor("output.weight") != nullptr;
    const Plan* plan = options.plan;
    std::vector<size_t> rule_hits(plan != nullptr ? plan->rules().size() : 0, 0);
    std::vector<TensorChoice> choices;
    for (const gguf::TensorInfo& info : in.tensors()) {
        TensorChoice c;
        c.name = info.name;
        c.from = info.dtype;
        const int64_t row = info.shape.empty() ? 1 : info.shape[0];
        if (!tensor::can_dequantize(info.dtype)) {
            return make_error(ErrorCode::kUnimplemented, "quantize: tensor '%s' has type %s, which Gannet cannot read",
                              info.name.c_str(), tensor::dtype_name(info.dtype));
        }
        // A plain index, not the optional itself: g++ 12 misreports an optional read after a check.
        const std::optional<size_t> matched = plan != nullptr ? plan->match(info.name) : std::nullopt;
        const size_t rule = matched.value_or(kNoRule);
        if (rule != kNoRule) {
            ++rule_hits[rule];
        }
        if (is_norm_or_vector(info)) {
            c.to = info.dtype;
            c.reason = ChoiceReason::kKeep;
        } else if (rule != kNoRule) {
            c.to = plan->rules()[rule].dtype;
            c.reason = ChoiceReason::kPlan;
            c.plan_rule = static_cast<int>(rule);
            if (!fits(c.to, row)) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "quantize: plan rule %zu ('%s') asks %s for '%s', whose rows of %lld elements are "
                                  "not a multiple of its block size %lld",
                                  rule, plan->rules()[rule].pattern.c_str(), tensor::dtype_name(c.to),
                                  info.name.c_str(), static_cast<long long>(row),
                                  static_cast<long long>(tensor::block_size(c.to)));
            }
        } else {
            c.to = options.dtype;
            c.reason = ChoiceReason::kDefault;
            const bool is_output = info.name == "output.weight" || (!has_output && info.name == "token_embd.weight");
            if (is_output && bits_per_weight(c.to) < bits_per_weight(DType::kQ6_K)) {
                c.to = DType::kQ6_K;
                c.reason = ChoiceReason::kOutputRule;
            }
            if (!fits(c.to, row)) {
                const DType f = fallback_type(c.to, row);
                if (options.warn) {
                    options.warn(std::string("quantize: '") + info.name + "' rows of " + std::to_string(row)
                                 + " elements do not fit " + tensor::dtype_name(c.to) + "; using "
                                 + tensor::dtype_name(f));
                }
                c.to = f;
                c.reason = ChoiceReason::kFallback;
            }
        }
        if (c.reason != ChoiceReason::kKeep && tensor::is_quantized(c.from) && c.from != c.to && options.warn) {
            options.warn(std::string("quantize: requantizing '") + info.name + "' from " + tensor::dtype_name(c.from)
                         + " (errors add up; quantize from the F16/F32 file when you have it)");
        }
        if (options.importance != nullptr) {
            const auto it = options.importance->find(info.name);
            if (it != options.importance->end() && static_cast<int64_t>(it->second.size()) != row) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "quantize: importance for '%s' has %zu values, expected %lld (its row length)",
                                  info.name.c_str(), it->second.size(), static_cast<long long>(row));
            }
        }
        choices.push_back(std::move(c));
    }
    if (plan != nullptr) {
        size_t total = 0;
        for (size_t i = 0; i < rule_hits.size(); ++i) {
            total += rule_hits[i];
            if (rule_hits[i] == 0 && options.warn) {
                options.warn("quantize: plan rule " + std::to_string(i) + " ('" + plan->rules()[i].pattern
                             + "') matches no tensor");
            }
        }
        if (total == 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "quantize: the plan's %zu rules match none of the %zu tensors", plan->rules().size(),
                              in.tensors().size());
        }
    }
    return choices;
}

namespace {

// Converts one tensor's rows from info.dtype to c.to, rows split over the pool.
Result<std::vector<uint8_t>> convert_tensor(const gguf::File& in, const gguf::TensorInfo& info, const TensorChoice& c,
                                            const float* importance, ThreadPool& pool) {
    const std::span<const uint8_t> src = in.tensor_data(info);
    if (c.from == c.to) {
        return std::vector<uint8_t>(src.begin(), src.end());
    }
    const int64_t row = info.shape.empty() ? 1 : info.shape[0];
    const int64_t n_rows = row == 0 ? 0 : info.n_elements() / row;
    const size_t in_row_bytes = tensor::row_size_bytes(c.from, row);
    const size_t out_row_bytes = tensor::row_size_bytes(c.to, row);
    std::vector<uint8_t> out(out_row_bytes * static_cast<size_t>(n_rows));
    std::mutex mu;
    Status first_error;
    pool.parallel_for(n_rows, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> buf(static_cast<size_t>(row));
        for (int64_t r = begin; r < end; ++r) {
            Status s =
                tensor::dequantize_row(c.from, src.data() + static_cast<size_t>(r) * in_row_bytes, buf.data(), row);
            if (s.ok()) {
                s = tensor::quantize_row_weighted(c.to, buf.data(), out.data() + static_cast<size_t>(r) * out_row_bytes,
                                                  row, importance);
            }
            if (!s.ok()) {
                const std::lock_guard<std::mutex> lock(mu);
                if (first_error.ok()) {
                    first_error = std::move(s);
                }
                return;
            }
        }
    });
    GANNET_RETURN_IF_ERROR(first_error);
    return out;
}

}  // namespace

Result<QuantizeSummary> quantize_file(const gguf::File& in, const std::string& out_path, const QuantizeOptions& options,
                                      ThreadPool& pool) {
    QuantizeSummary summary;
    GANNET_ASSIGN_OR_RETURN(summary.choices, choose_types(in, options));

    gguf::Writer w;
    w.set_alignment(in.alignment());
    for (const auto& [key, value] : in.metadata()) {
        if (key != "general.alignment") {
            w.set_value(key, value);
        }
    }
    const DType file_type = options.dtype;
    w.set_u32("general.file_type", llama_ftype(file_type));
    w.set_u32("general.quantization_version", 2);  // the K-quant block layout generation llama.cpp checks

    const size_t n = in.tensors().size();
    for (size_t i = 0; i < n; ++i) {
        const gguf::TensorInfo& info = in.tensors()[i];
        const TensorChoice& c = summary.choices[i];
        const int64_t row = info.shape.empty() ? 1 : info.shape[0];
        const uint64_t out_bytes = row == 0 ? 0 : tensor::row_size_bytes(c.to, row) * (info.n_elements() / row);
        if (options.progress) {
            options.progress(i, n, c, out_bytes);
        }
        const float* importance = nullptr;
        if (options.importance != nullptr) {
            const auto it = options.importance->find(info.name);
            importance = it != options.importance->end() ? it->second.data() : nullptr;
        }
        GANNET_ASSIGN_OR_RETURN(std::vector<uint8_t> data, convert_tensor(in, info, c, importance, pool));
        GANNET_RETURN_IF_ERROR(w.add_tensor(info.name, c.to, info.shape, data));
        summary.bytes_in += info.size_bytes;
        summary.bytes_out += data.size();
    }
    GANNET_RETURN_IF_ERROR(w.write(out_path));
    std::error_code ec;
    summary.file_size_bytes = std::filesystem::file_size(out_path, ec);
    return summary;
}

}  // namespace gannet::quantize
