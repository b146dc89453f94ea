// Spending an lvalue without std::move: every operation consumes the budget, so the caller must say so.
// EXPECT: passing gannet::budget::Budget as this argument discards qualifiers|no matching function for call to
// gannet::budget::Budget::spend\(int\) &
#include "budget/budget.h"

gannet::Result<gannet::budget::Budget> spend_twice(gannet::budget::Budget& b) {
    return b.spend(1);
}
