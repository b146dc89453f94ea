#include "constrain/number_lexer.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace gannet::constrain {
namespace {

constexpr int kMaxExp = 340;  // beyond double's range either way

const std::array<long double, 2 * kMaxExp + 1>& pow10_table() {
    static const std::array<long double, 2 * kMaxExp + 1> t = [] {
        std::array<long double, 2 * kMaxExp + 1> a{};
        for (int e = -kMaxExp; e <= kMaxExp; ++e)
            a[static_cast<size_t>(e + kMaxExp)] = std::pow(10.0L, e);
        return a;
    }();
    return t;
}
long double p10(int e) {
    return pow10_table()[static_cast<size_t>(e + kMaxExp)];
}

bool is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

// The reachable set of an unsigned digit prefix `v` (n digits; n == 0: nothing typed yet) as it
// grows: v itself, then [v*10^k, (v+1)*10^k - 1] for k >= 1. True when it meets [lo, hi].
bool digits_reach(long double v, int n, long double lo, long double hi, bool can_grow) {
    if (n > 0 && v >= lo && v <= hi)
        return true;
    if (!can_grow)
        return false;
    for (int k = 1; k <= 40 - n; ++k) {
        const long double a = n == 0 ? 0 : v * p10(k);
        const long double b = n == 0 ? p10(k) - 1 : (v + 1) * p10(k) - 1;
        if (b >= lo && a <= hi)
            return true;
        if (a > hi)
            break;
    }
    return false;
}

}  // namespace

bool NumberLexer::feed(uint8_t c, const Node& node) {
    const bool is_integer_only = (node.types & kTypeNumber) == 0;
    uint8_t next = phase;
    switch (phase) {
        case kStart: next = c == '-' ? kMinus : c == '0' ? kZero : is_digit(c) ? kInt : 255; break;
        case kMinus: next = c == '0' ? kZero : is_digit(c) ? kInt : 255; break;
        case kZero:
        case kInt:
            next = (phase == kInt && is_digit(c))               ? kInt
                   : c == '.'                                   ? kDot
                   : (c == 'e' || c == 'E') && !is_integer_only ? kExpMark
                                                                : 255;
            break;
        case kDot:
        case kFrac:
            next = is_digit(c) && (!is_integer_only || c == '0')                  ? kFrac
                   : phase == kFrac && (c == 'e' || c == 'E') && !is_integer_only ? kExpMark
                                                                                  : 255;
            break;
        case kExpMark: next = c == '+' || c == '-' ? kExpSign : is_digit(c) ? kExp : 255; break;
        case kExpSign:
        case kExp: next = is_digit(c) ? kExp : 255; break;
        default: return false;
    }
    if (next == 255)
        return false;
    const bool has_bounds = node.has_min || node.has_max;
    if (is_digit(c) || next == kDot) {
        // At most 24 mantissa and 4 exponent digits when bounded (the whole text stays in `text`,
        // so every bound is enforced, and an exponent still reaches any magnitude), 200 and 2
        // otherwise (the value stays a finite double, as the validator parses it).
        int n_mant = 0, n_exp = 0;
        for (int i = 0; i < (len == kTooLong ? 0 : len); ++i) {
            if (text[i] == 'e' || text[i] == 'E')
                n_exp = 1;
            else if (is_digit(static_cast<uint8_t>(text[i])))
                (n_exp > 0 ? n_exp : n_mant)++;
        }
        n_mant += n_mant_dropped;
        if (next == kExp ? n_exp > (has_bounds ? 4 : 2) : n_mant >= (has_bounds ? 24 : 200))
            return false;  // kDot: a digit must follow
    }
    phase = next;
    if (len != kTooLong) {
        if (len + 1 >= static_cast<int>(sizeof(text))) {
            len = kTooLong;
        } else if (len + 1 >= static_cast<int>(sizeof(text)) - 8 && !has_bounds && is_digit(c) && phase != kExp) {
            ++n_mant_dropped;  // unbounded: only the digit count matters from here on
        } else {
            text[len++] = static_cast<char>(c);
            text[len] = 0;
        }
    }
    return is_feasible(node);
}

