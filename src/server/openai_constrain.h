// The generation side of an OpenAI request: the grammar that response_format (json_schema,
// json_object) or a forced tool call (tool_choice required / named) puts on the output, in the
// format the model's chat template writes tool calls in; and logprobs in OpenAI's shapes.
// Pure functions; no I/O. Owner: constrain (request side of the server).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <vector>

#include "base/result.h"
#include "constrain/constraint.h"
#include "engine/engine.h"
#include "server/openai_json.h"
#include "tokenizer/chat_template.h"

namespace gannet::server {

// The grammar of the request's output, or null when the output is free text. Errors:
// kInvalidArgument with the schema's problem (the caller answers 400 naming the parameter).
Result<std::shared_ptr<const constrain::Grammar>> request_grammar(const CompletionRequest& req,
                                                                  const tokenizer::ChatTemplate& chat_template);

// {"token", "logprob", "bytes", "top_logprobs": [...]} (chat completions).
nlohmann::json logprob_entry(const engine::TokenLogprob& lp);
// {"tokens", "token_logprobs", "top_logprobs", "text_offset"} (legacy completions).
nlohmann::json legacy_logprobs(const std::vector<engine::TokenLogprob>& lps);

}  // namespace gannet::server
