// `gannet serve`: the MCP server (/mcp, /health) and, once the model runtime lands, the OpenAI API.
#include <cstdio>

#include "command.h"
#include "flags.h"
#include "server/serve.h"

namespace gannet::app {

namespace {

// The model runtime plugs in here (issue #5): load MODEL and mount /v1/* on the HTTP server.
Status mount_model(server::HttpServer& http, const std::string& model) {
    (void)http;
    return make_error(ErrorCode::kUnimplemented,
                      "-m %s: the model runtime (OpenAI API) is not built yet; use --no-model to serve MCP only",
                      model.c_str());
}

int serve_main(const std::vector<std::string>& args) {
    Flags flags("serve");
    server::ServeOptions o;
    int64_t port = o.port;
    std::string model;
    bool is_no_model = false;
    std::vector<std::string> packs;
    std::string tools;
    bool is_help = false;
    flags.add_string("--host", &o.host, "address to bind (default 127.0.0.1; loopback enables Host/Origin checks)");
    flags.add_int("--port", &port, "port (default 8080; 0 picks a free one and prints it)");
    flags.add_bool("--no-model", &is_no_model, "serve MCP only, without a model");
    flags.add_string("-m,--model", &model, "GGUF model for the OpenAI API");
    flags.add_string("--tools", &tools, "comma-separated tool packs: workspace, conformance");
    flags.add_string("--store", &o.store, "sqlite:PATH or redis://HOST:PORT (default " +
                                               server::default_store_spec() + ")");
    flags.add_string("--workspace", &o.workspace, "root directory for the workspace tools (default .)");
    flags.add_string("--auth-tokens", &o.auth_tokens_file, "file of 'TOKEN TENANT' lines; enables bearer auth");
    flags.add_bool("-h,--help", &is_help, "show this help");
    if (Status s = flags.parse(args); !s.ok()) {
        return fail("serve", s);
    }
    if (is_help) {
        std::printf("usage: gannet serve [--host H] [--port P] [--no-model | -m MODEL] [--tools PACK,...]\n"
                    "                    [--store sqlite:PATH | redis://HOST:PORT] [--workspace DIR] [--auth-tokens FILE]\n\n%s",
                    flags.usage().c_str());
        return 0;
    }
    if (is_no_model && !model.empty()) {
        return fail("serve", make_error(ErrorCode::kInvalidArgument, "--no-model and -m are mutually exclusive"));
    }
    if (port < 0 || port > 65535) {
        return fail("serve", make_error(ErrorCode::kInvalidArgument, "--port must be 0..65535, got %lld",
                                        static_cast<long long>(port)));
    }
    o.port = static_cast<int>(port);
    size_t start = 0;
    while (start <= tools.size() && !tools.empty()) {
        size_t comma = tools.find(',', start);
        std::string pack = tools.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!pack.empty()) {
            o.tool_packs.push_back(pack);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    server::MountFn mount;
    if (!model.empty()) {
        // Runs before the port is bound, so a model that cannot load never half-starts a server.
        mount = [model](server::HttpServer& http) { return mount_model(http, model); };
    }
    Status s = server::serve(o, mount);
    return s.ok() ? 0 : fail("serve", s);
}

}  // namespace
}  // namespace gannet::app

GANNET_COMMAND("serve", "serve MCP tools (and, with a model, the OpenAI API) over HTTP", gannet::app::serve_main);
