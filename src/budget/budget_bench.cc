// Micro-benchmarks of the affine budget: spend and split (paper: 1.13 ns / 4.75 ns in Rust), and a
// pool reserve+commit (one mutex round trip). Run: build/src/budget/budget_bench (Release only).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "budget/budget.h"
#include "budget/budget_pool.h"

namespace gannet::budget {
namespace {

void BM_Spend(benchmark::State& state) {
    BudgetMint mint(kMaxTokens);
    Budget b = std::move(mint.mint(kMaxTokens)).value();
    for (auto _ : state) {
        Result<Budget> r = std::move(b).spend(1);
        b = std::move(r).value();
        benchmark::DoNotOptimize(b);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Spend);

void BM_Split(benchmark::State& state) {
    BudgetMint mint(kMaxTokens);
    Budget b = std::move(mint.mint(kMaxTokens)).value();
    for (auto _ : state) {
        Result<std::pair<Budget, Budget>> r = std::move(b).split(1);
        std::pair<Budget, Budget> parts = std::move(r).value();
        benchmark::DoNotOptimize(parts.first);
        b = std::move(parts.second);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Split);

void BM_PoolReserveCommit(benchmark::State& state) {
    BudgetMint mint(kMaxTokens);
    BudgetPool pool = std::move(BudgetPool::create(std::move(mint.mint(kMaxTokens)).value())).value();
    for (auto _ : state) {
        Reservation r = std::move(pool.reserve(2)).value();
        benchmark::DoNotOptimize(std::move(r).commit(1));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PoolReserveCommit);

}  // namespace
}  // namespace gannet::budget

int main(int argc, char** argv) {
    if (std::strcmp(GANNET_BUILD_TYPE, "Release") != 0) {
        std::fprintf(stderr, "budget_bench: refusing to run in a %s build (numbers would mislead)\n",
                     GANNET_BUILD_TYPE);
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    return 0;
}
