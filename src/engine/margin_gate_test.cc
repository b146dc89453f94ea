// The MarginGate vocabulary: mode names round-trip, bad names are precise errors, and the margin is
// top-1 minus top-2 with masked (-inf) entries ignored.
#include "engine/margin_gate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace gannet::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(MarginGateTest, ModeNamesRoundTrip) {
    for (Determinism m : {Determinism::kOff, Determinism::kInvariant, Determinism::kMargin, Determinism::kAlways}) {
        Result<Determinism> back = determinism_from_name(determinism_name(m), "--deterministic");
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(*back, m);
    }
    EXPECT_TRUE(is_verifying(Determinism::kMargin));
    EXPECT_TRUE(is_verifying(Determinism::kAlways));
    EXPECT_FALSE(is_verifying(Determinism::kInvariant));
    EXPECT_FALSE(is_verifying(Determinism::kOff));
}

TEST(MarginGateTest, BadNameNamesTheFlagTheValueAndTheChoices) {
    Result<Determinism> r = determinism_from_name("fast", "--deterministic");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message(), "--deterministic must be off, invariant, margin or always, got 'fast'");
    EXPECT_FALSE(determinism_from_name("", "--mode").has_value());
    EXPECT_FALSE(determinism_from_name("Margin", "--mode").has_value());
}

TEST(MarginGateTest, MarginIsTopOneMinusTopTwo) {
    EXPECT_FLOAT_EQ(logit_margin(std::vector<float>{1.0f, 4.0f, 2.5f, -3.0f}), 1.5f);
    EXPECT_FLOAT_EQ(logit_margin(std::vector<float>{2.5f, 1.0f, 4.0f}), 1.5f);  // order does not matter
    EXPECT_EQ(logit_margin(std::vector<float>{3.0f, 3.0f, 1.0f}), 0.0f);        // a tie: the riskiest row
}

TEST(MarginGateTest, MaskedEntriesAreNotCandidates) {
    // A processor's mask leaves one finite token: nothing can flip, so nothing needs verifying.
    EXPECT_EQ(logit_margin(std::vector<float>{-kInf, 2.0f, -kInf}), kInf);
    EXPECT_FLOAT_EQ(logit_margin(std::vector<float>{-kInf, 2.0f, 1.25f}), 0.75f);
    EXPECT_EQ(logit_margin(std::vector<float>{5.0f}), kInf);
}

}  // namespace
}  // namespace gannet::engine
