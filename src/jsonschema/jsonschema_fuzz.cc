// libFuzzer target: JSON Schema compile and validate, regexes included. The input is a schema and an
// instance separated by the first NUL byte (no NUL: the whole input is the schema, validated against
// a few fixed instances). Both are parsed with json::parse's limits, as the MCP server does with tool
// schemas and arguments; anything may fail with a Status, nothing may crash, hang or leak.
// Build and run: make fuzz (scripts/fuzz.sh), seeds in fuzz/corpus/jsonschema_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "json/json.h"
#include "jsonschema/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    gannet::Result<nlohmann::json> schema = gannet::json::parse(input.substr(0, nul));
    if (!schema.has_value()) {
        return 0;
    }
    // Both format modes: kAssert runs the format checkers (email, idn-hostname, ipv6, regex, ...).
    for (gannet::jsonschema::FormatMode mode :
         {gannet::jsonschema::FormatMode::kAnnotate, gannet::jsonschema::FormatMode::kAssert}) {
        gannet::Result<gannet::jsonschema::Validator> v =
            gannet::jsonschema::Validator::compile(*schema, {.format = mode});
        if (!v.has_value()) {
            return 0;
        }
        if (nul != std::string_view::npos) {
            gannet::Result<nlohmann::json> instance = gannet::json::parse(input.substr(nul + 1));
            if (instance.has_value()) {
                const bool flag = v->validate(*instance);
                const gannet::jsonschema::ValidationResult basic =
                    v->validate(*instance, gannet::jsonschema::OutputFormat::kBasic);
                (void)basic.to_json(gannet::jsonschema::OutputFormat::kBasic).dump();
                (void)flag;
            }
            continue;
        }
        for (const char* text : {"null", "0", "-1.5e300", "\"a\\u0000b@example.com\"", "[1,[2,{\"a\":[]}]]",
                                 "{\"a\":{\"b\":\"c\"},\"\":true}"}) {
            (void)v->validate(nlohmann::json::parse(text));
        }
    }
    return 0;
}
