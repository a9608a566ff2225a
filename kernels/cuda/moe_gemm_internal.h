// The launchers behind moe_expert_gemm (kernels/moe_gemm_gpu.h) that live in their own files;
// arguments already checked by moe_expert_gemm.
#pragma once

#include <cuda_runtime_api.h>

#include "common/status.h"
#include "kernels/moe_gemm_gpu.h"

namespace m1::kernels::gpu {

// Tensor-core tiles fed by bulk tensor copies, two CTAs per cluster sharing each weight tile
// (kernels/cuda/moe_gemm_cluster.cu). Needs n_rows > 0.
Status moe_expert_gemm_clustered(const MoeGemmArgs & args, cudaStream_t stream, int prefetch);

}  // namespace m1::kernels::gpu
