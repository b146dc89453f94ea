// A budget cannot be copied: a copy would let two sub-agents spend the same tokens.
// EXPECT: use of deleted function gannet::budget::Budget::Budget\(const gannet::budget::Budget&\)
#include <utility>

#include "budget/budget.h"

void give_to_child(gannet::budget::Budget b);

void fan_out(gannet::budget::BudgetMint& mint) {
    gannet::budget::Budget b = *mint.mint(10);
    give_to_child(b);  // must be std::move(b)
}
