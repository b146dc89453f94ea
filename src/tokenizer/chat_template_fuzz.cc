// libFuzzer target: chat templates (the Jinja subset in jinja_*.cc). The input is a template
// source, as found in a downloaded GGUF's tokenizer.chat_template; it is parsed and rendered over
// a fixed conversation with a tool call and tools, so the parser, the evaluator and the builtins
// (filters, tests, methods, tojson) all see hostile input. Anything may fail with a Status; nothing
// may crash, hang or leak. Seeds: fuzz/corpus/chat_template_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    gannet::Result<gannet::tokenizer::ChatTemplate> t = gannet::tokenizer::ChatTemplate::create(source, "<s>", "</s>");
    if (!t.has_value()) {
        return 0;
    }
    std::vector<gannet::tokenizer::ChatMessage> messages(4);
    messages[0].role = "system";
    messages[0].content = "You are terse.";
    messages[1].role = "user";
    messages[1].content = "What is 2+2? \xe2\x9c\x93";
    messages[2].role = "assistant";
    messages[2].tool_calls.push_back({"call_0", "add", R"({"a":2,"b":[2,{"c":null}]})"});
    messages[3].role = "tool";
    messages[3].content = "4";
    messages[3].tool_call_id = "call_0";
    messages[3].name = "add";
    gannet::tokenizer::ChatRenderOptions options;
    options.tools_json = R"([{"type":"function","function":{"name":"add","parameters":{"type":"object"}}}])";
    options.extra_context_json = R"({"date_string":"7 Dec 2026","enable_thinking":false})";
    (void)t->render(messages, options);
    options.add_generation_prompt = false;
    (void)t->render({messages[1]}, options);
    return 0;
}
