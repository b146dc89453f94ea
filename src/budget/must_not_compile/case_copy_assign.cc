// Copy assignment is deleted too.
// EXPECT: use of deleted function gannet::budget::Budget& gannet::budget::Budget::operator=\(const
// gannet::budget::Budget&\)
#include <utility>

#include "budget/budget.h"

void overwrite(gannet::budget::Budget& dst, const gannet::budget::Budget& src) {
    dst = src;
}
