// The builtins of the Jinja subset: filters, `is` tests, str/dict/list methods, and the value
// helpers evaluation shares. Names and semantics follow Jinja2 and Python (see jinja.h).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "tokenizer/jinja_renderer.h"
#include "tokenizer/utf8.h"

namespace gannet::tokenizer::jinja {
namespace {

std::string to_upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}
std::string to_lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}
std::string capitalize(const std::string& s) {
    std::string out = to_lower(s);
    if (!out.empty()) {
        out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    }
    return out;
}
std::string title(const std::string& s) {
    std::string out = s;
    bool start = true;
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
        start = !std::isalnum(u);
    }
    return out;
}
std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) {
        return s;
    }
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
        s.replace(pos, from.size(), to);
    }
    return s;
}

}  // namespace

Status runtime_error(const Expr& e, const std::string& msg) {
    return make_error(ErrorCode::kInvalidArgument, "chat template: line %d: %s", e.line, msg.c_str());
}

const char* kind_name(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined: return "undefined";
        case Value::Kind::kNone: return "none";
        case Value::Kind::kBool: return "bool";
        case Value::Kind::kInt: return "int";
        case Value::Kind::kFloat: return "float";
        case Value::Kind::kString: return "string";
        case Value::Kind::kArray: return "list";
        case Value::Kind::kObject: return "dict";
        case Value::Kind::kBuiltin: return "function";
        case Value::Kind::kMacro: return "macro";
    }
    return "?";
}

std::string strip(const std::string& s, const std::string& chars, bool left, bool right) {
    size_t b = 0;
    size_t e = s.size();
    while (left && b < e && chars.find(s[b]) != std::string::npos) {
        ++b;
    }
    while (right && e > b && chars.find(s[e - 1]) != std::string::npos) {
        --e;
    }
    return s.substr(b, e - b);
}

std::vector<Value> iterate(const Value& v) {
    if (v.is_array()) {
        return v.items();
    }
    std::vector<Value> out;
    if (v.is_object()) {
        for (const auto& [k, _] : v.fields()) {
            out.push_back(Value::string(k));
        }
    } else if (v.is_string()) {
        const std::string& s = v.str();
        for (size_t pos = 0; pos < s.size();) {
            const size_t n = utf8_char_len(s, pos);
            out.push_back(Value::string(s.substr(pos, n)));
            pos += n;
        }
    }
    return out;
}

int64_t length_of(const Value& v) {
    if (v.is_string()) {
        return static_cast<int64_t>(iterate(v).size());
    }
    if (v.is_array()) {
        return static_cast<int64_t>(v.items().size());
    }
    if (v.is_object()) {
        return static_cast<int64_t>(v.fields().size());
    }
    return 0;
}

Value items_of(const Value& v) {
    Array out;
    if (v.is_object()) {
        for (const auto& [k, val] : v.fields()) {
            out.push_back(Value::array({Value::string(k), val}));
        }
    }
    return Value::array(std::move(out));
}

