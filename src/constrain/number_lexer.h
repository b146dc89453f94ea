// NumberLexer: JSON number grammar byte by byte, with bounds (minimum/maximum, exclusive or not)
// enforced as early as possible: a byte is refused when no completion of the number so far can
// land inside the bounds (so the matcher never offers a dead end), and the end of the number is
// refused when the value itself is outside. "integer" allows only an integer part: 1.0 is an
// integer to 2020-12 but not to draft 4, and a generator should write 1 anyway. Owner: constrain. Thread-safety: a
// value type.
#pragma once

#include <cstdint>

#include "constrain/schema_graph.h"

namespace gannet::constrain {

struct NumberLexer {
    enum Phase : uint8_t { kStart, kMinus, kZero, kInt, kDot, kFrac, kExpMark, kExpSign, kExp };
    uint8_t phase = kStart;
    uint8_t len = 0;  // bytes in text; kTooLong: bounds are left to the validator
    static constexpr uint8_t kTooLong = 255;
    char text[40] = {};
    int16_t n_mant_dropped = 0;  // unbounded numbers: mantissa digits not kept in text

    // Consumes one byte of the number; false when it is not a number byte here or no completion
    // can satisfy `node`'s bounds.
    bool feed(uint8_t c, const Node& node);
    // True when the text so far is a complete number (it may still continue).
    bool is_terminal() const { return phase == kZero || phase == kInt || phase == kFrac || phase == kExp; }
    // True when the complete number satisfies node's bounds (exactly, through strtod).
    bool is_in_bounds(const Node& node) const;

private:
    bool is_feasible(const Node& node) const;
};

}  // namespace gannet::constrain
