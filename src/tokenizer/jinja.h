// A small Jinja2 interpreter for chat templates, covering what real Hugging Face templates use:
// {{ }}, {% if/elif/else %}, {% for a[, b] in xs [if cond] %} with loop.index/index0/first/last/
// length/revindex, {% set x = ... %} (also ns.attr and {% set x %}...{% endset %}), break/continue,
// {% macro name(a, b=default) %} (called with positional or keyword arguments), {% filter f %},
// {# #}, whitespace control ({%- -%}) plus HF's trim_blocks/lstrip_blocks; literals, attribute and
// item access, slices, + - * / // % ~, comparisons, and/or/not, in, `is` tests, x if c else y;
// filters (trim, length, tojson, items, join, default, upper, lower, first, last, list, select/
// reject[attr], map(attribute=), string, int, replace, capitalize, title, unique, safe); str/dict
// methods; globals raise_exception, namespace, range, strftime_now. Call blocks, caller(),
// include/import/extends are not supported: parse() returns kUnimplemented for them. Owner: tokenizer. Thread-safety:
// a parsed Template is immutable; render() may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/jinja_value.h"

namespace gannet::tokenizer::jinja {

struct Stmt;

// Bounds on one render: templates come from model files, so nested loops or runaway output from a
// hostile one end in kResourceExhausted instead of a hang or an out-of-memory kill. A long agent
// conversation (1000 messages, ~50 statements each) stays far below the defaults.
struct RenderLimits {
    int64_t max_steps = 1'000'000;  // statements executed plus loop iterations
    size_t max_output_bytes = size_t{64} << 20;
};

class Template {
public:
    // kInvalidArgument for a syntax error (with its line), kUnimplemented for unsupported tags.
    static Result<Template> parse(std::string_view source);

    // Renders with `globals` (a dict) as the top-level variables. kInvalidArgument for runtime
    // errors, including raise_exception("...") whose message is passed through.
    Result<std::string> render(const Value& globals, const RenderLimits& limits = RenderLimits()) const;

private:
    std::shared_ptr<const std::vector<Stmt>> body_;
};

}  // namespace gannet::tokenizer::jinja
