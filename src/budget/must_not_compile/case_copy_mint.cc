// The authority itself cannot be duplicated (a copy would double what may be minted).
// EXPECT: use of deleted function gannet::budget::BudgetMint::BudgetMint\(const gannet::budget::BudgetMint&\)
#include "budget/budget.h"

gannet::budget::BudgetMint duplicate(const gannet::budget::BudgetMint& m) {
    return m;
}
