// libFuzzer target: HTTP request parsing as `gannet serve` configures it: Beast's request_parser
// with the server's default body limit (4 MiB) and header limit (64 KiB), fed the input in the
// chunks a socket would deliver (the first byte picks the chunk size), then the conversion the
// connection does (method, target, path, lowercased and merged headers, keep-alive). Errors must be
// error codes; nothing may crash, hang or leak. Seeds: fuzz/corpus/http_request_fuzz/.
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "server/http_server.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const gannet::server::HttpServerConfig config;
    const size_t chunk = 1 + data[0] % 64;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const size_t n = size - 1;
    // Up to 4 pipelined requests on one connection, as keep-alive reads them.
    size_t pos = 0;
    for (int request = 0; request < 4 && pos < n; ++request) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(config.max_body_bytes);
        parser.header_limit(static_cast<uint32_t>(config.max_header_bytes));
        boost::beast::error_code ec;
        std::string pending;
        while (!parser.is_done() && pos < n) {
            const size_t take = std::min(chunk, n - pos);
            pending.append(bytes + pos, take);
            pos += take;
            const size_t used = parser.put(boost::asio::buffer(pending), ec);
            pending.erase(0, used);
            if (ec == http::error::need_more) {
                ec = {};
                continue;
            }
            if (ec) {
                return 0;  // the server answers 400/413/431 and closes
            }
        }
        if (!parser.is_done()) {
            parser.put_eof(ec);
            if (ec || !parser.is_done()) {
                return 0;
            }
        }
        pos -= std::min(pos, pending.size());  // unparsed bytes belong to the next request
        http::request<http::string_body> msg = parser.release();
        const std::string target(msg.target());
        const std::string path = target.substr(0, target.find('?'));
        std::map<std::string, std::string> headers;
        for (const auto& field : msg) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            auto [it, inserted] = headers.emplace(name, std::string(field.value()));
            if (!inserted) {
                it->second += ", " + std::string(field.value());
            }
        }
        (void)msg.keep_alive();
        (void)std::string(msg.method_string()).size();
        (void)path.size();
    }
    return 0;
}
