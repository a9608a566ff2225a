// Normalizations of the M1 decoder on the GPU (M1_SPEC.md section 4), one row per token:
// - residual_rms_norm: the postnorm step x = alpha * skip + beta * branch (fp32), then
//   y = bf16(x / sqrt(mean(x^2) + eps)) * weight. With branch == nullptr it is a plain RMSNorm of
//   alpha * skip (embedding and final norm). skip and branch are bf16 or fp32 rows. With out_f32
//   set it writes the fp32 y = x * rstd * weight there (the fp32 residual stream, router input and
//   LM head input) and, when out is set too, its single bf16 rounding bf16(y) (the GEMM input).
// - gated_rms_norm: the lightning output norm over all H*d channels and the sigmoid gate:
//   y = (bf16(o / sqrt(mean(o^2) + eps)) * weight) * sigmoid(gate).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

struct ResidualRmsNormArgs {
  int n_rows = 0;
  int width = 0;                       // multiple of 8, at most 12288
  const Bf16 * skip = nullptr;         // bf16 [n_rows, skip_stride] (or skip_f32)
  std::int64_t skip_stride = 0;
  const Bf16 * branch = nullptr;       // bf16 [n_rows, branch_stride], or nullptr (or branch_f32)
  std::int64_t branch_stride = 0;
  float alpha = 1.0f;
  float beta = 1.0f;
  const Bf16 * weight = nullptr;       // bf16 [width]
  float eps = 1e-5f;
  Bf16 * out = nullptr;                // bf16 [n_rows, out_stride]; may alias skip or branch
  std::int64_t out_stride = 0;
  // fp32 alternatives (strides in elements, multiples of 8): at most one of skip / skip_f32 and of
  // branch / branch_f32; out_f32 may alias skip_f32 or branch_f32; out may be null with out_f32.
  const float * skip_f32 = nullptr;
  const float * branch_f32 = nullptr;
  float * out_f32 = nullptr;
  std::int64_t out_f32_stride = 0;
  // The MoE's weighted un-permute as the branch (instead of branch / branch_f32): branch row t =
  // bf16(sum_s gather_weights[t*k+s] * gather[gather_rows[t*k+s]]), k = gather_k, computed as
  // moe_unpermute computes it (fp32 sum in slot order, one bf16 rounding).
  const Bf16 * gather = nullptr;               // bf16 [rows, width], rows contiguous
  const std::int32_t * gather_rows = nullptr;  // [n_rows * k]
  const float * gather_weights = nullptr;      // [n_rows * k]
  int gather_k = 0;
};

struct GatedRmsNormArgs {
  int n_rows = 0;
  int width = 0;                       // H*d, multiple of 8, at most 12288
  const Bf16 * in = nullptr;           // bf16 [n_rows, in_stride]: attention output o
  std::int64_t in_stride = 0;
  const Bf16 * gate = nullptr;         // bf16 [n_rows, gate_stride]: a @ output_gate^T
  std::int64_t gate_stride = 0;
  const Bf16 * weight = nullptr;       // bf16 [width]
  float eps = 1e-6f;
  Bf16 * out = nullptr;                // bf16 [n_rows, out_stride]; may alias in or gate
  std::int64_t out_stride = 0;
};

Status residual_rms_norm(const ResidualRmsNormArgs & args, Stream stream);
Status gated_rms_norm(const GatedRmsNormArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
