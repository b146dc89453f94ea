#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mcp/tool_packs.h"

namespace gannet::mcp {
namespace {

class WorkspacePackTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = std::filesystem::temp_directory_path() / ("gannet_ws_" + std::to_string(::getpid()));
        std::filesystem::remove_all(root_);
        std::filesystem::create_directories(root_ / "sub");
        std::ofstream(root_ / "a.txt") << "alpha";
        std::filesystem::create_symlink("/etc", root_ / "out");
        WorkspaceOptions o;
        o.root = root_.string();
        ASSERT_TRUE(add_workspace_pack(registry_, o).ok());
    }
    void TearDown() override { std::filesystem::remove_all(root_); }

    CallOutcome call(const std::string& tool, Json args) {
        CallContext ctx;
        ctx.arguments = std::move(args);
        return registry_.find_tool(tool)->fn(ctx);
    }
    static std::string text(const CallOutcome& o) { return o.result["content"][0].value("text", ""); }

    std::filesystem::path root_;
    Registry registry_;
};

TEST_F(WorkspacePackTest, ReadsInsideTheRoot) {
    EXPECT_EQ(text(call("read_file", {{"path", "a.txt"}})), "alpha");
    EXPECT_EQ(text(call("read_file", {{"path", "sub/../a.txt"}})), "alpha");
}

TEST_F(WorkspacePackTest, RefusesEveryEscape) {
    for (const char* p : {"../a.txt", "sub/../../etc/passwd", "out/passwd", "/etc/passwd"}) {
        CallOutcome o = call("read_file", {{"path", p}});
        EXPECT_EQ(o.result.value("isError", false), true) << p;
    }
    EXPECT_EQ(call("write_file", {{"path", "out/x"}, {"content", "x"}}).result.value("isError", false), true);
    EXPECT_FALSE(std::filesystem::exists("/etc/x"));
}

TEST_F(WorkspacePackTest, WritesAndListsInsideTheRoot) {
    EXPECT_NE(call("write_file", {{"path", "sub/b.txt"}, {"content", "beta"}}).result.value("isError", false), true);
    CallOutcome o = call("list_dir", {{"path", "sub"}});
    EXPECT_EQ(o.result["structuredContent"]["entries"][0]["name"], "b.txt");
}

}  // namespace
}  // namespace gannet::mcp
