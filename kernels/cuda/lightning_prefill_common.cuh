// Shared by the two lightning prefill kernels (mma.sync in lightning_prefill.cu, wgmma in
// lightning_prefill_wgmma.cu): their parameters and the wgmma launcher the dispatcher calls.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"

namespace m1::kernels::gpu {

// Device pointers and strides of one prefill launch (see LightningPrefillArgs).
struct PrefillParams {
  const __nv_bfloat16 * q;
  const __nv_bfloat16 * k;
  const __nv_bfloat16 * v;
  int64_t row_stride;
  int64_t head_stride;
  const int32_t * seq_starts;
  const int32_t * slots;
  const float * decay;
  float * state;
  __nv_bfloat16 * out;
  int64_t out_row_stride;
  int n_heads;
  // The sequence split (mma.sync kernel only): grid z = sequence * max_chunks + chunk, chunk c
  // covering tokens [c * chunk_tokens, ...) of its sequence (the last chunk of the grid runs to the
  // end) and starting from chunk_states[z * sub_chunks][head] ([128][128] fp32). max_chunks 1 =
  // unsplit: one thread block per sequence starting from and updating the state slot.
  const float * chunk_states = nullptr;
  int chunk_tokens = 0;
  int max_chunks = 1;
  int sub_chunks = 1;  // state-pass pieces per chunk: chunk_states holds max_chunks * sub_chunks entries per sequence
};

// The wgmma kernel: value slice 64, grid (2, n_heads, n_seqs).
Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream);

}  // namespace m1::kernels::gpu
