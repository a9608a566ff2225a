// Element types of weights and activations, with the bf16/fp16 <-> fp32 conversions the CPU path
// uses when it reads checkpoints (M1 ships bf16 weights and fp32 routers, M1_SPEC.md section 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/bf16.h"  // bf16_to_f32, f32_to_bf16

namespace m1 {

enum class DType { f32, f16, bf16, i8 };

std::string_view dtype_name(DType);                       // safetensors spelling: "F32", "BF16", ...
std::optional<DType> parse_dtype(std::string_view name);  // accepts "F32"/"f32"/"float32", ...
size_t dtype_size(DType);

float f16_to_f32(uint16_t bits);

}  // namespace m1
