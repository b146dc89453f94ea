#include "constrain/schema_graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "json/json.h"

namespace gannet::constrain {

using nlohmann::json;

int32_t NameTrie::child(int32_t node, uint8_t byte) const {
    const TrieNode& n = nodes[static_cast<size_t>(node)];
    for (int32_t e = n.first_edge; e < n.first_edge + n.n_edges; ++e) {
        if (edges[static_cast<size_t>(e)].byte == byte)
            return edges[static_cast<size_t>(e)].child;
    }
    return -1;
}

NameTrie NameTrie::build(const std::vector<std::string>& names) {
    // Build with child maps first, then flatten: names are few (properties, enum values).
    struct Tmp {
        std::map<uint8_t, int32_t> kids;
        int32_t terminal = -1;
        uint64_t subtree = 0;
    };
    std::vector<Tmp> tmp(1);
    for (size_t i = 0; i < names.size(); ++i) {
        int32_t at = 0;
        const uint64_t bit = i < 64 ? (uint64_t{1} << i) : 0;
        tmp[0].subtree |= bit;
        for (unsigned char c : names[i]) {
            auto it = tmp[static_cast<size_t>(at)].kids.find(c);
            if (it == tmp[static_cast<size_t>(at)].kids.end()) {
                tmp.emplace_back();
                const int32_t id = static_cast<int32_t>(tmp.size() - 1);
                tmp[static_cast<size_t>(at)].kids[c] = id;
                at = id;
            } else {
                at = it->second;
            }
            tmp[static_cast<size_t>(at)].subtree |= bit;
        }
        if (tmp[static_cast<size_t>(at)].terminal < 0)
            tmp[static_cast<size_t>(at)].terminal = static_cast<int32_t>(i);
    }
    NameTrie t;
    t.nodes.resize(tmp.size());
    for (size_t i = 0; i < tmp.size(); ++i) {
        t.nodes[i].first_edge = static_cast<int32_t>(t.edges.size());
        t.nodes[i].n_edges = static_cast<int32_t>(tmp[i].kids.size());
        t.nodes[i].terminal = tmp[i].terminal;
        t.nodes[i].subtree = tmp[i].subtree;
        for (auto [b, c] : tmp[i].kids)
            t.edges.push_back({b, c});
    }
    return t;
}

// Compiles schema objects into nodes (memoized by JSON pointer so $ref recursion terminates) and
// intersects nodes for allOf / $ref siblings (memoized by pair, for the same reason).
class GraphBuilder {
public:
    explicit GraphBuilder(const json& root) : root_(root) {
        g_.nodes_.resize(2);
        g_.nodes_[SchemaGraph::kNeverNode].types = 0;
        // Drafts 4 to 7: "$ref" replaces its siblings instead of joining them.
        if (root.is_object() && root.contains("$schema") && root["$schema"].is_string()) {
            const std::string uri = root["$schema"].get<std::string>();
            is_ref_exclusive_ = uri.find("draft-04") != std::string::npos || uri.find("draft-06") != std::string::npos
                                || uri.find("draft-07") != std::string::npos;
        }
    }

    Result<SchemaGraph> run() {
        GANNET_ASSIGN_OR_RETURN(int32_t r, build(root_, ""));
        g_.root_ = r;
        prune_unsatisfiable();
        return std::move(g_);
    }

private:
    int32_t add(Node n) {
        g_.nodes_.push_back(std::move(n));
        return static_cast<int32_t>(g_.nodes_.size() - 1);
    }
    void loosen() { g_.needs_validation_ = true; }

