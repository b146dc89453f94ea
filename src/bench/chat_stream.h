// One streamed /chat/completions request and what a benchmark needs from it: TTFT, the arrival
// time of every content chunk, and the usage the server reports. Owner: bench helper.
// Thread-safety: free function; each call is independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "bench/http_client.h"
#include "bench/trajectory.h"

namespace gannet::bench {

using Clock = std::chrono::steady_clock;

struct ChatRequest {
    std::span<const Message> messages;  // borrowed from the Trajectory for the call's duration
    int64_t max_tokens = 0;
    std::string model = "default";  // most single-model servers ignore it; OpenAI proper needs a real name
    bool is_ignore_eos = true;      // sends "ignore_eos": true (llama.cpp, vLLM, gannet accept it)
    std::string api_key;            // "Authorization: Bearer ..." when non-empty; never logged
};

struct StepSample {
    Clock::time_point t_start;     // just before the request was sent
    double ttft_ms = -1;           // first token delta (a chunk with "content"); -1 if none came
    double e2e_ms = 0;             // until the stream ended
    double decode_ms = 0;          // first to last content chunk
    int64_t n_chunks = 0;          // SSE chunks that carried a token ("content", even empty, without "role")
    int64_t n_tokens_usage = -1;   // usage.completion_tokens, -1 when the server sent no usage
    int64_t n_tokens_prompt = -1;  // usage.prompt_tokens
    int64_t n_tokens_cached = -1;  // usage.prompt_tokens_details.cached_tokens, else prompt - timings.prompt_n
    std::vector<float> itl_ms;     // gaps between consecutive content chunks [n_chunks - 1]
    std::string finish_reason;

    // Tokens received: usage when reported, else one per content chunk (servers may merge tokens
    // into one chunk, e.g. an incomplete UTF-8 sequence, so chunks can under-count).
    int64_t n_tokens() const { return n_tokens_usage >= 0 ? n_tokens_usage : n_chunks; }
    bool has_usage() const { return n_tokens_usage >= 0; }
    // Time per output token after the first, (t_last - t_first) / (n - 1); -1 when n < 2.
    double tpot_ms() const;
};

// The request body (exposed for tests): model, messages, stream with include_usage, max_tokens, ignore_eos.
std::string chat_request_body(const ChatRequest& request);

// Parses one SSE data payload into *sample (t_ms: arrival time since t_start). Sets *is_done on
// "[DONE]". Errors: kInternal when the server streams an error object (its message quoted),
// kDataLoss for malformed JSON.
Status apply_chat_event(std::string_view data, double t_ms, StepSample* sample, bool* is_done);

// POSTs <prefix>/chat/completions with stream=true and consumes the stream. Errors: those of
// http_stream; kUnavailable/kInvalidArgument... for a non-200 answer (status and body quoted);
// those of apply_chat_event.
Result<StepSample> stream_chat(const Url& url, const ChatRequest& request, const HttpOptions& options);

}  // namespace gannet::bench
