// Per-element device math shared by the CUDA kernels: bf16 rounding as the bf16 reference
// performs it between operations, and SiLU.
#pragma once

#include <cuda_bf16.h>

namespace m1::kernels::cuda {

// x rounded to bf16 (nearest even) and back: where the reference stores a bf16 intermediate.
__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// silu(x) = x * sigmoid(x).
__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }

}  // namespace m1::kernels::cuda
