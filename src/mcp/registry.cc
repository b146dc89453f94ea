#include "mcp/registry.h"

namespace gannet::mcp {

CallOutcome CallOutcome::tool_error(const std::string& text) {
    return ok(Json{{"content", Json::array({Json{{"type", "text"}, {"text", text}}})}, {"isError", true}});
}

void Registry::add_tool(ToolDef tool) {
    std::string name = tool.name();
    auto it = tool_index_.find(name);
    if (it != tool_index_.end()) {
        tools_[it->second] = std::move(tool);  // later packs override earlier ones
        return;
    }
    tool_index_[name] = tools_.size();
    tools_.push_back(std::move(tool));
}

void Registry::add_prompt(PromptDef prompt) {
    std::string name = prompt.definition.value("name", "");
    prompt_index_[name] = prompts_.size();
    prompts_.push_back(std::move(prompt));
}

void Registry::add_resource(ResourceDef resource) {
    std::string uri = resource.definition.value("uri", "");
    resource_index_[uri] = resources_.size();
    resources_.push_back(std::move(resource));
}

void Registry::add_resource_template(ResourceTemplateDef tmpl) { templates_.push_back(std::move(tmpl)); }

const ToolDef* Registry::find_tool(const std::string& name) const {
    auto it = tool_index_.find(name);
    return it == tool_index_.end() ? nullptr : &tools_[it->second];
}

const PromptDef* Registry::find_prompt(const std::string& name) const {
    auto it = prompt_index_.find(name);
    return it == prompt_index_.end() ? nullptr : &prompts_[it->second];
}

const ResourceDef* Registry::find_resource(const std::string& uri) const {
    auto it = resource_index_.find(uri);
    return it == resource_index_.end() ? nullptr : &resources_[it->second];
}

const ResourceTemplateDef* Registry::match_template(const std::string& uri, Json* vars) const {
    for (const auto& t : templates_) {
        Json v = Json::object();
        if (match_uri_template(t.definition.value("uriTemplate", ""), uri, &v)) {
            *vars = std::move(v);
            return &t;
        }
    }
    return nullptr;
}

bool match_uri_template(const std::string& pattern, const std::string& uri, Json* vars) {
    size_t p = 0;
    size_t u = 0;
    while (p < pattern.size()) {
        if (pattern[p] == '{') {
            size_t close = pattern.find('}', p);
            if (close == std::string::npos) {
                return false;
            }
            std::string var = pattern.substr(p + 1, close - p - 1);
            size_t end = u;
            while (end < uri.size() && uri[end] != '/') {
                ++end;
            }
            // The value stops at '/' or at the next literal character of the pattern.
            if (close + 1 < pattern.size()) {
                size_t lit = uri.find(pattern[close + 1], u);
                if (lit != std::string::npos && lit < end) {
                    end = lit;
                }
            }
            if (end == u) {
                return false;
            }
            (*vars)[var] = uri.substr(u, end - u);
            u = end;
            p = close + 1;
            continue;
        }
        if (u >= uri.size() || pattern[p] != uri[u]) {
            return false;
        }
        ++p;
        ++u;
    }
    return u == uri.size();
}

}  // namespace gannet::mcp
