// `gannet validate --schema SCHEMA.json [--remote URL_PREFIX=DIR]... [--assert-format]
//  [--output flag|basic] INSTANCE.json...`: one JSON line per instance, in order.
// Exit codes (this command differs from the others): 0 all valid, 1 any invalid, 2 when the schema,
// a flag or a file cannot be used (message on stderr).
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "flags.h"
#include "json/json.h"
#include "jsonschema/validator.h"

namespace gannet::app {
namespace {

constexpr int kExitUnusable = 2;

int unusable(const Status& status) {
    std::fprintf(stderr, "gannet validate: %s\n", status.message().c_str());
    return kExitUnusable;
}

int run_validate(const std::vector<std::string>& args) {
    std::string schema_path;
    std::vector<std::string> remotes;
    bool assert_format = false;
    std::string output = "flag";
    bool help = false;
    std::vector<std::string> instances;
    Flags flags("validate");
    flags.add_string("--schema", &schema_path, "the JSON Schema (2020-12 unless $schema says otherwise)");
    flags.add_strings("--remote", &remotes, "URL_PREFIX=DIR: resolve $refs under URL_PREFIX from files in DIR");
    flags.add_bool("--assert-format", &assert_format, "treat `format` as an assertion (default: annotation)");
    flags.add_string("--output", &output, "flag (default) or basic (adds the list of errors)");
    flags.add_bool("-h,--help", &help, "show this help");
    flags.allow_positional(&instances);
    if (Status s = flags.parse(args); !s.ok()) {
        return unusable(s);
    }
    if (help) {
        std::printf(
            "usage: gannet validate --schema SCHEMA.json [--remote URL_PREFIX=DIR]... [--assert-format] "
            "[--output flag|basic] INSTANCE.json...\n%s\nexit: 0 all valid, 1 any invalid, 2 unusable "
            "schema or file\n",
            flags.usage().c_str());
        return 0;
    }
    if (schema_path.empty()) {
        return unusable(make_error(ErrorCode::kInvalidArgument, "--schema is required"));
    }
    if (output != "flag" && output != "basic") {
        return unusable(
            make_error(ErrorCode::kInvalidArgument, "--output must be flag or basic, got '%s'", output.c_str()));
    }
    const jsonschema::OutputFormat format =
        output == "basic" ? jsonschema::OutputFormat::kBasic : jsonschema::OutputFormat::kFlag;

    jsonschema::SchemaRegistry registry;
    for (const std::string& r : remotes) {
        if (Status s = registry.add_directory_mapping(r); !s.ok()) {
            return unusable(s);
        }
    }
    Result<nlohmann::json> schema = json::parse_file(schema_path);
    if (!schema.has_value()) {
        return unusable(schema.error());
    }
    jsonschema::CompileOptions options;
    options.registry = &registry;
    options.format = assert_format ? jsonschema::FormatMode::kAssert : jsonschema::FormatMode::kAnnotate;
    Result<jsonschema::Validator> validator = jsonschema::Validator::compile(*schema, options);
    if (!validator.has_value()) {
        return unusable(Status(validator.error().code(), schema_path + ": " + validator.error().message()));
    }

    int exit_code = 0;
    for (const std::string& path : instances) {
        Result<nlohmann::json> instance = json::parse_file(path);
        if (!instance.has_value()) {
            // Keep one line per instance so outputs stay aligned with the arguments.
            std::printf("%s\n", json::dump({{"valid", false}, {"error", instance.error().message()}}).c_str());
            std::fprintf(stderr, "gannet validate: %s\n", instance.error().message().c_str());
            exit_code = kExitUnusable;
            continue;
        }
        const jsonschema::ValidationResult result = validator->validate(*instance, format);
        // "valid" first (nlohmann objects sort their keys, which would put "errors" first).
        std::string line = result.valid ? "{\"valid\":true" : "{\"valid\":false";
        if (format == jsonschema::OutputFormat::kBasic && !result.valid) {
            line += ",\"errors\":" + json::dump(result.to_json(format)["errors"]);
        }
        std::printf("%s}\n", line.c_str());
        if (!result.valid && exit_code == 0) {
            exit_code = 1;
        }
    }
    return exit_code;
}

}  // namespace

GANNET_COMMAND("validate", "validate JSON files against a JSON Schema 2020-12", run_validate);

}  // namespace gannet::app
