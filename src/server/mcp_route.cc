#include "server/mcp_route.h"

namespace gannet::server {

namespace {

// Adapts the connection's ResponseWriter to the transport interface mcp/ defines.
class McpReply final : public mcp::HttpReply {
public:
    explicit McpReply(std::shared_ptr<ResponseWriter> w) : w_(std::move(w)) {}
    void send(int status, mcp::HttpHeaders headers, std::string body) override {
        w_->send(HttpResponse{status, std::move(headers), std::move(body)});
    }
    void begin_stream(int status, mcp::HttpHeaders headers) override { w_->begin_stream(status, std::move(headers)); }
    void write(std::string chunk) override { w_->write(std::move(chunk)); }
    void end() override { w_->end(); }
    bool is_closed() const override { return w_->is_closed(); }
    void on_close(std::function<void()> fn) override { w_->on_close(std::move(fn)); }

private:
    std::shared_ptr<ResponseWriter> w_;
};

}  // namespace

void mount_mcp(HttpServer& http, mcp::Server& mcp, const std::string& path, const McpWrapFn& wrap) {
    Handler h = [&mcp](HttpRequest req, std::shared_ptr<ResponseWriter> w) {
        mcp::HttpCall call{std::move(req.method), std::move(req.headers), std::move(req.body)};
        mcp.handle(std::move(call), std::make_shared<McpReply>(std::move(w)));
    };
    if (wrap) {
        h = wrap(std::move(h));
    }
    http.add_route("POST", path, h);
    http.add_route("GET", path, h);
    http.add_route("DELETE", path, h);
}

void mount_health(HttpServer& http) {
    http.add_route("GET", "/health", [](HttpRequest, std::shared_ptr<ResponseWriter> w) {
        w->send(HttpResponse{200, {{"Content-Type", "application/json"}}, R"({"status":"ok"})"});
    });
}

}  // namespace gannet::server