bool NumberLexer::is_in_bounds(const Node& node) const {
    if (len == kTooLong || (!node.has_min && !node.has_max))
        return true;
    const double v = std::strtod(text, nullptr);
    if (node.has_min && (node.is_min_exclusive ? !(v > node.min) : !(v >= node.min)))
        return false;
    if (node.has_max && (node.is_max_exclusive ? !(v < node.max) : !(v <= node.max)))
        return false;
    return true;
}

// Never stricter than the schema: bounds are widened by a relative 1e-9 here (the exact test is
// is_in_bounds() at the end), so rounding in the long double arithmetic cannot refuse a valid byte.
bool NumberLexer::is_feasible(const Node& node) const {
    if (len == kTooLong || (!node.has_min && !node.has_max))
        return true;
    const long double inf = std::numeric_limits<long double>::infinity();
    long double lo = node.has_min ? node.min : -inf, hi = node.has_max ? node.max : inf;
    lo -= std::fabs(lo) * 1e-9L + 1e-300L;
    hi += std::fabs(hi) * 1e-9L + 1e-300L;
    const bool neg = text[0] == '-';
    // Mirror negative numbers so the digits below are magnitudes.
    if (neg) {
        const long double t = lo;
        lo = -hi;
        hi = -t;
    }
    if (hi < 0)
        return false;
    // Mantissa: integer digits, fraction digits; exponent digits.
    long double m = 0;
    int n_int = 0, n_frac = 0, n_exp = 0;
    long double e_val = 0;
    bool exp_neg = false, has_exp_sign = false;
    int part = 0;  // 0 integer, 1 fraction, 2 exponent
    for (int i = neg ? 1 : 0; i < len; ++i) {
        const char ch = text[i];
        if (ch == '.') {
            part = 1;
        } else if (ch == 'e' || ch == 'E') {
            part = 2;
        } else if (ch == '-' || ch == '+') {
            exp_neg = ch == '-';
            has_exp_sign = true;
        } else if (part == 0) {
            m = m * 10 + (ch - '0');
            ++n_int;
        } else if (part == 1) {
            m = m * 10 + (ch - '0');
            ++n_frac;
        } else {
            e_val = e_val * 10 + (ch - '0');
            ++n_exp;
        }
    }
    const bool is_integer_only = (node.types & kTypeNumber) == 0;
    if (is_integer_only) {
        const long double ilo = std::ceil(lo), ihi = std::floor(hi);
        const long double v = m / p10(n_frac);  // a fraction of zeros leaves the integer part
        return digits_reach(v, n_int, ilo, ihi, phase == kInt || phase == kMinus || phase == kStart);
    }
    m /= p10(n_frac);
    if (part < 2) {
        // [m, m + width) scaled by any 10^E (more digits or an exponent still to come).
        const long double width = phase == kMinus ? inf : part == 0 ? (phase == kZero ? 1 : 1) : p10(-n_frac);
        if (phase == kMinus)
            return true;  // every magnitude is still reachable
        for (int e = -kMaxExp + 1; e < kMaxExp; ++e) {
            const long double a = m * p10(e), b = (m + width) * p10(e);
            if (b >= lo && a <= hi)
                return true;
        }
        return false;
    }
    // Exponent: the mantissa is fixed; exponents reachable from the digits typed so far.
    for (int e = -kMaxExp + 1; e < kMaxExp; ++e) {
        if ((e < 0 && has_exp_sign && !exp_neg) || (e > 0 && exp_neg))
            continue;
        if (e < 0 && !has_exp_sign && n_exp > 0)
            continue;
        const long double mag = std::fabs(static_cast<long double>(e));
        if (n_exp > 0 && !digits_reach(e_val, n_exp, mag, mag, /*can_grow=*/true))
            continue;
        const long double v = m * p10(e);
        if (v >= lo && v <= hi)
            return true;
    }
    return false;
}

}  // namespace gannet::constrain
