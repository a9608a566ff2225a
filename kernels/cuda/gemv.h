// The streaming kernel behind gemm_nt for a few rows (decode steps): internal to kernels/cuda.
#pragma once

#include "common/status.h"
#include "kernels/gemm_gpu.h"

namespace m1::kernels::gpu {

// Whether gemv_streaming can run these arguments (bf16 A and B, m <= max_rows, beta 0, 16-byte
// aligned rows).
bool gemv_streaming_fits(const GemmArgs & args, int max_rows);
Status gemv_streaming(const GemmArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
