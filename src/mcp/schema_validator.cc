#include "mcp/schema_validator.h"

#if GANNET_HAVE_JSONSCHEMA
#include "jsonschema/validator.h"
#endif

namespace gannet::mcp {

namespace {

bool type_matches(const std::string& type, const Json& v) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "number") return v.is_number();
    if (type == "integer") {
        if (v.is_number_integer()) return true;
        // 2020-12: 1.0 is an integer.
        return v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()));
    }
    return true;  // unknown type names are not ours to reject here
}

void check(const Json& schema, const Json& v, const std::string& ptr, std::vector<std::string>* errors) {
    if (!schema.is_object()) {
        if (schema.is_boolean() && !schema.get<bool>()) {
            errors->push_back(ptr + ": schema false allows no value");
        }
        return;
    }
    if (auto t = schema.find("type"); t != schema.end()) {
        bool ok = false;
        std::string names;
        if (t->is_string()) {
            ok = type_matches(t->get<std::string>(), v);
            names = t->get<std::string>();
        } else if (t->is_array()) {
            for (const auto& n : *t) {
                if (n.is_string()) {
                    ok = ok || type_matches(n.get<std::string>(), v);
                    names += (names.empty() ? "" : "|") + n.get<std::string>();
                }
            }
        } else {
            ok = true;
        }
        if (!ok) {
            errors->push_back((ptr.empty() ? "/" : ptr) + ": expected " + names + ", got " + v.type_name());
            return;
        }
    }
    if (!v.is_object()) {
        return;
    }
    if (auto req = schema.find("required"); req != schema.end() && req->is_array()) {
        for (const auto& r : *req) {
            if (r.is_string() && !v.contains(r.get<std::string>())) {
                errors->push_back((ptr.empty() ? "/" : ptr) + ": missing required property '" + r.get<std::string>() +
                                  "'");
            }
        }
    }
    if (auto props = schema.find("properties"); props != schema.end() && props->is_object()) {
        for (const auto& [k, sub] : props->items()) {
            if (auto it = v.find(k); it != v.end()) {
                check(sub, *it, ptr + "/" + k, errors);
            }
        }
    }
}

class BasicValidator final : public SchemaValidator {
public:
    explicit BasicValidator(Json schema) : schema_(std::move(schema)) {}
    std::vector<std::string> validate(const Json& instance) const override {
        std::vector<std::string> errors;
        check(schema_, instance, "", &errors);
        return errors;
    }

private:
    Json schema_;
};

}  // namespace

Result<std::shared_ptr<const SchemaValidator>> BasicSchemaValidatorFactory::compile(const Json& schema) const {
    if (!schema.is_object() && !schema.is_boolean()) {
        return make_error(ErrorCode::kInvalidArgument, "schema: must be an object or a boolean, got %s",
                          schema.type_name());
    }
    return std::shared_ptr<const SchemaValidator>(std::make_shared<BasicValidator>(schema));
}

#if GANNET_HAVE_JSONSCHEMA
namespace {

// The real thing: JSON Schema 2020-12 from src/jsonschema/ (no network $ref, bounded evaluation).
class JsonSchemaValidator final : public SchemaValidator {
public:
    explicit JsonSchemaValidator(jsonschema::Validator v) : v_(std::move(v)) {}
    std::vector<std::string> validate(const Json& instance) const override {
        if (v_.validate(instance)) {
            return {};
        }
        jsonschema::ValidationResult r = v_.validate(instance, jsonschema::OutputFormat::kBasic);
        std::vector<std::string> errors;
        for (const auto& e : r.errors) {
            errors.push_back((e.instance_location.empty() ? "/" : e.instance_location) + ": " + e.error);
        }
        if (errors.empty()) {
            errors.push_back("/: does not match the schema");
        }
        return errors;
    }

private:
    jsonschema::Validator v_;
};

class JsonSchemaValidatorFactory final : public SchemaValidatorFactory {
public:
    Result<std::shared_ptr<const SchemaValidator>> compile(const Json& schema) const override {
        GANNET_ASSIGN_OR_RETURN(jsonschema::Validator v, jsonschema::Validator::compile(schema));
        return std::shared_ptr<const SchemaValidator>(std::make_shared<JsonSchemaValidator>(std::move(v)));
    }
    std::string name() const override { return "json-schema-2020-12 (gannet_jsonschema)"; }
};

}  // namespace

std::unique_ptr<SchemaValidatorFactory> make_default_schema_validator_factory() {
    return std::make_unique<JsonSchemaValidatorFactory>();
}
#else
std::unique_ptr<SchemaValidatorFactory> make_default_schema_validator_factory() {
    return std::make_unique<BasicSchemaValidatorFactory>();
}
#endif

}  // namespace gannet::mcp
