// Control: correct use of the API compiles and links (so a failing case fails for its own reason).
#include <utility>

#include "budget/budget.h"
#include "budget/budget_pool.h"

int main() {
    gannet::budget::BudgetMint mint(100);
    gannet::Result<gannet::budget::Budget> b = mint.mint(10);
    gannet::Result<gannet::budget::Budget> rest = std::move(*b).spend(3);
    return rest.has_value() && rest->tokens() == 7 ? 0 : 1;
}