    Result<int32_t> resolve_ref(const std::string& ref) {
        if (ref.empty() || ref[0] != '#') {
            loosen();  // remote or $id-relative reference: not followed, the validator checks it
            return SchemaGraph::kAnyNode;
        }
        std::string ptr = ref.substr(1);
        // Percent-decoding of the fragment (JSON pointers in URIs escape some characters).
        std::string dec;
        for (size_t i = 0; i < ptr.size(); ++i) {
            if (ptr[i] == '%' && i + 2 < ptr.size() && std::isxdigit(static_cast<unsigned char>(ptr[i + 1]))
                && std::isxdigit(static_cast<unsigned char>(ptr[i + 2]))) {
                dec += static_cast<char>(std::stoi(ptr.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                dec += ptr[i];
            }
        }
        if (!dec.empty() && dec[0] != '/') {
            loosen();  // an $anchor name
            return SchemaGraph::kAnyNode;
        }
        const json* at = &root_;
        try {
            at = &root_.at(json::json_pointer(dec));
        } catch (const std::exception&) {
            return make_error(ErrorCode::kInvalidArgument, "constrain: $ref: %s: not found", ref.c_str());
        }
        return build(*at, dec);
    }

    Result<int32_t> build(const json& s, const std::string& ptr);
    Result<Node> local_keywords(const json& s, const std::string& ptr);
    int32_t intersect(int32_t a, int32_t b, int depth);
    Node merge(const Node& a, const Node& b, int depth);
    void finalize_object(Node& n);
    void prune_unsatisfiable();
    bool type_satisfiable(const Node& n, uint8_t bit, const std::vector<char>& sat) const;

    const json& root_;
    SchemaGraph g_;
    std::map<std::string, int32_t> by_ptr_;
    std::map<std::pair<int32_t, int32_t>, int32_t> by_pair_;
    int depth_ = 0;
    bool is_ref_exclusive_ = false;
};

namespace {

uint8_t type_bits(const std::string& t) {
    if (t == "null")
        return kTypeNull;
    if (t == "boolean")
        return kTypeBool;
    if (t == "integer")
        return kTypeInteger;
    if (t == "number")
        return kTypeInteger | kTypeNumber;
    if (t == "string")
        return kTypeString;
    if (t == "array")
        return kTypeArray;
    if (t == "object")
        return kTypeObject;
    return 0;
}

uint8_t value_type(const json& v) {
    if (v.is_null())
        return kTypeNull;
    if (v.is_boolean())
        return kTypeBool;
    if (v.is_number_integer() || v.is_number_unsigned())
        return kTypeInteger;
    if (v.is_number_float())
        return std::floor(v.get<double>()) == v.get<double>() ? (kTypeInteger | kTypeNumber)
                                                              : kTypeNumber | kTypeInteger;
    if (v.is_string())
        return kTypeString;
    if (v.is_array())
        return kTypeArray;
    return kTypeObject;
}

int64_t get_count(const json& s, const char* key, int64_t dflt) {
    if (!s.contains(key) || !s[key].is_number())
        return dflt;
    const double d = s[key].get<double>();
    return d < 0 ? 0 : d > 1e15 ? int64_t{1000000000000000} : static_cast<int64_t>(std::ceil(d));
}

// A pattern with no '.', negated class or \S \D \W \P escape prunes most tokens at each byte.
bool is_restrictive(const std::string& p) {
    // Quantified groups make the partial match backtrack (an e-mail pattern took 0.9 s for one
    // mask), and long patterns cost more per call: both are left to the check at the close.
    if (p.size() > 64 || p.find(")*") != std::string::npos || p.find(")+") != std::string::npos
        || p.find("){") != std::string::npos) {
        return false;
    }
    bool in_class = false;
    for (size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 < p.size() && std::strchr("SDWP", p[i + 1]) != nullptr)
                return false;
            ++i;
        } else if (c == '[') {
            if (i + 1 < p.size() && p[i + 1] == '^')
                return false;
            in_class = true;
        } else if (c == ']') {
            in_class = false;
        } else if (c == '.' && !in_class) {
            return false;
        }
    }
    return true;
}

// Whether the keyword set constrains nothing the graph enforces (annotations only).
bool is_unconstrained(const Node& n) {
    return n.alts.empty() && n.types == kTypeAll && n.bool_values == 3 && n.min_length == 0 && n.max_length < 0
           && !n.has_string_enum && !n.has_min && !n.has_max && n.prefix_items.empty() && n.items < 0
           && n.min_items == 0 && n.max_items < 0 && n.prop_names.empty() && n.additional < 0 && n.min_props == 0
           && n.max_props < 0;
}

}  // namespace

void GraphBuilder::finalize_object(Node& n) {
    n.prop_trie = NameTrie::build(n.prop_names);
}

Result<int32_t> GraphBuilder::build(const json& s, const std::string& ptr) {
    if (s.is_boolean())
        return s.get<bool>() ? SchemaGraph::kAnyNode : SchemaGraph::kNeverNode;
    if (!s.is_object()) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: schema at '%s': expected an object or a boolean",
                          ptr.c_str());
    }
    if (auto it = by_ptr_.find(ptr); it != by_ptr_.end())
        return it->second;
    if (++depth_ > 200) {
        --depth_;
        return make_error(ErrorCode::kInvalidArgument, "constrain: schema at '%s': nested deeper than 200",
                          ptr.c_str());
    }
    if (is_ref_exclusive_ && s.contains("$ref") && s["$ref"].is_string()) {
        const int32_t alias = add(Node{});
        by_ptr_[ptr] = alias;
        auto r = resolve_ref(s["$ref"].get<std::string>());
        --depth_;
        if (!r.has_value())
            return r.error();
        g_.nodes_[static_cast<size_t>(alias)].alts = {*r};
        return alias;
    }
    const int32_t id = add(Node{});  // reserved first so that recursive $refs find it
    by_ptr_[ptr] = id;
    auto local = local_keywords(s, ptr);
    if (!local.has_value()) {
        --depth_;
        return local.error();
    }
    int32_t cur = is_unconstrained(*local) ? SchemaGraph::kAnyNode : add(std::move(*local));
    auto apply = [&](const char* key, bool is_alt) -> Status {
        if (!s.contains(key))
            return Status();
        const json& list = s[key];
        if (!list.is_array() || list.empty())
            return Status();
        if (!is_alt) {
            for (size_t i = 0; i < list.size(); ++i) {
                GANNET_ASSIGN_OR_RETURN(int32_t sub, build(list[i], ptr + "/" + key + "/" + std::to_string(i)));
                cur = intersect(cur, sub, 0);
            }
            return Status();
        }
        Node alt;
        for (size_t i = 0; i < list.size(); ++i) {
            GANNET_ASSIGN_OR_RETURN(int32_t sub, build(list[i], ptr + "/" + key + "/" + std::to_string(i)));
            alt.alts.push_back(sub);
        }
        cur = intersect(cur, add(std::move(alt)), 0);
        return Status();
    };
    Status st;
    if (s.contains("$ref") && s["$ref"].is_string()) {
        auto r = resolve_ref(s["$ref"].get<std::string>());
        if (!r.has_value())
            st = r.error();
        else
            cur = intersect(cur, *r, 0);
    }
    if (st.ok())
        st = apply("allOf", false);
    if (st.ok())
        st = apply("anyOf", true);
    if (st.ok())
        st = apply("oneOf", true);
    --depth_;
    if (!st.ok())
        return st;
    if (s.contains("oneOf") || s.contains("not") || s.contains("if") || s.contains("$dynamicRef"))
        loosen();
    // The reserved node becomes an alias (an alternation of one) of what was built.
    g_.nodes_[static_cast<size_t>(id)].alts = {cur};
    return id;
}

