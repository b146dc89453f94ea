// The four EFC axes for one tool result (docs/efc.md, ../shared/specs/papers.md §7): what a tool
// event is, how its informativeness and validity are read from its text, the identifiers and
// values retention looks for, and MinHash signatures for near-duplicate detection. Owner: efc helper.
// Thread-safety: pure functions and plain values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace gannet::agent {

// One tool result as the agent saw it, with what the harness knows about the execution.
struct ToolEvent {
    std::string action;            // the command or call the agent issued
    std::string output;            // the text returned to the agent
    std::optional<int> exit_code;  // none when the harness does not know it (or nothing ran)
    bool is_truncated = false;     // the harness cut the output
    bool is_timed_out = false;     // the execution was killed
    bool is_rejected = false;      // the harness refused the action (format error): nothing ran
};

// Reads a mini-swe-agent observation (`<returncode>N</returncode>`, `<output>`/`<output_head>`,
// "timed out", "Please always provide EXACTLY ONE action") into a ToolEvent. Text in no known
// markup becomes an event with an unknown exit code.
ToolEvent tool_event_from_observation(std::string_view action, std::string_view observation);

// Informative: 1 when the output localises a failure (file:line, a traceback, a failing assertion
// or test, a diff hunk); 0.5 for an unexpected failure without a location (non-zero exit of a
// command that is not a query); 0.25 for other output that brings at least one identifier the agent
// did not have; 0 otherwise (empty output, or nothing new). `is_new_information`: the caller's verdict
// on the last case (an identifier not seen before).
double informative_level(const ToolEvent& e, bool has_new_identifier);

// Valid: a real completed execution: exit code known, not truncated, not timed out, not rejected.
bool is_valid(const ToolEvent& e);

// Identifiers and values retention looks for: names of 4+ characters ([A-Za-z_][A-Za-z0-9_]*,
// dotted paths kept whole and split) and numbers of 3+ digits. Lower-case English words are kept
// too; the scorer discards whatever the agent had already seen, which removes common words.
std::unordered_set<std::string> identifiers(std::string_view text);

// MinHash over word 3-shingles, numbers normalised to "0" (so two runs of the same test that differ
// only in timings are duplicates). kMinHashSize = 64 gives a Jaccard estimate with standard error
// <= 0.0625, enough to tell 0.9 from 0.5.
constexpr int kMinHashSize = 64;
struct MinHash {
    std::array<uint64_t, kMinHashSize> mins;
    bool is_empty = true;  // no shingle (empty or whitespace-only text)
};
MinHash minhash(std::string_view text);
// Estimated Jaccard similarity; two empty texts are identical (1), empty vs non-empty 0.
double jaccard(const MinHash& a, const MinHash& b);

}  // namespace gannet::agent
