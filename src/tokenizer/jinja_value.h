// Values of the Jinja-subset interpreter that renders chat templates: Python-like scalars, lists
// and insertion-ordered dicts, with Python's printing, truthiness, equality and json.dumps rules
// (what Hugging Face's Jinja environment produces). Owner: tokenizer. Thread-safety: lists and
// dicts are shared by reference (as in Python); a Value tree must not be shared across threads
// while a template that mutates namespaces renders it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gannet::tokenizer::jinja {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;  // insertion order, like a Python dict

class Value {
public:
    enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kBuiltin, kMacro };

    Value() = default;  // undefined
    static Value none();
    static Value boolean(bool b);
    static Value integer(int64_t i);
    static Value number(double f);
    static Value string(std::string s);
    static Value array(Array items = {});
    static Value object(Object items = {});
    static Value builtin(std::string name);  // a callable global (raise_exception, namespace, ...)
    // A {% macro %}; `def` is its syntax node, owned by the template, which outlives rendering.
    static Value macro(const void* def, std::string name);
    static Value from_json(const nlohmann::ordered_json& j);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::kUndefined; }
    bool is_none() const { return kind_ == Kind::kNone; }
    bool is_string() const { return kind_ == Kind::kString; }
    bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
    bool is_array() const { return kind_ == Kind::kArray; }
    bool is_object() const { return kind_ == Kind::kObject; }

    bool as_bool() const { return b_; }
    int64_t as_int() const { return kind_ == Kind::kFloat ? static_cast<int64_t>(f_) : i_; }
    double as_double() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(i_); }
    const std::string& str() const { return s_; }  // kString, kBuiltin and kMacro (its name)
    const void* macro_def() const { return macro_; }
    Array& items() const { return *array_; }     // REQUIRES: is_array()
    Object& fields() const { return *object_; }  // REQUIRES: is_object()

    // Dict lookup; nullptr when absent or not a dict.
    const Value* get(std::string_view key) const;
    void set(const std::string& key, Value v);  // REQUIRES: is_object()

    bool truthy() const;
    // Python ==, with 1 == 1.0 and deep comparison of lists and dicts.
    bool equals(const Value& other) const;
    // What {{ x }} prints: str(x) in Python (True, None, ['a', 1], {'k': 'v'}); undefined is "".
    std::string to_output() const;
    // True when this value is `container` (the same shared list or dict) or holds it at any depth:
    // storing it inside `container` would make a reference cycle, which shared ownership leaks.
    bool reaches(const Value& container) const;
    // json.dumps(x, ensure_ascii=False, indent=indent) with Python's separators; indent < 0: one line.
    std::string to_json(int indent) const;
    nlohmann::ordered_json to_nlohmann() const;

private:
    void write_json(std::string* out, int indent, int depth) const;
    void write_repr(std::string* out, int depth) const;
    // Lists and dicts are shared, so `{% set ns.n = ns %}` makes a cycle: printing stops at this depth
    // (Python prints [...] / {...} for a cycle) or once `out` passes the render output limit, so a
    // cycle or a doubling DAG costs bounded time and the render then fails on its size limit.
    static bool is_past_print_limit(const std::string& out, int depth);

    Kind kind_ = Kind::kUndefined;
    bool b_ = false;
    int64_t i_ = 0;
    double f_ = 0.0;
    std::string s_;
    std::shared_ptr<Array> array_;
    std::shared_ptr<Object> object_;
    const void* macro_ = nullptr;
};

}  // namespace gannet::tokenizer::jinja