Result<Node> GraphBuilder::local_keywords(const json& s, const std::string& ptr) {
    Node n;
    if (s.contains("type")) {
        const json& t = s["type"];
        uint8_t bits = 0;
        if (t.is_string())
            bits = type_bits(t.get<std::string>());
        if (t.is_array()) {
            for (const json& x : t) {
                if (x.is_string())
                    bits |= type_bits(x.get<std::string>());
            }
        }
        n.types = bits;
    }
    for (const char* key : {"const", "enum"}) {
        if (!s.contains(key))
            continue;
        const json values = std::string(key) == "const" ? json::array({s[key]}) : s[key];
        if (!values.is_array())
            continue;
        uint8_t bits = 0;
        uint8_t bools = 0;
        std::vector<std::string> strings;
        for (const json& v : values) {
            bits |= value_type(v);
            if (v.is_boolean())
                bools |= v.get<bool>() ? 2 : 1;
            if (v.is_string())
                strings.push_back(v.get<std::string>());
            if (!v.is_string() && !v.is_boolean() && !v.is_null())
                loosen();  // numbers, arrays, objects
        }
        n.types &= bits;
        n.bool_values &= bools;
        if (n.has_string_enum) {
            loosen();  // both const and enum: keep the first, the validator checks the other
        } else {
            n.has_string_enum = true;
            n.string_enum = NameTrie::build(strings);
        }
    }
    auto num = [&](const char* key, bool& has, double& v) {
        if (s.contains(key) && s[key].is_number()) {
            const double d = s[key].get<double>();
            if (!has || (std::string(key).find("inimum") != std::string::npos ? d > v : d < v))
                v = d;
            has = true;
            return true;
        }
        return false;
    };
    num("minimum", n.has_min, n.min);
    num("maximum", n.has_max, n.max);
    if (num("exclusiveMinimum", n.has_min, n.min) && n.min == s["exclusiveMinimum"].get<double>())
        n.is_min_exclusive = true;
    if (num("exclusiveMaximum", n.has_max, n.max) && n.max == s["exclusiveMaximum"].get<double>())
        n.is_max_exclusive = true;
    n.min_length = get_count(s, "minLength", 0);
    n.max_length = get_count(s, "maxLength", -1);
    n.min_items = get_count(s, "minItems", 0);
    n.max_items = get_count(s, "maxItems", -1);
    n.min_props = get_count(s, "minProperties", 0);
    n.max_props = get_count(s, "maxProperties", -1);
    if (s.contains("pattern") && s["pattern"].is_string()) {
        auto re = jsonschema::Regex::compile(s["pattern"].get<std::string>());
        if (re.has_value()) {
            n.is_pattern_per_byte = re->is_anchored() && is_restrictive(s["pattern"].get<std::string>());
            n.pattern = std::move(*re);
            auto dfa = RegexDfa::compile(s["pattern"].get<std::string>(), RegexDfa::Mode::kSearch);
            if (dfa.has_value())
                n.pattern_dfa = std::make_shared<const RegexDfa>(std::move(*dfa));
        }
    }
    for (const char* key : {"pattern", "format", "multipleOf", "uniqueItems", "contains", "propertyNames",
                            "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedItems",
                            "unevaluatedProperties", "patternProperties", "contentEncoding"}) {
        if (s.contains(key))
            loosen();
    }
    const bool is_items_array = s.contains("items") && s["items"].is_array();  // draft 2019 and older
    const json* prefix = s.contains("prefixItems") && s["prefixItems"].is_array() ? &s["prefixItems"]
                         : is_items_array                                         ? &s["items"]
                                                                                  : nullptr;
    if (prefix != nullptr) {
        const std::string kw = is_items_array ? "items" : "prefixItems";
        for (size_t i = 0; i < prefix->size(); ++i) {
            GANNET_ASSIGN_OR_RETURN(int32_t sub, build((*prefix)[i], ptr + "/" + kw + "/" + std::to_string(i)));
            n.prefix_items.push_back(sub);
        }
    }
    const char* items_kw = is_items_array ? "additionalItems" : "items";
    if (s.contains(items_kw) && !s[items_kw].is_array()) {
        GANNET_ASSIGN_OR_RETURN(n.items, build(s[items_kw], ptr + "/" + items_kw));
    }
    if (s.contains("properties") && s["properties"].is_object()) {
        for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
            GANNET_ASSIGN_OR_RETURN(
                int32_t sub, build(it.value(), ptr + "/properties/" + gannet::json::escape_pointer_token(it.key())));
            n.prop_names.push_back(it.key());
            n.prop_nodes.push_back(sub);
        }
    }
    if (s.contains("required") && s["required"].is_array()) {
        for (const json& r : s["required"]) {
            if (!r.is_string())
                continue;
            auto pos = std::find(n.prop_names.begin(), n.prop_names.end(), r.get<std::string>());
            if (pos == n.prop_names.end()) {
                // Required but not listed: it becomes a property of additionalProperties' schema.
                n.prop_names.push_back(r.get<std::string>());
                n.prop_nodes.push_back(-2);  // resolved below, once additionalProperties is known
                pos = n.prop_names.end() - 1;
            }
            const size_t i = static_cast<size_t>(pos - n.prop_names.begin());
            if (i < 64)
                n.required |= uint64_t{1} << i;
            else
                loosen();
        }
    }
    if (s.contains("additionalProperties") && !s.contains("patternProperties")) {
        GANNET_ASSIGN_OR_RETURN(n.additional, build(s["additionalProperties"], ptr + "/additionalProperties"));
        if (n.additional == SchemaGraph::kAnyNode)
            n.additional = -1;
    }
    for (int32_t& p : n.prop_nodes) {
        if (p == -2)
            p = n.additional < 0 ? SchemaGraph::kAnyNode : n.additional;
    }
    if (n.prop_names.size() > 64)
        loosen();
    finalize_object(n);
    return n;
}

