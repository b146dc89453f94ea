#include "budget/budget_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace gannet::budget {
namespace {

BudgetPool make_pool(uint64_t n) {
    BudgetMint mint(n);
    return std::move(BudgetPool::create(std::move(mint.mint(n)).value())).value();
}

TEST(BudgetPoolTest, CommitRefundsTheDifference) {
    BudgetPool pool = make_pool(100);
    Reservation r = std::move(pool.reserve(40)).value();
    EXPECT_EQ(pool.stats().available, 60u);
    EXPECT_EQ(pool.stats().outstanding, 40u);

    ASSERT_TRUE(std::move(r).commit(25).ok());

    PoolStats s = pool.stats();
    EXPECT_EQ(s.available, 75u);
    EXPECT_EQ(s.outstanding, 0u);
    EXPECT_EQ(s.spent, 25u);
}

TEST(BudgetPoolTest, CancelRefundsEverything) {
    BudgetPool pool = make_pool(100);
    Reservation r = std::move(pool.reserve(40)).value();

    ASSERT_TRUE(std::move(r).cancel().ok());

    EXPECT_EQ(pool.stats().available, 100u);
    EXPECT_EQ(pool.stats().spent, 0u);
}

TEST(BudgetPoolTest, DroppingAnUncommittedReservationForfeitsIt) {
    BudgetPool pool = make_pool(100);
    { Reservation r = std::move(pool.reserve(40)).value(); }

    PoolStats s = pool.stats();
    EXPECT_EQ(s.available, 60u);
    EXPECT_EQ(s.outstanding, 0u);
    EXPECT_EQ(s.forfeited, 40u);
}

TEST(BudgetPoolTest, ReserveIsAllOrNothing) {
    BudgetPool pool = make_pool(100);
    Reservation a = std::move(pool.reserve(70)).value();

    Result<Reservation> b = pool.reserve(31);

    ASSERT_FALSE(b.has_value());
    EXPECT_EQ(b.error().code(), ErrorCode::kResourceExhausted);
    EXPECT_NE(b.error().message().find("31 tokens asked, 30 available"), std::string::npos) << b.error().message();
    EXPECT_EQ(pool.stats().available, 30u);
    ASSERT_TRUE(std::move(a).cancel().ok());
}

TEST(BudgetPoolTest, OverBilledCommitChargesOnlyTheReservation) {
    BudgetPool pool = make_pool(100);
    Reservation r = std::move(pool.reserve(10)).value();

    Status s = std::move(r).commit(15);

    EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
    EXPECT_EQ(pool.stats().spent, 10u);
    EXPECT_EQ(pool.stats().available, 90u);
}

TEST(BudgetPoolTest, FinishedReservationRefusesSecondCommit) {
    BudgetPool pool = make_pool(100);
    Reservation r = std::move(pool.reserve(10)).value();
    ASSERT_TRUE(std::move(r).commit(5).ok());

    Status again = std::move(r).commit(5);  // NOLINT(bugprone-use-after-move): the second commit is the test

    EXPECT_EQ(again.code(), ErrorCode::kInternal);
    EXPECT_EQ(pool.stats().spent, 5u);
}

TEST(BudgetPoolTest, MovedFromPoolRefusesToReserve) {
    BudgetPool pool = make_pool(50);
    BudgetPool taken = std::move(pool);

    Result<Reservation> r = pool.reserve(1);  // NOLINT(bugprone-use-after-move): the moved-from pool is the test

    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
    EXPECT_EQ(pool.stats().initial, 0u);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(taken.stats().available, 50u);
}

TEST(BudgetPoolTest, ReservationOutlivesThePoolObject) {
    Result<Reservation> r = make_pool(50).reserve(20);
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(std::move(*r).commit(20).ok());
}

// 8 threads race to reserve 1-token slices of a 1000-token pool; the pool never promises more
// than it holds and the ledger balances exactly.
TEST(BudgetPoolTest, ConcurrentReservationsNeverOvershoot) {
    BudgetPool pool = make_pool(1000);
    std::atomic<uint64_t> granted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&pool, &granted, t] {
            for (int i = 0; i < 500; ++i) {
                Result<Reservation> r = pool.reserve(1);
                if (!r.has_value()) {
                    continue;
                }
                granted.fetch_add(1);
                Status s = (i + t) % 3 == 0 ? std::move(*r).cancel() : std::move(*r).commit(1);
                EXPECT_TRUE(s.ok());
            }
        });
    }
    for (std::thread& th : threads) {
        th.join();
    }
    PoolStats s = pool.stats();
    EXPECT_EQ(s.outstanding, 0u);
    EXPECT_EQ(s.spent + s.available, 1000u);
    EXPECT_LE(s.spent, 1000u);
    EXPECT_GT(granted.load(), 1000u);  // cancels refunded, so more than 1000 reservations succeeded
}

}  // namespace
}  // namespace gannet::budget
