#include "model/dtype.h"

#include <cmath>

namespace m1 {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i8: return "I8";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "F32" || name == "f32" || name == "float32") return DType::f32;
  if (name == "F16" || name == "f16" || name == "float16") return DType::f16;
  if (name == "BF16" || name == "bf16" || name == "bfloat16") return DType::bf16;
  if (name == "I8" || name == "i8" || name == "int8") return DType::i8;
  return std::nullopt;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16:
    case DType::bf16: return 2;
    case DType::i8: return 1;
  }
  return 0;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = bits >> 15, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  float magnitude;
  if (exponent == 0) magnitude = std::ldexp(float(mantissa), -24);  // subnormal
  else if (exponent == 31) magnitude = mantissa ? NAN : INFINITY;
  else magnitude = std::ldexp(float(mantissa | 0x400), int(exponent) - 25);
  return sign ? -magnitude : magnitude;
}

}  // namespace m1