int32_t GraphBuilder::intersect(int32_t a, int32_t b, int depth) {
    if (a == b || b == SchemaGraph::kAnyNode)
        return a;
    if (a == SchemaGraph::kAnyNode)
        return b;
    if (a == SchemaGraph::kNeverNode || b == SchemaGraph::kNeverNode)
        return SchemaGraph::kNeverNode;
    if (depth > 8) {
        loosen();  // deep structural merges stop here: the first operand stands, the validator checks
        return a;
    }
    const auto key = std::make_pair(std::min(a, b), std::max(a, b));
    if (auto it = by_pair_.find(key); it != by_pair_.end())
        return it->second;
    const int32_t id = add(Node{});
    by_pair_[key] = id;
    // Copies: add() may reallocate nodes_.
    const Node na = g_.nodes_[static_cast<size_t>(a)];
    const Node nb = g_.nodes_[static_cast<size_t>(b)];
    Node out;
    if (!na.alts.empty() || !nb.alts.empty()) {
        const Node& alt = na.alts.empty() ? nb : na;
        const int32_t other = na.alts.empty() ? a : b;
        for (int32_t x : alt.alts)
            out.alts.push_back(intersect(x, other, depth + 1));
    } else {
        out = merge(na, nb, depth);
    }
    g_.nodes_[static_cast<size_t>(id)] = std::move(out);
    return id;
}

