#include "tokenizer/jinja.h"

#include <gtest/gtest.h>

#include <string>

namespace gannet::tokenizer::jinja {
namespace {

std::string render(const std::string& src, const std::string& globals_json = "{}", RenderLimits limits = {}) {
    Result<Template> t = Template::parse(src);
    if (!t.has_value()) {
        return "PARSE ERROR: " + t.error().message();
    }
    Result<std::string> out = t->render(Value::from_json(nlohmann::ordered_json::parse(globals_json)), limits);
    return out.has_value() ? *out : "RENDER ERROR: " + out.error().message();
}

TEST(JinjaTest, OutputsExpressionsWithPythonPrinting) {
    EXPECT_EQ(render("{{ 1 + 2 }} {{ 'a' ~ 3 }} {{ true }} {{ none }} {{ x }}|"), "3 a3 True None |");
    EXPECT_EQ(render("{{ [1, 'b'] }} {{ {'k': 1.5} }}"), "[1, 'b'] {'k': 1.5}");
    EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 1 / 2 }} {{ 2.0 * 50 }}"), "3 -4 1 0.5 100.0");
}

TEST(JinjaTest, FiltersBindTighterThanPlus) {
    EXPECT_EQ(render("{{ 'a' + s | trim + 'b' }}", R"({"s": "  x  "})"), "axb");
    EXPECT_EQ(render("{{ not xs | length == 1 }}", R"({"xs": [1]})"), "False");
}

TEST(JinjaTest, ForLoopVariablesAndScoping) {
    EXPECT_EQ(render("{% for x in xs %}{{ loop.index0 }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
                     R"({"xs": ["a", "b", "c"]})"),
              "0a,1b,2c");
    // set inside a loop does not leak; a namespace carries state out.
    EXPECT_EQ(render("{% set y = 1 %}{% set ns = namespace(n=0) %}{% for x in xs %}{% set y = 2 %}"
                     "{% set ns.n = ns.n + x %}{% endfor %}{{ y }} {{ ns.n }}",
                     R"({"xs": [1, 2, 3]})"),
              "1 6");
    EXPECT_EQ(render("{% for k, v in d | items %}{{ k }}={{ v }};{% endfor %}", R"({"d": {"a": 1, "b": 2}})"),
              "a=1;b=2;");
    EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(render("{% for x in [1,2,3,4] if x is even %}{{ x }}{% endfor %}"), "24");
}

TEST(JinjaTest, WhitespaceControlAndHfBlockTrimming) {
    EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
    // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
    EXPECT_EQ(render("{% if true %}\n    x\n    {% endif %}\ny"), "    x\ny");
    EXPECT_EQ(render("{# note #}\nz"), "z");
}

TEST(JinjaTest, TestsSlicesAndMethods) {
    EXPECT_EQ(render("{{ x is defined }} {{ y is not none }} {{ 's' is string }} {{ d is mapping }}",
                     R"({"x": 1, "y": null, "d": {}})"),
              "True False True True");
    EXPECT_EQ(render("{{ xs[1:] }} {{ xs[-1] }} {{ xs[::-1] }} {{ 'abc'[1:] }}", R"({"xs": [1, 2, 3]})"),
              "[2, 3] 3 [3, 2, 1] bc");
    EXPECT_EQ(render("{{ ' a '.strip() }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ 'ab'.startswith('a') }}"),
              "a|b|True");
    EXPECT_EQ(render("{{ 'yes' if x else 'no' }}", R"({"x": 0})"), "no");
    EXPECT_EQ(render("{{ xs | reject('equalto', 'b') | join(', ') }}", R"({"xs": ["a", "b", "c"]})"), "a, c");
}

TEST(JinjaTest, TojsonMatchesPythonJsonDumps) {
    const std::string g = R"({"t": {"name": "f", "n": [1, 2.5, true, null], "e": {}, "s": "q\"\n"}})";
    EXPECT_EQ(render("{{ t | tojson }}", g), R"({"name": "f", "n": [1, 2.5, true, null], "e": {}, "s": "q\"\n"})");
    EXPECT_EQ(render("{{ t.n | tojson(indent=2) }}", g), "[\n  1,\n  2.5,\n  true,\n  null\n]");
}

TEST(JinjaTest, MacrosAndFilterBlocks) {
    EXPECT_EQ(render("{% macro greet(who, punct='!') %}hi {{ who }}{{ punct }}{% endmacro %}"
                     "{{ greet('a') }} {{ greet('b', punct='?') }}"),
              "hi a! hi b?");
    EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
    // Unbounded recursion is an error, not a stack overflow.
    const std::string err = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    EXPECT_NE(err.find("nests deeper than 64"), std::string::npos) << err;
}

