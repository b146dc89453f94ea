#include "agent/efc_axes.h"

#include <gtest/gtest.h>

namespace gannet::agent {
namespace {

TEST(EfcAxesTest, ReadsMiniSweAgentObservations) {
    ToolEvent ok = tool_event_from_observation("ls", "<returncode>0</returncode>\n<output>\na.py\n</output>");
    EXPECT_EQ(ok.exit_code, 0);
    EXPECT_TRUE(is_valid(ok));

    ToolEvent failed = tool_event_from_observation("python x.py", "<returncode>1</returncode>\n<output>boom</output>");
    EXPECT_EQ(failed.exit_code, 1);
    EXPECT_TRUE(is_valid(failed));  // a failure is still a real, completed execution

    ToolEvent cut = tool_event_from_observation(
        "ls -R", "<returncode>0</returncode>\n<warning>too long</warning><output_head>\na\n</output_head>");
    EXPECT_TRUE(cut.is_truncated);
    EXPECT_FALSE(is_valid(cut));

    ToolEvent slow = tool_event_from_observation(
        "pytest", "The last command <command>pytest</command> timed out and has been killed.");
    EXPECT_TRUE(slow.is_timed_out);
    EXPECT_FALSE(slow.exit_code.has_value());
    EXPECT_FALSE(is_valid(slow));

    ToolEvent rejected = tool_event_from_observation(
        "two blocks", "Please always provide EXACTLY ONE action in triple backticks, found 2 actions.");
    EXPECT_TRUE(rejected.is_rejected);
    EXPECT_FALSE(is_valid(rejected));
}

TEST(EfcAxesTest, InformativeRanksLocalisedFailuresFirst) {
    ToolEvent trace{.action = "python repro.py",
                    .output = "Traceback (most recent call last):\n  File \"a/b.py\", line 12, in f\nKeyError: 'x'",
                    .exit_code = 1};
    EXPECT_EQ(informative_level(trace, /*has_new_identifier=*/false), 1.0);
    ToolEvent compiler{.action = "cc x.c", .output = "x.c:14:3: warning: unused", .exit_code = 0};
    EXPECT_EQ(informative_level(compiler, /*has_new_identifier=*/false), 1.0);
    ToolEvent hunk{.action = "git diff", .output = "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n", .exit_code = 0};
    EXPECT_EQ(informative_level(hunk, /*has_new_identifier=*/false), 1.0);
    ToolEvent crash{.action = "```bash\npython run.py\n```", .output = "segmentation fault", .exit_code = 139};
    EXPECT_EQ(informative_level(crash, /*has_new_identifier=*/false), 0.5);
    // grep exiting 1 means "no match": an answer, not a surprise.
    ToolEvent no_match{.action = "```bash\ngrep -rn foo .\n```", .output = "", .exit_code = 1};
    EXPECT_EQ(informative_level(no_match, /*has_new_identifier=*/false), 0.0);
    ToolEvent listing{.action = "ls", .output = "setup.py\nsrc\n", .exit_code = 0};
    EXPECT_EQ(informative_level(listing, /*has_new_identifier=*/true), 0.25);
    EXPECT_EQ(informative_level(listing, /*has_new_identifier=*/false), 0.0);
}

TEST(EfcAxesTest, IdentifiersKeepDottedNamesAndLongNumbers) {
    const auto ids = identifiers("call astropy.modeling.separable at line 242 of x.py; id 7; _cstack(left)");
    EXPECT_TRUE(ids.contains("astropy.modeling.separable"));
    EXPECT_TRUE(ids.contains("separable"));
    EXPECT_TRUE(ids.contains("modeling"));
    EXPECT_TRUE(ids.contains("242"));
    EXPECT_TRUE(ids.contains("_cstack"));
    EXPECT_FALSE(ids.contains("7"));   // too short to identify anything
    EXPECT_FALSE(ids.contains("at"));  // names need 4+ characters
}

TEST(EfcAxesTest, MinHashSeesNearDuplicatesThroughChangedNumbers) {
    const std::string run1 = "===== 3 passed, 1 failed in 0.52s =====\nFAILED test_x.py::test_a - assert 1 == 2";
    const std::string run2 = "===== 3 passed, 1 failed in 0.71s =====\nFAILED test_x.py::test_a - assert 1 == 2";
    EXPECT_EQ(jaccard(minhash(run1), minhash(run2)), 1.0);
    const std::string other = "def separability_matrix(transform):\n    return _separable(transform) is not None";
    EXPECT_LT(jaccard(minhash(run1), minhash(other)), 0.2);
    EXPECT_EQ(jaccard(minhash(""), minhash("  \n")), 1.0);
    EXPECT_EQ(jaccard(minhash(""), minhash(other)), 0.0);
}

}  // namespace
}  // namespace gannet::agent