Node GraphBuilder::merge(const Node& a, const Node& b, int depth) {
    Node n;
    const uint8_t num_a = a.types & (kTypeInteger | kTypeNumber), num_b = b.types & (kTypeInteger | kTypeNumber);
    n.types = static_cast<uint8_t>((a.types & b.types) & ~(kTypeInteger | kTypeNumber));
    if (num_a && num_b)
        n.types |= (num_a & num_b & kTypeNumber) ? (kTypeInteger | kTypeNumber) : kTypeInteger;
    n.bool_values = a.bool_values & b.bool_values;
    n.min_length = std::max(a.min_length, b.min_length);
    n.max_length = a.max_length < 0   ? b.max_length
                   : b.max_length < 0 ? a.max_length
                                      : std::min(a.max_length, b.max_length);
    if (a.has_string_enum || b.has_string_enum) {
        n.has_string_enum = true;
        n.string_enum = a.has_string_enum ? a.string_enum : b.string_enum;
        if (a.has_string_enum && b.has_string_enum)
            loosen();
    }
    n.pattern = a.pattern.has_value() ? a.pattern : b.pattern;
    n.is_pattern_per_byte = a.pattern.has_value() ? a.is_pattern_per_byte : b.is_pattern_per_byte;
    n.pattern_dfa = a.pattern.has_value() ? a.pattern_dfa : b.pattern_dfa;
    if (a.pattern.has_value() && b.pattern.has_value())
        loosen();
    n.has_min = a.has_min || b.has_min;
    n.has_max = a.has_max || b.has_max;
    n.min = !b.has_min || (a.has_min && a.min > b.min) ? a.min : b.min;
    n.is_min_exclusive = !b.has_min || (a.has_min && a.min > b.min) ? a.is_min_exclusive : b.is_min_exclusive;
    n.max = !b.has_max || (a.has_max && a.max < b.max) ? a.max : b.max;
    n.is_max_exclusive = !b.has_max || (a.has_max && a.max < b.max) ? a.is_max_exclusive : b.is_max_exclusive;
    // Arrays: element-wise intersection over the longer prefix.
    const size_t n_prefix = std::max(a.prefix_items.size(), b.prefix_items.size());
    auto item_at = [](const Node& x, size_t i) {
        return i < x.prefix_items.size() ? x.prefix_items[i] : x.items < 0 ? SchemaGraph::kAnyNode : x.items;
    };
    for (size_t i = 0; i < n_prefix; ++i)
        n.prefix_items.push_back(intersect(item_at(a, i), item_at(b, i), depth + 1));
    n.items = a.items < 0 ? b.items : b.items < 0 ? a.items : intersect(a.items, b.items, depth + 1);
    n.min_items = std::max(a.min_items, b.min_items);
    n.max_items = a.max_items < 0 ? b.max_items : b.max_items < 0 ? a.max_items : std::min(a.max_items, b.max_items);
    // Objects: a key listed by one side only meets the other side's additionalProperties.
    auto add_of = [](const Node& x) {
        return x.additional < 0 ? SchemaGraph::kAnyNode : x.additional;
    };
    std::vector<std::string> req_names;
    for (const Node* x : {&a, &b}) {
        for (size_t i = 0; i < x->prop_names.size() && i < 64; ++i) {
            if (x->required & (uint64_t{1} << i))
                req_names.push_back(x->prop_names[i]);
        }
    }
    for (size_t i = 0; i < a.prop_names.size(); ++i) {
        auto pos = std::find(b.prop_names.begin(), b.prop_names.end(), a.prop_names[i]);
        const int32_t other =
            pos == b.prop_names.end() ? add_of(b) : b.prop_nodes[static_cast<size_t>(pos - b.prop_names.begin())];
        n.prop_names.push_back(a.prop_names[i]);
        n.prop_nodes.push_back(intersect(a.prop_nodes[i], other, depth + 1));
    }
    for (size_t i = 0; i < b.prop_names.size(); ++i) {
        if (std::find(a.prop_names.begin(), a.prop_names.end(), b.prop_names[i]) != a.prop_names.end())
            continue;
        n.prop_names.push_back(b.prop_names[i]);
        n.prop_nodes.push_back(intersect(b.prop_nodes[i], add_of(a), depth + 1));
    }
    for (const std::string& r : req_names) {
        const size_t i =
            static_cast<size_t>(std::find(n.prop_names.begin(), n.prop_names.end(), r) - n.prop_names.begin());
        if (i < 64)
            n.required |= uint64_t{1} << i;
    }
    n.additional = a.additional < 0   ? b.additional
                   : b.additional < 0 ? a.additional
                                      : intersect(a.additional, b.additional, depth + 1);
    n.min_props = std::max(a.min_props, b.min_props);
    n.max_props = a.max_props < 0 ? b.max_props : b.max_props < 0 ? a.max_props : std::min(a.max_props, b.max_props);
    if (n.prop_names.size() > 64)
        loosen();
    finalize_object(n);
    return n;
}

