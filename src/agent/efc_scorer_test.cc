#include "agent/efc_scorer.h"

#include <gtest/gtest.h>

namespace gannet::agent {
namespace {

ToolEvent ok(std::string output) {
    return ToolEvent{.action = "cmd", .output = std::move(output), .exit_code = 0};
}

// A hand-made trajectory: the task names one function; the agent runs a reproduction that fails with
// a traceback into a file it then opens (retained), re-runs the identical reproduction (redundant),
// reads a truncated listing (invalid) and a file it never uses (not retained).
TEST(EfcScorerTest, CreditsOnlyInformativeValidNovelRetainedResults) {
    EfcScorer s;
    s.begin_task("separability_matrix is wrong for nested models");
    EXPECT_EQ(s.d_task(), 2.0);  // 1 + one code-like name

    const std::string trace =
        "Traceback (most recent call last):\n  File \"modeling/separable.py\", line 242, in _cstack\nValueError: shape";
    s.add_action("python repro.py");
    s.add_tool_event(ToolEvent{.action = "python repro.py", .output = trace, .exit_code = 1});
    s.add_action("python repro.py");
    s.add_tool_event(ToolEvent{.action = "python repro.py", .output = trace, .exit_code = 1});
    s.add_action("ls -R");
    s.add_tool_event(ToolEvent{.action = "ls -R", .output = "huge_listing_file", .exit_code = 0, .is_truncated = true});
    s.add_action("cat unrelated.py");
    s.add_tool_event(ok("def helper_never_used(): pass"));
    s.add_action("sed -n 230,250p modeling/separable.py  # look at _cstack");
    s.add_tool_event(ok(""));

    const auto& e = s.events();
    ASSERT_EQ(e.size(), 5u);
    EXPECT_EQ(e[0].informative, 1.0);
    EXPECT_TRUE(e[0].is_valid);
    EXPECT_TRUE(e[0].is_non_redundant);
    EXPECT_TRUE(e[0].is_retained);  // _cstack and the file are used by the sed action
    EXPECT_EQ(e[0].credit(), 1.0);

    EXPECT_FALSE(e[1].is_non_redundant);  // the same traceback again
    EXPECT_EQ(e[1].max_jaccard, 1.0);
    EXPECT_EQ(e[1].credit(), 0.0);

    EXPECT_FALSE(e[2].is_valid);
    EXPECT_EQ(e[2].credit(), 0.0);

    EXPECT_EQ(e[3].informative, 0.25);  // new names, no failure
    EXPECT_FALSE(e[3].is_retained);
    EXPECT_EQ(e[3].credit(), 0.0);

    EXPECT_EQ(e[4].informative, 0.0);  // empty output
    EXPECT_DOUBLE_EQ(s.efc(), 1.0);
    EXPECT_DOUBLE_EQ(s.efc_per_demand(), 0.5);
}

TEST(EfcScorerTest, ResultOutOfContextIsNotRetained) {
    EfcScorer s(EfcConfig{.context_tokens = 10});  // 40 characters
    s.begin_task("task");
    s.add_action("run");
    s.add_tool_event(ok("found config_loader_value in settings"));
    s.add_action("cat " + std::string(100, 'x'));
    s.add_tool_event(ok(std::string(200, ' ')));
    s.add_action("grep config_loader_value");
    EXPECT_FALSE(s.events()[0].is_retained);
    EXPECT_EQ(s.efc(), 0.0);

    EfcScorer wide;
    wide.begin_task("task");
    wide.add_action("run");
    wide.add_tool_event(ok("found config_loader_value in settings"));
    wide.add_action("cat " + std::string(100, 'x'));
    wide.add_tool_event(ok(std::string(200, ' ')));
    wide.add_action("grep config_loader_value");
    EXPECT_TRUE(wide.events()[0].is_retained);
    EXPECT_EQ(wide.efc(), 0.25);
}

TEST(EfcScorerTest, TaskIdentifiersAreNotNewInformation) {
    EfcScorer s;
    s.begin_task("fix parse_header in http.client");
    s.add_action("grep parse_header");
    s.add_tool_event(ok("parse_header http.client"));
    EXPECT_EQ(s.events()[0].n_new_identifiers, 0u);
    EXPECT_EQ(s.events()[0].informative, 0.0);
}

TEST(EfcScorerTest, StallsAfterAWindowWithoutCredit) {
    EfcScorer s(EfcConfig{.stall_window = 3, .stall_min_credit = 1.0});
    s.begin_task("task");
    s.add_action("pytest");
    s.add_tool_event(ToolEvent{.action = "pytest", .output = "FAILED test_a.py::test_one", .exit_code = 1});
    EXPECT_FALSE(s.is_stalled());  // fewer than 3 results
    for (int i = 0; i < 2; ++i) {
        s.add_action("echo");
        s.add_tool_event(ok(""));
    }
    EXPECT_FALSE(s.is_stalled());  // the failing test is still in the window
    s.add_action("echo");
    s.add_tool_event(ok(""));
    EXPECT_TRUE(s.is_stalled());
    s.add_action("pytest -x");
    s.add_tool_event(ToolEvent{.action = "pytest -x", .output = "b.py:10: AssertionError", .exit_code = 1});
    EXPECT_FALSE(s.is_stalled());
}

TEST(EfcScorerTest, TaskDemandCountsCodeLikeNames) {
    EXPECT_EQ(estimate_task_demand("The plot looks wrong."), 1.0);
    EXPECT_EQ(estimate_task_demand("QuerySet.bulk_create ignores batch_size; call check() first; see CompoundModel"),
              1.0 + 6);  // QuerySet.bulk_create, QuerySet, bulk_create, batch_size, check, CompoundModel
}

}  // namespace
}  // namespace gannet::agent
