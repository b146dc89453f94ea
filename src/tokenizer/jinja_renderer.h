// Internal: the renderer behind jinja::Template::render and the helpers its evaluation
// (jinja_eval.cc) and its builtins (jinja_builtins.cc: filters, tests, methods) share.
// Owner: tokenizer. Not thread-safe: one Renderer per render() call.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tokenizer/jinja.h"
#include "tokenizer/jinja_ast.h"

namespace gannet::tokenizer::jinja {

enum class Flow { kNormal, kBreak, kContinue };

inline constexpr const char* kWhitespace = " \t\n\r\v\f";

// kInvalidArgument "chat template: line N: msg".
Status runtime_error(const Expr& e, const std::string& msg);
const char* kind_name(const Value& v);  // "string", "list", ... for messages
std::string strip(const std::string& s, const std::string& chars, bool left, bool right);
// The elements a for loop (or a filter) iterates: list items, dict keys, string characters.
std::vector<Value> iterate(const Value& v);
int64_t length_of(const Value& v);  // characters of a string, items of a list or dict
Value items_of(const Value& v);     // a dict's [key, value] pairs; empty for other values
// Python `in`: substring, list element or dict key.
bool contains(const Value& hay, const Value& needle);
// Python slicing of a list or string.
Value slice(const Value& v, const Value& start, const Value& stop, const Value& step_v);

class Renderer {
public:
    Renderer(const Value& globals, const RenderLimits& limits) : limits_(limits) {
        frames_.emplace_back();
        if (globals.is_object()) {
            for (const auto& [k, v] : globals.fields()) {
                frames_[0][k] = v;
            }
        }
    }

    Status exec(const std::vector<Stmt>& body, Flow* flow);
    std::string& out() { return out_; }

private:
    Result<Value> eval(const Expr& e);
    Result<Value> eval_binary(const Expr& e);
    Result<Value> eval_call(const Expr& e);
    Result<Value> call_method(const Expr& e, const Value& self, const std::string& name,
                              const std::vector<Value>& args);
    Result<Value> apply_filter(const Expr& e, const std::string& name, const Value& in, const std::vector<Value>& args,
                               const std::map<std::string, Value>& kwargs);
    Result<bool> apply_test(const Expr& e, const std::string& name, const Value& in, const std::vector<Value>& args);
    Status eval_args(const Expr& e, size_t first, std::vector<Value>* args, std::map<std::string, Value>* kwargs);
    Status exec_for(const Stmt& s);
    Status exec_set(const Stmt& s, Value v);
    Result<std::string> capture(const std::vector<Stmt>& body);
    Result<Value> call_macro(const Expr& e, const Stmt& def, const std::vector<Value>& args,
                             const std::map<std::string, Value>& kwargs);

    Value lookup(const std::string& name) const {
        for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
            auto f = it->find(name);
            if (f != it->end()) {
                return f->second;
            }
        }
        static const char* const kBuiltins[] = {"raise_exception", "namespace", "range", "strftime_now", "dict"};
        for (const char* b : kBuiltins) {
            if (name == b) {
                return Value::builtin(name);
            }
        }
        return Value();
    }

    std::vector<std::map<std::string, Value>> frames_;
    std::string out_;
    int macro_depth_ = 0;  // bounds recursion: a hostile template must not overflow the stack
    int64_t n_steps_ = 0;  // statements executed plus loop iterations
    RenderLimits limits_;
};

// Deep enough for real templates (which nest macros a few levels for JSON schemas), small enough
// that the C++ stack (a few KB per level) never runs out.
inline constexpr int kMaxMacroDepth = 64;

}  // namespace gannet::tokenizer::jinja
