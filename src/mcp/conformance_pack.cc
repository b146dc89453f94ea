// The conformance pack: the tools, prompts and resources that @modelcontextprotocol/conformance
// (0.2.0-alpha.12) calls by name, with the behaviour each scenario's description asks for
// (../shared/specs/mcp.md §8). Fixture texts are part of what the suite checks.
#include <chrono>
#include <thread>

#include "mcp/tool_packs.h"

namespace gannet::mcp {

namespace {

// 1x1 PNG and a 16-sample 8 kHz mono WAV, made for these fixtures.
constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
constexpr const char* kWav = "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

Json text(const std::string& s) { return Json{{"type", "text"}, {"text", s}}; }
Json content(Json items) { return Json{{"content", std::move(items)}}; }
Json empty_object_schema() { return Json{{"type", "object"}, {"properties", Json::object()}}; }

Json elicit(const std::string& message, const std::string& field, const std::string& type) {
    return Json{{"method", "elicitation/create"},
                {"params",
                 {{"message", message},
                  {"requestedSchema",
                   {{"type", "object"}, {"properties", {{field, {{"type", type}}}}}, {"required", {field}}}}}}};
}

Json sample(const std::string& prompt, int max_tokens) {
    return Json{{"method", "sampling/createMessage"},
                {"params",
                 {{"messages", Json::array({Json{{"role", "user"}, {"content", text(prompt)}}})},
                  {"maxTokens", max_tokens}}}};
}

Json roots() { return Json{{"method", "roots/list"}, {"params", Json::object()}}; }

// An accepted elicitation answer: {"action":"accept","content":{...}}; null if not accepted.
const Json* accepted(const CallContext& ctx, const std::string& key) {
    if (!ctx.input_responses.is_object()) {
        return nullptr;
    }
    auto it = ctx.input_responses.find(key);
    if (it == ctx.input_responses.end() || !it->is_object()) {
        return nullptr;
    }
    return &*it;
}

std::string elicited_string(const Json& response, const std::string& field, const std::string& fallback) {
    if (response.value("action", "") != "accept") {
        return fallback;
    }
    Json c = response.value("content", Json::object());
    return c.is_object() && c.contains(field) && c[field].is_string() ? c[field].get<std::string>() : fallback;
}

// The "kind" of a verified requestState payload ("" when there is none).
std::string state_kind(const CallContext& ctx) {
    return ctx.request_state.is_object() ? ctx.request_state.value("kind", std::string("")) : std::string();
}

bool is_elicit_accept(const Json* r) {
    return r != nullptr && r->value("action", "") == "accept" && r->contains("content") && (*r)["content"].is_object();
}

void add(Registry& r, const std::string& name, const std::string& description, CallFn fn,
         Json schema = empty_object_schema(), Cost cost = Cost::kCheap) {
    ToolDef t;
    t.definition = {{"name", name}, {"description", description}, {"inputSchema", std::move(schema)}};
    t.fn = std::move(fn);
    t.cost = cost;
    r.add_tool(std::move(t));
}

void add_content_tools(Registry& r) {
    add(r, "test_simple_text", "Returns a simple text response",
        [](CallContext&) { return CallOutcome::ok(content({text("This is a simple text response for testing.")})); });
    add(r, "test_image_content", "Returns image content", [](CallContext&) {
        return CallOutcome::ok(content({Json{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}}));
    });
    add(r, "test_audio_content", "Returns audio content", [](CallContext&) {
        return CallOutcome::ok(content({Json{{"type", "audio"}, {"data", kWav}, {"mimeType", "audio/wav"}}}));
    });
    add(r, "test_embedded_resource", "Returns an embedded resource", [](CallContext&) {
        return CallOutcome::ok(content({Json{{"type", "resource"},
                                             {"resource",
                                              {{"uri", "test://embedded-resource"},
                                               {"mimeType", "text/plain"},
                                               {"text", "This is an embedded resource content."}}}}}));
    });
    add(r, "test_multiple_content_types", "Returns text, image and resource content", [](CallContext&) {
        return CallOutcome::ok(
            content({text("Multiple content types test:"),
                     Json{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}},
                     Json{{"type", "resource"},
                          {"resource",
                           {{"uri", "test://mixed-content-resource"},
                            {"mimeType", "application/json"},
                            {"text", Json{{"test", "data"}, {"value", 123}}.dump()}}}}}));
    });
    add(r, "test_error_handling", "Always fails with a tool execution error", [](CallContext&) {
        return CallOutcome::tool_error("This tool intentionally returns an error for testing");
    });
    add(
        r, "test_tool_with_progress", "Reports progress notifications",
        [](CallContext& ctx) {
            for (int p : {0, 50, 100}) {
                ctx.notify(Json{{"jsonrpc", "2.0"},
                                {"method", "notifications/progress"},
                                {"params",
                                 {{"progressToken", ctx.progress_token},
                                  {"progress", p},
                                  {"total", 100},
                                  {"message", "Completed step " + std::to_string(p) + " of 100"}}}});
                if (p < 100) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
            }
            const Json& t = ctx.progress_token;
            return CallOutcome::ok(content({text(t.is_null() ? "0" : t.is_string() ? t.get<std::string>() : t.dump())}));
        },
        empty_object_schema(), Cost::kBlocking);
    add(
        r, "test_tool_with_logging", "Emits log messages when the request set a log level",
        [](CallContext& ctx) {
            for (const char* m : {"Tool execution started", "Tool processing data", "Tool execution completed"}) {
                ctx.notify(Json{{"jsonrpc", "2.0"},
                                {"method", "notifications/message"},
                                {"params", {{"level", "info"}, {"data", m}}}});
            }
            return CallOutcome::ok(content({text("Tool with logging executed successfully")}));
        },
        empty_object_schema(), Cost::kBlocking);
    add(r, "test_logging_tool", "Diagnostic: logs only when _meta sets a log level", [](CallContext& ctx) {
        ctx.notify(Json{{"jsonrpc", "2.0"},
                        {"method", "notifications/message"},
                        {"params", {{"level", "info"}, {"data", "Diagnostic trace logging activated"}}}});
        return CallOutcome::ok(content({text("Logging evaluated")}));
    });
    add(r, "test_streaming_elicitation", "Diagnostic: answers on the request's own stream", [](CallContext& ctx) {
        ctx.notify(Json{{"jsonrpc", "2.0"},
                        {"method", "notifications/progress"},
                        {"params", {{"progressToken", ctx.progress_token}, {"progress", 50}, {"total", 100}}}});
        return CallOutcome::ok(content({text("Streaming complete")}));
    });
    add(r, "test_missing_capability", "Needs the client's sampling capability", [](CallContext& ctx) {
        if (!ctx.has_capability("sampling")) {
            return CallOutcome::fail(missing_capability(Json{{"sampling", Json::object()}}));
        }
        return CallOutcome::ok(content({text("Success")}));
    });
    add(r, "test_trigger_tool_change", "Announces a tools list change on listen streams", [](CallContext& ctx) {
        if (ctx.announce_list_changed) {
            ctx.announce_list_changed("tools");
        }
        return CallOutcome::ok(content({text("Mutation triggered")}));
    });
    add(r, "test_trigger_prompt_change", "Announces a prompts list change on listen streams", [](CallContext& ctx) {
        if (ctx.announce_list_changed) {
            ctx.announce_list_changed("prompts");
        }
        return CallOutcome::ok(content({text("Mutation triggered")}));
    });
    Json schema_2020 = Json::parse(R"({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                  "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                       "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                       "phone": {"type": "string"}, "email": {"type": "string"}},
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })");
    add(
        r, "json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features",
        [](CallContext& ctx) {
            return CallOutcome::ok(content({text("JSON Schema 2020-12 tool called with: " + ctx.arguments.dump())}));
        },
        schema_2020);
    // SEP-2243: `region` is mirrored into the Mcp-Param-Region header, which the server checks.
    add(r, "test_custom_header", "Echoes a parameter that clients also send as the Mcp-Param-Region header",
        [](CallContext& ctx) { return CallOutcome::ok(content({text("region=" + ctx.arguments.value("region", std::string("")))})); },
        Json{{"type", "object"},
             {"properties", {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}}}},
             {"required", {"region"}}});
}

