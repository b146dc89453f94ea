// SchemaGraph: a JSON Schema 2020-12 compiled into the nodes the character-level matcher walks.
// Each node is a set of allowed JSON types with the per-type keywords that can be enforced byte by
// byte (string length and enum, integer/number bounds, array prefixItems/items/min/max,
// object properties/required/additionalProperties/min/max) or an alternation (anyOf/oneOf,
// type unions kept in one node). The graph is always a superset of the schema: whatever it
// cannot enforce (format, multipleOf, uniqueItems, contains, not, if/then/else,
// dependent*, oneOf's exclusivity, remote $ref) only loosens it and sets `needs_validation`, so
// the final text is checked by jsonschema::Validator. Owner: constrain.
// Thread-safety: immutable after compile(); share freely.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "constrain/regex_dfa.h"
#include "jsonschema/regex.h"

namespace gannet::constrain {

// JSON types as bits of Node::types.
enum TypeBit : uint8_t {
    kTypeNull = 1,
    kTypeBool = 2,
    kTypeInteger = 4,  // integers only (set without kTypeNumber)
    kTypeNumber = 8,   // any number (implies integers)
    kTypeString = 16,
    kTypeArray = 32,
    kTypeObject = 64,
    kTypeAll = 127,
};

// A byte trie of names (object property names, string enum values). Node 0 is the root.
struct NameTrie {
    struct TrieNode {
        int32_t first_edge = 0;  // edges_[first_edge, first_edge + n_edges), sorted by byte
        int32_t n_edges = 0;
        int32_t terminal = -1;  // index of the name ending here, -1 if none
        uint64_t subtree = 0;   // bit i: name i (< 64) ends at or below this node
    };
    struct Edge {
        uint8_t byte = 0;
        int32_t child = 0;
    };
    std::vector<TrieNode> nodes;
    std::vector<Edge> edges;
    bool empty() const { return nodes.empty(); }
    // Child of `node` on `byte`, -1 if none.
    int32_t child(int32_t node, uint8_t byte) const;
    static NameTrie build(const std::vector<std::string>& names);
};

struct Node {
    uint8_t types = kTypeAll;
    bool is_sat = true;         // has at least one instance (set by compile())
    std::vector<int32_t> alts;  // non-empty: an alternation; the fields below are unused
    // bool: which literals (bit 0 false, bit 1 true)
    uint8_t bool_values = 3;
    // string
    int64_t min_length = 0;
    int64_t max_length = -1;  // -1: none
    bool has_string_enum = false;
    NameTrie string_enum;
    // The pattern as a DFA (null when it is not regular or too large): checked at every byte in
    // constant time, so every pattern it covers is enforced token by token; the matcher then
    // ignores the two PCRE2 fields below.
    std::shared_ptr<const RegexDfa> pattern_dfa;
    // Without a DFA: PCRE2, checked when the string closes (the first 62 bytes of content)...
    std::optional<jsonschema::Regex> pattern;
    // ...and after every character (partial matching) for anchored patterns (an unanchored one
    // may match later) that are restrictive (no '.', negated class or \S-like escape, which leave
    // nearly every token live and cost a regex call per trie node).
    bool is_pattern_per_byte = false;
    // numbers (bounds apply to both kTypeInteger and kTypeNumber)
    bool has_min = false, has_max = false, is_min_exclusive = false, is_max_exclusive = false;
    double min = 0, max = 0;
    // array
    std::vector<int32_t> prefix_items;
    int32_t items = -1;  // node of items after the prefix; -1: any value
    int64_t min_items = 0;
    int64_t max_items = -1;
    // object
    std::vector<std::string> prop_names;
    std::vector<int32_t> prop_nodes;
    uint64_t required = 0;              // bits over prop_names (the first 64)
    bool has_unknown_required = false;  // a required name outside properties: needs an additional key
    int32_t additional = -1;            // node of other keys' values; -1: any; kNeverNode: forbidden
    int64_t min_props = 0;
    int64_t max_props = -1;
    NameTrie prop_trie;
};

class SchemaGraph {
public:
    static constexpr int32_t kNeverNode = 0;  // matches nothing
    static constexpr int32_t kAnyNode = 1;    // any JSON value

    // Errors: kInvalidArgument for a schema that is neither an object nor a boolean, or whose
    // local $ref does not resolve ("constrain: $ref: <ref>: not found").
    static Result<SchemaGraph> compile(const nlohmann::json& schema);
    // Any JSON object ({"type": "json_object"}).
    static SchemaGraph any_object();

    int32_t root() const { return root_; }
    const Node& node(int32_t id) const { return nodes_[static_cast<size_t>(id)]; }
    size_t n_nodes() const { return nodes_.size(); }
    // True when some keyword was only approximated and the final text must be validated.
    bool needs_validation() const { return needs_validation_; }

private:
    friend class GraphBuilder;
    std::vector<Node> nodes_;
    int32_t root_ = kAnyNode;
    bool needs_validation_ = false;
};

}  // namespace gannet::constrain
