// The HTTP side of one MCP exchange, as mcp/ sees it. src/server/ adapts its connection writer to
// HttpReply, so mcp/ does not depend on the HTTP library. Owned by src/mcp/.
// Thread-safety: HttpReply implementations must accept calls from any thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gannet::mcp {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpCall {
    std::string method;                         // "POST", "GET", "DELETE"
    std::map<std::string, std::string> headers; // lowercase names
    std::string body;

    const std::string& header(const std::string& lowercase_name) const {
        static const std::string kEmpty;
        auto it = headers.find(lowercase_name);
        return it == headers.end() ? kEmpty : it->second;
    }
};

class HttpReply {
public:
    virtual ~HttpReply() = default;
    virtual void send(int status, HttpHeaders headers, std::string body) = 0;
    virtual void begin_stream(int status, HttpHeaders headers) = 0;
    virtual void write(std::string chunk) = 0;
    virtual void end() = 0;
    virtual bool is_closed() const = 0;
    virtual void on_close(std::function<void()> fn) = 0;
};

}  // namespace gannet::mcp
