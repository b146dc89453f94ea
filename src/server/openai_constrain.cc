#include "server/openai_constrain.h"

#include <cmath>

#include "json/json.h"

namespace gannet::server {

using nlohmann::json;

namespace {

struct Wrapper {
    std::string prefix, suffix, args_key = "arguments";
};

// How the chat template writes an assistant tool call, found by rendering one: Hermes/Qwen
// <tool_call> tags, Gemma ```tool_code fences, else bare JSON with "parameters" (Llama 3).
// parse_tool_calls() reads all three back.
Wrapper tool_call_wrapper(const tokenizer::ChatTemplate& tmpl, const std::string& tools_json) {
    tokenizer::ChatMessage user{.role = "user", .content = "x"};
    tokenizer::ChatMessage asst{.role = "assistant"};
    asst.tool_calls.push_back({.id = "call_0", .name = "gannet_probe_fn", .arguments = "{}"});
    auto text = tmpl.render({user, asst}, {.add_generation_prompt = false, .tools_json = tools_json});
    Wrapper w;
    if (!text.has_value())
        return w;
    const size_t at = text->find("gannet_probe_fn");
    if (at == std::string::npos)
        return w;
    const size_t tag = text->rfind("<tool_call>", at);
    if (tag != std::string::npos && at - tag < 40)
        return {"<tool_call>\n", "\n</tool_call>", "arguments"};
    const size_t fence = text->rfind("```tool_code", at);
    if (fence != std::string::npos && at - fence < 40)
        return {"```tool_code\n", "\n```", "arguments"};
    w.args_key = "parameters";
    return w;
}

}  // namespace

Result<std::shared_ptr<const constrain::Grammar>> request_grammar(const CompletionRequest& req,
                                                                  const tokenizer::ChatTemplate& chat_template) {
    constrain::MatcherOptions opts;  // compact JSON: max_whitespace 0
    const bool is_forced_tool = req.is_chat && (req.tool_choice == "required" || req.tool_choice == "named");
    if (is_forced_tool) {
        auto tools = gannet::json::parse(req.tools_json);
        if (!tools.has_value())
            return tools.error();
        const Wrapper w = tool_call_wrapper(chat_template, req.tools_json);
        json alts = json::array();
        for (const json& t : *tools) {
            const std::string name = t["function"]["name"].get<std::string>();
            if (req.tool_choice == "named" && name != req.tool_choice_name)
                continue;
            json params = t["function"].contains("parameters") ? t["function"]["parameters"] : json{{"type", "object"}};
            alts.push_back({{"type", "object"},
                            {"properties", {{"name", {{"const", name}}}, {w.args_key, params}}},
                            {"required", {"name", w.args_key}},
                            {"additionalProperties", false}});
        }
        opts.prefix = w.prefix;
        opts.suffix = w.suffix;
        opts.separator = "\n";
        opts.is_repeated = req.is_parallel_tool_calls && req.tool_choice != "named";
        const json schema = alts.size() == 1 ? alts[0] : json{{"anyOf", alts}};
        return constrain::Grammar::from_schema(schema, opts);
    }
    if (req.response_format == "json_object")
        return constrain::Grammar::json_object(opts);
    if (req.response_format == "json_schema")
        return constrain::Grammar::from_schema(req.response_schema, opts);
    if (req.response_format == "regex")
        return constrain::Grammar::from_regex(req.response_schema.get<std::string>());
    if (req.response_format == "grammar")
        return constrain::Grammar::from_gbnf(req.response_schema.get<std::string>());
    return std::shared_ptr<const constrain::Grammar>();
}

namespace {

json bytes_array(const std::string& s) {
    json a = json::array();
    for (unsigned char c : s)
        a.push_back(static_cast<int>(c));
    return a;
}

}  // namespace

json logprob_entry(const engine::TokenLogprob& lp) {
    json top = json::array();
    for (const auto& [text, l] : lp.top)
        top.push_back({{"token", text}, {"logprob", l}, {"bytes", bytes_array(text)}});
    return {{"token", lp.bytes}, {"logprob", lp.logprob}, {"bytes", bytes_array(lp.bytes)}, {"top_logprobs", top}};
}

json legacy_logprobs(const std::vector<engine::TokenLogprob>& lps) {
    json tokens = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
    size_t offset = 0;
    for (const engine::TokenLogprob& lp : lps) {
        tokens.push_back(lp.bytes);
        logprobs.push_back(lp.logprob);
        json top = json::object();
        for (const auto& [text, l] : lp.top)
            top[text] = l;
        // A NaN logprob (echo's first prompt token: nothing predicts it) is written as null, as is its top.
        tops.push_back(std::isnan(lp.logprob) ? json(nullptr) : top);
        offsets.push_back(offset);
        offset += lp.bytes.size();
    }
    return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

}  // namespace gannet::server
