// IEEE binary16 and bfloat16 conversions, bit-exact with numpy / llama.cpp (round to nearest even,
// NaN preserved). Header-only so hot loops inline them. Thread-safe (pure functions).
#pragma once

#include <bit>
#include <cstdint>

namespace gannet {

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: value = mant * 2^-24
            const float f = static_cast<float>(mant) * 5.9604644775390625e-8f;
            bits = sign | std::bit_cast<uint32_t>(f);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(bits);
}

inline uint16_t fp32_to_fp16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u) {  // NaN: keep it a quiet NaN
        return static_cast<uint16_t>(sign | 0x7e00);
    }
    if (abs >= 0x477ff000u) {  // rounds to >= 65520: infinity
        return static_cast<uint16_t>(sign | 0x7c00);
    }
    if (abs < 0x38800000u) {  // below 2^-14: subnormal half (or zero)
        // Adding 0.5f aligns the mantissa so the FPU does the round-to-nearest-even for us.
        const float r = std::bit_cast<float>(abs) + 0.5f;
        return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(r) - 0x3f000000u));
    }
    const uint32_t mant_odd = (abs >> 13) & 1;
    uint32_t v = abs + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return static_cast<uint16_t>(sign | (v >> 13));
}

inline float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline uint16_t fp32_to_bf16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((x >> 16) | 64);  // quiet NaN
    }
    return static_cast<uint16_t>((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

}  // namespace gannet
