// MoE routing and token permutation on the GPU (M1_SPEC.md section 4 "MoE"):
// - moe_route: p = softmax(logits) over all experts in fp32, the top k (ties: lower expert index),
//   weights renormalized to sum to 1.
// - moe_permute: groups the n*k (token, slot) entries by expert, stable in token order, and copies
//   each token's row once per entry into expert-contiguous rows for the grouped expert GEMMs.
// - moe_route_permute_small: for decode batches (at most kMoeRouteSmallMaxTokens tokens), the fp32
//   router GEMV, moe_route and moe_permute in one launch, with the same outputs.
// - moe_unpermute: out[t] = sum_s weight[t, s] * expert_out[row of entry (t, s)], in fp32.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

struct MoeRouteArgs {
  int n_tokens = 0;
  int n_experts = 0;                  // at most 256
  int top_k = 0;                      // at most 8, at most n_experts
  const float * logits = nullptr;     // fp32 [n_tokens, n_experts]
  std::int32_t * experts = nullptr;   // out int32 [n_tokens, top_k], descending probability
  float * weights = nullptr;          // out fp32 [n_tokens, top_k]
};

struct MoePermuteArgs {
  int n_tokens = 0;
  int n_experts = 0;
  int top_k = 0;
  int width = 0;                          // row width, multiple of 8
  const std::int32_t * experts = nullptr; // int32 [n_tokens, top_k] (moe_route's output)
  const Bf16 * in = nullptr;              // bf16 [n_tokens, in_stride]
  std::int64_t in_stride = 0;
  Bf16 * permuted = nullptr;              // out bf16 [n_tokens * top_k, width], grouped by expert
  std::int32_t * expert_offsets = nullptr;  // out int32 [n_experts + 1]: rows of expert e
  std::int32_t * entry_rows = nullptr;    // out int32 [n_tokens * top_k]: row of entry t*top_k+s
};

struct MoeUnpermuteArgs {
  int n_tokens = 0;
  int top_k = 0;
  int width = 0;                          // multiple of 8
  const Bf16 * expert_out = nullptr;      // bf16 [n_tokens * top_k, width] (permuted order)
  const std::int32_t * entry_rows = nullptr;  // moe_permute's entry_rows
  const float * weights = nullptr;        // fp32 [n_tokens, top_k]
  Bf16 * out = nullptr;                   // bf16 [n_tokens, out_stride]
  std::int64_t out_stride = 0;
};

inline constexpr int kMoeRouteSmallMaxTokens = 8;

struct MoeRoutePermuteArgs {
  int n_tokens = 0;                       // at most kMoeRouteSmallMaxTokens
  int n_experts = 0;                      // at most 256
  int top_k = 0;                          // at most 8, at most n_experts
  int width = 0;                          // router input width = row width, multiple of 8
  const float * x = nullptr;              // fp32 [n_tokens, x_stride]: the router input
  std::int64_t x_stride = 0;
  const float * router = nullptr;         // fp32 [n_experts, width]
  const Bf16 * in = nullptr;              // bf16 [n_tokens, in_stride]: the rows to permute
  std::int64_t in_stride = 0;
  float * logits = nullptr;               // out fp32 [n_tokens, n_experts] = x router^T
  std::int32_t * experts = nullptr;       // out, as MoeRouteArgs
  float * weights = nullptr;              // out, as MoeRouteArgs
  Bf16 * permuted = nullptr;              // out, as MoePermuteArgs
  std::int32_t * expert_offsets = nullptr;
  std::int32_t * entry_rows = nullptr;
  unsigned * counter = nullptr;           // device word, zero before the first launch; left zero
};

Status moe_route(const MoeRouteArgs & args, Stream stream);
Status moe_permute(const MoePermuteArgs & args, Stream stream);
// Calls on one counter must not overlap (one stream, or a graph replayed on one stream).
Status moe_route_permute_small(const MoeRoutePermuteArgs & args, Stream stream);
Status moe_unpermute(const MoeUnpermuteArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
