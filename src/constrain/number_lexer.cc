#include "constrain/number_lexer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
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
                   : c == '.' && !is_integer_only               ? kDot
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

namespace {

// Bounds in magnitude space (a negative number's bounds mirrored), with their exclusivity.
struct Bounds {
    long double lo, hi;
    bool is_lo_open, is_hi_open;
};

// Whether [x1, x2) (or the point x1 when is_point) meets the bounds. The bounds are first
// widened by a relative 1e-15 (closed) so long double rounding never refuses a valid byte; a zero
// bound stays exact, which keeps "-0" out of (0, ...].
bool meets(long double x1, long double x2, bool is_point, Bounds b) {
    if (b.lo != 0 && std::isfinite(b.lo)) {
        b.lo -= std::fabs(b.lo) * 1e-15L;
        b.is_lo_open = false;
    }
    if (b.hi != 0 && std::isfinite(b.hi)) {
        b.hi += std::fabs(b.hi) * 1e-15L;
        b.is_hi_open = false;
    }
    if (is_point)
        return (b.is_lo_open ? x1 > b.lo : x1 >= b.lo) && (b.is_hi_open ? x1 < b.hi : x1 <= b.hi);
    const bool is_x1_lower = x1 > b.lo || (x1 == b.lo && !b.is_lo_open);
    const long double lower = is_x1_lower ? x1 : b.lo;
    const bool is_lower_closed = is_x1_lower || !b.is_lo_open;
    const bool is_x2_upper = x2 <= b.hi;  // x2 is open either way
    const long double upper = is_x2_upper ? x2 : b.hi;
    const bool is_upper_closed = !is_x2_upper && !b.is_hi_open;
    return lower < upper || (lower == upper && is_lower_closed && is_upper_closed);
}

}  // namespace

// Never stricter than the schema up to the slack above; is_in_bounds() is the exact test.
bool NumberLexer::is_feasible(const Node& node) const {
    if (len == kTooLong || (!node.has_min && !node.has_max))
        return true;
    const long double inf = std::numeric_limits<long double>::infinity();
    const bool neg = text[0] == '-';
    Bounds b{node.has_min ? node.min : -inf, node.has_max ? node.max : inf, node.has_min && node.is_min_exclusive,
             node.has_max && node.is_max_exclusive};
    if (neg)
        b = {-b.hi, -b.lo, b.is_hi_open, b.is_lo_open};  // mirror: the digits below are magnitudes
    if (b.hi < 0)
        return false;
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
        const long double ilo = b.is_lo_open ? std::floor(b.lo) + 1 : std::ceil(b.lo);
        const long double ihi = b.is_hi_open ? std::ceil(b.hi) - 1 : std::floor(b.hi);
        const long double v = m / p10(n_frac);  // a fraction of zeros leaves the integer part
        return digits_reach(v, n_int, ilo, ihi, phase == kInt || phase == kMinus || phase == kStart);
    }
    if (phase == kMinus)
        return meets(0, inf, /*is_point=*/false, b);
    m /= p10(n_frac);
    if (part < 2) {
        // [m, m + width) scaled by any 10^E (more digits or an exponent still to come); "0" and
        // "0.000" can still become any small positive value, or stay exactly 0.
        const long double width = part == 0 ? 1 : p10(-n_frac);
        // The exponents that work form an interval; it is non-empty iff it holds one of the
        // extremes or an exponent next to where either bound is crossed (log10 of the ratios).
        int cand[12] = {-kMaxExp + 1, kMaxExp - 1, 0};
        int n_cand = 3;
        for (long double bound : {b.lo, b.hi}) {
            if (bound <= 0 || !std::isfinite(bound))
                continue;
            for (long double base : {m, m + width}) {
                if (base <= 0)
                    continue;
                const long double l = std::floor(std::log10(bound / base));
                for (int d = -1; d <= 1 && n_cand < 12; ++d) {
                    cand[n_cand++] = static_cast<int>(std::clamp<long double>(l + d, -kMaxExp + 1, kMaxExp - 1));
                }
            }
        }
        for (int k = 0; k < n_cand; ++k) {
            const int e = cand[k];
            // A width below long double precision leaves the point itself (more zeros keep it).
            const long double x1 = m * p10(e), x2 = (m + width) * p10(e);
            if (x2 <= x1 ? meets(x1, 0, /*is_point=*/true, b) : meets(x1, x2, /*is_point=*/false, b))
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
        if (n_exp > 0 && !digits_reach(e_val, n_exp, mag, mag, /*can_grow=*/n_exp < 4))
            continue;
        if (!meets(m * p10(e), 0, /*is_point=*/true, b))
            continue;
        // A point near a bound: decide exactly, as is_in_bounds() will, through strtod.
        NumberLexer exact = *this;
        int at = 0;
        while (at < len && text[at] != 'e' && text[at] != 'E')
            ++at;
        const int n = std::snprintf(exact.text + at, sizeof(exact.text) - static_cast<size_t>(at), "e%d", e);
        exact.len = static_cast<uint8_t>(at + n);
        if (exact.is_in_bounds(node))
            return true;
    }
    return false;
}
}  // namespace gannet::constrain
