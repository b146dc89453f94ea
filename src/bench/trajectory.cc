#include "bench/trajectory.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <unordered_map>

#include "bench/line_reader.h"
#include "json/json.h"

namespace gannet::bench {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kStepsSuffix = ".steps.jsonl";

// An integer field, or `fallback` when it is absent or null. Anything else is an error naming the line.
// A float must be a whole number an int64 holds exactly (|v| <= 2^53): converting 1e30 is undefined
// behaviour (found by trajectory_fuzz), and so is an unsigned above INT64_MAX.
Result<int64_t> int_field(const Json& obj, const char* key, int64_t fallback, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return fallback;
    }
    if (!it->is_number()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: \"%s\" is not a number", where.c_str(), key);
    }
    if (it->is_number_float()) {
        const double v = it->get<double>();
        if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9007199254740992.0) {
            return make_error(ErrorCode::kInvalidArgument, "%s: \"%s\" is %g, expected an integer", where.c_str(), key,
                              v);
        }
        return static_cast<int64_t>(v);
    }
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return make_error(ErrorCode::kInvalidArgument, "%s: \"%s\" is %llu, expected at most %lld", where.c_str(), key,
                          static_cast<unsigned long long>(it->get<uint64_t>()), static_cast<long long>(INT64_MAX));
    }
    return it->get<int64_t>();
}

Result<Trajectory> parse_steps_line(std::string_view line, const std::string& where) {
    Result<Json> doc = ::gannet::json::parse(line);
    if (!doc.has_value()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: malformed JSON: %s", where.c_str(),
                          doc.error().message().c_str());
    }
    const Json& d = *doc;
    if (!d.is_object() || !d.contains("id") || !d["id"].is_string() || !d.contains("steps") || !d["steps"].is_array()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: expected an object with string \"id\" and array \"steps\"",
                          where.c_str());
    }
    Trajectory t;
    t.id = d["id"].get<std::string>();
    if (auto it = d.find("resolved"); it != d.end() && !it->is_null()) {
        if (!it->is_boolean()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: \"resolved\" is not true/false", where.c_str());
        }
        t.outcome = it->get<bool>() ? Outcome::kResolved : Outcome::kUnresolved;
    }
    for (const Json& s : d["steps"]) {
        if (!s.is_object()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: a step is not an object", where.c_str());
        }
        TrajectoryStep step;
        GANNET_ASSIGN_OR_RETURN(step.n_tokens_output_est, int_field(s, "output_tokens_est", 0, where));
        GANNET_ASSIGN_OR_RETURN(step.n_tokens_output, int_field(s, "output_tokens", step.n_tokens_output_est, where));
        GANNET_ASSIGN_OR_RETURN(step.n_tokens_prompt_recorded, int_field(s, "prompt_tokens", 0, where));
        GANNET_ASSIGN_OR_RETURN(step.next_request_gap_ms, int_field(s, "next_request_gap_ms", -1, where));
        t.steps.push_back(step);
    }
    if (t.steps.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: trajectory '%s' has no steps", where.c_str(), t.id.c_str());
    }
    return t;
}

// Fills t.messages and each step's request length from one text line.
Status attach_text(const Json& d, Trajectory* t, const std::string& where) {
    if (!d.contains("messages") || !d["messages"].is_array()) {
        return make_error(ErrorCode::kInvalidArgument, "%s: expected an array \"messages\"", where.c_str());
    }
    size_t step = 0;
    for (const Json& m : d["messages"]) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")
            || !m["content"].is_string()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: a message lacks string \"role\"/\"content\"",
                              where.c_str());
        }
        Message msg{m["role"].get<std::string>(), m["content"].get<std::string>()};
        if (msg.role == "assistant") {
            if (step < t->steps.size()) {
                t->steps[step].n_messages_request = t->messages.size();
            }
            ++step;
        }
        t->messages.push_back(std::move(msg));
    }
    if (step != t->steps.size()) {
        return make_error(ErrorCode::kDataLoss, "%s: trajectory '%s' has %zu assistant messages, steps file says %zu",
                          where.c_str(), t->id.c_str(), step, t->steps.size());
    }
    return Status();
}

// The id of a text line written as {"id": "...", ...} (the shared files are), without parsing the
// rest; empty when the line is shaped otherwise (then it is parsed in full).
std::string_view leading_id(std::string_view line) {
    constexpr std::string_view kPrefix = "{\"id\":";
    if (!line.starts_with(kPrefix)) {
        return {};
    }
    size_t start = kPrefix.size();
    while (start < line.size() && line[start] == ' ') {
        ++start;
    }
    if (start >= line.size() || line[start] != '"') {
        return {};
    }
    const size_t end = line.find_first_of("\"\\", start + 1);
    return end == std::string_view::npos || line[end] != '"' ? std::string_view()
                                                             : line.substr(start + 1, end - start - 1);
}

