// Lightning (linear) attention for one head, fp32 with an fp32 state (M1_SPEC.md section 4,
// steps 3-4). With decay lambda = exp(-slope):
//   S_t = lambda * S_{t-1} + k_t^T v_t,   o_t = q_t S_t.
// lightning_recurrence runs that token by token (decode, and the oracle of the block-wise form);
// lightning_blockwise computes the same in blocks of `block` tokens with GEMMs (prefill):
//   o_i = lambda^(i+1) q_i S_prev + sum_{j<=i} lambda^(i-j) (q_i . k_j) v_j,
//   S_next = lambda^m S_prev + sum_j lambda^(m-1-j) k_j^T v_j.
// Any block size gives the same result up to rounding.
#pragma once

#include <vector>

namespace m1::kernels::cpu {

// q, k, v: fp32 [n, head_dim] rows with stride ld_in; o: fp32 [n, head_dim] with stride ld_out;
// state: fp32 [head_dim, head_dim] (row = key dim, column = value dim), updated in place.
void lightning_recurrence(const float * q, const float * k, const float * v, int ld_in, float * o,
                          int ld_out, int n, int head_dim, float * state, double slope);

// Scratch for lightning_blockwise; reused across calls so prefill allocates once.
struct LightningScratch {
  std::vector<float> scores;      // [block, block]
  std::vector<float> scaled_keys; // [block, head_dim]
  std::vector<float> decay;       // [block] query decays, then key decays
};

void lightning_blockwise(const float * q, const float * k, const float * v, int ld_in, float * o,
                         int ld_out, int n, int head_dim, float * state, double slope, int block,
                         LightningScratch & scratch);

}  // namespace m1::kernels::cpu
