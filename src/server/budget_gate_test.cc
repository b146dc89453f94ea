#include "server/budget_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace gannet::server {
namespace {

std::string error_of(const std::string& text) {
    Result<BudgetsConfig> r = parse_budgets(text, "b.json");
    EXPECT_FALSE(r.has_value()) << text;
    return r.has_value() ? "" : r.error().message();
}

TEST(BudgetsFileTest, ParsesAccountsAndToolCosts) {
    Result<BudgetsConfig> r = parse_budgets(
        R"({"budgets": [{"name": "alice", "key": "sk-alice-1", "tokens": 1000},
                        {"name": "bob", "key": "sk-bob-22", "tokens": 0}],
            "tool_costs": {"default": 3, "read_file": 20}})",
        "b.json");
    ASSERT_TRUE(r.has_value()) << r.error().message();
    ASSERT_EQ(r->accounts.size(), 2u);
    EXPECT_EQ(r->accounts[0].name, "alice");
    EXPECT_EQ(r->accounts[0].limit, 1000u);
    EXPECT_EQ(r->accounts[1].limit, 0u);
    EXPECT_EQ(r->default_tool_cost, 3u);
    EXPECT_EQ(r->tool_costs.at("read_file"), 20u);
}

TEST(BudgetsFileTest, BadFilesGetPreciseErrors) {
    EXPECT_NE(error_of("{\"budgets\": [").find("budgets b.json: "), std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": -5}]})")
                  .find("budgets[0] (a): tokens: must not be negative, got -5"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 18446744073709551615}]})")
                  .find("tokens: 18446744073709551615 overflows the maximum 4611686018427387904"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 1e30}]})").find("overflows"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 2.5}]})")
                  .find("must be a whole number of tokens, got 2.5"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": "10"}]})")
                  .find("must be an integer number of tokens, got \"10\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 1, "limit": 2}]})")
                  .find("unknown field 'limit' (expected key, name, tokens)"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 1},
                                       {"name": "b", "key": "sk-aaaaaa", "tokens": 1}]})")
                  .find("budgets[1] (b): its key is also another budget's"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 1}], "tool_costs": {"x": -1}})")
                  .find("tool_costs.x: must not be negative"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": []})").find("non-empty array"), std::string::npos);
    EXPECT_NE(error_of(R"({"budgets": [{"name": "a b", "key": "sk-aaaaaa", "tokens": 1}]})").find("name: only"),
              std::string::npos);
    // The secret key never appears in an error.
    EXPECT_EQ(error_of(R"({"budgets": [{"name": "a", "key": "sk-secret-1", "tokens": -1}]})").find("sk-secret-1"),
              std::string::npos);
}

TEST(BudgetsFileTest, MeteredToolsDeclareTheirOutput) {
    Result<BudgetsConfig> r = parse_budgets(
        R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 9}],
            "tool_costs": {"run_command": {"tokens": 50, "max_output_bytes": 8192}, "read_file": 2}})",
        "b.json");
    ASSERT_TRUE(r.has_value()) << r.error().message();
    EXPECT_EQ(r->tool_costs.at("run_command"), 50u);
    EXPECT_EQ(r->tool_output_bytes.at("run_command"), 8192u);
    EXPECT_EQ(r->tool_output_bytes.count("read_file"), 0u);  // a plain number: a fixed cost, not metered
    const std::string head = R"({"budgets": [{"name": "a", "key": "sk-aaaaaa", "tokens": 9}], "tool_costs": )";
    EXPECT_NE(error_of(head + R"({"t": {"tokens": 1}}})").find("tool_costs.t: a metered tool needs both"),
              std::string::npos);
    EXPECT_NE(error_of(head + R"({"t": {"tokens": 1, "max_output_bytes": 0}}})")
                  .find("tool_costs.t.max_output_bytes: must be at least 1, got 0"),
              std::string::npos);
    EXPECT_NE(error_of(head + R"({"t": {"tokens": 1, "max_output_bytes": -4}}})")
                  .find("tool_costs.t.max_output_bytes: must not be negative, got -4"),
              std::string::npos);
    EXPECT_NE(error_of(head + R"({"t": {"tokens": 1, "max_output_bytes": 4, "per_kb": 1}}})")
                  .find("tool_costs.t: unknown field 'per_kb' (expected max_output_bytes, tokens)"),
              std::string::npos);
    EXPECT_NE(error_of(head + R"({"default": {"tokens": 1, "max_output_bytes": 4}}})")
                  .find("tool_costs.default: must be an integer number of tokens"),
              std::string::npos);
}

TEST(BudgetsFileTest, MissingFileIsNotFound) {
    EXPECT_EQ(load_budgets_file("/nonexistent/budgets.json").error().code(), ErrorCode::kNotFound);
}

std::shared_ptr<mcp::Store> memory_store() {
    return std::shared_ptr<mcp::Store>(std::move(mcp::open_store("sqlite::memory:")).value());
}

TEST(BudgetLedgerTest, ReserveCommitAndChargeKeepTheBooks) {
    BudgetLedger ledger(memory_store());
    ASSERT_TRUE(*ledger.reserve("a", 100, 60));
    EXPECT_FALSE(*ledger.reserve("a", 100, 41));  // 60 reserved: 41 more does not fit
    ASSERT_TRUE(ledger.commit("a", 60, 25).ok());
    EXPECT_TRUE(*ledger.charge("a", 100, 75));
    EXPECT_FALSE(*ledger.charge("a", 100, 1));
    LedgerEntry e = *ledger.read("a");
    EXPECT_EQ(e.spent, 100u);
    EXPECT_EQ(e.reserved, 0u);
}

TEST(BudgetLedgerTest, CommitNeverChargesMoreThanReserved) {
    BudgetLedger ledger(memory_store());
    ASSERT_TRUE(*ledger.reserve("a", 100, 10));
    ASSERT_TRUE(ledger.commit("a", 10, 50).ok());
    EXPECT_EQ(ledger.read("a")->spent, 10u);
    EXPECT_EQ(ledger.commit("a", 10, 10).code(), ErrorCode::kDataLoss);  // nothing left reserved
}

TEST(BudgetLedgerTest, CorruptRecordIsDataLoss) {
    std::shared_ptr<mcp::Store> store = memory_store();
    ASSERT_TRUE(store->put("budget/a", "12 x", 0).ok());
    BudgetLedger ledger(store);
    Result<LedgerEntry> e = ledger.read("a");
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.error().code(), ErrorCode::kDataLoss);
    EXPECT_NE(e.error().message().find("'12 x'"), std::string::npos);
}

// Threads race to reserve 7-token slices of 1000 through one store: never more than fits.
TEST(BudgetLedgerTest, ConcurrentReservesNeverOvershoot) {
    BudgetLedger ledger(memory_store());
    std::atomic<int> n_granted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 60; ++i) {
                Result<bool> ok = ledger.reserve("a", 1000, 7);
                ASSERT_TRUE(ok.has_value());
                if (*ok) {
                    n_granted.fetch_add(1);
                    ASSERT_TRUE(ledger.commit("a", 7, 7).ok());
                }
            }
        });
    }
    for (std::thread& th : threads) {
        th.join();
    }
    EXPECT_EQ(n_granted.load(), 1000 / 7);
    EXPECT_EQ(ledger.read("a")->spent, 1000u / 7 * 7);
}

}  // namespace
}  // namespace gannet::server
