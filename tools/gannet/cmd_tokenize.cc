// gannet tokenize: prints the token ids of a text as a JSON array on one line.
#include <cstdio>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "command.h"
#include "flags.h"
#include "gguf/gguf_file.h"
#include "tokenizer/prompt.h"
#include "tokenizer/tokenizer.h"

namespace gannet::app {
namespace {

int run_tokenize(const std::vector<std::string>& args) {
    std::string model_path;
    std::string prompt;
    std::string file_path;
    bool no_bos = false;
    Flags flags("tokenize");
    flags.add_string("-m,--model", &model_path, "GGUF file (a vocab-only GGUF is enough)");
    flags.add_string("-p,--prompt", &prompt, "text to tokenize");
    flags.add_string("-f,--file", &file_path, "file whose contents to tokenize");
    flags.add_bool("--no-bos", &no_bos, "do not add the BOS token even if the vocab asks for it");
    for (const std::string& a : args) {
        if (a == "--help" || a == "-h") {
            std::printf("gannet tokenize: print the token ids of a text as a JSON array\n%s", flags.usage().c_str());
            return 0;
        }
    }
    if (Status s = flags.parse(args); !s.ok()) {
        return fail("tokenize", s);
    }
    if (!flags.was_set("--model")) {
        return fail("tokenize", make_error(ErrorCode::kInvalidArgument, "-m/--model is required"));
    }
    if (flags.was_set("--prompt") == flags.was_set("--file")) {
        return fail("tokenize",
                    make_error(ErrorCode::kInvalidArgument, "give exactly one of -p/--prompt and -f/--file"));
    }
    if (flags.was_set("--file")) {
        Result<std::string> text = read_file(file_path);
        if (!text.has_value()) {
            return fail("tokenize", text.error());
        }
        prompt = std::move(text).value();
    }
    Result<gguf::File> file = gguf::File::open(model_path);
    if (!file.has_value()) {
        return fail("tokenize", file.error());
    }
    Result<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::Tokenizer::from_gguf(*file);
    if (!tok.has_value()) {
        return fail("tokenize", tok.error());
    }
    const std::vector<tokenizer::TokenId> ids =
        no_bos ? (*tok)->encode(prompt, tokenizer::AddBos::kNo)
               : tokenizer::encode_prompt(**tok, prompt, tokenizer::PromptKind::kPlain);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
        out += (i == 0 ? "" : ", ") + std::to_string(ids[i]);
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}

}  // namespace

GANNET_COMMAND("tokenize", "print the token ids of a text (JSON array)", run_tokenize);

}  // namespace gannet::app
