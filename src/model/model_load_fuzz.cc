// libFuzzer target: a GGUF through the whole load path `gannet run`, `logits` and `serve` take:
// gguf::File, model config, weight binding, tokenizer, chat template, a paged KV cache (a one-block
// runner::Runner) and a one-token forward pass. gguf_fuzz covers the parser alone; this one reaches every count the
// model and tokenizer read from the file (issue #13). Anything may fail with a Status; nothing may crash, abort
// (std::bad_alloc), hang or leak. Seeds: fuzz/corpus/model_load_fuzz/ (tiny models).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/model.h"
#include "runner/runner.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gannet::Result<gannet::gguf::File> file =
        gannet::gguf::File::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
    if (!file.has_value()) {
        return 0;
    }
    gannet::Result<std::unique_ptr<gannet::model::Model>> m = gannet::model::Model::from_file(std::move(*file));
    if (!m.has_value()) {
        return 0;
    }
    gannet::Result<std::unique_ptr<gannet::tokenizer::Tokenizer>> tok =
        gannet::tokenizer::Tokenizer::from_gguf((*m)->file());
    if (tok.has_value()) {
        gannet::Result<gannet::tokenizer::ChatTemplate> tmpl =
            gannet::tokenizer::ChatTemplate::from_gguf((*m)->file(), **tok);
        if (tmpl.has_value()) {
            std::vector<gannet::tokenizer::ChatMessage> messages(1);
            messages[0].role = "user";
            messages[0].content = "hi";
            (void)tmpl->render(messages, gannet::tokenizer::ChatRenderOptions());
        }
        (void)(*tok)->encode("hi there", gannet::tokenizer::AddBos::kDefault);
    }
    gannet::Result<std::unique_ptr<gannet::runner::Runner>> runner =
        gannet::runner::Runner::create(**m, {.n_blocks = 1, .block_size = 16, .n_threads = 1});
    if (!runner.has_value()) {
        return 0;
    }
    const int32_t token = 0;
    (void)(*runner)->run_sequence(std::span(&token, 1), /*pos=*/0, gannet::model::LogitsMode::kLast);
    return 0;
}
