#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace gannet::tokenizer::jinja {

Value Value::none() {
    Value v;
    v.kind_ = Kind::kNone;
    return v;
}
Value Value::boolean(bool b) {
    Value v;
    v.kind_ = Kind::kBool;
    v.b_ = b;
    v.i_ = b ? 1 : 0;
    return v;
}
Value Value::integer(int64_t i) {
    Value v;
    v.kind_ = Kind::kInt;
    v.i_ = i;
    return v;
}
Value Value::number(double f) {
    Value v;
    v.kind_ = Kind::kFloat;
    v.f_ = f;
    return v;
}
Value Value::string(std::string s) {
    Value v;
    v.kind_ = Kind::kString;
    v.s_ = std::move(s);
    return v;
}
Value Value::array(Array items) {
    Value v;
    v.kind_ = Kind::kArray;
    v.array_ = std::make_shared<Array>(std::move(items));
    return v;
}
Value Value::object(Object items) {
    Value v;
    v.kind_ = Kind::kObject;
    v.object_ = std::make_shared<Object>(std::move(items));
    return v;
}
Value Value::builtin(std::string name) {
    Value v;
    v.kind_ = Kind::kBuiltin;
    v.s_ = std::move(name);
    return v;
}

Value Value::macro(const void* def, std::string name) {
    Value v;
    v.kind_ = Kind::kMacro;
    v.macro_ = def;
    v.s_ = std::move(name);
    return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return none();
        case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
        case nlohmann::ordered_json::value_t::number_unsigned: return integer(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_float: return number(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return string(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            Array items;
            for (const auto& e : j) {
                items.push_back(from_json(e));
            }
            return array(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Object items;
            for (const auto& [k, e] : j.items()) {
                items.emplace_back(k, from_json(e));
            }
            return object(std::move(items));
        }
        default: return Value();
    }
}

nlohmann::ordered_json Value::to_nlohmann() const {
    switch (kind_) {
        case Kind::kBool: return b_;
        case Kind::kInt: return i_;
        case Kind::kFloat: return f_;
        case Kind::kString: return s_;
        case Kind::kArray: {
            nlohmann::ordered_json j = nlohmann::ordered_json::array();
            for (const Value& e : *array_) {
                j.push_back(e.to_nlohmann());
            }
            return j;
        }
        case Kind::kObject: {
            nlohmann::ordered_json j = nlohmann::ordered_json::object();
            for (const auto& [k, e] : *object_) {
                j[k] = e.to_nlohmann();
            }
            return j;
        }
        default: return nullptr;
    }
}

const Value* Value::get(std::string_view key) const {
    if (kind_ != Kind::kObject) {
        return nullptr;
    }
    for (const auto& [k, v] : *object_) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

void Value::set(const std::string& key, Value v) {
    for (auto& [k, old] : *object_) {
        if (k == key) {
            old = std::move(v);
            return;
        }
    }
    object_->emplace_back(key, std::move(v));
}

bool Value::truthy() const {
    switch (kind_) {
        case Kind::kBool: return b_;
        case Kind::kInt: return i_ != 0;
        case Kind::kFloat: return f_ != 0.0;
        case Kind::kString: return !s_.empty();
        case Kind::kArray: return !array_->empty();
        case Kind::kObject: return !object_->empty();
        case Kind::kBuiltin:
        case Kind::kMacro: return true;
        default: return false;
    }
}

bool Value::equals(const Value& o) const {
    const bool num = kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool;
    const bool onum = o.kind_ == Kind::kInt || o.kind_ == Kind::kFloat || o.kind_ == Kind::kBool;
    if (num && onum) {
        if (kind_ != Kind::kFloat && o.kind_ != Kind::kFloat) {
            return i_ == o.i_;
        }
        return as_double() == o.as_double();
    }
    if (kind_ != o.kind_) {
        return false;
    }
    switch (kind_) {
        case Kind::kString:
        case Kind::kBuiltin:
        case Kind::kMacro: return s_ == o.s_;
        case Kind::kArray: {
            if (array_->size() != o.array_->size()) {
                return false;
            }
            for (size_t i = 0; i < array_->size(); ++i) {
                if (!(*array_)[i].equals((*o.array_)[i])) {
                    return false;
                }
            }
            return true;
        }
        case Kind::kObject: {
            if (object_->size() != o.object_->size()) {
                return false;
            }
            for (const auto& [k, v] : *object_) {
                const Value* ov = o.get(k);
                if (ov == nullptr || !v.equals(*ov)) {
                    return false;
                }
            }
            return true;
        }
        default: return true;  // undefined == undefined, none == none
    }
}

namespace {

// Python's repr of a float: shortest round-trip digits, always with a '.' or exponent.
std::string float_repr(double f) {
    if (std::isnan(f)) {
        return "NaN";
    }
    if (std::isinf(f)) {
        return f > 0 ? "Infinity" : "-Infinity";
    }
    // Shortest digit count that round-trips, then Python's layout: positional for exponents in
    // [-4, 16), scientific otherwise.
    char buf[48];
    int prec = 1;
    for (; prec < 17; ++prec) {
        std::snprintf(buf, sizeof(buf), "%.*e", prec - 1, f);
        if (std::strtod(buf, nullptr) == f) {
            break;
        }
    }
    std::snprintf(buf, sizeof(buf), "%.*e", prec - 1, f);
    const int exp = std::atoi(std::strchr(buf, 'e') + 1);
    if (exp < -4 || exp >= 16) {
        std::string s = buf;
        const size_t e = s.find('e');
        std::string mant = s.substr(0, e);
        std::string ex = s.substr(e);
        return mant + ex;
    }
    std::snprintf(buf, sizeof(buf), "%.*f", std::max(prec - 1 - exp, 1), f);
    return buf;
}

void json_string(const std::string& s, std::string* out) {
    out->push_back('"');
    for (char c : s) {
        switch (c) {
            case '"': *out += "\\\""; break;
            case '\\': *out += "\\\\"; break;
            case '\n': *out += "\\n"; break;
            case '\r': *out += "\\r"; break;
            case '\t': *out += "\\t"; break;
            case '\b': *out += "\\b"; break;
            case '\f': *out += "\\f"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
                    *out += buf;
                } else {
                    out->push_back(c);
                }
        }
    }
    out->push_back('"');
}

// Python's repr of a str: single quotes unless the text holds a ' and no ".
void python_string_repr(const std::string& s, std::string* out) {
    const char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
    out->push_back(q);
    for (char c : s) {
        if (c == q || c == '\\') {
            out->push_back('\\');
            out->push_back(c);
        } else if (c == '\n') {
            *out += "\\n";
        } else if (c == '\t') {
            *out += "\\t";
        } else if (c == '\r') {
            *out += "\\r";
        } else {
            out->push_back(c);
        }
    }
    out->push_back(q);
}

void newline_indent(std::string* out, int indent, int depth) {
    out->push_back('\n');
    out->append(static_cast<size_t>(indent * depth), ' ');
}

}  // namespace

bool Value::reaches(const Value& container) const {
    auto identity = [](const Value& v) -> const void* {
        return v.kind_ == Kind::kArray    ? static_cast<const void*>(v.array_.get())
               : v.kind_ == Kind::kObject ? static_cast<const void*>(v.object_.get())
                                          : nullptr;
    };
    const void* target = identity(container);
    if (target == nullptr) {
        return false;
    }
    // Iterative, each container once: shared sub-lists make a DAG that recursion would walk
    // exponentially often.
    std::vector<const Value*> todo = {this};
    std::unordered_set<const void*> seen;
    while (!todo.empty()) {
        const Value* v = todo.back();
        todo.pop_back();
        const void* id = identity(*v);
        if (id == nullptr || !seen.insert(id).second) {
            continue;
        }
        if (id == target) {
            return true;
        }
        if (v->kind_ == Kind::kArray) {
            for (const Value& item : *v->array_) {
                todo.push_back(&item);
            }
        } else {
            for (const auto& field : *v->object_) {
                todo.push_back(&field.second);
            }
        }
    }
    return false;
}

bool Value::is_past_print_limit(const std::string& out, int depth) {
    constexpr int kMaxDepth = 64;
    constexpr size_t kMaxBytes = (size_t{64} << 20) + 1;  // past RenderLimits' default max_output_bytes
    return depth > kMaxDepth || out.size() > kMaxBytes;
}

void Value::write_json(std::string* out, int indent, int depth) const {
    if ((kind_ == Kind::kArray || kind_ == Kind::kObject) && is_past_print_limit(*out, depth)) {
        *out += kind_ == Kind::kArray ? "[...]" : "{...}";
        return;
    }
    switch (kind_) {
        case Kind::kBool: *out += b_ ? "true" : "false"; return;
        case Kind::kInt: *out += std::to_string(i_); return;
        case Kind::kFloat: *out += float_repr(f_); return;
        case Kind::kString: json_string(s_, out); return;
        case Kind::kArray:
        case Kind::kObject: {
            const bool is_arr = kind_ == Kind::kArray;
            const size_t n = is_arr ? array_->size() : object_->size();
            out->push_back(is_arr ? '[' : '{');
            for (size_t i = 0; i < n; ++i) {
                if (i > 0) {
                    *out += indent >= 0 ? "," : ", ";
                }
                if (indent >= 0) {
                    newline_indent(out, indent, depth + 1);
                }
                if (is_arr) {
                    (*array_)[i].write_json(out, indent, depth + 1);
                } else {
                    json_string((*object_)[i].first, out);
                    *out += ": ";
                    (*object_)[i].second.write_json(out, indent, depth + 1);
                }
            }
            if (indent >= 0 && n > 0) {
                newline_indent(out, indent, depth);
            }
            out->push_back(is_arr ? ']' : '}');
            return;
        }
        default: *out += "null"; return;
    }
}

std::string Value::to_json(int indent) const {
    std::string out;
    write_json(&out, indent, 0);
    return out;
}

void Value::write_repr(std::string* out, int depth) const {
    if ((kind_ == Kind::kArray || kind_ == Kind::kObject) && is_past_print_limit(*out, depth)) {
        *out += kind_ == Kind::kArray ? "[...]" : "{...}";
        return;
    }
    switch (kind_) {
        case Kind::kString: python_string_repr(s_, out); return;
        case Kind::kArray: {
            out->push_back('[');
            for (size_t i = 0; i < array_->size(); ++i) {
                *out += i > 0 ? ", " : "";
                (*array_)[i].write_repr(out, depth + 1);
            }
            out->push_back(']');
            return;
        }
        case Kind::kObject: {
            out->push_back('{');
            for (size_t i = 0; i < object_->size(); ++i) {
                *out += i > 0 ? ", " : "";
                python_string_repr((*object_)[i].first, out);
                *out += ": ";
                (*object_)[i].second.write_repr(out, depth + 1);
            }
            out->push_back('}');
            return;
        }
        default: *out += to_output(); return;
    }
}

std::string Value::to_output() const {
    switch (kind_) {
        case Kind::kUndefined: return "";
        case Kind::kNone: return "None";
        case Kind::kBool: return b_ ? "True" : "False";
        case Kind::kInt: return std::to_string(i_);
        case Kind::kFloat: return float_repr(f_);
        case Kind::kString: return s_;
        case Kind::kBuiltin: return "<built-in function " + s_ + ">";
        case Kind::kMacro: return "<macro " + s_ + ">";
        default: {
            std::string out;
            write_repr(&out, 0);
            return out;
        }
    }
}

}  // namespace gannet::tokenizer::jinja
