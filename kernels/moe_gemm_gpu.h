// Grouped expert GEMMs of the MoE layer (M1_SPEC.md section 4 "MoE"), driven by the expert offsets
// that moe_permute leaves on the device, so the host never waits to learn per-expert row counts:
//   out[r, j] = sum_c in[r, c] * weights[e, j, c]                      (plain)
//   out[r, j] = bf16(bf16(silu(bf16(g))) * bf16(u)),  g = in[r] . weights[e, j],
//               u = in[r] . weights[e, n + j]                          (swiglu: w1 and w3 fused)
// for every row r of expert e, i.e. offsets[e] <= r < offsets[e + 1]. The swiglu roundings follow
// the bf16 reference (act_fn(w1 x) * w3 x) and the separate swiglu kernel. fp32 accumulation.
// Two kernels: a tensor-core one (wgmma, 128 rows x 256 weight rows per block) for prefill, and a
// weight-streaming one for decode batches, where each expert sees a handful of rows.
// moe_expert_gemms_per_expert is the other way to run the whole expert FFN: host-side offsets, one
// cuBLAS GEMM per expert and projection, and the separate swiglu kernel between them.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

enum class MoeGemmKernel {
  automatic,  // streaming when n_rows <= kMoeStreamingMaxRows, else tensor cores (measured on the
              // H100 at real sizes, one warp per weight row: streaming 98% vs 93% of copy at 32
              // rows, 67% vs 94% at 128)
  tensor,     // wgmma tiles (sm_90a)
  streaming,  // a few warps per weight row (kStreamSplit in moe_gemm.cu), CUDA cores
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

// From this many tokens (rows given to the MoE layer, before top-k) a prefill runs the expert FFN
// per expert on cuBLAS: measured faster on the H100 at M1's sizes (BENCHMARKS.md, "MoE layer
// prefill": the layer in 5.5-5.6 vs 6.4-6.6 ms at 4K tokens, 33.5 vs 41.9 ms at 32K). Below it the
// grouped kernels stay, where no measurement says otherwise, and decode needs them anyway: they
// never wait for the host.
inline constexpr int kMoePerExpertMinTokens = 4096;

// The expert FFN, out[r] = w2_e (silu(w1_e in[r]) * w3_e in[r]) for the rows r of each expert e,
// with the per-expert row ranges known on the host (the caller copies moe_permute's offsets back,
// which synchronizes, so this cannot run inside a CUDA graph capture). Per expert with rows: one
// GEMM into hidden[:, 0:2 ffn], then swiglu over all rows (into the gate half), then one GEMM of the
// down projection into out. Roundings as moe_expert_gemm's swiglu path: bf16 g and u, bf16 silu(g),
// bf16 product, bf16 out; fp32 accumulation.
struct MoePerExpertArgs {
  int n_rows = 0;                          // rows of `in`, all experts together
  int n_experts = 0;
  int width = 0;                           // model width D (multiple of 8)
  int ffn = 0;                             // expert FFN width F (multiple of 8)
  const std::int32_t * host_offsets = nullptr;  // HOST int32 [n_experts + 1]: 0, ..., n_rows
  const Bf16 * in = nullptr;               // bf16 [n_rows, in_stride], grouped by expert
  std::int64_t in_stride = 0;
  const Bf16 * gate_up = nullptr;          // bf16 [n_experts, 2 ffn, width]: w1 rows, then w3 rows
  const Bf16 * down = nullptr;             // bf16 [n_experts, width, ffn]
  Bf16 * hidden = nullptr;                 // scratch, bf16 [n_rows, 2 ffn] contiguous
  Bf16 * out = nullptr;                    // bf16 [n_rows, out_stride]
  std::int64_t out_stride = 0;
};

Status moe_expert_gemms_per_expert(const MoePerExpertArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
