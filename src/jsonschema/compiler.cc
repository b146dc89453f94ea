// Schema -> Program. Two passes: index every schema document (resources by $id, $anchor and
// $dynamicAnchor, the base URI and dialect of each subschema), then compile reachable subschemas
// into nodes through a worklist, resolving every $ref to a node index. External documents are
// loaded only from the embedded meta-schemas and the caller's SchemaRegistry.
#include "jsonschema/compiler.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "json/json.h"
#include "jsonschema/formats.h"
#include "jsonschema/meta_schemas.h"
#include "jsonschema/uri.h"

namespace gannet::jsonschema {
namespace {

using nlohmann::json;

constexpr const char* kDialect2020 = "https://json-schema.org/draft/2020-12/schema";
constexpr const char* kVocabPrefix = "https://json-schema.org/draft/2020-12/vocab/";

// Which keywords are active for a schema: from its dialect's meta-schema $vocabulary.
struct Dialect {
    bool applicator = true;
    bool unevaluated = true;
    bool validation = true;
    bool format_assertion = false;
    int draft = 2020;  // 2019 or older: array-form items is a tuple (cross-draft references)
};

struct Info {
    std::string base;       // base URI for resolving $ref inside this subschema
    int32_t resource = -1;  // index into Program::resources
    std::string pointer;    // JSON Pointer from the resource root, for absoluteKeywordLocation
    Dialect dialect;
};

bool get_count(const json& v, uint64_t& out) {
    if (v.is_number_unsigned()) {
        out = v.get<uint64_t>();
        return true;
    }
    if (v.is_number_integer()) {
        if (v.get<int64_t>() < 0) {
            return false;
        }
        out = static_cast<uint64_t>(v.get<int64_t>());
        return true;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
            return false;
        }
        out = static_cast<uint64_t>(d);
        return true;
    }
    return false;
}

uint8_t type_bit(const std::string& name) {
    if (name == "null")
        return kTypeNull;
    if (name == "boolean")
        return kTypeBoolean;
    if (name == "object")
        return kTypeObject;
    if (name == "array")
        return kTypeArray;
    if (name == "number")
        return kTypeNumber;
    if (name == "string")
        return kTypeString;
    if (name == "integer")
        return kTypeInteger;
    return 0;
}

class Compiler {
public:
    explicit Compiler(const CompileOptions& options) : options_(options) {}

    Result<std::shared_ptr<Program>> run(const json& schema);

private:
    Status index_document(const json& doc, const std::string& uri);
    Status index(const json& s, Info info);
    Result<Dialect> dialect_for(const std::string& meta_uri);
    Status ensure_document(const std::string& uri);
    Result<const json*> resolve(const Info& from, const std::string& ref, Info* target_info);
    Result<NodeId> node_for(const json* s, const Info& info);
    Status compile_node(NodeId id, const json& s, const Info& info);
    Status compile_keywords(Node& node, const json& s, const Info& info);
    Status compile_applicators(Node& node, const json& s, const Info& info);
    Status compile_refs(Node& node, const json& s, const Info& info);
    Status check_cycles() const;

    Keyword make_keyword(Kw kw, const Info& info, const std::string& name) const {
        Keyword k;
        k.kw = kw;
        k.location = name;
        k.absolute_location =
            prog_->resources[static_cast<size_t>(info.resource)].uri + "#" + fragment_encode(info.pointer + "/" + name);
        return k;
    }
    Info child_info(const Info& parent, const json* child, const std::string& rel) const {
        if (auto it = info_.find(child); it != info_.end()) {
            return it->second;
        }
        Info i = parent;
        i.pointer += rel;
        return i;
    }
    Result<NodeId> sub(const json& s, const Info& parent, const std::string& rel) {
        const json* child = &s;
        return node_for(child, child_info(parent, child, rel));
    }
    Status err(const Info& info, const std::string& what) const {
        return make_error(ErrorCode::kInvalidArgument, "jsonschema: %s at %s#%s", what.c_str(),
                          prog_->resources[static_cast<size_t>(info.resource)].uri.c_str(), info.pointer.c_str());
    }

