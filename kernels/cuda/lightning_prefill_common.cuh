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
};

// The wgmma kernel: value slice 64, grid (2, n_heads, n_seqs).
Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream);

}  // namespace m1::kernels::gpu
