// Spending through a const reference: a reader cannot spend what it was only shown.
// EXPECT: passing .*const gannet::budget::Budget}? as this argument discards qualifiers
#include <utility>

#include "budget/budget.h"

gannet::Result<gannet::budget::Budget> spend_shown(const gannet::budget::Budget& b) {
    return std::move(b).spend(1);
}
