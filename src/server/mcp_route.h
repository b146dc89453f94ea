// Mounts an mcp::Server on an HttpServer: POST/GET/DELETE on the MCP path go to the MCP server
// (which answers 405 for GET/DELETE itself), and GET /health answers {"status":"ok"}.
// Owned by src/server/. Call before HttpServer::start(); `mcp` must outlive `http`.
#pragma once

#include <string>

#include "mcp/server.h"
#include "server/http_server.h"

namespace gannet::server {

void mount_mcp(HttpServer& http, mcp::Server& mcp, const std::string& path = "/mcp");
void mount_health(HttpServer& http);

}  // namespace gannet::server
