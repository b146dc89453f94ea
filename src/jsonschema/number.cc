#include "jsonschema/number.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>

namespace gannet::jsonschema {
namespace {

// __extension__: 128-bit integers are a GCC/Clang extension; they make exact int64/uint64 and
// decimal-mantissa arithmetic trivial.
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

// value = mantissa * 10^exponent, sign dropped (divisibility ignores sign).
struct Decimal {
    uint64_t mantissa = 0;
    int exponent = 0;
};

bool to_decimal(const nlohmann::json& v, Decimal& out) {
    if (v.is_number_unsigned()) {
        out = {v.get<uint64_t>(), 0};
    } else if (v.is_number_integer()) {
        const int64_t i = v.get<int64_t>();
        out = {i < 0 ? uint64_t{0} - static_cast<uint64_t>(i) : static_cast<uint64_t>(i), 0};
    } else {
        const double d = std::fabs(v.get<double>());
        if (!std::isfinite(d)) {
            return false;
        }
        // Shortest round-trip form, e.g. "7.5e-03": the digits as written for <= 17 significant digits.
        char buf[64];
        const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
        uint64_t m = 0;
        int frac_digits = 0;
        bool after_point = false;
        const char* p = buf;
        for (; p < res.ptr && *p != 'e'; ++p) {
            if (*p == '.') {
                after_point = true;
                continue;
            }
            m = m * 10 + static_cast<uint64_t>(*p - '0');
            frac_digits += after_point ? 1 : 0;
        }
        int exp10 = 0;
        if (p < res.ptr) {
            std::from_chars(p + 1 + (p[1] == '+' ? 1 : 0), res.ptr, exp10);
        }
        out = {m, exp10 - frac_digits};
    }
    while (out.mantissa != 0 && out.mantissa % 10 == 0) {
        out.mantissa /= 10;
        ++out.exponent;
    }
    return true;
}

uint64_t pow10_mod(int k, uint64_t m) {
    u128 result = 1 % m;
    u128 base = 10 % m;
    while (k > 0) {
        if (k & 1) {
            result = result * base % m;
        }
        base = base * base % m;
        k >>= 1;
    }
    return static_cast<uint64_t>(result);
}

}  // namespace

int compare_numbers_slow(const nlohmann::json& a, const nlohmann::json& b) {
    if (a.is_number_integer() && b.is_number_integer()) {
        // Both int64 or uint64: compare through __int128, exact for every pair.
        const i128 x = a.is_number_unsigned() ? static_cast<i128>(a.get<uint64_t>()) : a.get<int64_t>();
        const i128 y = b.is_number_unsigned() ? static_cast<i128>(b.get<uint64_t>()) : b.get<int64_t>();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    // long double (x87, 64-bit mantissa) holds every int64, uint64 and double exactly.
    auto as_ld = [](const nlohmann::json& v) -> long double {
        if (v.is_number_unsigned()) {
            return static_cast<long double>(v.get<uint64_t>());
        }
        if (v.is_number_integer()) {
            return static_cast<long double>(v.get<int64_t>());
        }
        return static_cast<long double>(v.get<double>());
    };
    const long double x = as_ld(a);
    const long double y = as_ld(b);
    return x < y ? -1 : (x > y ? 1 : 0);
}

bool is_multiple_of(const nlohmann::json& value, const nlohmann::json& divisor) {
    if (value.is_number_integer() && divisor.is_number_integer()) {
        const i128 x =
            value.is_number_unsigned() ? static_cast<i128>(value.get<uint64_t>()) : value.get<int64_t>();
        const i128 y =
            divisor.is_number_unsigned() ? static_cast<i128>(divisor.get<uint64_t>()) : divisor.get<int64_t>();
        return y != 0 && x % y == 0;
    }
    Decimal v;
    Decimal d;
    if (!to_decimal(value, v) || !to_decimal(divisor, d) || d.mantissa == 0) {
        return false;
    }
    if (v.mantissa == 0) {
        return true;
    }
    if (v.exponent >= d.exponent) {
        // v.m * 10^k divisible by d.m, computed modulo d.m (no big integers needed).
        const uint64_t k = static_cast<uint64_t>(v.exponent - d.exponent);
        if (k > 100000) {
            return false;  // beyond any meaningful precision
        }
        const u128 r = static_cast<u128>(v.mantissa % d.mantissa) * pow10_mod(static_cast<int>(k), d.mantissa);
        return r % d.mantissa == 0;
    }
    // v.m divisible by d.m * 10^k; that product exceeds v.m (< 2^64) once k >= 20.
    const int k = d.exponent - v.exponent;
    if (k >= 20) {
        return false;
    }
    u128 m = d.mantissa;
    for (int i = 0; i < k; ++i) {
        m *= 10;
    }
    return static_cast<u128>(v.mantissa) % m == 0;
}

size_t json_hash(const nlohmann::json& value) {
    using nlohmann::json;
    switch (value.type()) {
        case json::value_t::null: return 0x9e3779b9;
        case json::value_t::boolean: return value.get<bool>() ? 1231 : 1237;
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
        case json::value_t::number_float: {
            // Equal numbers hash equally whatever their representation: integral values that fit
            // int64 hash as int64, everything else as double.
            const double d = value.get<double>();
            if (std::nearbyint(d) == d && std::fabs(d) < 9.2e18) {
                return std::hash<int64_t>()(static_cast<int64_t>(d));
            }
            return std::hash<double>()(d);
        }
        case json::value_t::string: return std::hash<std::string>()(value.get_ref<const std::string&>());
        case json::value_t::array: {
            size_t h = 17;
            for (const json& item : value) {
                h = h * 31 + json_hash(item);
            }
            return h;
        }
        case json::value_t::object: {
            size_t h = 29;
            for (auto it = value.begin(); it != value.end(); ++it) {
                h += std::hash<std::string>()(it.key()) ^ (json_hash(it.value()) * 0x9e3779b97f4a7c15ULL);
            }
            return h;
        }
        default: return 7;
    }
}

}  // namespace gannet::jsonschema