    const CompileOptions& options_;
    std::shared_ptr<Program> prog_ = std::make_shared<Program>();
    std::deque<json> documents_;                              // owned; addresses are stable
    std::unordered_map<std::string, const json*> resources_;  // resource URI -> schema
    std::unordered_map<std::string, int32_t> resource_ids_;   // resource URI -> Program::resources index
    std::unordered_map<std::string, const json*> anchors_;    // "uri#name" -> schema
    std::unordered_map<const json*, Info> info_;              // every indexed subschema
    std::unordered_map<const json*, NodeId> compiled_;
    std::vector<std::pair<const json*, Info>> worklist_;
    std::unordered_map<std::string, Dialect> dialects_;
    std::unordered_set<std::string> loading_;
    // Dynamic anchors per resource (schema pointers), compiled only if some $dynamicRef needs them.
    std::vector<std::vector<std::pair<std::string, const json*>>> dynamic_anchor_schemas_;
};

Result<Dialect> Compiler::dialect_for(const std::string& meta_uri_raw) {
    const std::string meta_uri = split_fragment(meta_uri_raw).base;
    if (meta_uri == kDialect2020) {
        return Dialect{};
    }
    if (meta_uri == "https://json-schema.org/draft/2019-09/schema") {
        Dialect d;
        d.draft = 2019;
        return d;
    }
    if (meta_uri.find("json-schema.org/draft-0") != std::string::npos
        || meta_uri.find("json-schema.org/schema") != std::string::npos) {
        Dialect d;
        d.draft = 7;
        return d;
    }
    if (auto it = dialects_.find(meta_uri); it != dialects_.end()) {
        return it->second;
    }
    GANNET_RETURN_IF_ERROR(ensure_document(meta_uri));
    const json& meta = *resources_.at(meta_uri);
    Dialect d;
    if (meta.is_object() && meta.contains("$vocabulary") && meta["$vocabulary"].is_object()) {
        d.applicator = d.unevaluated = d.validation = false;
        for (auto it = meta["$vocabulary"].begin(); it != meta["$vocabulary"].end(); ++it) {
            const std::string& vocab = it.key();
            const bool known = vocab.rfind(kVocabPrefix, 0) == 0;
            const std::string name = known ? vocab.substr(std::string(kVocabPrefix).size()) : "";
            if (name == "applicator") {
                d.applicator = true;
            } else if (name == "unevaluated") {
                d.unevaluated = true;
            } else if (name == "validation") {
                d.validation = true;
            } else if (name == "format-assertion") {
                d.format_assertion = true;
            } else if (name == "core" || name == "meta-data" || name == "format-annotation" || name == "content") {
                // Known; nothing to switch.
            } else if (it.value() == true) {
                return make_error(ErrorCode::kInvalidArgument,
                                  "jsonschema: meta-schema '%s' requires unknown vocabulary '%s'", meta_uri.c_str(),
                                  vocab.c_str());
            }
        }
    }
    dialects_[meta_uri] = d;
    return d;
}

Status Compiler::ensure_document(const std::string& uri) {
    if (resources_.count(uri) != 0) {
        return Status();
    }
    for (const MetaSchemaText& meta : meta_schema_texts()) {
        if (uri == meta.uri) {
            GANNET_ASSIGN_OR_RETURN(json doc, ::gannet::json::parse(meta.json));
            documents_.push_back(std::move(doc));
            return index_document(documents_.back(), uri);
        }
    }
    if (options_.registry == nullptr) {
        return make_error(ErrorCode::kNotFound, "jsonschema: cannot resolve '%s': no schema registered for it",
                          uri.c_str());
    }
    Result<json> doc = options_.registry->load(uri);
    if (!doc.has_value()) {
        return Status(doc.error().code(), "jsonschema: cannot resolve '" + uri + "': " + doc.error().message());
    }
    documents_.push_back(std::move(doc).value());
    return index_document(documents_.back(), uri);
}

Status Compiler::index_document(const json& doc, const std::string& uri) {
    const std::string base = split_fragment(uri).base;
    const int32_t rid = static_cast<int32_t>(prog_->resources.size());
    prog_->resources.push_back(Resource{base, {}});
    dynamic_anchor_schemas_.emplace_back();
    resources_[base] = &doc;
    resource_ids_[base] = rid;
    Info info;
    info.base = base;
    info.resource = rid;
    return index(doc, info);
}

Status Compiler::index(const json& s, Info info) {
    if (!s.is_object()) {
        info_.emplace(&s, info);
        return Status();
    }
    if (auto it = s.find("$schema"); it != s.end() && it->is_string()) {
        GANNET_ASSIGN_OR_RETURN(info.dialect, dialect_for(it->get<std::string>()));
    }
    if (auto it = s.find("$id"); it != s.end() && it->is_string() && info.dialect.draft >= 2019) {
        const UriParts id = split_fragment(resolve_uri(info.base, it->get<std::string>()));
        if (id.fragment.empty()) {
            if (auto known = resource_ids_.find(id.base); known != resource_ids_.end() && resources_[id.base] == &s) {
                info.resource = known->second;  // the document's own retrieval URI
            } else {
                info.resource = static_cast<int32_t>(prog_->resources.size());
                prog_->resources.push_back(Resource{id.base, {}});
                dynamic_anchor_schemas_.emplace_back();
                resource_ids_[id.base] = info.resource;
            }
            resources_[id.base] = &s;
            info.base = id.base;
            info.pointer.clear();
        }
    }
    info_[&s] = info;
    if (auto it = s.find("$anchor"); it != s.end() && it->is_string()) {
        anchors_[info.base + "#" + it->get<std::string>()] = &s;
    }
    if (auto it = s.find("$dynamicAnchor"); it != s.end() && it->is_string()) {
        anchors_[info.base + "#" + it->get<std::string>()] = &s;
        dynamic_anchor_schemas_[static_cast<size_t>(info.resource)].emplace_back(it->get<std::string>(), &s);
    }
    auto child = [&](const json& c, const std::string& rel) {
        Info ci = info;
        ci.pointer += rel;
        return index(c, ci);
    };
    static const char* const kMapKeywords[] = {"$defs", "properties", "patternProperties", "dependentSchemas"};
    static const char* const kSingleKeywords[] = {
        "additionalProperties",  "contains",        "propertyNames", "not", "if", "then", "else", "unevaluatedItems",
        "unevaluatedProperties", "additionalItems", "items"};
    static const char* const kArrayKeywords[] = {"allOf", "anyOf", "oneOf", "prefixItems", "items"};
    for (const char* kw : kMapKeywords) {
        if (auto it = s.find(kw); it != s.end() && it->is_object()) {
            for (auto m = it->begin(); m != it->end(); ++m) {
                GANNET_RETURN_IF_ERROR(
                    child(m.value(), "/" + std::string(kw) + "/" + ::gannet::json::escape_pointer_token(m.key())));
            }
        }
    }
    for (const char* kw : kSingleKeywords) {
        if (auto it = s.find(kw); it != s.end() && (it->is_object() || it->is_boolean())) {
            GANNET_RETURN_IF_ERROR(child(*it, "/" + std::string(kw)));
        }
    }
    for (const char* kw : kArrayKeywords) {
        if (auto it = s.find(kw); it != s.end() && it->is_array()) {
            for (size_t i = 0; i < it->size(); ++i) {
                GANNET_RETURN_IF_ERROR(child((*it)[i], "/" + std::string(kw) + "/" + std::to_string(i)));
            }
        }
    }
    return Status();
}

Result<const json*> Compiler::resolve(const Info& from, const std::string& ref, Info* target_info) {
    const UriParts parts = split_fragment(resolve_uri(from.base, ref));
    if (resources_.count(parts.base) == 0) {
        GANNET_RETURN_IF_ERROR(ensure_document(parts.base));
        if (resources_.count(parts.base) == 0) {
            return make_error(ErrorCode::kNotFound, "jsonschema: cannot resolve '%s'", parts.base.c_str());
        }
    }
    const json* root = resources_.at(parts.base);
    const std::string fragment = percent_decode(parts.fragment);
    if (fragment.empty()) {
        *target_info = info_.at(root);
        return root;
    }
    if (fragment[0] != '/') {
        auto it = anchors_.find(parts.base + "#" + fragment);
        if (it == anchors_.end()) {
            it = anchors_.find(info_.at(root).base + "#" + fragment);
        }
        if (it == anchors_.end()) {
            return make_error(ErrorCode::kInvalidArgument, "jsonschema: $ref '%s': no anchor '%s' in '%s'", ref.c_str(),
                              fragment.c_str(), parts.base.c_str());
        }
        *target_info = info_.at(it->second);
        return it->second;
    }
    const json* cur = root;
    Info info = info_.at(root);
    std::string rel;
    size_t pos = 1;
    while (pos <= fragment.size()) {
        size_t end = fragment.find('/', pos);
        if (end == std::string::npos) {
            end = fragment.size();
        }
        std::string token = fragment.substr(pos, end - pos);
        for (size_t i = 0; (i = token.find('~', i)) != std::string::npos; ++i) {
            token.replace(i, 2, i + 1 < token.size() && token[i + 1] == '1' ? "/" : "~");
        }
        if (cur->is_object() && cur->contains(token)) {
            cur = &(*cur)[token];
        } else if (cur->is_array() && !token.empty() && token.find_first_not_of("0123456789") == std::string::npos
                   && std::stoull(token) < cur->size()) {
            cur = &(*cur)[std::stoull(token)];
        } else {
            return make_error(ErrorCode::kInvalidArgument, "jsonschema: $ref '%s': pointer does not resolve",
                              ref.c_str());
        }
        rel += "/" + ::gannet::json::escape_pointer_token(token);
        if (auto it = info_.find(cur); it != info_.end()) {
            info = it->second;
            rel.clear();
        }
        pos = end + 1;
    }
    info.pointer += rel;
    *target_info = info;
    return cur;
}

Result<NodeId> Compiler::node_for(const json* s, const Info& info) {
    if (auto it = compiled_.find(s); it != compiled_.end()) {
        return it->second;
    }
    if (prog_->nodes.size() >= static_cast<size_t>(options_.max_schema_nodes)) {
        return make_error(ErrorCode::kResourceExhausted, "jsonschema: schema has more than %d subschemas",
                          options_.max_schema_nodes);
    }
    const NodeId id = static_cast<NodeId>(prog_->nodes.size());
    prog_->nodes.emplace_back();
    compiled_[s] = id;
    worklist_.emplace_back(s, info);
    return id;
}

uint8_t applies_to(Kw kw) {
    switch (kw) {
        case Kw::kMultipleOf:
        case Kw::kMaximum:
        case Kw::kExclusiveMaximum:
        case Kw::kMinimum:
        case Kw::kExclusiveMinimum: return kTypeNumber | kTypeInteger;
        case Kw::kMaxLength:
        case Kw::kMinLength:
        case Kw::kPattern:
        case Kw::kFormat: return kTypeString;
        case Kw::kMaxItems:
        case Kw::kMinItems:
        case Kw::kUniqueItems:
        case Kw::kItems:
        case Kw::kContains:
        case Kw::kUnevaluatedItems: return kTypeArray;
        case Kw::kMaxProperties:
        case Kw::kMinProperties:
        case Kw::kRequired:
        case Kw::kDependentRequired:
        case Kw::kDependentSchemas:
        case Kw::kPropertyNames:
        case Kw::kProperties:
        case Kw::kUnevaluatedProperties: return kTypeObject;
        default: return 0x7F;
    }
}

// When every `required` name is also in `properties`, the properties pass (which visits each
// instance member once) counts them, and `required` runs right after it and only has to compare
// a count instead of looking each name up in the instance.
void fuse_required_into_properties(Node& node) {
    auto props = std::find_if(node.keywords.begin(), node.keywords.end(),
                              [](const Keyword& k) { return k.kw == Kw::kProperties; });
    auto req = std::find_if(node.keywords.begin(), node.keywords.end(),
                            [](const Keyword& k) { return k.kw == Kw::kRequired; });
    if (props == node.keywords.end() || req == node.keywords.end()) {
        return;
    }
    std::vector<uint8_t> marks(props->props.size(), 0);
    for (const std::string& name : req->names) {
        auto it =
            std::find_if(props->props.begin(), props->props.end(), [&](const auto& p) { return p.first == name; });
        if (it == props->props.end()) {
            return;
        }
        marks[static_cast<size_t>(it - props->props.begin())] = 1;
    }
    props->prop_required = std::move(marks);
    Keyword required = std::move(*req);
    required.flag = true;
    node.keywords.erase(req);
    props = std::find_if(node.keywords.begin(), node.keywords.end(),
                         [](const Keyword& k) { return k.kw == Kw::kProperties; });
    node.keywords.insert(props + 1, std::move(required));
}

Status Compiler::compile_node(NodeId id, const json& s, const Info& info) {
    Node node;  // built aside: compiling children grows prog_->nodes and would move a reference
    node.resource = info.resource;
    GANNET_RETURN_IF_ERROR(compile_keywords(node, s, info));
    for (Keyword& k : node.keywords) {
        k.applies_to = applies_to(k.kw);
    }
    fuse_required_into_properties(node);
    node.has_leading_type = !node.keywords.empty() && node.keywords[0].kw == Kw::kType;
    prog_->nodes[static_cast<size_t>(id)] = std::move(node);
    return Status();
}

Status Compiler::compile_keywords(Node& node, const json& s, const Info& info) {
    if (s.is_boolean()) {
        if (!s.get<bool>()) {
            Keyword k = make_keyword(Kw::kFalse, info, "");
            k.absolute_location =
                prog_->resources[static_cast<size_t>(info.resource)].uri + "#" + fragment_encode(info.pointer);
            node.keywords.push_back(std::move(k));
        }
        return Status();
    }
    if (!s.is_object()) {
        return err(info, "a schema must be an object or a boolean, got " + ::gannet::json::dump(s));
    }
    const Dialect& d = info.dialect;
    auto find = [&](const char* name) -> const json* {
        auto it = s.find(name);
        return it == s.end() ? nullptr : &*it;
    };
    auto add = [&](Keyword k) {
        node.keywords.push_back(std::move(k));
    };
    auto counted = [&](const char* name, Kw kw) -> Status {
        if (const json* v = find(name)) {
            Keyword k = make_keyword(kw, info, name);
            if (!get_count(*v, k.count)) {
                return err(info, std::string(name) + " must be a non-negative integer");
            }
            add(std::move(k));
        }
        return Status();
    };
    auto numeric = [&](const char* name, Kw kw) -> Status {
        if (const json* v = find(name)) {
            if (!v->is_number()) {
                return err(info, std::string(name) + " must be a number");
            }
            Keyword k = make_keyword(kw, info, name);
            k.value = *v;
            add(std::move(k));
        }
        return Status();
    };

    if (d.validation) {
        if (const json* v = find("type")) {
            Keyword k = make_keyword(Kw::kType, info, "type");
            const json list = v->is_array() ? *v : json::array({*v});
            for (const json& t : list) {
                const uint8_t bit = t.is_string() ? type_bit(t.get<std::string>()) : 0;
                if (bit == 0) {
                    return err(info, "unknown type " + ::gannet::json::dump(t));
                }
                k.types |= bit;
            }
            if (k.types & kTypeNumber) {
                k.types |= kTypeInteger;  // every integer is a number
            }
            add(std::move(k));
        }
        if (const json* v = find("const")) {
            Keyword k = make_keyword(Kw::kConst, info, "const");
            k.value = *v;
            add(std::move(k));
        }
        if (const json* v = find("enum")) {
            if (!v->is_array()) {
                return err(info, "enum must be an array");
            }
            Keyword k = make_keyword(Kw::kEnum, info, "enum");
            k.value = *v;
            add(std::move(k));
        }
        if (const json* v = find("multipleOf")) {
            if (!v->is_number() || v->get<double>() <= 0) {
                return err(info, "multipleOf must be a number greater than 0");
            }
        }
        GANNET_RETURN_IF_ERROR(numeric("multipleOf", Kw::kMultipleOf));
        GANNET_RETURN_IF_ERROR(numeric("maximum", Kw::kMaximum));
        GANNET_RETURN_IF_ERROR(numeric("exclusiveMaximum", Kw::kExclusiveMaximum));
        GANNET_RETURN_IF_ERROR(numeric("minimum", Kw::kMinimum));
        GANNET_RETURN_IF_ERROR(numeric("exclusiveMinimum", Kw::kExclusiveMinimum));
        GANNET_RETURN_IF_ERROR(counted("maxLength", Kw::kMaxLength));
        GANNET_RETURN_IF_ERROR(counted("minLength", Kw::kMinLength));
        if (const json* v = find("pattern")) {
            if (!v->is_string()) {
                return err(info, "pattern must be a string");
            }
            Result<Regex> re = Regex::compile(v->get<std::string>());
            if (!re.has_value()) {
                return err(info, re.error().message());
            }
            Keyword k = make_keyword(Kw::kPattern, info, "pattern");
            k.patterns.emplace_back(std::move(re).value(), kNoNode);
            add(std::move(k));
        }
        GANNET_RETURN_IF_ERROR(counted("maxItems", Kw::kMaxItems));
        GANNET_RETURN_IF_ERROR(counted("minItems", Kw::kMinItems));
        if (const json* v = find("uniqueItems")) {
            if (!v->is_boolean()) {
                return err(info, "uniqueItems must be a boolean");
            }
            if (v->get<bool>()) {
                add(make_keyword(Kw::kUniqueItems, info, "uniqueItems"));
            }
        }
        GANNET_RETURN_IF_ERROR(counted("maxProperties", Kw::kMaxProperties));
        GANNET_RETURN_IF_ERROR(counted("minProperties", Kw::kMinProperties));
        if (const json* v = find("required")) {
            Keyword k = make_keyword(Kw::kRequired, info, "required");
            if (!v->is_array()) {
                return err(info, "required must be an array of strings");
            }
            for (const json& name : *v) {
                if (!name.is_string()) {
                    return err(info, "required must be an array of strings");
                }
                k.names.push_back(name.get<std::string>());
            }
            add(std::move(k));
        }
        for (const char* name : {"dependentRequired", "dependencies"}) {
            const json* v = find(name);
            if (v == nullptr || !v->is_object()) {
                continue;
            }
            Keyword k = make_keyword(Kw::kDependentRequired, info, name);
            for (auto it = v->begin(); it != v->end(); ++it) {
                if (!it->is_array()) {
                    continue;  // "dependencies" may hold a schema here: handled with dependentSchemas
                }
                std::vector<std::string> list;
                for (const json& dep : *it) {
                    if (!dep.is_string()) {
                        return err(info, std::string(name) + " values must be arrays of strings");
                    }
                    list.push_back(dep.get<std::string>());
                }
                k.names.push_back(it.key());
                k.name_lists.push_back(std::move(list));
            }
            if (!k.names.empty()) {
                add(std::move(k));
            }
        }
    }
    if (const json* v = find("format"); v != nullptr && v->is_string()) {
        if (options_.format == FormatMode::kAssert || d.format_assertion) {
            if (FormatCheck check = find_format(v->get<std::string>())) {
                Keyword k = make_keyword(Kw::kFormat, info, "format");
                k.format = check;
                k.format_name = v->get<std::string>();
                add(std::move(k));
            }
        }
    }
    GANNET_RETURN_IF_ERROR(compile_applicators(node, s, info));
    return Status();
}

Status Compiler::compile_refs(Node& node, const json& s, const Info& info) {
    if (auto it = s.find("$ref"); it != s.end()) {
        if (!it->is_string()) {
            return err(info, "$ref must be a string");
        }
        Info target_info;
        GANNET_ASSIGN_OR_RETURN(const json* target, resolve(info, it->get<std::string>(), &target_info));
        Keyword k = make_keyword(Kw::kRef, info, "$ref");
        GANNET_ASSIGN_OR_RETURN(k.sub, node_for(target, target_info));
        node.keywords.push_back(std::move(k));
    }
    auto it = s.find("$dynamicRef");
    if (it == s.end() || info.dialect.draft < 2020) {
        return Status();
    }
    if (!it->is_string()) {
        return err(info, "$dynamicRef must be a string");
    }
    const std::string ref = it->get<std::string>();
    Info target_info;
    GANNET_ASSIGN_OR_RETURN(const json* target, resolve(info, ref, &target_info));
    Keyword k = make_keyword(Kw::kRef, info, "$dynamicRef");
    GANNET_ASSIGN_OR_RETURN(k.sub, node_for(target, target_info));
    // Dynamic only when the fragment is an anchor name and the initially resolved schema declares
    // that $dynamicAnchor (2020-12 core 8.2.3.2); otherwise it behaves exactly like $ref.
    const std::string fragment = percent_decode(split_fragment(ref).fragment);
    if (!fragment.empty() && fragment[0] != '/' && target->is_object()) {
        auto anchor = target->find("$dynamicAnchor");
        if (anchor != target->end() && *anchor == fragment) {
            k.kw = Kw::kDynamicRef;
            k.anchor = fragment;
            prog_->uses_dynamic_scope = true;
        }
    }
    node.keywords.push_back(std::move(k));
    return Status();
}

Status Compiler::compile_applicators(Node& node, const json& s, const Info& info) {
    GANNET_RETURN_IF_ERROR(compile_refs(node, s, info));
    const Dialect& d = info.dialect;
    auto find = [&](const char* name) -> const json* {
        auto it = s.find(name);
        return it == s.end() ? nullptr : &*it;
    };
    auto schema_list = [&](const char* name, Kw kw) -> Status {
        const json* v = find(name);
        if (v == nullptr) {
            return Status();
        }
        if (!v->is_array() || v->empty()) {
            return err(info, std::string(name) + " must be a non-empty array of schemas");
        }
        Keyword k = make_keyword(kw, info, name);
        for (size_t i = 0; i < v->size(); ++i) {
            GANNET_ASSIGN_OR_RETURN(NodeId id, sub((*v)[i], info, "/" + std::string(name) + "/" + std::to_string(i)));
            k.subs.push_back(id);
        }
        node.keywords.push_back(std::move(k));
        return Status();
    };
    auto single = [&](const char* name, NodeId* out) -> Status {
        if (const json* v = find(name)) {
            GANNET_ASSIGN_OR_RETURN(*out, sub(*v, info, "/" + std::string(name)));
        }
        return Status();
    };
    if (d.applicator) {
        GANNET_RETURN_IF_ERROR(schema_list("allOf", Kw::kAllOf));
        GANNET_RETURN_IF_ERROR(schema_list("anyOf", Kw::kAnyOf));
        GANNET_RETURN_IF_ERROR(schema_list("oneOf", Kw::kOneOf));
        if (find("not") != nullptr) {
            Keyword k = make_keyword(Kw::kNot, info, "not");
            GANNET_RETURN_IF_ERROR(single("not", &k.sub));
            node.keywords.push_back(std::move(k));
        }
        if (find("if") != nullptr) {
            Keyword k = make_keyword(Kw::kIf, info, "if");
            GANNET_RETURN_IF_ERROR(single("if", &k.sub));
            GANNET_RETURN_IF_ERROR(single("then", &k.sub2));
            GANNET_RETURN_IF_ERROR(single("else", &k.sub3));
            node.keywords.push_back(std::move(k));
        }
        for (const char* name : {"dependentSchemas", "dependencies"}) {
            const json* v = find(name);
            if (v == nullptr || !v->is_object()) {
                continue;
            }
            Keyword k = make_keyword(Kw::kDependentSchemas, info, name);
            for (auto it = v->begin(); it != v->end(); ++it) {
                if (it->is_array()) {
                    continue;  // the dependentRequired form of "dependencies"
                }
                GANNET_ASSIGN_OR_RETURN(
                    NodeId id, sub(it.value(), info,
                                   "/" + std::string(name) + "/" + ::gannet::json::escape_pointer_token(it.key())));
                k.names.push_back(it.key());
                k.subs.push_back(id);
            }
            if (!k.names.empty()) {
                node.keywords.push_back(std::move(k));
            }
        }
        if (find("propertyNames") != nullptr) {
            Keyword k = make_keyword(Kw::kPropertyNames, info, "propertyNames");
            GANNET_RETURN_IF_ERROR(single("propertyNames", &k.sub));
            node.keywords.push_back(std::move(k));
        }
        const json* props = find("properties");
        const json* patterns = find("patternProperties");
        if (props != nullptr || patterns != nullptr || find("additionalProperties") != nullptr) {
            Keyword k = make_keyword(Kw::kProperties, info, "");
            if (props != nullptr && props->is_object()) {
                for (auto it = props->begin(); it != props->end(); ++it) {
                    GANNET_ASSIGN_OR_RETURN(
                        NodeId id,
                        sub(it.value(), info, "/properties/" + ::gannet::json::escape_pointer_token(it.key())));
                    k.props.emplace_back(it.key(), id);  // nlohmann objects iterate sorted: props stays sorted
                }
            }
            if (patterns != nullptr && patterns->is_object()) {
                for (auto it = patterns->begin(); it != patterns->end(); ++it) {
                    Result<Regex> re = Regex::compile(it.key());
                    if (!re.has_value()) {
                        return err(info, re.error().message());
                    }
                    GANNET_ASSIGN_OR_RETURN(
                        NodeId id,
                        sub(it.value(), info, "/patternProperties/" + ::gannet::json::escape_pointer_token(it.key())));
                    k.patterns.emplace_back(std::move(re).value(), id);
                }
            }
            GANNET_RETURN_IF_ERROR(single("additionalProperties", &k.sub));
            node.keywords.push_back(std::move(k));
        }
        // Array applicators. Before 2020-12, array-form "items" was the tuple and "additionalItems" the rest.
        const bool legacy = d.draft < 2020;
        const json* tuple = legacy ? find("items") : find("prefixItems");
        if (tuple != nullptr && !tuple->is_array()) {
            tuple = legacy ? nullptr : tuple;
        }
        const char* tuple_name = legacy ? "items" : "prefixItems";
        const char* rest_name = legacy ? (tuple != nullptr ? "additionalItems" : "items") : "items";
        const json* rest = find(rest_name);
        if (tuple != nullptr || rest != nullptr) {
            Keyword k = make_keyword(Kw::kItems, info, "");
            if (tuple != nullptr) {
                if (!tuple->is_array()) {
                    return err(info, std::string(tuple_name) + " must be an array of schemas");
                }
                for (size_t i = 0; i < tuple->size(); ++i) {
                    GANNET_ASSIGN_OR_RETURN(
                        NodeId id, sub((*tuple)[i], info, "/" + std::string(tuple_name) + "/" + std::to_string(i)));
                    k.subs.push_back(id);
                }
            }
            if (rest != nullptr) {
                GANNET_ASSIGN_OR_RETURN(k.sub, sub(*rest, info, "/" + std::string(rest_name)));
            }
            k.format_name = tuple_name;  // output paths: "<tuple_name>/i" and "<rest_name>"
            k.anchor = rest_name;
            node.keywords.push_back(std::move(k));
        }
        if (find("contains") != nullptr) {
            Keyword k = make_keyword(Kw::kContains, info, "contains");
            GANNET_RETURN_IF_ERROR(single("contains", &k.sub));
            k.count = 1;
            if (const json* v = find("minContains"); v != nullptr && !get_count(*v, k.count)) {
                return err(info, "minContains must be a non-negative integer");
            }
            if (const json* v = find("maxContains"); v != nullptr && !get_count(*v, k.count2)) {
                return err(info, "maxContains must be a non-negative integer");
            }
            node.keywords.push_back(std::move(k));
        }
    }
    if (d.unevaluated) {
        if (find("unevaluatedItems") != nullptr) {
            Keyword k = make_keyword(Kw::kUnevaluatedItems, info, "unevaluatedItems");
            GANNET_RETURN_IF_ERROR(single("unevaluatedItems", &k.sub));
            node.keywords.push_back(std::move(k));
            node.has_unevaluated_items = true;
        }
        if (find("unevaluatedProperties") != nullptr) {
            Keyword k = make_keyword(Kw::kUnevaluatedProperties, info, "unevaluatedProperties");
            GANNET_RETURN_IF_ERROR(single("unevaluatedProperties", &k.sub));
            node.keywords.push_back(std::move(k));
            node.has_unevaluated_properties = true;
        }
    }
    return Status();
}

// A cycle of in-place applicators ($ref, allOf, not, if, ...) re-applies schemas to the same
// instance forever; refuse it at compile time. Cycles through properties/items consume the
// instance and are fine (recursive tree schemas).
Status Compiler::check_cycles() const {
    const size_t n = prog_->nodes.size();
    std::vector<uint8_t> color(n, 0);  // 0 new, 1 on stack, 2 done
    std::vector<std::pair<NodeId, size_t>> stack;
    auto in_place = [&](NodeId id) {
        std::vector<NodeId> out;
        for (const Keyword& k : prog_->nodes[static_cast<size_t>(id)].keywords) {
            switch (k.kw) {
                case Kw::kRef:
                case Kw::kDynamicRef:
                case Kw::kNot:
                case Kw::kIf:
                    for (NodeId c : {k.sub, k.sub2, k.sub3}) {
                        if (c != kNoNode) {
                            out.push_back(c);
                        }
                    }
                    break;
                case Kw::kAllOf:
                case Kw::kAnyOf:
                case Kw::kOneOf:
                case Kw::kDependentSchemas: out.insert(out.end(), k.subs.begin(), k.subs.end()); break;
                default: break;
            }
        }
        return out;
    };
    std::vector<std::vector<NodeId>> edges(n);
    for (size_t i = 0; i < n; ++i) {
        edges[i] = in_place(static_cast<NodeId>(i));
    }
    for (size_t start = 0; start < n; ++start) {
        if (color[start] != 0) {
            continue;
        }
        stack.emplace_back(static_cast<NodeId>(start), 0);
        color[start] = 1;
        while (!stack.empty()) {
            auto& [id, next] = stack.back();
            const std::vector<NodeId>& e = edges[static_cast<size_t>(id)];
            if (next == e.size()) {
                color[static_cast<size_t>(id)] = 2;
                stack.pop_back();
                continue;
            }
            const NodeId c = e[next++];
            if (color[static_cast<size_t>(c)] == 1) {
                const Keyword* where = prog_->nodes[static_cast<size_t>(c)].keywords.empty()
                                           ? nullptr
                                           : &prog_->nodes[static_cast<size_t>(c)].keywords.front();
                return make_error(ErrorCode::kInvalidArgument,
                                  "jsonschema: reference cycle that never consumes the instance (through %s)",
                                  where != nullptr ? where->absolute_location.c_str() : "?");
            }
            if (color[static_cast<size_t>(c)] == 0) {
                color[static_cast<size_t>(c)] = 1;
                stack.emplace_back(c, 0);
            }
        }
    }
    return Status();
}

Result<std::shared_ptr<Program>> Compiler::run(const json& schema) {
    prog_->max_eval_depth = options_.max_eval_depth;
    documents_.push_back(schema);
    const json& root = documents_.back();
    GANNET_RETURN_IF_ERROR(index_document(root, options_.base_uri));
    GANNET_ASSIGN_OR_RETURN(prog_->root, node_for(&root, info_.at(&root)));
    std::vector<size_t> anchors_done;
    while (true) {
        while (!worklist_.empty()) {
            auto [s, info] = worklist_.back();
            worklist_.pop_back();
            GANNET_RETURN_IF_ERROR(compile_node(compiled_.at(s), *s, info));
        }
        if (!prog_->uses_dynamic_scope) {
            break;
        }
        // Every $dynamicAnchor of every loaded resource is a possible $dynamicRef target.
        bool added = false;
        anchors_done.resize(dynamic_anchor_schemas_.size(), 0);
        for (size_t r = 0; r < dynamic_anchor_schemas_.size(); ++r) {
            for (; anchors_done[r] < dynamic_anchor_schemas_[r].size(); ++anchors_done[r]) {
                const auto& [name, s] = dynamic_anchor_schemas_[r][anchors_done[r]];
                GANNET_ASSIGN_OR_RETURN(NodeId id, node_for(s, info_.at(s)));
                prog_->resources[r].dynamic_anchors.emplace_back(name, id);
                added = true;
            }
        }
        if (!added) {
            break;
        }
    }
    GANNET_RETURN_IF_ERROR(check_cycles());
    for (Node& node : prog_->nodes) {
        node.is_plain = !prog_->uses_dynamic_scope && !node.has_unevaluated_items && !node.has_unevaluated_properties;
    }
    return prog_;
}

}  // namespace

Result<std::shared_ptr<Program>> compile_program(const nlohmann::json& schema, const CompileOptions& options) {
    Compiler compiler(options);
    return compiler.run(schema);
}

}  // namespace gannet::jsonschema
