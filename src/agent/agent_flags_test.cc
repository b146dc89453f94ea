#include "agent/agent_flags.h"

#include <gtest/gtest.h>

namespace gannet::agent {
namespace {

TEST(AgentFlagsTest, ParsesValuesInBothSpellings) {
    std::string task;
    int64_t n = 0;
    double t = 0;
    bool is_json = false;
    AgentFlags f("gannet agent");
    f.add_string("--task", &task, "");
    f.add_int("--budget", &n, 0, 100, "");
    f.add_double("--temperature", &t, 0, 2, "");
    f.add_bool("--json", &is_json, "");

    ASSERT_TRUE(f.parse({"--task", "do it", "--budget=42", "--temperature", "0.5", "--json"}).ok());

    EXPECT_EQ(task, "do it");
    EXPECT_EQ(n, 42);
    EXPECT_DOUBLE_EQ(t, 0.5);
    EXPECT_TRUE(is_json);
}

TEST(AgentFlagsTest, BadValuesNameTheFlagTheValueAndTheRange) {
    int64_t n = 0;
    AgentFlags f("gannet agent");
    f.add_int("--budget", &n, 0, 100, "");

    EXPECT_EQ(f.parse({"--budget", "-1"}).message(), "gannet agent: --budget must be an integer in [0, 100], got '-1'");
    EXPECT_EQ(f.parse({"--budget", "99999999999999999999"}).message(),
              "gannet agent: --budget must be an integer in [0, 100], got '99999999999999999999'");
    EXPECT_EQ(f.parse({"--budget"}).message(), "gannet agent: --budget needs a value");
    EXPECT_EQ(f.parse({"--bugdet", "1"}).message(), "gannet agent: unknown flag '--bugdet' (see --help)");
    EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace gannet::agent