void add_mrtr_tools(Registry& r) {
    add(r, "test_input_required_result_elicitation", "MRTR: asks for the user's name", [](CallContext& ctx) {
        const Json* a = accepted(ctx, "user_name");
        if (is_elicit_accept(a)) {
            return CallOutcome::ok(content({text("Hello, " + elicited_string(*a, "name", "friend") + "!")}));
        }
        return CallOutcome::need_input(Json{{"user_name", elicit("What is your name?", "name", "string")}});
    });
    add(r, "test_input_required_result_sampling", "MRTR: asks the client's model", [](CallContext& ctx) {
        if (const Json* a = accepted(ctx, "sample_request")) {
            Json c = a->value("content", Json::object());
            std::string t = c.is_object() && c.contains("text") && c["text"].is_string() ? c["text"].get<std::string>()
                                                                                          : "no response";
            return CallOutcome::ok(content({text("Sampling result: " + t)}));
        }
        return CallOutcome::need_input(Json{{"sample_request", sample("What is the capital of France?", 100)}});
    });
    add(r, "test_input_required_result_list_roots", "MRTR: asks for the client's roots", [](CallContext& ctx) {
        if (const Json* a = accepted(ctx, "roots_request")) {
            size_t n = a->contains("roots") && (*a)["roots"].is_array() ? (*a)["roots"].size() : 0;
            return CallOutcome::ok(content({text("Found " + std::to_string(n) + " root(s)")}));
        }
        return CallOutcome::need_input(Json{{"roots_request", roots()}});
    });
    add(r, "test_input_required_result_request_state", "MRTR: round-trips requestState", [](CallContext& ctx) {
        const Json* a = accepted(ctx, "confirm");
        if (a != nullptr && state_kind(ctx) == "request-state" &&
            (*a)["content"].is_object() && (*a)["content"].value("ok", false) == true) {
            return CallOutcome::ok(content({text("state-ok: requestState validated")}));
        }
        return CallOutcome::need_input(Json{{"confirm", elicit("Please confirm", "ok", "boolean")}},
                                       Json{{"kind", "request-state"}});
    });
    add(r, "test_input_required_result_multiple_inputs", "MRTR: three inputs at once", [](CallContext& ctx) {
        const Json* name = accepted(ctx, "user_name");
        const Json* greeting = accepted(ctx, "greeting");
        const Json* client_roots = accepted(ctx, "client_roots");
        if (name && greeting && client_roots && state_kind(ctx) == "multiple-inputs") {
            Json g = greeting->value("content", Json::object());
            std::string gt = g.is_object() && g.contains("text") && g["text"].is_string() ? g["text"].get<std::string>()
                                                                                           : "Hello there!";
            size_t n = client_roots->contains("roots") && (*client_roots)["roots"].is_array()
                           ? (*client_roots)["roots"].size()
                           : 0;
            return CallOutcome::ok(content({text("Name: " + elicited_string(*name, "name", "friend") +
                                                 "; Greeting: " + gt + "; Roots: " + std::to_string(n))}));
        }
        return CallOutcome::need_input(Json{{"user_name", elicit("What is your name?", "name", "string")},
                                            {"greeting", sample("Generate a greeting", 50)},
                                            {"client_roots", roots()}},
                                       Json{{"kind", "multiple-inputs"}});
    });
    add(r, "test_input_required_result_multi_round", "MRTR: two rounds of questions", [](CallContext& ctx) {
        int round = ctx.request_state.is_object() ? ctx.request_state.value("round", 0) : 0;
        if (round == 1 && accepted(ctx, "step1")) {
            std::string name = elicited_string(*accepted(ctx, "step1"), "name", "friend");
            return CallOutcome::need_input(
                Json{{"step2", elicit("Step 2: What is your favorite color?", "color", "string")}},
                Json{{"round", 2}, {"name", name}});
        }
        if (round == 2 && accepted(ctx, "step2")) {
            std::string color = elicited_string(*accepted(ctx, "step2"), "color", "no color");
            return CallOutcome::ok(content({text("Multi-round complete for " +
                                                 ctx.request_state.value("name", std::string("friend")) +
                                                 " who likes " + color)}));
        }
        return CallOutcome::need_input(Json{{"step1", elicit("Step 1: What is your name?", "name", "string")}},
                                       Json{{"round", 1}});
    });
    // Every requestState is HMAC-signed by the server, so tampering fails before this runs.
    add(r, "test_input_required_result_tampered_state", "MRTR: integrity-protected requestState",
        [](CallContext& ctx) {
            if (state_kind(ctx) == "tamper-test" && accepted(ctx, "confirm")) {
                return CallOutcome::ok(content({text("integrity-ok: state verified")}));
            }
            return CallOutcome::need_input(Json{{"confirm", elicit("Please confirm", "ok", "boolean")}},
                                           Json{{"kind", "tamper-test"}});
        });
    add(r, "test_input_required_result_capabilities", "MRTR: asks only for declared capabilities",
        [](CallContext& ctx) {
            if (ctx.input_responses.is_object() && !ctx.input_responses.empty()) {
                std::string keys;
                for (const auto& [k, v] : ctx.input_responses.items()) {
                    keys += (keys.empty() ? "" : ",") + k;
                }
                return CallOutcome::ok(content({text("capabilities-ok: received " + keys)}));
            }
            Json requests = Json::object();
            if (ctx.has_capability("elicitation")) {
                requests["elicit_input"] = elicit("Elicitation input", "value", "string");
            }
            if (ctx.has_capability("sampling")) {
                requests["sample_input"] = sample("Sample request", 50);
            }
            if (requests.empty()) {
                return CallOutcome::ok(content({text("No supported capabilities declared")}));
            }
            return CallOutcome::need_input(requests, Json{{"kind", "capabilities-test"}});
        });
}

