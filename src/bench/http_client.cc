#include "bench/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "bench/chunked_decoder.h"

namespace gannet::bench {
namespace {

// Owns a socket fd. Move-only.
class Socket {
public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Socket& operator=(Socket&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket() { reset(); }
    int fd() const { return fd_; }

private:
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    int fd_;
};

std::string host_port(const Url& url) {
    return url.host + ":" + std::to_string(url.port);
}

// Waits for `events` on fd. kDeadlineExceeded after timeout_ms.
Status wait_for(int fd, short events, int timeout_ms, const Url& url, const char* what) {
    pollfd p{fd, events, 0};
    while (true) {
        const int r = ::poll(&p, 1, timeout_ms);
        if (r > 0) {
            return Status();
        }
        if (r == 0) {
            return make_error(ErrorCode::kDeadlineExceeded, "bench: %s %s timed out after %d ms", what,
                              host_port(url).c_str(), timeout_ms);
        }
        if (errno != EINTR) {
            return make_error(ErrorCode::kUnavailable, "bench: poll on %s: %s", host_port(url).c_str(),
                              std::strerror(errno));
        }
    }
}

Result<Socket> connect_to(const Url& url, int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const std::string port = std::to_string(url.port);
    const int gai = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &list);
    if (gai != 0) {
        return make_error(ErrorCode::kUnavailable, "bench: cannot resolve '%s': %s", url.host.c_str(),
                          ::gai_strerror(gai));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
    Status last = make_error(ErrorCode::kUnavailable, "bench: no address for %s", host_port(url).c_str());
    for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
        Socket s(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
        if (s.fd() < 0) {
            last = make_error(ErrorCode::kUnavailable, "bench: socket: %s", std::strerror(errno));
            continue;
        }
        int err = 0;
        if (::connect(s.fd(), a->ai_addr, a->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                err = errno;
            } else {
                Status w = wait_for(s.fd(), POLLOUT, timeout_ms, url, "connect to");
                if (!w.ok()) {
                    last = w;
                    continue;
                }
                socklen_t len = sizeof(err);
                ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
            }
        }
        if (err != 0) {
            last = make_error(ErrorCode::kUnavailable, "bench: cannot connect to %s: %s", host_port(url).c_str(),
                              std::strerror(err));
            continue;
        }
        // Streamed tokens are small writes from the server; our side only sends one request, but
        // without NODELAY a split header/body write could wait 40 ms on a delayed ACK.
        int one = 1;
        ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return s;
    }
    return last;
}

Status send_all(const Socket& s, std::string_view data, const HttpOptions& o, const Url& url) {
    while (!data.empty()) {
        const ssize_t n = ::send(s.fd(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            GANNET_RETURN_IF_ERROR(wait_for(s.fd(), POLLOUT, o.read_timeout_ms, url, "send to"));
        } else if (n < 0 && errno != EINTR) {
            return make_error(ErrorCode::kUnavailable, "bench: send to %s: %s", host_port(url).c_str(),
                              std::strerror(errno));
        }
    }
    return Status();
}

// Reads what is available (waiting up to the read timeout). Returns 0 bytes at EOF.
Result<size_t> recv_some(const Socket& s, char* buf, size_t cap, const HttpOptions& o, const Url& url) {
    while (true) {
        const ssize_t n = ::recv(s.fd(), buf, cap, 0);
        if (n >= 0) {
            return static_cast<size_t>(n);
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            GANNET_RETURN_IF_ERROR(wait_for(s.fd(), POLLIN, o.read_timeout_ms, url, "read from"));
        } else if (errno != EINTR) {
            return make_error(ErrorCode::kUnavailable, "bench: read from %s: %s", host_port(url).c_str(),
                              std::strerror(errno));
        }
    }
}

std::string build_request(const Url& url, const HttpRequest& r) {
    std::string out = r.method + " " + r.path + " HTTP/1.1\r\nHost: " + host_port(url) + "\r\n";
    for (const auto& [k, v] : r.headers) {
        out += k + ": " + v + "\r\n";
    }
    if (!r.body.empty() || r.method == "POST") {
        out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    }
    out += "Connection: close\r\n\r\n";
    out += r.body;
    return out;
}

Status parse_head(std::string_view head, HttpResponseHead* h) {
    const size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) {
        return make_error(ErrorCode::kDataLoss, "bench: not an HTTP response: '%.60s'",
                          std::string(status_line).c_str());
    }
    h->status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    size_t pos = eol + 2;
    while (pos < head.size()) {
        size_t end = head.find("\r\n", pos);
        if (end == std::string_view::npos) {
            end = head.size();
        }
        std::string_view line = head.substr(pos, end - pos);
        pos = end + 2;
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        const std::string name(line.substr(0, colon));
        std::string value(line.substr(colon + 1));
        value.erase(0, value.find_first_not_of(" \t"));
        if (strcasecmp(name.c_str(), "content-length") == 0) {
            h->content_length = std::atoll(value.c_str());
        } else if (strcasecmp(name.c_str(), "transfer-encoding") == 0) {
            h->is_chunked = strcasestr(value.c_str(), "chunked") != nullptr;
        } else if (strcasecmp(name.c_str(), "content-type") == 0) {
            h->content_type = value;
        }
    }
    return Status();
}

}  // namespace

std::string Url::str() const {
    return "http://" + host + ":" + std::to_string(port) + path_prefix;
}

Result<Url> parse_url(std::string_view text) {
    if (text.starts_with("https://")) {
        return make_error(ErrorCode::kUnimplemented, "bench: '%.*s': https is not supported; use http://",
                          static_cast<int>(text.size()), text.data());
    }
    if (!text.starts_with("http://")) {
        return make_error(ErrorCode::kInvalidArgument, "bench: '%.*s' is not an http:// URL",
                          static_cast<int>(text.size()), text.data());
    }
    std::string_view rest = text.substr(7);
    const size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    Url url;
    if (slash != std::string_view::npos) {
        url.path_prefix = std::string(rest.substr(slash));
        while (!url.path_prefix.empty() && url.path_prefix.back() == '/') {
            url.path_prefix.pop_back();
        }
    }
    size_t port_colon = authority.rfind(':');
    if (authority.starts_with("[")) {  // [::1]:8080
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            return make_error(ErrorCode::kInvalidArgument, "bench: '%.*s': unclosed '[' in host",
                              static_cast<int>(text.size()), text.data());
        }
        url.host = std::string(authority.substr(1, close - 1));
        port_colon = close + 1 < authority.size() && authority[close + 1] == ':' ? close + 1 : std::string_view::npos;
    } else {
        url.host = std::string(authority.substr(0, port_colon));
    }
    if (port_colon != std::string_view::npos) {
        const std::string port(authority.substr(port_colon + 1));
        char* end = nullptr;
        const long p = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
            return make_error(ErrorCode::kInvalidArgument, "bench: '%.*s': bad port '%s'",
                              static_cast<int>(text.size()), text.data(), port.c_str());
        }
        url.port = static_cast<int>(p);
    }
    if (url.host.empty()) {
        return make_error(ErrorCode::kInvalidArgument, "bench: '%.*s': no host", static_cast<int>(text.size()),
                          text.data());
    }
    return url;
}

