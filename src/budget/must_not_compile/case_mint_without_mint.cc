// Creating funds without the BudgetMint authority.
// EXPECT: gannet::budget::Budget::Budget\(uint64_t\) is private within this context
#include "budget/budget.h"

gannet::budget::Budget forge() {
    return gannet::budget::Budget(1000000);
}
