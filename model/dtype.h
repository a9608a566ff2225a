// Element types of weights and activations, with the bf16/fp16 <-> fp32 conversions the CPU path
// uses when it reads checkpoints (M1 ships bf16 weights and fp32 routers, M1_SPEC.md section 1).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace m1 {

enum class DType { f32, f16, bf16, i8 };

std::string_view dtype_name(DType);                       // safetensors spelling: "F32", "BF16", ...
std::optional<DType> parse_dtype(std::string_view name);  // accepts "F32"/"f32"/"float32", ...
size_t dtype_size(DType);

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

float f16_to_f32(uint16_t bits);

}  // namespace m1
