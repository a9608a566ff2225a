// gemm_nt for at most kGemvMaxRows rows of A (decode steps): C[r, j] = alpha * A[r] . B[j].
// One warp per weight row j streams B[j] once with 16-byte loads (four in flight per lane before
// the first use, not allocated in L1) against every row of A, which stays in L1/L2; fp32
// accumulation, one warp reduction per row. At M = 1..8 cuBLAS runs a GEMV-like kernel too, but
// the decode step's matrices (4-67 MB) are small enough that ramp-up and tail decide; this is the
// MoE decode kernel's streaming loop (kernels/cuda/moe_gemm.cu) for a dense matrix.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"

namespace m1::kernels::gpu {
namespace {

constexpr int kWarps = 8, kUnroll = 4;

template <int kRows, bool kF32Out>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(GemmArgs p) {
  const int lane = threadIdx.x % 32, j = blockIdx.x * kWarps + threadIdx.x / 32;
  if (j >= p.n) return;
  const int k = p.k, m = p.m;
  const uint16_t * a = static_cast<const uint16_t *>(p.a);
  const uint16_t * w = static_cast<const uint16_t *>(p.b) + static_cast<int64_t>(j) * p.ldb;
  float acc[kRows] = {};
  for (int c0 = lane * 8; c0 < k; c0 += 256 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + 256 * u;
      wv[u] = c < k ? cuda::load_streaming(w + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int c = c0 + 256 * u;
      if (c >= k) break;
      float f[8];
      cuda::unpack_bf16x8(wv[u], f);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= m) break;
        acc[r] = cuda::dot8(f, *reinterpret_cast<const uint4 *>(a + static_cast<int64_t>(r) * p.lda + c), acc[r]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {  // lane r writes row r
    if (r < m && lane == r) {
      const float v = p.alpha * acc[r];
      if constexpr (kF32Out) static_cast<float *>(p.c)[static_cast<int64_t>(r) * p.ldc + j] = v;
      else static_cast<__nv_bfloat16 *>(p.c)[static_cast<int64_t>(r) * p.ldc + j] = __float2bfloat16_rn(v);
    }
  }
}

template <int kRows>
void launch(const GemmArgs & a, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((a.n + kWarps - 1) / kWarps);
  if (a.c_type == ElementType::f32) gemv_kernel<kRows, true><<<blocks, kWarps * 32, 0, s>>>(a);
  else gemv_kernel<kRows, false><<<blocks, kWarps * 32, 0, s>>>(a);
}

}  // namespace

bool gemv_streaming_fits(const GemmArgs & a, int max_rows) {
  return a.ab_type == ElementType::bf16 && a.m >= 1 && a.m <= max_rows && a.beta == 0.0f && a.k % 8 == 0 &&
         a.lda % 8 == 0 && a.ldb % 8 == 0 && cuda::aligned16(a.a) && cuda::aligned16(a.b) && a.n <= (1 << 30);
}

Status gemv_streaming(const GemmArgs & a, Stream stream) {
  M1_RETURN_IF_ERROR(cuda::require(gemv_streaming_fits(a, kGemvMaxRows), "gemm_nt",
                                   "the streaming kernel needs bf16 A and B, m in [1, " + std::to_string(kGemvMaxRows) +
                                       "], beta 0, and 16-byte aligned rows (k, lda, ldb multiples of 8)"));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (a.m == 1) launch<1>(a, s);
  else if (a.m == 2) launch<2>(a, s);
  else if (a.m <= 4) launch<4>(a, s);
  else launch<8>(a, s);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