Result<std::string> text_file_for(const fs::path& steps_path) {
    std::string stem = steps_path.filename().string();
    stem.resize(stem.size() - kStepsSuffix.size());
    for (const char* suffix : {".text.jsonl.gz", ".text.jsonl"}) {
        fs::path p = steps_path.parent_path() / (stem + suffix);
        if (fs::exists(p)) {
            return p.string();
        }
    }
    return make_error(ErrorCode::kNotFound, "bench: no %s.text.jsonl.gz beside '%s'", stem.c_str(),
                      steps_path.string().c_str());
}

Status load_pair(const fs::path& steps_path, size_t max_total, std::vector<Trajectory>* out) {
    const size_t first = out->size();
    std::unordered_map<std::string, size_t> index;  // id -> position in *out
    const std::string steps_name = steps_path.string();
    GANNET_RETURN_IF_ERROR(for_each_line(steps_name, [&](std::string_view line, int64_t n) -> Status {
        if (line.empty()) {
            return Status();
        }
        // Lines past max_total are still checked (the numeric file is small), so a bad file is
        // reported whatever --agents is; only their text is skipped.
        const std::string where = str_printf("bench: %s: line %lld", steps_name.c_str(), static_cast<long long>(n));
        GANNET_ASSIGN_OR_RETURN(Trajectory t, parse_steps_line(line, where));
        if (max_total != 0 && out->size() >= max_total) {
            return Status();
        }
        if (!index.emplace(t.id, out->size()).second) {
            return make_error(ErrorCode::kInvalidArgument, "%s: duplicate id '%s'", where.c_str(), t.id.c_str());
        }
        out->push_back(std::move(t));
        return Status();
    }));
    GANNET_ASSIGN_OR_RETURN(std::string text_name, text_file_for(steps_path));
    GANNET_ASSIGN_OR_RETURN(LineReader reader, LineReader::open(text_name));
    std::string line;
    // Stops once every wanted trajectory has its text: with --agents 4 there is no need to inflate
    // and parse all 34 MB.
    for (size_t n_found = 0; n_found < out->size() - first;) {
        GANNET_ASSIGN_OR_RETURN(bool has_line, reader.next(&line));
        if (!has_line) {
            break;
        }
        const std::string_view quick_id = leading_id(line);
        if (line.empty() || (!quick_id.empty() && !index.contains(std::string(quick_id)))) {
            continue;  // a trajectory beyond max_trajectories
        }
        const std::string where =
            str_printf("bench: %s: line %lld", text_name.c_str(), static_cast<long long>(reader.line_number()));
        Result<Json> doc = ::gannet::json::parse(line);
        if (!doc.has_value() || !doc->is_object() || !doc->contains("id") || !(*doc)["id"].is_string()) {
            return make_error(ErrorCode::kInvalidArgument, "%s: malformed JSON or no string \"id\"%s%s", where.c_str(),
                              doc.has_value() ? "" : ": ", doc.has_value() ? "" : doc.error().message().c_str());
        }
        auto it = index.find((*doc)["id"].get<std::string>());
        if (it == index.end()) {
            continue;
        }
        ++n_found;
        GANNET_RETURN_IF_ERROR(attach_text(*doc, &(*out)[it->second], where));
    }
    for (size_t i = first; i < out->size(); ++i) {
        if ((*out)[i].messages.empty()) {
            return make_error(ErrorCode::kDataLoss, "bench: %s: no text for trajectory '%s'", text_name.c_str(),
                              (*out)[i].id.c_str());
        }
    }
    return Status();
}

}  // namespace

Result<std::vector<Trajectory>> load_trajectories(const std::string& dir, const TrajectoryLoadOptions& options) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return make_error(ErrorCode::kNotFound, "bench: trajectory folder '%s' does not exist", dir.c_str());
    }
    std::vector<fs::path> steps_files;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() > kStepsSuffix.size() && name.ends_with(kStepsSuffix)) {
            steps_files.push_back(e.path());
        }
    }
    if (steps_files.empty()) {
        return make_error(ErrorCode::kNotFound, "bench: no *.steps.jsonl in '%s'", dir.c_str());
    }
    std::sort(steps_files.begin(), steps_files.end());
    std::vector<Trajectory> out;
    for (const fs::path& p : steps_files) {
        if (options.max_trajectories != 0 && out.size() >= options.max_trajectories) {
            break;
        }
        GANNET_RETURN_IF_ERROR(load_pair(p, options.max_trajectories, &out));
    }
    return out;
}

}  // namespace gannet::bench