bool GraphBuilder::type_satisfiable(const Node& n, uint8_t bit, const std::vector<char>& sat) const {
    auto ok = [&](int32_t id) {
        return id < 0 || sat[static_cast<size_t>(id)] != 0;
    };
    switch (bit) {
        case kTypeNull: return true;
        case kTypeBool: return n.bool_values != 0;
        case kTypeString:
            if (n.max_length >= 0 && n.max_length < n.min_length)
                return false;
            return !n.has_string_enum || (!n.string_enum.empty() && n.string_enum.nodes[0].subtree != 0)
                   || n.string_enum.nodes.size() > 1
                   || (!n.string_enum.empty() && n.string_enum.nodes[0].terminal >= 0);
        case kTypeInteger:
        case kTypeNumber: {
            if (!n.has_min || !n.has_max)
                return true;
            if ((n.types & kTypeNumber) == 0) {
                const double lo = n.is_min_exclusive ? std::floor(n.min) + 1 : std::ceil(n.min);
                const double hi = n.is_max_exclusive ? std::ceil(n.max) - 1 : std::floor(n.max);
                return lo <= hi;
            }
            return n.min < n.max || (n.min == n.max && !n.is_min_exclusive && !n.is_max_exclusive);
        }
        case kTypeArray: {
            if (n.max_items >= 0 && n.max_items < n.min_items)
                return false;
            for (int64_t i = 0; i < n.min_items; ++i) {
                const int32_t it =
                    static_cast<size_t>(i) < n.prefix_items.size() ? n.prefix_items[static_cast<size_t>(i)] : n.items;
                if (!ok(it))
                    return false;
                if (static_cast<size_t>(i) >= n.prefix_items.size())
                    break;  // the rest share `items`
            }
            return true;
        }
        case kTypeObject: {
            if (n.max_props >= 0 && n.max_props < n.min_props)
                return false;
            int64_t n_req = 0;
            for (size_t i = 0; i < n.prop_names.size() && i < 64; ++i) {
                if ((n.required >> i) & 1) {
                    ++n_req;
                    if (!ok(n.prop_nodes[i]))
                        return false;
                }
            }
            return n.max_props < 0 || n_req <= n.max_props;
        }
        default: return false;
    }
}

