// Client against a real `gannet serve --no-model --tools conformance` on 127.0.0.1 (port 0; the
// port is read from its "listening on http://HOST:PORT" line). Label slow: it starts a process.
#include "mcp/client.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace gannet::mcp {
namespace {

class ServerFixture : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/mcp_client_test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::string log = dir_ + "/server.log";
        std::string store = "sqlite:" + dir_ + "/store.db";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<std::string> args = {GANNET_BINARY, "serve",  "--port",  "0",    "--no-model",
                                         "--tools",     "conformance", "--store", store, "--host", "127.0.0.1"};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ASSERT_EQ(posix_spawn(&pid_, GANNET_BINARY, &fa, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        std::regex re("listening on http://[^:]+:([0-9]+)");
        for (int i = 0; i < 200 && port_.empty(); ++i) {
            std::ifstream in(log);
            std::stringstream ss;
            ss << in.rdbuf();
            std::string text = ss.str();
            std::smatch m;
            if (std::regex_search(text, m, re)) {
                port_ = m[1];
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
        ASSERT_FALSE(port_.empty()) << "gannet serve printed no port";
    }

    static void TearDownTestSuite() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
            pid_ = 0;
        }
        std::system(("rm -rf " + dir_).c_str());
    }

    static Client make(std::vector<std::string> versions = {"2026-07-28", "2025-11-25"}, Json caps = Json::object()) {
        ClientOptions o;
        o.url = "http://127.0.0.1:" + port_ + "/mcp";
        o.versions = std::move(versions);
        o.capabilities = std::move(caps);
        o.timeout_ms = 10000;
        Result<Client> c = Client::create(o);
        EXPECT_TRUE(c.has_value()) << c.error().message();
        return std::move(c).value();
    }

    static inline std::string dir_;
    static inline std::string port_;
    static inline pid_t pid_ = 0;
};

ToolCall tool(std::string name, Json arguments = Json::object()) {
    ToolCall t;
    t.name = std::move(name);
    t.arguments = std::move(arguments);
    return t;
}

ClientOptions options_for(std::string url) {
    ClientOptions o;
    o.url = std::move(url);
    return o;
}

std::string first_text(const Json& call_result) {
    for (const Json& c : call_result.value("content", Json::array())) {
        if (c.value("type", "") == "text") {
            return c.value("text", "");
        }
    }
    return "";
}

TEST_F(ServerFixture, ListsToolsStatelessly) {
    Client c = make();
    Result<Json> tools = c.list_tools();
    ASSERT_TRUE(tools.has_value()) << tools.error().message();
    EXPECT_EQ(c.protocol_version(), "2026-07-28");
    EXPECT_FALSE(c.is_legacy());
    bool has_greet = false;
    for (const Json& t : *tools) {
        has_greet = has_greet || t.value("name", "") == "greet";
    }
    EXPECT_TRUE(has_greet);
    EXPECT_GT(tools->size(), 10u);
}

TEST_F(ServerFixture, CallsATool) {
    Client c = make();
    Result<CallResult> r = c.call_tool(tool("greet", {{"name", "Ada"}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->kind, CallKind::kComplete);
    EXPECT_EQ(first_text(r->result), "Hello, Ada!");
}

TEST_F(ServerFixture, ReadsAnSseResponseWithNotifications) {
    Client c = make();
    ToolCall call = tool("test_tool_with_progress");
    call.progress_token = "tok-1";
    Result<CallResult> r = c.call_tool(call);
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->kind, CallKind::kComplete);
    EXPECT_EQ(first_text(r->result), "tok-1");
    ASSERT_EQ(r->notifications.size(), 3u);
    EXPECT_EQ(r->notifications[2]["method"], "notifications/progress");
    EXPECT_EQ(r->notifications[2]["params"]["progress"], 100);
}

TEST_F(ServerFixture, UnknownToolIsInvalidParams) {
    Client c = make();
    Result<CallResult> r = c.call_tool(tool("no_such_tool"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(c.last_rpc_error().code, rpc_code::kInvalidParams);
}

TEST_F(ServerFixture, SurfacesInputRequiredAndRetries) {
    Client c = make({"2026-07-28"}, Json{{"elicitation", Json::object()}});
    ToolCall call = tool("test_input_required_result_elicitation");
    Result<CallResult> first = c.call_tool(call);
    ASSERT_TRUE(first.has_value()) << first.error().message();
    ASSERT_EQ(first->kind, CallKind::kInputRequired);
    ASSERT_TRUE(first->result["inputRequests"].contains("user_name"));
    EXPECT_EQ(first->result["inputRequests"]["user_name"]["method"], "elicitation/create");
    call.input_responses = {{"user_name", {{"action", "accept"}, {"content", {{"name", "octocat"}}}}}};
    call.request_state = first->result.value("requestState", "");
    Result<CallResult> second = c.call_tool(call);
    ASSERT_TRUE(second.has_value()) << second.error().message();
    EXPECT_EQ(second->kind, CallKind::kComplete);
    EXPECT_EQ(first_text(second->result), "Hello, octocat!");
}

TEST_F(ServerFixture, TaskRoundTrip) {
    Client c = make();
    Result<CallResult> r = c.call_tool(tool("slow_compute", {{"seconds", 0.2}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_EQ(r->kind, CallKind::kTask);
    std::string id = r->result.value("taskId", "");
    ASSERT_FALSE(id.empty());
    Result<Json> done = c.wait_task(id, 10000);
    ASSERT_TRUE(done.has_value()) << done.error().message();
    EXPECT_EQ((*done)["status"], "completed");
    EXPECT_TRUE(done->contains("result"));
    Result<Json> unknown = c.get_task("no-such-task");
    ASSERT_FALSE(unknown.has_value());
    EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ServerFixture, TaskAsksForInputThroughTasksUpdate) {
    Client c = make({"2026-07-28"}, Json{{"elicitation", Json::object()}});
    Result<CallResult> r = c.call_tool(tool("confirm_delete", {{"filename", "a.txt"}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_EQ(r->kind, CallKind::kTask);
    std::string id = r->result.value("taskId", "");
    Result<Json> asked = c.wait_task(id, 10000);
    ASSERT_TRUE(asked.has_value()) << asked.error().message();
    ASSERT_EQ((*asked)["status"], "input_required");
    ASSERT_TRUE((*asked)["inputRequests"].contains("confirm_delete_1"));
    ASSERT_TRUE(c.update_task(id, {{"confirm_delete_1", {{"action", "accept"}, {"content", {{"confirm", true}}}}}})
                    .ok());
    Result<Json> done = c.wait_task(id, 10000);
    ASSERT_TRUE(done.has_value()) << done.error().message();
    ASSERT_EQ((*done)["status"], "completed");
    EXPECT_EQ(first_text((*done)["result"]), "deleted a.txt");
}

TEST_F(ServerFixture, CancelsATask) {
    Client c = make();
    Result<CallResult> r = c.call_tool(tool("slow_compute", {{"seconds", 30}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_EQ(r->kind, CallKind::kTask);
    std::string id = r->result.value("taskId", "");
    ASSERT_TRUE(c.cancel_task(id).ok());
    Result<Json> done = c.wait_task(id, 10000);
    ASSERT_TRUE(done.has_value()) << done.error().message();
    EXPECT_EQ((*done)["status"], "cancelled");
    Result<Json> still = c.wait_task(id, 50);
    EXPECT_EQ((*still)["status"], "cancelled");  // terminal states never change
}

TEST_F(ServerFixture, WaitTaskTimesOut) {
    Client c = make();
    Result<CallResult> r = c.call_tool(tool("slow_compute", {{"seconds", 5}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    std::string id = r->result.value("taskId", "");
    EXPECT_EQ(c.wait_task(id, 300).error().code(), ErrorCode::kDeadlineExceeded);
    ASSERT_TRUE(c.cancel_task(id).ok());
}

TEST_F(ServerFixture, TaskWithoutCapabilityIsRefusedOrSync) {
    ClientOptions o;
    o.url = "http://127.0.0.1:" + port_ + "/mcp";
    o.has_tasks = false;
    Client c = std::move(Client::create(o)).value();
    Result<CallResult> r = c.call_tool(tool("failing_job"));  // task support "required"
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(c.last_rpc_error().code, rpc_code::kMissingRequiredClientCapability);
}

TEST_F(ServerFixture, PinnedLegacyUsesInitialize) {
    Client c = make({"2025-11-25"});
    Result<CallResult> r = c.call_tool(tool("greet", {{"name", "Bob"}}));
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_TRUE(c.is_legacy());
    EXPECT_EQ(c.protocol_version(), "2025-11-25");
    EXPECT_EQ(r->kind, CallKind::kComplete);  // no resultType in a legacy result
    EXPECT_EQ(first_text(r->result), "Hello, Bob!");
    EXPECT_EQ(c.get_task("x").error().code(), ErrorCode::kUnimplemented);
}

TEST_F(ServerFixture, FallsBackWhenModernVersionUnsupported) {
    // The server answers -32022 with supported:["2026-07-28"], which this client does not speak.
    Client c = make({"2099-01-01", "2025-11-25"});
    Result<Json> tools = c.list_tools();
    ASSERT_TRUE(tools.has_value()) << tools.error().message();
    EXPECT_TRUE(c.is_legacy());
    EXPECT_EQ(c.protocol_version(), "2025-11-25");
    EXPECT_FALSE(tools->empty());
}

TEST_F(ServerFixture, RenegotiatesToAListedModernVersion) {
    Client c = make({"2099-01-01", "2026-07-28"});
    ASSERT_TRUE(c.connect().ok());
    EXPECT_FALSE(c.is_legacy());
    EXPECT_EQ(c.protocol_version(), "2026-07-28");
}

TEST_F(ServerFixture, NoCommonVersionIsAnError) {
    Client c = make({"2099-01-01"});
    Status s = c.connect();
    EXPECT_EQ(s.code(), ErrorCode::kUnimplemented) << s.message();
}

TEST(ClientCreate, RejectsBadUrls) {
    EXPECT_EQ(Client::create(options_for("https://x/mcp")).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Client::create(options_for("http://:12/mcp")).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(Client::create(options_for("http://h:port/mcp")).error().code(), ErrorCode::kInvalidArgument);
    ClientOptions o = options_for("http://127.0.0.1:1/mcp");
    Client c = std::move(Client::create(o)).value();
    EXPECT_EQ(c.list_tools().error().code(), ErrorCode::kUnavailable);  // nothing listens on port 1
}

}  // namespace
}  // namespace gannet::mcp
