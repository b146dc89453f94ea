// Exact numeric helpers for JSON Schema: comparisons across int64/uint64/double without rounding
// surprises, and multipleOf in decimal arithmetic (0.0075 is a multiple of 0.0001, 1e308 of 0.5),
// treating a double as the shortest decimal that round-trips, i.e. the number as it was written
// for up to 17 significant digits. Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

namespace gannet::jsonschema {

int compare_numbers_slow(const nlohmann::json& a, const nlohmann::json& b);

// -1, 0 or 1 as a <, ==, > b. REQUIRES: both are numbers. Inline fast path for two int64s.
inline int compare_numbers(const nlohmann::json& a, const nlohmann::json& b) {
    using V = nlohmann::json::value_t;
    // The parser stores non-negative integers as uint64 and negative ones as int64.
    if (a.type() == V::number_unsigned && b.type() == V::number_unsigned) {
        const uint64_t x = *a.get_ptr<const uint64_t*>();
        const uint64_t y = *b.get_ptr<const uint64_t*>();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.type() == V::number_integer && b.type() == V::number_integer) {
        const int64_t x = *a.get_ptr<const int64_t*>();
        const int64_t y = *b.get_ptr<const int64_t*>();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    return compare_numbers_slow(a, b);
}

// True when value / divisor is an integer. REQUIRES: both numbers, divisor > 0. Non-finite
// values and quotients beyond any representable precision count as not a multiple.
bool is_multiple_of(const nlohmann::json& value, const nlohmann::json& divisor);

// JSON equality as the spec defines it: numbers by value (1 == 1.0), objects unordered.
inline bool json_equal(const nlohmann::json& a, const nlohmann::json& b) {
    return a == b;
}

// A hash consistent with json_equal (equal values hash equally), for uniqueItems on large arrays.
size_t json_hash(const nlohmann::json& value);

}  // namespace gannet::jsonschema