void add_task_tools(Registry& r) {
    auto add_task = [&r](const std::string& name, const std::string& description, Json schema, TaskSupport support,
                         CallFn fn, CallFn before = nullptr) {
        ToolDef t;
        t.definition = {{"name", name}, {"description", description}, {"inputSchema", std::move(schema)}};
        t.fn = std::move(fn);
        t.task_support = support;
        t.cost = Cost::kBlocking;
        t.before_task = std::move(before);
        r.add_tool(std::move(t));
    };
    add(r, "greet", "Greets synchronously",
        [](CallContext& ctx) {
            return CallOutcome::ok(content({text("Hello, " + ctx.arguments.value("name", std::string("World")) + "!")}));
        },
        Json{{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}});
    add_task("slow_compute", "Sleeps for `seconds`, then answers; cancellable",
             Json{{"type", "object"},
                  {"properties", {{"seconds", {{"type", "number"}}}, {"label", {{"type", "string"}}}}}},
             TaskSupport::kOptional, [](CallContext& ctx) {
                 double seconds = ctx.arguments.value("seconds", 1.0);
                 auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                                                                   std::max(0.0, std::min(seconds, 3600.0)) * 1000));
                 while (std::chrono::steady_clock::now() < end) {
                     if (ctx.is_cancelled_now()) {
                         return CallOutcome::fail(internal_error("cancelled"));
                     }
                     std::this_thread::sleep_for(std::chrono::milliseconds(20));
                 }
                 std::string label = ctx.arguments.value("label", std::string(""));
                 return CallOutcome::ok(
                     Json{{"content", {text("computed " + label + " in " + std::to_string(seconds) + "s")}},
                          {"structuredContent", {{"label", label}, {"seconds", seconds}}}});
             });
    add_task("failing_job", "A task whose tool reports an execution error", empty_object_schema(),
             TaskSupport::kRequired, [](CallContext&) { return CallOutcome::tool_error("failing_job failed as designed"); });
    add_task("protocol_error_job", "A task that fails with a JSON-RPC error", empty_object_schema(),
             TaskSupport::kRequired,
             [](CallContext&) { return CallOutcome::fail(internal_error("protocol_error_job failed as designed")); });
    add_task("confirm_delete", "Asks for confirmation inside the task, then deletes (pretend)",
             Json{{"type", "object"}, {"properties", {{"filename", {{"type", "string"}}}}}}, TaskSupport::kOptional,
             [](CallContext& ctx) {
                 std::string file = ctx.arguments.value("filename", std::string("file"));
                 if (const Json* a = accepted(ctx, "confirm_delete_1")) {
                     bool yes = a->value("action", "") == "accept";
                     return CallOutcome::ok(content({text(yes ? "deleted " + file : "kept " + file)}));
                 }
                 return CallOutcome::need_input(
                     Json{{"confirm_delete_1", elicit("Delete " + file + "?", "confirm", "boolean")}});
             });
    add_task("multi_input", "Asks two questions at once inside the task", empty_object_schema(), TaskSupport::kOptional,
             [](CallContext& ctx) {
                 const Json* a = accepted(ctx, "multi_input_1");
                 const Json* b = accepted(ctx, "multi_input_2");
                 if (a && b) {
                     return CallOutcome::ok(content({text("got " + elicited_string(*a, "name", "?") + " and " +
                                                          elicited_string(*b, "name", "?"))}));
                 }
                 return CallOutcome::need_input(Json{{"multi_input_1", elicit("First name?", "name", "string")},
                                                     {"multi_input_2", elicit("Second name?", "name", "string")}});
             });
    CallFn ask_name = [](CallContext& ctx) {
        if (is_elicit_accept(accepted(ctx, "user_name"))) {
            return CallOutcome::ok(Json::object());
        }
        return CallOutcome::need_input(Json{{"user_name", elicit("What is your name?", "name", "string")}});
    };
    add_task("test_tool_with_task", "Gathers user_name by MRTR, then runs as a task", empty_object_schema(),
             TaskSupport::kRequired,
             [](CallContext& ctx) {
                 const Json* a = accepted(ctx, "user_name");
                 return CallOutcome::ok(content({text("Hello, " + (a ? elicited_string(*a, "name", "friend") : "friend") +
                                                      ", from a task!")}));
             },
             ask_name);
}

