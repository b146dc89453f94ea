// The compiled form of a schema: a flat array of nodes (one per subschema), each a short list of
// pre-resolved keywords whose subschema references are node indices, so validation does no URI or
// pointer work and no map lookups on the schema side. Internal to src/jsonschema/.
// Thread-safety: immutable once compile() returns.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "jsonschema/regex.h"

namespace gannet::jsonschema {

using NodeId = int32_t;
constexpr NodeId kNoNode = -1;

enum class Kw : uint8_t {
    kFalse,  // the boolean schema false (an always-failing keyword keeps eval uniform)
    kType,
    kConst,
    kEnum,
    kMultipleOf,
    kMaximum,
    kExclusiveMaximum,
    kMinimum,
    kExclusiveMinimum,
    kMaxLength,
    kMinLength,
    kPattern,
    kFormat,
    kMaxItems,
    kMinItems,
    kUniqueItems,
    kMaxProperties,
    kMinProperties,
    kRequired,
    kDependentRequired,
    kRef,         // $ref, and $dynamicRef whose target has no matching $dynamicAnchor
    kDynamicRef,  // $dynamicRef resolved through the dynamic scope
    kAllOf,
    kAnyOf,
    kOneOf,
    kNot,
    kIf,  // with then/else in sub2/sub3
    kDependentSchemas,
    kPropertyNames,
    kProperties,  // properties + patternProperties + additionalProperties in one pass over the instance
    kItems,       // prefixItems + items in one pass
    kContains,    // with minContains/maxContains
    kUnevaluatedItems,
    kUnevaluatedProperties,
};

// Type bits for `type`.
enum TypeBit : uint8_t {
    kTypeNull = 1,
    kTypeBoolean = 2,
    kTypeObject = 4,
    kTypeArray = 8,
    kTypeNumber = 16,
    kTypeString = 32,
    kTypeInteger = 64,
};

using FormatCheck = bool (*)(std::string_view);

struct Keyword {
    Kw kw;
    // Instance types this keyword constrains (TypeBit mask); the evaluator skips it for others
    // without dispatching, e.g. minLength on a number.
    uint8_t applies_to = 0x7F;
    uint8_t types = 0;               // kType
    bool flag = false;               // kRequired: every name is a sibling property, counted by kProperties
    uint64_t count = 0;              // length/size limits, minContains
    uint64_t count2 = UINT64_MAX;    // maxContains
    nlohmann::json value;            // const, enum (array), numeric limits, multipleOf
    std::vector<std::string> names;  // required; dependentRequired keys
    std::vector<std::vector<std::string>> name_lists;   // dependentRequired values
    std::vector<NodeId> subs;                           // allOf/anyOf/oneOf, prefixItems, dependentSchemas
    std::vector<std::pair<std::string, NodeId>> props;  // properties (sorted by name)
    std::vector<uint8_t> prop_required;                 // kProperties: props[i] is also in the node's `required`
    std::vector<std::pair<Regex, NodeId>> patterns;     // patternProperties; pattern uses patterns[0]
    NodeId sub = kNoNode;   // items, additionalProperties, contains, not, if, $ref target, ...
    NodeId sub2 = kNoNode;  // then
    NodeId sub3 = kNoNode;  // else
    std::string anchor;     // kDynamicRef: the anchor name looked up in the dynamic scope
    FormatCheck format = nullptr;
    std::string format_name;
    // For the basic output format only.
    std::string location;           // keyword name, or "properties/x" style relative path
    std::string absolute_location;  // absolute URI + JSON Pointer of the keyword
};

struct Node {
    std::vector<Keyword> keywords;  // assertions first, unevaluated* last
    int32_t resource = -1;          // the schema resource this node belongs to (dynamic scope)
    bool has_leading_type = false;  // keywords[0] is `type`
    bool is_plain = true;           // no unevaluated* and the program tracks no dynamic scope
    bool has_unevaluated_items = false;
    bool has_unevaluated_properties = false;
};

struct Resource {
    std::string uri;
    std::vector<std::pair<std::string, NodeId>> dynamic_anchors;  // name -> node
};

struct Program {
    std::vector<Node> nodes;
    std::vector<Resource> resources;
    NodeId root = kNoNode;
    bool uses_dynamic_scope = false;  // any kDynamicRef: only then is the scope tracked
    int max_eval_depth = 1000;
};

}  // namespace gannet::jsonschema
