// A reservation cannot be copied: two commits of one reservation would refund twice.
// EXPECT: use of deleted function gannet::budget::Reservation::Reservation\(const gannet::budget::Reservation&\)
#include "budget/budget_pool.h"

gannet::budget::Reservation twice(const gannet::budget::Reservation& r) {
    return r;
}