// 2025-11-25 fixtures: the server asks the client mid-call over the request's SSE stream.
void add_legacy_tools(Registry& r) {
    auto ask = [](CallContext& ctx, const std::string& method, const Json& params) -> Result<Json> {
        if (!ctx.request_client) {
            return make_error(ErrorCode::kUnimplemented, "this tool needs a 2025-11-25 client");
        }
        return ctx.request_client(method, params);
    };
    auto elicitation_tool = [&r, ask](const std::string& name, const std::string& prefix, std::string message,
                                      Json requested_schema, Json input_schema) {
        add(
            r, name, "Asks the client for input (2025-11-25 elicitation)",
            [ask, prefix, message, requested_schema](CallContext& ctx) {
                std::string m = ctx.arguments.value("message", message);
                Result<Json> res = ask(ctx, "elicitation/create", Json{{"message", m}, {"requestedSchema", requested_schema}});
                if (!res.has_value()) {
                    return CallOutcome::ok(content({text("Elicitation not supported or error: " + res.error().message())}));
                }
                const Json& e = res.value();
                Json c = e.is_object() && e.contains("content") ? e["content"] : Json::object();
                return CallOutcome::ok(content({text(prefix + "action=" + e.value("action", std::string("")) +
                                                     ", content=" + c.dump())}));
            },
            std::move(input_schema), Cost::kBlocking);
    };
    add(
        r, "test_sampling", "Asks the client's model (2025-11-25 sampling)",
        [ask](CallContext& ctx) {
            Json params = {{"messages",
                            Json::array({Json{{"role", "user"},
                                              {"content", text(ctx.arguments.value("prompt", std::string("Hello")))}}})},
                           {"maxTokens", 100}};
            Result<Json> res = ask(ctx, "sampling/createMessage", params);
            if (!res.has_value()) {
                return CallOutcome::ok(content({text("Sampling not supported or error: " + res.error().message())}));
            }
            const Json& m = res.value();
            std::string answer = "No response";
            if (m.is_object() && m.contains("content") && m["content"].is_object() && m["content"].contains("text") &&
                m["content"]["text"].is_string()) {
                answer = m["content"]["text"].get<std::string>();
            }
            return CallOutcome::ok(content({text("LLM response: " + answer)}));
        },
        Json{{"type", "object"}, {"properties", {{"prompt", {{"type", "string"}}}}}, {"required", {"prompt"}}},
        Cost::kBlocking);
    elicitation_tool("test_elicitation", "User response: ", "Please respond",
                     Json{{"type", "object"},
                          {"properties", {{"response", {{"type", "string"}, {"description", "User's response"}}}}},
                          {"required", {"response"}}},
                     Json{{"type", "object"}, {"properties", {{"message", {{"type", "string"}}}}}, {"required", {"message"}}});
    elicitation_tool("test_elicitation_sep1034_defaults", "Elicitation completed: ",
                     "Please review and update the form fields with defaults", Json::parse(R"({
        "type": "object", "required": [],
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"],
                       "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": true}}})"),
                     empty_object_schema());
    elicitation_tool("test_elicitation_sep1330_enums", "Elicitation completed: ",
                     "Please select options from the enum fields", Json::parse(R"js({
        "type": "object", "required": [],
        "properties": {
            "untitledSingle": {"type": "string", "description": "Select one option",
                               "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "description": "Select one option with titles",
                             "oneOf": [{"const": "value1", "title": "First Option"},
                                       {"const": "value2", "title": "Second Option"},
                                       {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                           "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3,
                              "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "description": "Select multiple options with titles", "minItems": 1,
                            "maxItems": 3,
                            "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                {"const": "value2", "title": "Second Choice"},
                                                {"const": "value3", "title": "Third Choice"}]}}}})js"),
                     empty_object_schema());
}

