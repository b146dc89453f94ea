#include "quantize/quantize_plan.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <sstream>

namespace gannet::quantize {

using tensor::DType;

bool is_quant_target(DType dtype) {
    switch (dtype) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16:
        case DType::kQ4_0:
        case DType::kQ4_1:
        case DType::kQ5_0:
        case DType::kQ5_1:
        case DType::kQ8_0:
        case DType::kQ2_K:
        case DType::kQ3_K:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K: return true;
        default: return false;
    }
}

const char* quant_type_names() {
    return "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k";
}

Result<DType> parse_quant_type(std::string_view name) {
    std::string lower;
    for (char c : name) {
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    // llama.cpp's size variants of one K type (Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M) all name that type.
    for (const char* suffix : {"_s", "_m", "_l"}) {
        if (lower.size() == 6 && lower[2] == '_' && lower[3] == 'k' && lower.ends_with(suffix)) {
            lower.resize(4);
        }
    }
    const std::optional<DType> t = tensor::dtype_from_name(lower);
    if (!t || !is_quant_target(*t)) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: unknown type '%.*s' (expected one of %s)",
                          static_cast<int>(name.size()), name.data(), quant_type_names());
    }
    return *t;
}

std::string glob_to_regex(std::string_view glob) {
    std::string re;
    for (char c : glob) {
        switch (c) {
            case '*': re += ".*"; break;
            case '?': re += '.'; break;
            case '.':
            case '\\':
            case '+':
            case '(':
            case ')':
            case '[':
            case ']':
            case '{':
            case '}':
            case '^':
            case '$':
            case '|':
                re += '\\';
                re += c;
                break;
            default: re += c;
        }
    }
    return re;
}

namespace {

Result<PlanRule> parse_rule(const nlohmann::json& j, size_t index, std::string_view source) {
    const auto bad = [&](const std::string& what) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: plan %.*s: rule %zu: %s",
                          static_cast<int>(source.size()), source.data(), index, what.c_str());
    };
    if (!j.is_object()) {
        return bad("not an object");
    }
    const bool has_glob = j.contains("match");
    const bool has_regex = j.contains("regex");
    if (has_glob == has_regex) {
        return bad("needs exactly one of \"match\" (glob) or \"regex\"");
    }
    const nlohmann::json& pat = has_glob ? j["match"] : j["regex"];
    if (!pat.is_string() || !j.contains("type") || !j["type"].is_string()) {
        return bad("\"match\"/\"regex\" and \"type\" must be strings");
    }
    PlanRule rule;
    rule.pattern = pat.get<std::string>();
    rule.is_regex = has_regex;
    Result<DType> t = parse_quant_type(j["type"].get<std::string>());
    if (!t.has_value()) {
        return bad(t.error().message());
    }
    rule.dtype = *t;
    try {
        rule.regex = std::regex(has_regex ? rule.pattern : glob_to_regex(rule.pattern), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return bad("bad regex '" + rule.pattern + "': " + e.what());
    }
    return rule;
}

}  // namespace

Result<Plan> Plan::parse(std::string_view json_text, std::string_view source_name) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: plan %.*s: bad JSON: %s",
                          static_cast<int>(source_name.size()), source_name.data(), e.what());
    }
    if (!j.is_object() || !j.contains("rules") || !j["rules"].is_array()) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: plan %.*s: expected an object with a \"rules\" array",
                          static_cast<int>(source_name.size()), source_name.data());
    }
    Plan plan;
    for (size_t i = 0; i < j["rules"].size(); ++i) {
        GANNET_ASSIGN_OR_RETURN(PlanRule rule, parse_rule(j["rules"][i], i, source_name));
        plan.rules_.push_back(std::move(rule));
    }
    if (j.contains("default")) {
        if (!j["default"].is_string()) {
            return make_error(ErrorCode::kInvalidArgument, "quantize: plan %.*s: \"default\" must be a type name",
                              static_cast<int>(source_name.size()), source_name.data());
        }
        Result<DType> t = parse_quant_type(j["default"].get<std::string>());
        if (!t.has_value()) {
            return make_error(ErrorCode::kInvalidArgument, "quantize: plan %.*s: \"default\": %s",
                              static_cast<int>(source_name.size()), source_name.data(), t.error().message().c_str());
        }
        plan.default_dtype_ = *t;
    }
    if (j.contains("description") && j["description"].is_string()) {
        plan.description_ = j["description"].get<std::string>();
    }
    return plan;
}

Result<Plan> Plan::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::kNotFound, "quantize: cannot open plan '%s'", path.c_str());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path);
}

std::optional<size_t> Plan::match(std::string_view name) const {
    const std::string s(name);
    for (size_t i = 0; i < rules_.size(); ++i) {
        if (std::regex_match(s, rules_[i].regex)) {
            return i;
        }
    }
    return std::nullopt;
}

}  // namespace gannet::quantize