// Least fixpoint of "has at least one instance", so that a required property of an unsatisfiable
// schema (or a recursion that never bottoms out) is never offered to the model: every state the
// matcher can reach then has a completion.
void GraphBuilder::prune_unsatisfiable() {
    const size_t n_nodes = g_.nodes_.size();
    std::vector<char> sat(n_nodes, 0);
    std::vector<uint8_t> eff(n_nodes, 0);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 1; i < n_nodes; ++i) {
            const Node& n = g_.nodes_[i];
            char s = 0;
            uint8_t t = 0;
            if (!n.alts.empty()) {
                for (int32_t a : n.alts)
                    s |= sat[static_cast<size_t>(a)];
            } else {
                for (uint8_t bit = 1; bit < 128; bit = static_cast<uint8_t>(bit << 1)) {
                    if ((n.types & bit) && type_satisfiable(n, bit, sat))
                        t |= bit;
                }
                s = t != 0;
            }
            if (s != sat[i] || t != eff[i]) {
                sat[i] = s;
                eff[i] = t;
                changed = true;
            }
        }
    }
    for (size_t i = 0; i < n_nodes; ++i) {
        Node& n = g_.nodes_[i];
        n.is_sat = sat[i] != 0;
        if (n.alts.empty()) {
            // An integer-only node whose number bit fell keeps its integer bit; a number node
            // whose integer bit survived keeps both.
            n.types = eff[i];
        }
    }
}

SchemaGraph SchemaGraph::any_object() {
    SchemaGraph g;
    g.nodes_.resize(3);
    g.nodes_[kNeverNode].types = 0;
    g.nodes_[2].types = kTypeObject;
    g.root_ = 2;
    return g;
}

Result<SchemaGraph> SchemaGraph::compile(const json& schema) {
    if (!schema.is_object() && !schema.is_boolean()) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: schema: expected an object or a boolean, got %s",
                          schema.type_name());
    }
    try {
        GraphBuilder b(schema);
        return b.run();
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInvalidArgument, "constrain: schema: %s", e.what());
    }
}

}  // namespace gannet::constrain
