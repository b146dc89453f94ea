// Renders conversations with the real chat templates of published models (read from the shared
// test data) and compares with expected prompts written by hand from each template's semantics.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/test_paths.h"

namespace gannet::tokenizer {
namespace {

std::string templates_dir() {
    return shared_data_dir() + "/third_party/llama.cpp-vocab/templates/";
}

std::string read_template(const std::string& name) {
    std::ifstream in(templates_dir() + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ChatTemplate load(const std::string& name, const std::string& bos, const std::string& eos) {
    const std::string src = read_template(name);
    EXPECT_FALSE(src.empty()) << name;
    Result<ChatTemplate> t = ChatTemplate::create(src, bos, eos);
    EXPECT_TRUE(t.has_value()) << name << ": " << t.error().to_string();
    EXPECT_FALSE(t->is_fallback()) << name;
    return std::move(t).value();
}

std::string render(const ChatTemplate& t, const std::vector<ChatMessage>& msgs, ChatRenderOptions opt = {}) {
    Result<std::string> out = t.render(msgs, opt);
    return out.has_value() ? *out : "ERROR: " + out.error().message();
}

const char* kTools = R"([{"type":"function","function":{"name":"get_weather","description":"Get weather",)"
                     R"("parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])";

std::vector<ChatMessage> tool_conversation() {
    ChatMessage call{"assistant", "", {{"call_1", "get_weather", R"({"city":"Paris"})"}}, "", ""};
    return {{"user", "Weather in Paris?", {}, "", ""}, call, {"tool", "22C", {}, "call_1", "get_weather"}};
}

const std::vector<ChatMessage> kChat = {
    {"system", "You are a bot.", {}, "", ""},
    {"user", "Hi there ", {}, "", ""},
    {"assistant", "Hello!", {}, "", ""},
    {"user", "Bye", {}, "", ""},
};

TEST(ChatTemplateLlama3Test, RendersSystemAndTurnsWithDefaultDate) {
    for (const char* name : {"meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.3-70B-Instruct.jinja"}) {
        ChatTemplate t = load(name, "<|begin_of_text|>", "<|eot_id|>");
        EXPECT_EQ(render(t, kChat),
                  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                  "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                  "You are a bot.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n")
            << name;
    }
}

TEST(ChatTemplateLlama3Test, Llama32TakesTheDateFromContextAndOmitsTheGenerationPrompt) {
    ChatTemplate t = load("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>");
    ChatRenderOptions opt;
    opt.add_generation_prompt = false;
    opt.extra_context_json = R"({"date_string": "01 Jan 2025"})";
    EXPECT_EQ(render(t, {{"user", "Hi", {}, "", ""}}, opt),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplateLlama3Test, PutsToolsInTheFirstUserMessageAndRendersCallsAndResults) {
    ChatTemplate t = load("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>");
    ChatRenderOptions opt;
    opt.tools_json = kTools;
    const std::string tool_json =
        "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
        "        \"description\": \"Get weather\",\n        \"parameters\": {\n            \"type\": \"object\",\n"
        "            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n"
        "                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n"
        "        }\n    }\n}";
    EXPECT_EQ(render(t, tool_conversation(), opt),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\n"
              "Given the following functions, please respond with a JSON for a function call with its proper "
              "arguments that best answers the given prompt.\n\n"
              "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
              "value}.Do not use variables.\n\n" +
                  tool_json +
                  "\n\nWeather in Paris?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n"
                  "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"
                  // A string is iterable in Jinja, so the template JSON-quotes string results.
                  "<|start_header_id|>ipython<|end_header_id|>\n\n\"22C\"<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateChatMlTest, Qwen25AddsTheDefaultSystemPrompt) {
    ChatTemplate t = load("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>");
    EXPECT_EQ(render(t, {{"user", "Hi", {}, "", ""}}),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    ChatRenderOptions no_gen;
    no_gen.add_generation_prompt = false;
    EXPECT_EQ(
        render(t, {{"system", "Be brief.", {}, "", ""}, {"user", "Hi", {}, "", ""}, {"assistant", "Hello", {}, "", ""}},
               no_gen),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello<|im_end|>\n");
}

TEST(ChatTemplateChatMlTest, Qwen25RendersToolsCallsAndGroupsConsecutiveResults) {
    ChatTemplate t = load("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>");
    ChatRenderOptions opt;
    opt.tools_json = kTools;
    std::vector<ChatMessage> msgs = tool_conversation();
    msgs.push_back({"tool", "sunny", {}, "call_2", "get_weather"});
    EXPECT_EQ(render(t, msgs, opt),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n"
              "You may call one or more functions to assist with the user query.\n\n"
              "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
              "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get weather\", "
              "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, "
              "\"required\": [\"city\"]}}}\n</tools>\n\n"
              "For each function call, return a json object with function name and arguments within "
              "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
              "<args-json-object>}\n</tool_call><|im_end|>\n"
              "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
              "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
              "</tool_call><|im_end|>\n"
              "<|im_start|>user\n<tool_response>\n22C\n</tool_response>\n<tool_response>\nsunny\n</tool_response>"
              "<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateGemmaTest, Gemma2MapsAssistantToModelAndTrims) {
    ChatTemplate t = load("google-gemma-2-2b-it.jinja", "<bos>", "<eos>");
    EXPECT_EQ(
        render(t, {{"user", "Hi", {}, "", ""}, {"assistant", " Hello ", {}, "", ""}, {"user", "Bye", {}, "", ""}}),
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateGemmaTest, Gemma2RaisesTheTemplatesOwnErrors) {
    ChatTemplate t = load("google-gemma-2-2b-it.jinja", "<bos>", "<eos>");
    EXPECT_EQ(render(t, {{"system", "x", {}, "", ""}, {"user", "Hi", {}, "", ""}}),
              "ERROR: chat template: System role not supported");
    EXPECT_EQ(render(t, {{"user", "a", {}, "", ""}, {"user", "b", {}, "", ""}}),
              "ERROR: chat template: Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatTemplateFallbackTest, UnsupportedFeaturesFallBackToTheRecognisedFamily) {
    const std::string chatml = "{% call m() %}{% endcall %}<|im_start|>{{ messages }}";
    Result<ChatTemplate> t = ChatTemplate::create(chatml, "", "<|im_end|>");
    ASSERT_TRUE(t.has_value()) << t.error().to_string();
    EXPECT_TRUE(t->is_fallback());
    EXPECT_EQ(t->family(), ChatFamily::kChatMl);
    EXPECT_EQ(render(*t, {{"system", "S", {}, "", ""}, {"user", "Hi", {}, "", ""}}),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");

    Result<ChatTemplate> gemma = ChatTemplate::create("{% call m() %}{% endcall %}<start_of_turn>", "<bos>", "");
    ASSERT_TRUE(gemma.has_value());
    EXPECT_EQ(render(*gemma, {{"system", "Sys", {}, "", ""}, {"user", "Hi", {}, "", ""}}),
              "<bos><start_of_turn>user\nSys\n\nHi<end_of_turn>\n<start_of_turn>model\n");

    Result<ChatTemplate> unknown = ChatTemplate::create("{% call m() %}{% endcall %}", "", "");
    ASSERT_FALSE(unknown.has_value());
    EXPECT_EQ(unknown.error().code(), ErrorCode::kUnimplemented);
}

TEST(ChatTemplateTest, BadToolsJsonIsInvalidArgument) {
    ChatTemplate t = load("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>");
    ChatRenderOptions opt;
    opt.tools_json = "[{not json";
    Result<std::string> out = t.render({{"user", "Hi", {}, "", ""}}, opt);
    ASSERT_FALSE(out.has_value());
    EXPECT_EQ(out.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ChatTemplateTest, FromGgufUsesTheEmbeddedTemplateAndTheVocabsBos) {
    Result<gguf::File> file =
        gguf::File::open(shared_data_dir() + "/third_party/llama.cpp-vocab/ggml-vocab-phi-3.gguf");
    ASSERT_TRUE(file.has_value()) << file.error().to_string();
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(*file);
    ASSERT_TRUE(tok.has_value());
    Result<ChatTemplate> t = ChatTemplate::from_gguf(*file, **tok);
    ASSERT_TRUE(t.has_value()) << t.error().to_string();
    EXPECT_EQ(render(*t, {{"user", "Hi", {}, "", ""}, {"assistant", "Hello", {}, "", ""}, {"user", "Bye", {}, "", ""}}),
              "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n");

    Result<gguf::File> no_template =
        gguf::File::open(shared_data_dir() + "/third_party/llama.cpp-vocab/ggml-vocab-gpt-2.gguf");
    ASSERT_TRUE(no_template.has_value());
    EXPECT_EQ(ChatTemplate::from_gguf(*no_template, **tok).error().code(), ErrorCode::kNotFound);
}

// Every shipped template parses (or is a recognised fallback) and renders a plain chat.
TEST(ChatTemplateTest, EveryBundledTemplateRendersAPlainChat) {
    int n_jinja = 0;
    int n_total = 0;
    for (const auto& entry : std::filesystem::directory_iterator(templates_dir())) {
        if (entry.path().extension() != ".jinja") {
            continue;
        }
        ++n_total;
        const std::string name = entry.path().filename().string();
        Result<ChatTemplate> t = ChatTemplate::create(read_template(name), "<s>", "</s>");
        if (!t.has_value()) {
            ADD_FAILURE() << name << ": " << t.error().to_string();
            continue;
        }
        n_jinja += t->is_fallback() ? 0 : 1;
        ChatRenderOptions opt;
        // Firefunction's template needs these globals (it would fail under Python's Jinja too).
        opt.extra_context_json = R"({"functions": "[]", "datetime": "2024-07-26"})";
        Result<std::string> out = t->render(
            {{"user", "Hi", {}, "", ""}, {"assistant", "Hello", {}, "", ""}, {"user", "Bye", {}, "", ""}}, opt);
        ASSERT_TRUE(out.has_value()) << name << ": " << out.error().to_string();
        EXPECT_NE(out->find("Bye"), std::string::npos) << name;
    }
    std::printf("chat templates: %d/%d run on the interpreter\n", n_jinja, n_total);
    EXPECT_GE(n_total, 10);
}

}  // namespace
}  // namespace gannet::tokenizer