TEST(JinjaTest, HostileTemplatesEndInErrorsNotCrashesOrHangs) {
    EXPECT_EQ(Template::parse("{{ " + std::string(20000, '(') + "1 }}").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Template::parse("{{ " + std::string(20000, '-') + "1 }}").error().code(), ErrorCode::kInvalidArgument);
    std::string nested;
    for (int i = 0; i < 2000; ++i) {
        nested += "{% if true %}";
    }
    EXPECT_EQ(Template::parse(nested).error().code(), ErrorCode::kInvalidArgument);
    // The default limits allow 1M steps; a small budget checks the mechanism quickly.
    RenderLimits small;
    small.max_steps = 10000;
    const std::string hang =
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}", small);
    EXPECT_EQ(hang, "RENDER ERROR: chat template: line 1: rendering exceeds 10000 steps");
    small.max_output_bytes = 100;
    EXPECT_NE(render("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", "{}", small).find("100 bytes"),
              std::string::npos);
    EXPECT_NE(render("{{ 'x' * 1000000000 }}").find("16 MiB"), std::string::npos);
    EXPECT_NE(render("{{ range(10000000) | length }}").find("longer than 100000"), std::string::npos);
}

TEST(JinjaTest, ErrorsAreStatusesWithLines) {
    Result<Template> bad = Template::parse("line1\n{% if x %}never closed");
    ASSERT_FALSE(bad.has_value());
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.error().message().find("endif"), std::string::npos) << bad.error().message();

    EXPECT_EQ(Template::parse("{% call m() %}{% endcall %}").error().code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(Template::parse("{{ 'unterminated }}").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Template::parse("{{ 1 +").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(render("{{ raise_exception('boom') }}"), "RENDER ERROR: chat template: boom");
    EXPECT_EQ(render("\n\n{{ 1 + 'a' }}"),
              "RENDER ERROR: chat template: line 3: unsupported operand types for +: int and string");
    EXPECT_EQ(render("{{ x | nosuchfilter }}"), "RENDER ERROR: chat template: line 1: unknown filter 'nosuchfilter'");
}

// Found by chat_template_fuzz: an empty expression left the parser's cursor one before its first
// token (the error path rewound past kEnd) and the message read outside the token vector.
TEST(JinjaTest, AnEmptyExpressionIsAnErrorNamingNoToken) {
    for (const char* src : {"{{}}", "{{ }}", "{%- if -%}{% endif %}", "{% set x = %}"}) {
        Result<Template> t = Template::parse(src);
        ASSERT_FALSE(t.has_value()) << src;
        EXPECT_EQ(t.error().message(), "chat template: line 1: unexpected token near ''") << src;
    }
}

// Found by chat_template_fuzz: integer arithmetic overflowed int64 (undefined behaviour; INT64_MIN
// // -1 traps). Python's ints are unbounded, so an overflow is a render error, not a wrapped number.
TEST(JinjaTest, IntegerOverflowIsARenderError) {
    EXPECT_EQ(render("{{ 9223372036854775807 * 2 }}"), "RENDER ERROR: chat template: line 1: integer overflow in *");
    EXPECT_EQ(render("{{ 9223372036854775807 + 1 }}"), "RENDER ERROR: chat template: line 1: integer overflow in +");
    EXPECT_EQ(render("{{ -9223372036854775807 - 2 }}"), "RENDER ERROR: chat template: line 1: integer overflow in -");
    EXPECT_EQ(render("{{ (-9223372036854775807 - 1) // -1 }}"),
              "RENDER ERROR: chat template: line 1: integer overflow in //");
    EXPECT_EQ(render("{{ -(-9223372036854775807 - 1) }}"),
              "RENDER ERROR: chat template: line 1: integer overflow in unary -");
    EXPECT_EQ(render("{{ (-9223372036854775807 - 1) % -1 }} {{ 7 // -1 }} {{ -7 // 2 }} {{ -7 % 2 }}"), "0 -7 -4 1");
}

// Found by chat_template_fuzz: a namespace set to contain itself overflowed the stack when printed,
// and the cycle leaked (shared ownership). Cycles are refused; printing is bounded regardless.
TEST(JinjaTest, ReferenceCyclesAreRefused) {
    EXPECT_EQ(render("{% set ns = namespace(n=1) %}{% set ns.n = ns %}{{ ns.n }}"),
              "RENDER ERROR: chat template: line 1: cannot set 'ns.n' to a value holding 'ns' (a reference cycle)");
    EXPECT_EQ(render("{% set ns = namespace(n=1) %}{% set ns.n = [1, {'a': [ns]}] %}"),
              "RENDER ERROR: chat template: line 1: cannot set 'ns.n' to a value holding 'ns' (a reference cycle)");
    EXPECT_EQ(render("{% set a = [1] %}{% set _ = a.append([a]) %}{{ a }}"),
              "RENDER ERROR: chat template: line 1: cannot append a list to itself (a reference cycle)");
    // Shared, acyclic values are fine and print in full.
    EXPECT_EQ(render("{% set a = [1] %}{% set b = [a, a] %}{% set _ = b.append(a) %}{{ b }}"), "[[1], [1], [1]]");
}

}  // namespace
}  // namespace gannet::tokenizer::jinja
