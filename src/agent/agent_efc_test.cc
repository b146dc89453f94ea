// The live EFC path's pieces: how a harness tool outcome maps onto the scorer's axes, what the scorer
// reads as an action, and the offline replay of a transcript (the e2e is tests/budget/agent_efc_live_test.py).
#include "agent/agent_efc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace gannet::agent {
namespace {

TEST(AgentEfcTest, OutcomesMapOntoValidity) {
    ToolOutcome ran;
    ran.is_called = true;
    ran.text = "ok";
    ran.exit_code = 0;
    ToolOutcome refused;
    refused.is_error = true;
    refused.text = "error: no tool named 'x'";
    ToolOutcome cut = ran;
    cut.is_truncated = true;
    ToolOutcome killed = ran;
    killed.exit_code = 137;
    killed.is_timed_out = true;
    EXPECT_TRUE(is_valid(efc_tool_event("read_file", "{}", ran)));
    EXPECT_FALSE(is_valid(efc_tool_event("x", "{}", refused)));  // nothing ran
    EXPECT_TRUE(efc_tool_event("x", "{}", refused).is_rejected);
    EXPECT_FALSE(is_valid(efc_tool_event("read_file", "{}", cut)));
    EXPECT_FALSE(is_valid(efc_tool_event("run_command", "{}", killed)));
}

TEST(AgentEfcTest, ActionTextCarriesTheToolCalls) {
    const nlohmann::json calls =
        nlohmann::json::parse(R"([{"id": "1", "type": "function",)"
                              R"(  "function": {"name": "read_file", "arguments": "{\"path\": \"a.txt\"}"}}])");
    EXPECT_EQ(efc_action_text("Looking.", calls), "Looking.\nread_file {\"path\": \"a.txt\"}");
    EXPECT_EQ(efc_action_text("plain", nlohmann::json()), "plain");
}

TEST(AgentEfcTest, ReplayScoresEachAgentAndRejectsBadLines) {
    char dir[] = "/tmp/agent_efc_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/t.jsonl";
    std::ofstream(path) << R"({"agent":"0","event":"start","task":"Fix parse_config in config_loader.py"})"
                           "\n"
                        << R"({"agent":"0","event":"model_call","content":"look","tool_calls":[]})"
                           "\n"
                        << R"({"agent":"0","event":"tool_call","name":"read_file","arguments":"{}","is_called":true,)"
                           R"("exit_code":0,"result":"config_loader.py:12: KeyError missing_section_name"})"
                           "\n"
                        << R"({"agent":"0","event":"model_call","content":"fix missing_section_name","tool_calls":[]})"
                           "\n";
    Result<nlohmann::json> r = replay_transcript_efc(path, EfcConfig());
    ASSERT_TRUE(r.has_value()) << r.error().message();
    const nlohmann::json& a = (*r)["agents"]["0"];
    EXPECT_EQ(a["d_task"].get<double>(), 4.0);  // 1 + parse_config, config_loader.py and config_loader
    EXPECT_EQ(a["n_events"].get<int>(), 1);
    EXPECT_EQ(a["efc"].get<double>(), 1.0);  // a localised failure, retained by the next action
    std::ofstream(path, std::ios::app) << "not json\n";
    Result<nlohmann::json> bad = replay_transcript_efc(path, EfcConfig());
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message().find("t.jsonl:5: not a transcript event object"), std::string::npos);
    EXPECT_EQ(replay_transcript_efc(std::string(dir) + "/none.jsonl", EfcConfig()).error().code(),
              ErrorCode::kNotFound);
    std::system(("rm -rf " + std::string(dir)).c_str());
}

}  // namespace
}  // namespace gannet::agent
