// The evaluator: walks a compiled Program over an instance. Flag mode short-circuits and allocates
// nothing for typical tool schemas (no output paths, annotations only where an unevaluated*
// keyword needs them); basic mode keeps going after a failure and records every failing keyword
// with its instance and keyword locations.
#include "jsonschema/validator.h"

#include <algorithm>
#include <cstring>
#include <span>
#include <unordered_map>

#include "json/json.h"
#include "jsonschema/compiler.h"
#include "jsonschema/number.h"

namespace gannet::jsonschema {
namespace {

using nlohmann::json;

// What the in-place subschemas of one schema evaluated, for unevaluatedItems/Properties.
struct Annotations {
    bool all_items = false;
    size_t n_prefix_items = 0;   // items [0, n) evaluated by prefixItems
    std::vector<uint8_t> items;  // per-index marks from contains
    bool all_properties = false;
    // Keys (owned by the instance object) evaluated. The first kInline live in the object itself,
    // so typical objects collect annotations without touching the heap.
    static constexpr size_t kInline = 16;
    const std::string* inline_properties[kInline];
    size_t n_properties = 0;
    std::vector<const std::string*> properties;  // used once n_properties exceeds kInline

    void add_property(const std::string* key) {
        if (n_properties < kInline) {
            inline_properties[n_properties] = key;
        } else {
            if (properties.empty()) {
                properties.assign(inline_properties, inline_properties + kInline);
            }
            properties.push_back(key);
        }
        ++n_properties;
    }
    const std::string* const* property_begin() const {
        return n_properties <= kInline ? inline_properties : properties.data();
    }
    const std::string* const* property_end() const { return property_begin() + n_properties; }
    std::span<const std::string*> sorted_properties() {
        const std::string** begin = n_properties <= kInline ? inline_properties : properties.data();
        std::sort(begin, begin + n_properties);
        return {begin, n_properties};
    }

    void merge(const Annotations& o) {
        all_items |= o.all_items;
        n_prefix_items = std::max(n_prefix_items, o.n_prefix_items);
        if (items.size() < o.items.size()) {
            items.resize(o.items.size(), 0);
        }
        for (size_t i = 0; i < o.items.size(); ++i) {
            items[i] |= o.items[i];
        }
        all_properties |= o.all_properties;
        for (const std::string* const* p = o.property_begin(); p != o.property_end(); ++p) {
            add_property(*p);
        }
    }
    bool item_evaluated(size_t i) const {
        return all_items || i < n_prefix_items || (i < items.size() && items[i] != 0);
    }
};

[[gnu::always_inline]] inline uint8_t instance_type(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return kTypeNull;
        case json::value_t::boolean: return kTypeBoolean;
        case json::value_t::object: return kTypeObject;
        case json::value_t::array: return kTypeArray;
        case json::value_t::string: return kTypeString;
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return kTypeNumber | kTypeInteger;
        case json::value_t::number_float: {
            const double d = v.get<double>();
            return std::isfinite(d) && std::nearbyint(d) == d ? (kTypeNumber | kTypeInteger) : kTypeNumber;
        }
        default: return 0;
    }
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::boolean: return "boolean";
        case json::value_t::object: return "object";
        case json::value_t::array: return "array";
        case json::value_t::string: return "string";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "integer";
        default: return "number";
    }
}

std::string type_list(uint8_t types) {
    static const std::pair<uint8_t, const char*> kNames[] = {
        {kTypeNull, "null"},     {kTypeBoolean, "boolean"}, {kTypeObject, "object"},  {kTypeArray, "array"},
        {kTypeNumber, "number"}, {kTypeString, "string"},   {kTypeInteger, "integer"}};
    std::string out;
    for (const auto& [bit, name] : kNames) {
        if ((types & bit) && !(bit == kTypeInteger && (types & kTypeNumber))) {
            out += out.empty() ? "" : " or ";
            out += name;
        }
    }
    return out;
}

// Code points in a UTF-8 string: every byte that is not a continuation byte starts one.
size_t utf8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) {
        n += (c & 0xC0) != 0x80;
    }
    return n;
}