Value slice(const Value& v, const Value& start, const Value& stop, const Value& step_v) {
    std::vector<Value> elems = iterate(v);
    const auto n = static_cast<int64_t>(elems.size());
    const int64_t step = step_v.is_number() ? step_v.as_int() : 1;
    if (step == 0) {
        return Value();
    }
    auto clamp = [&](const Value& x, int64_t dflt) {
        if (!x.is_number()) {
            return dflt;
        }
        int64_t i = x.as_int();
        if (i < 0) {
            i += n;
        }
        return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t b = clamp(start, step > 0 ? 0 : n - 1);
    const int64_t e = clamp(stop, step > 0 ? n : -1);
    Array out;
    for (int64_t i = b; step > 0 ? i < e : i > e; i += step) {
        out.push_back(elems[static_cast<size_t>(i)]);
    }
    if (v.is_string()) {
        std::string s;
        for (const Value& c : out) {
            s += c.str();
        }
        return Value::string(std::move(s));
    }
    return Value::array(std::move(out));
}

bool contains(const Value& hay, const Value& needle) {
    if (hay.is_string()) {
        return needle.is_string() && hay.str().find(needle.str()) != std::string::npos;
    }
    if (hay.is_object()) {
        return hay.get(needle.to_output()) != nullptr;
    }
    if (hay.is_array()) {
        for (const Value& v : hay.items()) {
            if (v.equals(needle)) {
                return true;
            }
        }
    }
    return false;
}

Result<Value> Renderer::call_method(const Expr& e, const Value& self, const std::string& name,
                                    const std::vector<Value>& args) {
    auto arg_str = [&](size_t i, const std::string& dflt) {
        return i < args.size() ? args[i].to_output() : dflt;
    };
    if (self.is_string()) {
        const std::string& s = self.str();
        if (name == "strip" || name == "lstrip" || name == "rstrip") {
            const std::string chars = args.empty() || args[0].is_none() ? kWhitespace : args[0].to_output();
            return Value::string(strip(s, chars, name != "rstrip", name != "lstrip"));
        }
        if (name == "startswith") {
            return Value::boolean(s.starts_with(arg_str(0, "")));
        }
        if (name == "endswith") {
            return Value::boolean(s.ends_with(arg_str(0, "")));
        }
        if (name == "upper") {
            return Value::string(to_upper(s));
        }
        if (name == "lower") {
            return Value::string(to_lower(s));
        }
        if (name == "title") {
            return Value::string(title(s));
        }
        if (name == "capitalize") {
            return Value::string(capitalize(s));
        }
        if (name == "replace") {
            return Value::string(replace_all(s, arg_str(0, ""), arg_str(1, "")));
        }
        if (name == "split") {
            Array parts;
            const std::string sep = args.empty() || args[0].is_none() ? "" : args[0].to_output();
            if (sep.empty()) {
                size_t pos = 0;
                while ((pos = s.find_first_not_of(kWhitespace, pos)) != std::string::npos) {
                    const size_t end = s.find_first_of(kWhitespace, pos);
                    parts.push_back(Value::string(s.substr(pos, end - pos)));
                    pos = end;
                }
            } else {
                size_t pos = 0;
                for (size_t next; (next = s.find(sep, pos)) != std::string::npos; pos = next + sep.size()) {
                    parts.push_back(Value::string(s.substr(pos, next - pos)));
                }
                parts.push_back(Value::string(s.substr(pos)));
            }
            return Value::array(std::move(parts));
        }
    } else if (self.is_object()) {
        if (name == "items") {
            return items_of(self);
        }
        if (name == "keys" || name == "values") {
            Array out;
            for (const auto& [k, v] : self.fields()) {
                out.push_back(name == "keys" ? Value::string(k) : v);
            }
            return Value::array(std::move(out));
        }
        if (name == "get") {
            const Value* v = args.empty() ? nullptr : self.get(args[0].to_output());
            return v != nullptr ? *v : (args.size() > 1 ? args[1] : Value::none());
        }
    } else if (self.is_array() && name == "append" && args.size() == 1) {
        if (args[0].reaches(self)) {
            return runtime_error(e, "cannot append a list to itself (a reference cycle)");
        }
        self.items().push_back(args[0]);
        return Value::none();
    }
    return runtime_error(e, std::string("unknown method '") + name + "' on a " + kind_name(self));
}

Result<bool> Renderer::apply_test(const Expr& e, const std::string& name, const Value& in,
                                  const std::vector<Value>& args) {
    using K = Value::Kind;
    if (name == "defined") {
        return !in.is_undefined();
    }
    if (name == "undefined") {
        return in.is_undefined();
    }
    if (name == "none") {
        return in.is_none();
    }
    if (name == "string") {
        return in.is_string();
    }
    if (name == "number") {
        return in.is_number();
    }
    if (name == "integer") {
        return in.kind() == K::kInt;
    }
    if (name == "float") {
        return in.kind() == K::kFloat;
    }
    if (name == "boolean") {
        return in.kind() == K::kBool;
    }
    if (name == "true" || name == "false") {
        return in.kind() == K::kBool && in.as_bool() == (name == "true");
    }
    if (name == "mapping") {
        return in.is_object();
    }
    if (name == "iterable" || name == "sequence") {
        return in.is_array() || in.is_object() || in.is_string();
    }
    if (name == "callable") {
        return in.kind() == K::kBuiltin;
    }
    if (name == "odd" || name == "even") {
        return in.kind() == K::kInt && (in.as_int() % 2 != 0) == (name == "odd");
    }
    if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
        return !args.empty() && in.equals(args[0]);
    }
    if (name == "ne" || name == "!=") {
        return args.empty() || !in.equals(args[0]);
    }
    if (name == "in") {
        return !args.empty() && contains(args[0], in);
    }
    return runtime_error(e, "unknown test '" + name + "'");
}