void add_prompts_and_resources(Registry& r) {
    auto prompt = [&r](Json def, CallFn fn) { r.add_prompt(PromptDef{std::move(def), std::move(fn)}); };
    auto user = [](Json c) { return Json{{"role", "user"}, {"content", std::move(c)}}; };
    prompt(Json{{"name", "test_simple_prompt"}, {"title", "Simple Test Prompt"}, {"description", "A prompt without arguments"}},
           [user](CallContext&) {
               return CallOutcome::ok(Json{{"messages", {user(text("This is a simple prompt for testing."))}}});
           });
    prompt(Json{{"name", "test_prompt_with_arguments"},
                {"description", "A prompt with required arguments"},
                {"arguments",
                 {{{"name", "arg1"}, {"description", "First test argument"}, {"required", true}},
                  {{"name", "arg2"}, {"description", "Second test argument"}, {"required", true}}}}},
           [user](CallContext& ctx) {
               std::string a1 = ctx.arguments.value("arg1", std::string(""));
               std::string a2 = ctx.arguments.value("arg2", std::string(""));
               return CallOutcome::ok(Json{
                   {"messages", {user(text("Prompt with arguments: arg1='" + a1 + "', arg2='" + a2 + "'"))}}});
           });
    prompt(Json{{"name", "test_prompt_with_embedded_resource"},
                {"description", "A prompt that embeds a resource"},
                {"arguments", {{{"name", "resourceUri"}, {"description", "URI of the resource to embed"}, {"required", true}}}}},
           [user](CallContext& ctx) {
               std::string uri = ctx.arguments.value("resourceUri", std::string("test://example"));
               return CallOutcome::ok(Json{
                   {"messages",
                    {user(Json{{"type", "resource"},
                               {"resource",
                                {{"uri", uri}, {"mimeType", "text/plain"}, {"text", "Embedded resource content for testing."}}}}),
                     user(text("Please process the embedded resource above."))}}});
           });
    prompt(Json{{"name", "test_prompt_with_image"}, {"description", "A prompt with image content"}},
           [user](CallContext&) {
               return CallOutcome::ok(Json{
                   {"messages",
                    {user(Json{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}),
                     user(text("Please analyze the image above."))}}});
           });
    prompt(Json{{"name", "test_input_required_result_prompt"}, {"description", "MRTR: a prompt that asks for context"}},
           [user](CallContext& ctx) {
               if (const Json* a = accepted(ctx, "user_context")) {
                   return CallOutcome::ok(Json{
                       {"messages", {user(text("Prompt with context: " + elicited_string(*a, "context", "none")))}}});
               }
               return CallOutcome::need_input(
                   Json{{"user_context", elicit("What context should the prompt use?", "context", "string")}});
           });

    r.add_resource(ResourceDef{
        Json{{"uri", "test://static-text"}, {"name", "static-text"}, {"title", "Static Text Resource"},
             {"description", "A static text resource for testing"}, {"mimeType", "text/plain"}},
        [](CallContext&) {
            return CallOutcome::ok(Json{{"contents",
                                         {{{"uri", "test://static-text"},
                                           {"mimeType", "text/plain"},
                                           {"text", "This is the content of the static text resource."}}}}});
        }});
    r.add_resource(ResourceDef{
        Json{{"uri", "test://static-binary"}, {"name", "static-binary"}, {"title", "Static Binary Resource"},
             {"description", "A static binary resource (image) for testing"}, {"mimeType", "image/png"}},
        [](CallContext&) {
            return CallOutcome::ok(Json{
                {"contents", {{{"uri", "test://static-binary"}, {"mimeType", "image/png"}, {"blob", kPng}}}}});
        }});
    r.add_resource_template(ResourceTemplateDef{
        Json{{"uriTemplate", "test://template/{id}/data"}, {"name", "template"}, {"title", "Resource Template"},
             {"description", "A resource template with parameter substitution"}, {"mimeType", "application/json"}},
        [](CallContext& ctx) {
            std::string id = ctx.arguments.value("id", std::string(""));
            Json body = {{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
            return CallOutcome::ok(
                Json{{"contents", {{{"uri", ctx.name}, {"mimeType", "application/json"}, {"text", body.dump()}}}}});
        }});
}

}  // namespace

void add_conformance_pack(Registry& registry) {
    add_content_tools(registry);
    add_mrtr_tools(registry);
    add_task_tools(registry);
    add_legacy_tools(registry);
    add_prompts_and_resources(registry);
}

}  // namespace gannet::mcp
