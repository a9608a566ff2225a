// The wgmma softmax prefill kernel (softmax_prefill_wgmma.cu), launched by paged_prefill
// (softmax_prefill.cu) after it has checked the arguments.
#pragma once

#include <cuda_runtime.h>

#include "common/status.h"
#include "kernels/softmax_attention_gpu.h"

namespace m1::kernels::gpu {

// Grid (n_heads, query tiles of 128 rows, n_seqs), 384 threads: two consumer warpgroups and one
// producer warpgroup.
Status launch_paged_prefill_wgmma(const PagedPrefillArgs & args, cudaStream_t stream);

}  // namespace m1::kernels::gpu
