#include "budget/budget.h"

#include <gtest/gtest.h>

#include <utility>

namespace gannet::budget {
namespace {

Budget mint_or_die(BudgetMint& mint, uint64_t n) {
    return std::move(mint.mint(n)).value();
}

TEST(BudgetTest, SpendLeavesTheRestAndEmptiesTheOriginal) {
    BudgetMint mint(1000);
    Budget b = mint_or_die(mint, 100);

    Result<Budget> rest = std::move(b).spend(30);

    ASSERT_TRUE(rest.has_value());
    EXPECT_EQ(rest->tokens(), 70u);
    EXPECT_EQ(b.tokens(), 0u);  // NOLINT(bugprone-use-after-move): the moved-from state is what is tested
    EXPECT_FALSE(b.is_live());  // NOLINT(bugprone-use-after-move)
}

TEST(BudgetTest, RefusedSpendKeepsTheFunds) {
    BudgetMint mint(1000);
    Budget b = mint_or_die(mint, 10);

    Result<Budget> r = std::move(b).spend(11);

    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(r.error().message().find("11 tokens asked, 10 held"), std::string::npos) << r.error().message();
    EXPECT_EQ(b.tokens(), 10u);  // NOLINT(bugprone-use-after-move): a refused spend moves nothing
}

TEST(BudgetTest, SplitConservesTheTotalAndMergeRestoresIt) {
    BudgetMint mint(1000);
    Result<std::pair<Budget, Budget>> parts = std::move(mint_or_die(mint, 100)).split(25);
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->first.tokens(), 25u);
    EXPECT_EQ(parts->second.tokens(), 75u);

    Result<Budget> merged = std::move(parts->first).merge(std::move(parts->second));

    ASSERT_TRUE(merged.has_value());
    EXPECT_EQ(merged->tokens(), 100u);
}

TEST(BudgetTest, EveryOperationOnAMovedFromBudgetFails) {
    BudgetMint mint(1000);
    Budget b = mint_or_die(mint, 100);
    Budget taken = std::move(b);
    EXPECT_EQ(taken.tokens(), 100u);

    // NOLINTBEGIN(bugprone-use-after-move): using the moved-from budget is the point of the test
    Result<Budget> s = std::move(b).spend(0);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code(), ErrorCode::kInternal);
    EXPECT_NE(s.error().message().find("moved from"), std::string::npos);
    EXPECT_FALSE(std::move(b).split(0).has_value());
    EXPECT_FALSE(std::move(b).consume().has_value());
    EXPECT_FALSE(std::move(b).merge(mint_or_die(mint, 1)).has_value());
    Budget other = mint_or_die(mint, 5);
    EXPECT_FALSE(std::move(other).merge(std::move(b)).has_value());
    EXPECT_EQ(other.tokens(), 5u);  // the failed merge consumed neither side
    // NOLINTEND(bugprone-use-after-move)
}

TEST(BudgetTest, ConsumeReturnsWhatWasHeldOnce) {
    BudgetMint mint(1000);
    Budget b = mint_or_die(mint, 42);

    Result<uint64_t> n = std::move(b).consume();

    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 42u);
    EXPECT_FALSE(std::move(b).consume().has_value());  // NOLINT(bugprone-use-after-move)
}

TEST(BudgetTest, MintIssuesNoMoreThanItsAuthority) {
    BudgetMint mint(100);
    ASSERT_TRUE(mint.mint(60).has_value());

    Result<Budget> over = mint.mint(41);

    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_EQ(mint.remaining(), 40u);
}

TEST(BudgetTest, AmountsPastTheMaximumAreRefusedNotWrapped) {
    BudgetMint mint(~uint64_t{0});
    EXPECT_EQ(mint.mint(kMaxTokens + 1).error().code(), ErrorCode::kInvalidArgument);
    Budget a = mint_or_die(mint, kMaxTokens);
    Budget b = mint_or_die(mint, 1);

    Result<Budget> sum = std::move(a).merge(std::move(b));

    ASSERT_FALSE(sum.has_value());
    EXPECT_EQ(sum.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(a.tokens(), kMaxTokens);  // NOLINT(bugprone-use-after-move): refused, so unchanged
}

TEST(BudgetTest, SelfMergeIsRefused) {
    BudgetMint mint(100);
    Budget a = mint_or_die(mint, 10);
    Result<Budget> r = std::move(a).merge(std::move(a));  // NOLINT(bugprone-use-after-move)
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(a.tokens(), 10u);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace gannet::budget
