// Grouped expert GEMMs of the MoE layer (M1_SPEC.md section 4 "MoE"), driven by the expert offsets
// that moe_permute leaves on the device, so the host never waits to learn per-expert row counts:
//   out[r, j] = sum_c in[r, c] * weights[e, j, c]                      (plain)
//   out[r, j] = bf16(bf16(silu(bf16(g))) * bf16(u)),  g = in[r] . weights[e, j],
//               u = in[r] . weights[e, n + j]                          (swiglu: w1 and w3 fused)
// for every row r of expert e, i.e. offsets[e] <= r < offsets[e + 1]. The swiglu roundings follow
// the bf16 reference (act_fn(w1 x) * w3 x) and the separate swiglu kernel. fp32 accumulation.
// Two kernels: a tensor-core one (wgmma, 128 rows x 256 weight rows per block) for prefill, and a
// weight-streaming one for decode batches, where each expert sees a handful of rows.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

enum class MoeGemmKernel {
  automatic,  // streaming when n_rows <= kMoeStreamingMaxRows, else tensor cores (measured on the
              // H100 at real sizes: streaming 98% vs 93% of copy at 32 rows, 67% vs 94% at 128)
  tensor,     // wgmma tiles (sm_90a)
  streaming,  // one warp per weight row, CUDA cores
};

inline constexpr int kMoeStreamingMaxRows = 64;

struct MoeGemmArgs {
  int n_rows = 0;                          // rows of `in` (n_tokens * top_k, all experts together)
  int n_experts = 0;                       // at most 256
  int n = 0;                               // output columns (multiple of 8)
  int k = 0;                               // reduction width (multiple of 8)
  bool swiglu = false;                     // weights hold 2n rows per expert: gate rows, then up rows
  const Bf16 * in = nullptr;               // bf16 [n_rows, in_stride], grouped by expert
  std::int64_t in_stride = 0;
  const std::int32_t * expert_offsets = nullptr;  // device int32 [n_experts + 1], offsets[n_experts] == n_rows
  const Bf16 * weights = nullptr;          // bf16 [n_experts, (swiglu ? 2n : n), k], contiguous
  Bf16 * out = nullptr;                    // bf16 [n_rows, out_stride]
  std::int64_t out_stride = 0;
  MoeGemmKernel kernel = MoeGemmKernel::automatic;
};

Status moe_expert_gemm(const MoeGemmArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