std::string truncated(const json& v) {
    std::string s = ::gannet::json::dump(v);
    if (s.size() > 80) {
        s = s.substr(0, 77) + "...";
    }
    return s;
}

// Short keys dominate tool schemas; a byte loop avoids a libc call per comparison.
inline bool bytes_equal(const std::string& a, const std::string& b) {
    const size_t n = a.size();
    if (n != b.size()) {
        return false;
    }
    if (n > 16) {
        return std::memcmp(a.data(), b.data(), n) == 0;
    }
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

// JSON equality with a direct path for the common string/string case.
inline bool equal(const json& a, const json& b) {
    const std::string* sa = a.get_ptr<const std::string*>();
    const std::string* sb = b.get_ptr<const std::string*>();
    if (sa != nullptr && sb != nullptr) {
        return bytes_equal(*sa, *sb);
    }
    if ((sa == nullptr) != (sb == nullptr)) {
        return false;
    }
    return a == b;
}

bool has_unique_items(const json& array) {
    const size_t n = array.size();
    if (n <= 16) {
        for (size_t i = 0; i < n; ++i) {
            for (size_t j = i + 1; j < n; ++j) {
                if (equal(array[i], array[j])) {
                    return false;
                }
            }
        }
        return true;
    }
    // Large arrays: hash buckets keep this near-linear instead of quadratic.
    std::unordered_multimap<size_t, const json*> seen;
    seen.reserve(n);
    for (const json& item : array) {
        const size_t h = json_hash(item);
        auto [lo, hi] = seen.equal_range(h);
        for (auto it = lo; it != hi; ++it) {
            if (*it->second == item) {
                return false;
            }
        }
        seen.emplace(h, &item);
    }
    return true;
}

class Evaluator {
public:
    Evaluator(const Program& program, std::vector<OutputUnit>* errors)
        : p_(program), errors_(errors), depth_limit_(std::min(program.max_eval_depth, kMaxScope)) {}

    bool run(const json& instance) {
        if (errors_ == nullptr) {
            return node(p_.root, instance, nullptr);
        }
        Paths paths;
        paths_ = &paths;
        const bool ok = node(p_.root, instance, nullptr);
        paths_ = nullptr;
        return ok;
    }

private:
    bool node(NodeId id, const json& inst, Annotations* ann);
    bool keywords(const Node& n, const json& inst, Annotations* ann);
    bool depth_exceeded();
    bool keywords_collecting(const Node& n, const json& inst, Annotations* ann);
    bool keyword(const Keyword& k, const json& inst, Annotations* ann);
    bool properties(const Keyword& k, const json& inst, Annotations* ann);
    bool items(const Keyword& k, const json& inst, Annotations* ann);
    bool contains(const Keyword& k, const json& inst, Annotations* ann);
    bool unevaluated(const Keyword& k, const json& inst, Annotations* ann);
    bool in_place(const Keyword& k, const json& inst, Annotations* ann);
    NodeId dynamic_target(const Keyword& k) const;

    // Evaluates a child schema at keyword path `kw` (output mode only) and instance child `token`.
    // `kw` is a callable producing the keyword-path segment; it runs only in output mode.
    template <typename KwPath>
    bool child(NodeId id, const json& inst, Annotations* ann, KwPath&& kw, const std::string* token) {
        if (errors_ == nullptr) {
            return node(id, inst, ann);
        }
        const size_t kw_len = paths_->kw.size();
        const size_t inst_len = paths_->inst.size();
        paths_->kw += '/';
        paths_->kw += kw();
        if (token != nullptr) {
            paths_->inst += '/';  // two appends: `"/" + s` trips GCC 12's -Wrestrict false positive
            paths_->inst += ::gannet::json::escape_pointer_token(*token);
        }
        const bool ok = node(id, inst, ann);
        paths_->kw.resize(kw_len);
        paths_->inst.resize(inst_len);
        return ok;
    }
    static auto loc(const Keyword& k) {
        return [&k]() -> const std::string& {
            return k.location;
        };
    }
    // Records a failure of keyword k; the message is built only in output mode (flag mode must not
    // allocate or format anything on the failure path either).
    template <typename MakeMessage>
    bool fail(const Keyword& k, MakeMessage&& make_message) {
        if (errors_ != nullptr) {
            errors_->push_back(OutputUnit{paths_->inst, k.location.empty() ? paths_->kw : paths_->kw + "/" + k.location,
                                          k.absolute_location, make_message()});
        }
        return false;
    }
    bool limit(std::string message) {
        if (errors_ != nullptr) {
            errors_->push_back(OutputUnit{paths_->inst, paths_->kw, "", message});
        }
        return false;
    }
    size_t mark() const { return errors_ != nullptr ? errors_->size() : 0; }
    void rollback(size_t m) {
        if (errors_ != nullptr) {
            errors_->resize(m);
        }
    }

    const Program& p_;
    std::vector<OutputUnit>* errors_;
    // Output mode only (null in flag mode, so a flag validation constructs no strings).
    struct Paths {
        std::string kw;    // keyword location as evaluated
        std::string inst;  // instance location
    };
    Paths* paths_ = nullptr;
    int depth_ = 0;
    const int depth_limit_;
    size_t n_required_seen_ = 0;  // set by properties(), read by the `required` that follows it
    // Dynamic scope: resources entered, outermost first. Fixed capacity: deeper scopes than this
    // are cut by the depth limit first.
    static constexpr int kMaxScope = 1024;
    int32_t scope_[kMaxScope];
    int n_scope_ = 0;
};

bool Evaluator::node(NodeId id, const json& inst, Annotations* ann) {
    const Node& n = p_.nodes[static_cast<size_t>(id)];
    if (depth_ >= depth_limit_) {
        return depth_exceeded();
    }
    ++depth_;
    bool ok;
    if (n.is_plain) {
        ok = keywords(n, inst, ann);  // the common case: no dynamic scope, no unevaluated*
    } else {
        const bool push_scope = p_.uses_dynamic_scope && (n_scope_ == 0 || scope_[n_scope_ - 1] != n.resource);
        if (push_scope) {
            scope_[n_scope_++] = n.resource;
        }
        ok = (n.has_unevaluated_items || n.has_unevaluated_properties) ? keywords_collecting(n, inst, ann)
                                                                       : keywords(n, inst, ann);
        if (push_scope) {
            --n_scope_;
        }
    }
    --depth_;
    return ok;
}

[[gnu::noinline, gnu::cold]] bool Evaluator::depth_exceeded() {
    return limit(
        str_printf("evaluation depth exceeds the limit of %d (instance nested too deeply or runaway "
                   "$dynamicRef recursion)",
                   p_.max_eval_depth));
}

[[gnu::hot]] bool Evaluator::keywords(const Node& n, const json& inst, Annotations* ann) {
    bool ok = true;
    const uint8_t type = instance_type(inst);
    auto k_begin = n.keywords.begin();
    if (errors_ == nullptr && n.has_leading_type) {
        // Flag mode checks `type` here, without dispatching on the keyword.
        if ((type & k_begin->types) == 0) {
            return false;
        }
        ++k_begin;
    }
    for (auto it = k_begin; it != n.keywords.end(); ++it) {
        const Keyword& k = *it;
        if ((k.applies_to & type) == 0) {
            continue;  // e.g. minLength on a number: vacuously true
        }
        if (!keyword(k, inst, ann)) {
            ok = false;
            if (errors_ == nullptr) {
                break;
            }
        }
    }
    return ok;
}

// A node with unevaluated* collects its in-place subschemas' annotations into its own set, and
// passes them up only when it is valid. Kept out of line so the common path has a small frame.
[[gnu::noinline]] bool Evaluator::keywords_collecting(const Node& n, const json& inst, Annotations* ann) {
    Annotations local;
    const bool ok = keywords(n, inst, &local);
    if (ok && ann != nullptr) {
        ann->merge(local);
    }
    return ok;
}

NodeId Evaluator::dynamic_target(const Keyword& k) const {
    for (int i = 0; i < n_scope_; ++i) {
        for (const auto& [name, target] : p_.resources[static_cast<size_t>(scope_[i])].dynamic_anchors) {
            if (name == k.anchor) {
                return target;
            }
        }
    }
    return k.sub;
}

// Inlined into the keyword loop: one dispatch per keyword, no call frame.
[[gnu::always_inline]] inline bool Evaluator::keyword(const Keyword& k, const json& inst, Annotations* ann) {
    switch (k.kw) {
        case Kw::kRef: return child(k.sub, inst, ann, loc(k), nullptr);
        case Kw::kDynamicRef: return child(dynamic_target(k), inst, ann, loc(k), nullptr);
        case Kw::kAllOf:
        case Kw::kAnyOf:
        case Kw::kOneOf:
        case Kw::kNot:
        case Kw::kIf:
        case Kw::kDependentSchemas: return in_place(k, inst, ann);
        case Kw::kProperties: return inst.is_object() ? properties(k, inst, ann) : true;
        case Kw::kItems: return inst.is_array() ? items(k, inst, ann) : true;
        case Kw::kContains: return inst.is_array() ? contains(k, inst, ann) : true;
        case Kw::kUnevaluatedItems:
        case Kw::kUnevaluatedProperties: return unevaluated(k, inst, ann);
        case Kw::kPropertyNames: {
            if (!inst.is_object()) {
                return true;
            }
            bool ok = true;
            for (auto it = inst.begin(); it != inst.end(); ++it) {
                const json name(it.key());  // propertyNames applies schemas to the key as a string
                if (!child(k.sub, name, nullptr, loc(k), &it.key())) {
                    ok = false;
                    if (errors_ == nullptr) {
                        return false;
                    }
                }
            }
            return ok;
        }
        case Kw::kFalse: return fail(k, [&] { return std::string("no value is allowed here (schema is false)"); });
        case Kw::kType:
            if (instance_type(inst) & k.types) {
                return true;
            }
            return fail(k, [&] {
                return std::string(std::string("expected ") + type_list(k.types) + ", got " + type_name(inst));
            });
        case Kw::kConst:
            return equal(inst, k.value) || fail(k, [&] { return std::string("value must be " + truncated(k.value)); });
        case Kw::kEnum:
            for (const json& option : k.value) {
                if (equal(inst, option)) {
                    return true;
                }
            }
            return fail(k, [&] { return std::string("value must be one of " + truncated(k.value)); });
        case Kw::kMultipleOf:
            return !inst.is_number() || is_multiple_of(inst, k.value) || fail(k, [&] {
                return std::string(truncated(inst) + " is not a multiple of " + truncated(k.value));
            });
        case Kw::kMaximum:
            return !inst.is_number() || compare_numbers(inst, k.value) <= 0 || fail(k, [&] {
                return std::string(truncated(inst) + " is greater than the maximum " + truncated(k.value));
            });
        case Kw::kExclusiveMaximum:
            return !inst.is_number() || compare_numbers(inst, k.value) < 0 || fail(k, [&] {
                return std::string(truncated(inst) + " is not less than the exclusive maximum " + truncated(k.value));
            });
        case Kw::kMinimum:
            return !inst.is_number() || compare_numbers(inst, k.value) >= 0 || fail(k, [&] {
                return std::string(truncated(inst) + " is less than the minimum " + truncated(k.value));
            });
        case Kw::kExclusiveMinimum:
            return !inst.is_number() || compare_numbers(inst, k.value) > 0 || fail(k, [&] {
                return std::string(truncated(inst) + " is not greater than the exclusive minimum "
                                   + truncated(k.value));
            });
        case Kw::kMaxLength: {
            if (!inst.is_string()) {
                return true;
            }
            const std::string& s = inst.get_ref<const std::string&>();
            // Code points <= bytes, so a short byte length settles it without counting.
            return s.size() <= k.count || utf8_length(s) <= k.count || fail(k, [&] {
                       return std::string(str_printf("string is longer than %llu characters",
                                                     static_cast<unsigned long long>(k.count)));
                   });
        }
        case Kw::kMinLength: {
            if (!inst.is_string()) {
                return true;
            }
            const std::string& s = inst.get_ref<const std::string&>();
            // A code point is at most 4 bytes, so a long enough byte string needs no counting.
            return (s.size() >= k.count && (s.size() >= 4 * k.count || utf8_length(s) >= k.count)) || fail(k, [&] {
                       return std::string(str_printf("string is shorter than %llu characters",
                                                     static_cast<unsigned long long>(k.count)));
                   });
        }
        case Kw::kPattern: {
            if (!inst.is_string()) {
                return true;
            }
            switch (k.patterns[0].first.search(inst.get_ref<const std::string&>())) {
                case Regex::Match::kYes: return true;
                case Regex::Match::kNo:
                    return fail(k, [&] {
                        return std::string("string does not match the pattern '" + k.patterns[0].first.pattern() + "'");
                    });
                case Regex::Match::kLimit:
                    return fail(k, [&] {
                        return std::string("pattern '" + k.patterns[0].first.pattern()
                                           + "' exceeded the regex match limit (catastrophic backtracking)");
                    });
            }
            return false;
        }
        case Kw::kFormat:
            return !inst.is_string() || k.format(inst.get_ref<const std::string&>())
                   || fail(k, [&] { return std::string("string is not a valid " + k.format_name); });
        case Kw::kMaxItems:
            return !inst.is_array() || inst.size() <= k.count || fail(k, [&] {
                return std::string(
                    str_printf("array has more than %llu items", static_cast<unsigned long long>(k.count)));
            });
        case Kw::kMinItems:
            return !inst.is_array() || inst.size() >= k.count || fail(k, [&] {
                return std::string(
                    str_printf("array has fewer than %llu items", static_cast<unsigned long long>(k.count)));
            });
        case Kw::kUniqueItems:
            return !inst.is_array() || has_unique_items(inst)
                   || fail(k, [&] { return std::string("array items are not unique"); });
        case Kw::kMaxProperties:
            return !inst.is_object() || inst.size() <= k.count || fail(k, [&] {
                return std::string(
                    str_printf("object has more than %llu properties", static_cast<unsigned long long>(k.count)));
            });
        case Kw::kMinProperties:
            return !inst.is_object() || inst.size() >= k.count || fail(k, [&] {
                return std::string(
                    str_printf("object has fewer than %llu properties", static_cast<unsigned long long>(k.count)));
            });
        case Kw::kRequired: {
            if (!inst.is_object() || (k.flag && n_required_seen_ == k.names.size())) {
                return true;  // flag: the properties pass just counted the required members
            }
            bool ok = true;
            for (const std::string& name : k.names) {
                if (inst.find(name) == inst.end()) {
                    ok = fail(k, [&] { return std::string("missing required property '" + name + "'"); });
                    if (errors_ == nullptr) {
                        return false;
                    }
                }
            }
            return ok;
        }
        case Kw::kDependentRequired: {
            if (!inst.is_object()) {
                return true;
            }
            bool ok = true;
            for (size_t i = 0; i < k.names.size(); ++i) {
                if (inst.find(k.names[i]) == inst.end()) {
                    continue;
                }
                for (const std::string& dep : k.name_lists[i]) {
                    if (inst.find(dep) == inst.end()) {
                        ok = fail(k, [&] {
                            return std::string("property '" + dep + "' is required when '" + k.names[i]
                                               + "' is present");
                        });
                        if (errors_ == nullptr) {
                            return false;
                        }
                    }
                }
            }
            return ok;
        }
        default: return true;
    }
}

bool Evaluator::in_place(const Keyword& k, const json& inst, Annotations* ann) {
    switch (k.kw) {
        case Kw::kAllOf: {
            bool ok = true;
            for (size_t i = 0; i < k.subs.size(); ++i) {
                if (!child(
                        k.subs[i], inst, ann, [&] { return k.location + "/" + std::to_string(i); }, nullptr)) {
                    ok = false;
                    if (errors_ == nullptr) {
                        return false;
                    }
                }
            }
            return ok;
        }
        case Kw::kAnyOf: {
            const size_t m = mark();
            bool ok = false;
            for (size_t i = 0; i < k.subs.size(); ++i) {
                Annotations tmp;
                if (child(
                        k.subs[i], inst, ann ? &tmp : nullptr, [&] { return k.location + "/" + std::to_string(i); },
                        nullptr)) {
                    ok = true;
                    if (ann == nullptr) {
                        break;  // every branch is needed only to collect annotations
                    }
                    ann->merge(tmp);
                }
            }
            if (ok) {
                rollback(m);
                return true;
            }
            return fail(k, [&] { return std::string("value does not match any of the anyOf schemas"); });
        }
        case Kw::kOneOf: {
            const size_t m = mark();
            int n_valid = 0;
            std::string matched;
            Annotations chosen;
            for (size_t i = 0; i < k.subs.size() && n_valid < 2; ++i) {
                Annotations tmp;
                if (child(
                        k.subs[i], inst, ann ? &tmp : nullptr, [&] { return k.location + "/" + std::to_string(i); },
                        nullptr)) {
                    ++n_valid;
                    if (errors_ != nullptr) {
                        matched += (matched.empty() ? "" : ", ") + std::to_string(i);
                    }
                    if (ann != nullptr) {
                        chosen = std::move(tmp);
                    }
                }
            }
            if (n_valid == 1) {
                rollback(m);
                if (ann != nullptr) {
                    ann->merge(chosen);
                }
                return true;
            }
            if (n_valid == 0) {
                return fail(k, [&] { return std::string("value does not match any of the oneOf schemas"); });
            }
            rollback(m);
            return fail(k, [&] { return std::string("value matches more than one oneOf schema (" + matched + ")"); });
        }
        case Kw::kNot: {
            const size_t m = mark();
            const bool matched = child(k.sub, inst, nullptr, loc(k), nullptr);
            rollback(m);
            return !matched || fail(k, [&] { return std::string("value must not match the 'not' schema"); });
        }
        case Kw::kIf: {
            const size_t m = mark();
            Annotations tmp;
            const bool cond = child(k.sub, inst, ann ? &tmp : nullptr, loc(k), nullptr);
            rollback(m);
            if (cond) {
                if (ann != nullptr) {
                    ann->merge(tmp);
                }
                return k.sub2 == kNoNode
                       || child(
                           k.sub2, inst, ann, [] { return std::string("then"); }, nullptr);
            }
            return k.sub3 == kNoNode
                   || child(
                       k.sub3, inst, ann, [] { return std::string("else"); }, nullptr);
        }
        case Kw::kDependentSchemas: {
            if (!inst.is_object()) {
                return true;
            }
            bool ok = true;
            for (size_t i = 0; i < k.names.size(); ++i) {
                if (inst.find(k.names[i]) == inst.end()) {
                    continue;
                }
                if (!child(
                        k.subs[i], inst, ann,
                        [&] { return k.location + "/" + ::gannet::json::escape_pointer_token(k.names[i]); }, nullptr)) {
                    ok = false;
                    if (errors_ == nullptr) {
                        return false;
                    }
                }
            }
            return ok;
        }
        default: return true;
    }
}

bool Evaluator::properties(const Keyword& k, const json& inst, Annotations* ann) {
    bool ok = true;
    size_t n_required_seen = 0;
    const auto& object = inst.get_ref<const json::object_t&>();
    for (auto it = object.begin(); it != object.end(); ++it) {
        const std::string& key = it->first;
        bool matched = false;
        // k.props is sorted. Tool schemas have a handful of properties: a linear scan that rejects
        // on length and first byte before comparing bytes beats a binary search.
        auto prop = k.props.end();
        if (k.props.size() <= 16) {
            for (auto p = k.props.begin(); p != k.props.end(); ++p) {
                const std::string& name = p->first;
                if (name.size() == key.size() && (key.empty() || name[0] == key[0]) && bytes_equal(name, key)) {
                    prop = p;
                    break;
                }
            }
        } else {
            prop = std::lower_bound(k.props.begin(), k.props.end(), key,
                                    [](const auto& p, const std::string& x) { return p.first < x; });
            if (prop != k.props.end() && prop->first != key) {
                prop = k.props.end();
            }
        }
        if (prop != k.props.end()) {
            matched = true;
            if (!k.prop_required.empty()) {
                n_required_seen += k.prop_required[static_cast<size_t>(prop - k.props.begin())];
            }
            if (!child(
                    prop->second, it->second, nullptr,
                    [&] { return "properties/" + ::gannet::json::escape_pointer_token(key); }, &key)) {
                ok = false;
            }
        }
        for (const auto& pattern : k.patterns) {
            const Regex& re = pattern.first;  // not a structured binding: clang 14 (make fuzz) cannot capture one
            const auto& sub = pattern.second;
            const Regex::Match m = re.search(key);
            if (m == Regex::Match::kLimit) {
                ok = fail(k, [&] {
                    return std::string("patternProperties '" + re.pattern() + "' exceeded the regex match limit");
                });
            } else if (m == Regex::Match::kYes) {
                matched = true;
                if (!child(
                        sub, it->second, nullptr,
                        [&] { return "patternProperties/" + ::gannet::json::escape_pointer_token(re.pattern()); },
                        &key)) {
                    ok = false;
                }
            }
        }
        if (!matched && k.sub != kNoNode) {
            matched = true;
            const Node& extra = p_.nodes[static_cast<size_t>(k.sub)];
            if (errors_ != nullptr && extra.keywords.size() == 1 && extra.keywords[0].kw == Kw::kFalse) {
                // additionalProperties: false gets a message naming the property.
                const size_t len = paths_->inst.size();
                paths_->inst += '/';
                paths_->inst += ::gannet::json::escape_pointer_token(key);
                errors_->push_back(OutputUnit{paths_->inst, paths_->kw + "/additionalProperties",
                                              extra.keywords[0].absolute_location,
                                              "property '" + key + "' is not allowed (additionalProperties is false)"});
                paths_->inst.resize(len);
                ok = false;
            } else if (!child(
                           k.sub, it->second, nullptr, [] { return std::string("additionalProperties"); }, &key)) {
                ok = false;
            }
        }
        if (!ok && errors_ == nullptr) {
            return false;
        }
        if (matched && ann != nullptr) {
            ann->add_property(&key);
        }
    }
    n_required_seen_ = n_required_seen;
    return ok;
}

bool Evaluator::items(const Keyword& k, const json& inst, Annotations* ann) {
    bool ok = true;
    const auto& array = inst.get_ref<const json::array_t&>();
    const size_t n = array.size();
    const size_t n_prefix = std::min(n, k.subs.size());
    if (errors_ == nullptr) {
        // Flag mode: no paths to build, stop at the first failure.
        for (size_t i = 0; i < n_prefix; ++i) {
            if (!node(k.subs[i], array[i], nullptr)) {
                return false;
            }
        }
        if (k.sub != kNoNode) {
            for (size_t i = n_prefix; i < n; ++i) {
                if (!node(k.sub, array[i], nullptr)) {
                    return false;
                }
            }
        }
        if (ann != nullptr) {
            ann->n_prefix_items = std::max(ann->n_prefix_items, n_prefix);
            if (k.sub != kNoNode && n > n_prefix) {
                ann->all_items = true;
            }
        }
        return true;
    }
    for (size_t i = 0; i < n; ++i) {
        const NodeId sub = i < n_prefix ? k.subs[i] : k.sub;
        if (sub == kNoNode) {
            break;
        }
        std::string token;
        std::string path;
        if (errors_ != nullptr) {
            token = std::to_string(i);
            path = i < n_prefix ? k.format_name + "/" + token : k.anchor;
        }
        if (!child(
                sub, inst[i], nullptr, [&] { return path; }, &token)) {
            ok = false;
            if (errors_ == nullptr) {
                return false;
            }
        }
    }
    if (ann != nullptr) {
        ann->n_prefix_items = std::max(ann->n_prefix_items, n_prefix);
        if (k.sub != kNoNode && n > n_prefix) {
            ann->all_items = true;
        }
    }
    return ok;
}

bool Evaluator::contains(const Keyword& k, const json& inst, Annotations* ann) {
    const size_t m = mark();
    uint64_t n_matched = 0;
    const size_t n = inst.size();
    for (size_t i = 0; i < n; ++i) {
        std::string token = errors_ != nullptr ? std::to_string(i) : std::string();
        if (child(k.sub, inst[i], nullptr, loc(k), &token)) {
            ++n_matched;
            if (ann != nullptr) {
                ann->items.resize(n, 0);
                ann->items[i] = 1;
            } else if (n_matched >= k.count && k.count2 == UINT64_MAX && errors_ == nullptr) {
                break;  // enough matches and no maximum: the rest cannot change the result
            }
        }
    }
    rollback(m);
    if (n_matched < k.count) {
        return fail(k, [&] {
            return std::string(str_printf("array contains %llu matching items, fewer than the required %llu",
                                          static_cast<unsigned long long>(n_matched),
                                          static_cast<unsigned long long>(k.count)));
        });
    }
    if (n_matched > k.count2) {
        return fail(k, [&] {
            return std::string(str_printf("array contains %llu matching items, more than maxContains %llu",
                                          static_cast<unsigned long long>(n_matched),
                                          static_cast<unsigned long long>(k.count2)));
        });
    }
    return true;
}

bool Evaluator::unevaluated(const Keyword& k, const json& inst, Annotations* ann) {
    // `ann` is this node's own collection (Evaluator::node gives a node with unevaluated* a local one).
    bool ok = true;
    if (k.kw == Kw::kUnevaluatedItems) {
        if (!inst.is_array()) {
            return true;
        }
        for (size_t i = 0; i < inst.size(); ++i) {
            if (ann->item_evaluated(i)) {
                continue;
            }
            std::string token = errors_ != nullptr ? std::to_string(i) : std::string();
            if (!child(k.sub, inst[i], nullptr, loc(k), &token)) {
                ok = fail(
                    k, [&] { return std::string("item " + std::to_string(i) + " is not allowed (unevaluatedItems)"); });
                if (errors_ == nullptr) {
                    return false;
                }
            }
        }
        ann->all_items = true;
        return ok;
    }
    if (!inst.is_object()) {
        return true;
    }
    const std::span<const std::string*> seen = ann->sorted_properties();
    for (auto it = inst.begin(); it != inst.end(); ++it) {
        const std::string* key = &it.key();
        if (ann->all_properties || std::binary_search(seen.begin(), seen.end(), key)) {
            continue;
        }
        if (!child(k.sub, it.value(), nullptr, loc(k), key)) {
            ok = fail(k, [&] { return std::string("property '" + *key + "' is not allowed (unevaluatedProperties)"); });
            if (errors_ == nullptr) {
                return false;
            }
        }
    }
    ann->all_properties = true;
    return ok;
}

}  // namespace

