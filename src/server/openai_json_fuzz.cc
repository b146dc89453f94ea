// libFuzzer target: OpenAI request bodies (chat and text completions, responses) through the parse
// and validate functions the routes call (request schemas included), and model output through
// tool-call extraction. Anything may be refused with an OpenAiError; nothing may crash, hang or
// leak. Links the pure files (openai_json.cc, request_schema.cc, openai_responses_request.cc,
// response_store.cc) so the fuzz build need not compile the engine. Seeds: fuzz/corpus/openai_json_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/openai_json.h"
#include "server/openai_responses.h"
#include "server/response_store.h"
#include "tokenizer/chat_template.h"

namespace {

// The ChatML template `gannet serve` falls back to, with tools: parsed messages and tools_json are
// rendered as the chat route renders them.
const gannet::tokenizer::ChatTemplate& chatml() {
    static const gannet::tokenizer::ChatTemplate t =
        gannet::tokenizer::ChatTemplate::create(
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] }}"
            "{% if message.tool_calls %}{% for c in message.tool_calls %}{{ c.function.name }}"
            "{{ c.function.arguments | tojson }}{% endfor %}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
            "{% if tools %}{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
            "<s>", "</s>")
            .value();
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    for (const bool is_chat : {true, false}) {
        gannet::server::CompletionRequest req;
        const std::optional<gannet::server::OpenAiError> err =
            gannet::server::parse_completion_request(body, is_chat, req);
        if (err.has_value()) {
            (void)gannet::server::error_body(*err);
        } else if (is_chat) {
            gannet::tokenizer::ChatRenderOptions options;
            options.tools_json = req.tool_choice == "none" ? "" : req.tools_json;
            (void)chatml().render(req.messages, options);
        }
    }
    // One stored conversation, so previous_response_id "resp_1" takes the continuing path.
    static gannet::server::ResponseStore store;
    static const bool is_seeded =
        store.put("resp_1", nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}}), nlohmann::json::object());
    (void)is_seeded;
    gannet::server::ResponsesRequest responses;
    if (auto err = gannet::server::parse_responses_request(body, &store, responses))
        (void)gannet::server::error_body(*err);
    const gannet::server::ParsedToolCalls calls = gannet::server::parse_tool_calls(body);
    (void)calls;
    return 0;
}
