// Mounts an mcp::Server on an HttpServer: POST/GET/DELETE on the MCP path go to the MCP server
// (which answers 405 for GET/DELETE itself), and GET /health answers {"status":"ok"}.
// Owned by src/server/. Call before HttpServer::start(); `mcp` must outlive `http`.
#pragma once

#include <functional>
#include <string>

#include "mcp/server.h"
#include "server/http_server.h"

namespace gannet::server {

// Wraps the MCP handler (e.g. the budget gate charging tools/call); empty: none.
using McpWrapFn = std::function<Handler(Handler)>;
void mount_mcp(HttpServer& http, mcp::Server& mcp, const std::string& path = "/mcp", const McpWrapFn& wrap = {});
void mount_health(HttpServer& http);

}  // namespace gannet::server
