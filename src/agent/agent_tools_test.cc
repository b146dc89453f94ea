// AgentTools against a real `gannet serve --no-model --tools workspace --budgets` on 127.0.0.1:
// arguments are checked against the inputSchema before any call (a refused call is not charged),
// valid calls reach the tool and are charged the tool's cost under the bearer key. Label slow.
#include "agent/agent_tools.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "bench/http_client.h"
#include "json/json.h"

extern char** environ;

namespace gannet::agent {
namespace {

constexpr const char* kKey = "sk-tools-test-1";

class AgentToolsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/agent_tools_test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::ofstream(dir_ + "/note.txt") << "the answer is 42\n";
        std::ofstream(dir_ + "/budgets.json") << R"({"budgets": [{"name": "t", "key": ")" << kKey
                                              << R"(", "tokens": 100}], "tool_costs": {"read_file": 40}})";
        const std::string log = dir_ + "/server.log";
        std::vector<std::string> args = {GANNET_BINARY,
                                         "serve",
                                         "--port",
                                         "0",
                                         "--no-model",
                                         "--tools",
                                         "workspace",
                                         "--workspace",
                                         dir_,
                                         "--store",
                                         "sqlite:" + dir_ + "/store.db",
                                         "--budgets",
                                         dir_ + "/budgets.json"};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<char*> argv;
        for (std::string& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ASSERT_EQ(posix_spawn(&pid_, GANNET_BINARY, &fa, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        const std::regex re("listening on http://[^:]+:([0-9]+)");
        for (int i = 0; i < 200 && port_.empty(); ++i) {
            std::stringstream ss;
            ss << std::ifstream(log).rdbuf();
            const std::string text = ss.str();
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
        }
        std::system(("rm -rf " + dir_).c_str());
    }

    static std::string url() { return "http://127.0.0.1:" + port_ + "/mcp"; }

    static uint64_t spent() {
        bench::Url u = *bench::parse_url("http://127.0.0.1:" + port_);
        bench::HttpRequest r;
        r.path = "/v1/budget";
        r.headers = {{"Authorization", std::string("Bearer ") + kKey}};
        Result<bench::HttpResponse> resp = bench::http_fetch(u, r, {});
        EXPECT_TRUE(resp.has_value());
        return gannet::json::parse(resp->body)->at("spent_tokens").get<uint64_t>();
    }

    static inline std::string dir_;
    static inline std::string port_;
    static inline pid_t pid_ = 0;
};

TEST_F(AgentToolsTest, OffersTheWorkspaceToolsAsFunctions) {
    Result<AgentTools> tools = AgentTools::connect(url(), kKey);
    ASSERT_TRUE(tools.has_value()) << tools.error().message();
    EXPECT_TRUE(tools->has_tool("read_file"));
    bool has_parameters = false;
    for (const nlohmann::json& t : tools->openai_tools()) {
        if (t["function"]["name"] == "read_file") {
            has_parameters = t["function"]["parameters"]["required"] == nlohmann::json::array({"path"});
        }
    }
    EXPECT_TRUE(has_parameters);
}

TEST_F(AgentToolsTest, InvalidArgumentsAreRefusedBeforeTheCallAndCostNothing) {
    AgentTools tools = std::move(AgentTools::connect(url(), kKey)).value();
    const uint64_t before = spent();

    Result<ToolOutcome> missing = tools.call("read_file", R"({"file": "note.txt"})", 600);
    Result<ToolOutcome> not_json = tools.call("read_file", "{path:", 600);
    Result<ToolOutcome> unknown = tools.call("delete_everything", "{}", 600);

    ASSERT_TRUE(missing.has_value() && not_json.has_value() && unknown.has_value());
    EXPECT_FALSE(missing->is_called);
    EXPECT_NE(missing->text.find("do not match its inputSchema"), std::string::npos) << missing->text;
    EXPECT_NE(missing->text.find("path"), std::string::npos) << missing->text;
    EXPECT_NE(not_json->text.find("are not JSON"), std::string::npos) << not_json->text;
    EXPECT_NE(unknown->text.find("no tool named 'delete_everything'"), std::string::npos);
    EXPECT_EQ(spent(), before);
}

TEST_F(AgentToolsTest, ValidCallsRunAndAreChargedUntilTheBudgetRefuses) {
    AgentTools tools = std::move(AgentTools::connect(url(), kKey)).value();
    const uint64_t before = spent();

    Result<ToolOutcome> ok = tools.call("read_file", R"({"path": "note.txt"})", 600);

    ASSERT_TRUE(ok.has_value()) << ok.error().message();
    EXPECT_TRUE(ok->is_called);
    EXPECT_FALSE(ok->is_error);
    EXPECT_NE(ok->text.find("the answer is 42"), std::string::npos) << ok->text;
    EXPECT_EQ(spent(), before + 40);
    // 100 tokens pay two reads of 40; the third is refused by the server's budget, as a tool error.
    Result<ToolOutcome> second = tools.call("read_file", R"({"path": "note.txt"})", 600);
    ASSERT_TRUE(second.has_value());
    Result<ToolOutcome> third = tools.call("read_file", R"({"path": "note.txt"})", 600);
    ASSERT_TRUE(third.has_value()) << third.error().message();
    EXPECT_TRUE(third->is_error);
    EXPECT_NE(third->text.find("budget exhausted"), std::string::npos) << third->text;
    EXPECT_LE(spent(), 100u);
}

TEST_F(AgentToolsTest, LongResultsAreTruncatedForTheContext) {
    AgentTools tools = std::move(AgentTools::connect(url(), kKey)).value();
    Result<ToolOutcome> r = tools.call("list_dir", "{}", 8);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(r->is_error) << r->text;  // list_dir costs nothing (no tool_costs entry, no default)
    EXPECT_NE(r->text.find("[truncated:"), std::string::npos) << r->text;
}

}  // namespace
}  // namespace gannet::agent