nlohmann::json ValidationResult::to_json(OutputFormat format) const {
    nlohmann::json out = {{"valid", valid}};
    if (format == OutputFormat::kBasic && !valid) {
        nlohmann::json list = nlohmann::json::array();
        for (const OutputUnit& e : errors) {
            list.push_back({{"instanceLocation", e.instance_location},
                            {"keywordLocation", e.keyword_location},
                            {"absoluteKeywordLocation", e.absolute_keyword_location},
                            {"error", e.error}});
        }
        out["errors"] = std::move(list);
    }
    return out;
}

Result<Validator> Validator::compile(const nlohmann::json& schema, const CompileOptions& options) {
    try {
        GANNET_ASSIGN_OR_RETURN(std::shared_ptr<Program> program, compile_program(schema, options));
        return Validator(std::move(program));
    } catch (const std::exception& e) {
        // nlohmann throws on type mismatches in malformed schemas we did not anticipate.
        return make_error(ErrorCode::kInvalidArgument, "jsonschema: cannot compile schema: %s", e.what());
    }
}

bool Validator::validate(const nlohmann::json& instance) const {
    Evaluator e(*program_, nullptr);
    return e.run(instance);
}

ValidationResult Validator::validate(const nlohmann::json& instance, OutputFormat format) const {
    ValidationResult result;
    Evaluator e(*program_, format == OutputFormat::kBasic ? &result.errors : nullptr);
    result.valid = e.run(instance);
    return result;
}

}  // namespace gannet::jsonschema
