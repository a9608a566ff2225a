// bf16 <-> fp32 conversions, bit-exact with PyTorch and the GPU (round to nearest even). Shared by
// the model's checkpoint reader and the GPU kernel tests, which may not include model/.
#pragma once

#include <cstdint>
#include <cstring>

namespace m1 {

inline float bf16_to_f32(uint16_t bits) {
  uint32_t wide = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &wide, sizeof f);
  return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + rounding) >> 16);
}

}  // namespace m1