Status http_stream(const Url& url, const HttpRequest& request, const HttpOptions& options,
                   const std::function<Status(const HttpResponseHead&)>& on_head,
                   const std::function<Status(std::string_view)>& on_body) {
    GANNET_ASSIGN_OR_RETURN(Socket s, connect_to(url, options.connect_timeout_ms));
    GANNET_RETURN_IF_ERROR(send_all(s, build_request(url, request), options, url));

    constexpr size_t kMaxHeadBytes = 64 * 1024;
    std::string buf;
    char tmp[16 * 1024];
    size_t head_end = std::string::npos;
    while (head_end == std::string::npos) {
        GANNET_ASSIGN_OR_RETURN(size_t n, recv_some(s, tmp, sizeof(tmp), options, url));
        if (n == 0) {
            return make_error(ErrorCode::kUnavailable, "bench: %s closed the connection before responding",
                              host_port(url).c_str());
        }
        buf.append(tmp, n);
        head_end = buf.find("\r\n\r\n");
        if (head_end == std::string::npos && buf.size() > kMaxHeadBytes) {
            return make_error(ErrorCode::kDataLoss, "bench: response head from %s exceeds %zu bytes",
                              host_port(url).c_str(), kMaxHeadBytes);
        }
    }
    HttpResponseHead head;
    GANNET_RETURN_IF_ERROR(parse_head(std::string_view(buf).substr(0, head_end), &head));
    GANNET_RETURN_IF_ERROR(on_head(head));

    ChunkedDecoder chunked;
    std::string decoded;
    int64_t n_body = 0;
    // Hands raw body bytes to on_body (through the chunked decoder when needed). True when the body is complete.
    auto deliver = [&](std::string_view raw, bool* is_complete) -> Status {
        if (head.is_chunked) {
            decoded.clear();
            GANNET_RETURN_IF_ERROR(chunked.feed(raw, &decoded));
            if (!decoded.empty()) {
                GANNET_RETURN_IF_ERROR(on_body(decoded));
            }
            *is_complete = chunked.is_done();
            return Status();
        }
        if (head.content_length >= 0) {
            raw = raw.substr(0, static_cast<size_t>(std::min<int64_t>(head.content_length - n_body, raw.size())));
        }
        n_body += static_cast<int64_t>(raw.size());
        if (!raw.empty()) {
            GANNET_RETURN_IF_ERROR(on_body(raw));
        }
        *is_complete = head.content_length >= 0 && n_body >= head.content_length;
        return Status();
    };
    bool is_complete = head.content_length == 0;
    if (!is_complete) {
        GANNET_RETURN_IF_ERROR(deliver(std::string_view(buf).substr(head_end + 4), &is_complete));
    }
    while (!is_complete) {
        GANNET_ASSIGN_OR_RETURN(size_t n, recv_some(s, tmp, sizeof(tmp), options, url));
        if (n == 0) {
            if (head.is_chunked || head.content_length >= 0) {
                return make_error(ErrorCode::kDataLoss, "bench: %s closed the connection mid-body",
                                  host_port(url).c_str());
            }
            break;  // body delimited by close
        }
        GANNET_RETURN_IF_ERROR(deliver(std::string_view(tmp, n), &is_complete));
    }
    return Status();
}

Result<HttpResponse> http_fetch(const Url& url, const HttpRequest& request, const HttpOptions& options,
                                size_t max_body_bytes) {
    HttpResponse r;
    Status s = http_stream(
        url, request, options,
        [&](const HttpResponseHead& h) {
            r.status = h.status;
            return Status();
        },
        [&](std::string_view bytes) {
            if (r.body.size() + bytes.size() > max_body_bytes) {
                return make_error(ErrorCode::kResourceExhausted, "bench: response from %s exceeds %zu bytes",
                                  host_port(url).c_str(), max_body_bytes);
            }
            r.body.append(bytes);
            return Status();
        });
    GANNET_RETURN_IF_ERROR(s);
    return r;
}

}  // namespace gannet::bench