Result<Value> Renderer::apply_filter(const Expr& e, const std::string& name, const Value& in,
                                     const std::vector<Value>& args, const std::map<std::string, Value>& kwargs) {
    auto kwarg = [&](const char* key, size_t pos) -> Value {
        auto it = kwargs.find(key);
        if (it != kwargs.end()) {
            return it->second;
        }
        return pos < args.size() ? args[pos] : Value();
    };
    if (name == "trim") {
        return Value::string(strip(in.to_output(), kWhitespace, true, true));
    }
    if (name == "length" || name == "count") {
        return Value::integer(length_of(in));
    }
    if (name == "tojson") {
        const Value indent = kwarg("indent", 0);
        return Value::string(in.to_json(indent.is_number() ? static_cast<int>(indent.as_int()) : -1));
    }
    if (name == "items") {
        return items_of(in);
    }
    if (name == "join") {
        const std::string sep = kwarg("d", 0).is_undefined() ? "" : kwarg("d", 0).to_output();
        const Value attr = kwarg("attribute", 1);
        std::string out;
        bool first = true;
        for (const Value& v : iterate(in)) {
            out += first ? "" : sep;
            first = false;
            const Value* field = attr.is_string() ? v.get(attr.str()) : nullptr;
            out += field != nullptr ? field->to_output() : v.to_output();
        }
        return Value::string(std::move(out));
    }
    if (name == "default" || name == "d") {
        const bool boolean = kwarg("boolean", 1).truthy();
        const bool use_default = in.is_undefined() || (boolean && !in.truthy());
        return use_default ? (args.empty() ? Value::string("") : args[0]) : in;
    }
    if (name == "upper" || name == "lower" || name == "capitalize" || name == "title") {
        const std::string s = in.to_output();
        return Value::string(name == "upper"   ? to_upper(s)
                             : name == "lower" ? to_lower(s)
                             : name == "title" ? title(s)
                                               : capitalize(s));
    }
    if (name == "string") {
        return Value::string(in.to_output());
    }
    if (name == "safe" || name == "e" || name == "escape") {
        return in;  // chat templates render plain text: no HTML escaping (HF does not autoescape)
    }
    if (name == "int") {
        if (in.is_number()) {
            return Value::integer(in.as_int());
        }
        return Value::integer(in.is_string() ? std::strtoll(in.str().c_str(), nullptr, 10) : 0);
    }
    if (name == "float") {
        return Value::number(in.is_number() ? in.as_double() : std::strtod(in.to_output().c_str(), nullptr));
    }
    if (name == "abs") {
        return in.kind() == Value::Kind::kFloat ? Value::number(std::fabs(in.as_double()))
                                                : Value::integer(std::llabs(in.as_int()));
    }
    if (name == "replace") {
        return Value::string(replace_all(in.to_output(), kwarg("old", 0).to_output(), kwarg("new", 1).to_output()));
    }
    if (name == "first" || name == "last") {
        std::vector<Value> elems = iterate(in);
        if (elems.empty()) {
            return Value();
        }
        return name == "first" ? elems.front() : elems.back();
    }
    if (name == "list") {
        return Value::array(iterate(in));
    }
    if (name == "reverse") {
        std::vector<Value> elems = iterate(in);
        std::reverse(elems.begin(), elems.end());
        return Value::array(std::move(elems));
    }
    if (name == "unique") {
        Array out;
        for (const Value& v : iterate(in)) {
            if (!contains(Value::array(out), v)) {
                out.push_back(v);
            }
        }
        return Value::array(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
        const bool by_attr = name.ends_with("attr");
        const bool keep_match = name.starts_with("select");
        const size_t test_pos = by_attr ? 1 : 0;
        Array out;
        for (const Value& v : iterate(in)) {
            Value subject = v;
            if (by_attr) {
                const Value* field = args.empty() ? nullptr : v.get(args[0].to_output());
                subject = field != nullptr ? *field : Value();
            }
            bool match = subject.truthy();
            if (args.size() > test_pos) {
                std::vector<Value> test_args(args.begin() + static_cast<std::ptrdiff_t>(test_pos) + 1, args.end());
                GANNET_ASSIGN_OR_RETURN(match, apply_test(e, args[test_pos].to_output(), subject, test_args));
            }
            if (match == keep_match) {
                out.push_back(v);
            }
        }
        return Value::array(std::move(out));
    }
    if (name == "map") {
        Array out;
        const Value attr = kwarg("attribute", 99);
        for (const Value& v : iterate(in)) {
            if (attr.is_string()) {
                const Value* field = v.get(attr.str());
                out.push_back(field != nullptr ? *field : kwarg("default", 99));
            } else if (!args.empty()) {
                std::vector<Value> rest(args.begin() + 1, args.end());
                GANNET_ASSIGN_OR_RETURN(Value mapped, apply_filter(e, args[0].to_output(), v, rest, {}));
                out.push_back(std::move(mapped));
            }
        }
        return Value::array(std::move(out));
    }
    return runtime_error(e, "unknown filter '" + name + "'");
}

}  // namespace gannet::tokenizer::jinja
