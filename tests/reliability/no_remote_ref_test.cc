// No remote $ref is ever fetched: a schema that points at a live HTTP listener on 127.0.0.1 fails to
// compile with kNotFound, and the listener sees no connection at all (not merely a failed fetch).
// With a registry mapping (gannet validate --remote PREFIX=DIR) the same URI resolves from the
// local directory, still without a connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "jsonschema/validator.h"

namespace gannet::jsonschema {
namespace {

// A listening socket on 127.0.0.1 that records whether anyone connected.
class Listener {
public:
    Listener() {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(listen(fd_, 8), 0);
        socklen_t len = sizeof(addr);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~Listener() { close(fd_); }
    int port() const { return port_; }
    // A pending connection shows as readable on the listening socket.
    bool was_connected(int wait_ms) const {
        pollfd p{fd_, POLLIN, 0};
        return poll(&p, 1, wait_ms) > 0;
    }

private:
    int fd_ = -1;
    int port_ = 0;
};

TEST(NoRemoteRefTest, RefToALiveServerIsNotFoundAndNeverConnects) {
    Listener listener;
    const std::string base = "http://127.0.0.1:" + std::to_string(listener.port());
    for (const std::string& schema : {R"({"$ref": ")" + base + R"(/s.json"})",
                                      R"({"properties": {"a": {"$ref": ")" + base + R"(/defs.json#/$defs/x"}}})",
                                      R"({"$schema": ")" + base + R"(/meta.json", "type": "object"})"}) {
        Result<Validator> v = Validator::compile(nlohmann::json::parse(schema));
        ASSERT_FALSE(v.has_value()) << schema;
        EXPECT_NE(v.error().message().find(base), std::string::npos) << v.error().to_string();
    }
    EXPECT_FALSE(listener.was_connected(200)) << "the compiler opened a connection";
}

TEST(NoRemoteRefTest, AllowedPrefixResolvesFromDiskNotTheNetwork) {
    Listener listener;
    const std::string base = "http://127.0.0.1:" + std::to_string(listener.port()) + "/";
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("no_remote_ref_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "s.json") << R"({"type": "integer"})";
    SchemaRegistry registry;
    ASSERT_TRUE(registry.add_directory_mapping(base + "=" + dir.string()).ok());
    Result<Validator> v =
        Validator::compile(nlohmann::json::parse(R"({"$ref": ")" + base + R"(s.json"})"), {.registry = &registry});
    ASSERT_TRUE(v.has_value()) << v.error().to_string();
    EXPECT_TRUE(v->validate(nlohmann::json(3)));
    EXPECT_FALSE(v->validate(nlohmann::json("x")));
    EXPECT_FALSE(listener.was_connected(100));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gannet::jsonschema
