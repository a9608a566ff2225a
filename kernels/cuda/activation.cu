// Elementwise activations, bf16 in and out, computed in fp32 with 16-byte loads and stores:
//   swiglu:       out = bf16(bf16(silu(gate)) * up)   (the expert FFN; silu(x) = x / (1 + e^-x))
//   silu_rows_inplace: data = bf16(silu(data)) on the first `width` columns of strided rows (the
//                 lightning q/k/v columns of the projection's rows)
// The intermediate rounding of silu(gate) to bf16 follows the bf16 reference (act_fn(w1 x) * w3 x).
#include <cuda_runtime.h>

#include "kernels/activation_gpu.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scalar_math.cuh"

namespace m1::kernels::gpu {
namespace {

constexpr int kThreads = 256;

using cuda::silu;
using cuda::round_bf16;

__device__ __forceinline__ uint32_t swiglu_pair(uint32_t g, uint32_t u) {
  float g0 = cuda::bf16_bits_to_float(g & 0xffffu), g1 = cuda::bf16_bits_to_float(g >> 16);
  float u0 = cuda::bf16_bits_to_float(u & 0xffffu), u1 = cuda::bf16_bits_to_float(u >> 16);
  return cuda::pack_bf16x2(round_bf16(silu(g0)) * u0, round_bf16(silu(g1)) * u1);
}

__device__ __forceinline__ uint32_t silu_pair(uint32_t x) {
  return cuda::pack_bf16x2(silu(cuda::bf16_bits_to_float(x & 0xffffu)),
                           silu(cuda::bf16_bits_to_float(x >> 16)));
}

struct SwigluParams {
  const uint16_t * gate;
  int64_t gate_stride;
  const uint16_t * up;
  int64_t up_stride;
  uint16_t * out;
  int64_t out_stride;
  int chunks_per_row;
  int64_t n_chunks;
};

__global__ void swiglu_kernel(SwigluParams p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < p.n_chunks;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t row = i / p.chunks_per_row;
    const int col = static_cast<int>(i % p.chunks_per_row) * 8;
    uint4 g = *reinterpret_cast<const uint4 *>(p.gate + row * p.gate_stride + col);
    uint4 u = *reinterpret_cast<const uint4 *>(p.up + row * p.up_stride + col);
    *reinterpret_cast<uint4 *>(p.out + row * p.out_stride + col) =
        make_uint4(swiglu_pair(g.x, u.x), swiglu_pair(g.y, u.y), swiglu_pair(g.z, u.z), swiglu_pair(g.w, u.w));
  }
}

__global__ void silu_kernel(uint16_t * data, int64_t stride, int chunks_per_row, int64_t n_chunks) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n_chunks;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    uint4 * at = reinterpret_cast<uint4 *>(data + (i / chunks_per_row) * stride + (i % chunks_per_row) * 8);
    const uint4 x = *at;
    *at = make_uint4(silu_pair(x.x), silu_pair(x.y), silu_pair(x.z), silu_pair(x.w));
  }
}

// Grid of a grid-stride loop: enough blocks to fill the GPU several times over, no more.
unsigned grid_for(int64_t n_chunks) {
  constexpr int64_t kMaxBlocks = 132 * 16;  // 16 blocks of 256 threads per H100 SM at most
  int64_t blocks = (n_chunks + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

}  // namespace

Status swiglu(const SwigluArgs & a, Stream stream) {
  constexpr const char * kName = "swiglu";
  M1_RETURN_IF_ERROR(cuda::require(a.n_rows > 0 && a.width > 0 && a.width % 8 == 0, kName,
                                   "n_rows must be positive and width a positive multiple of 8, got " +
                                       std::to_string(a.n_rows) + " x " + std::to_string(a.width)));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "gate", a.gate, a.gate_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "up", a.up, a.up_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.width));
  SwigluParams p{a.gate, a.gate_stride, a.up, a.up_stride, a.out, a.out_stride, a.width / 8,
                 static_cast<int64_t>(a.n_rows) * (a.width / 8)};
  swiglu_kernel<<<grid_for(p.n_chunks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status silu_rows_inplace(Bf16 * data, int n_rows, int width, int64_t stride, Stream stream) {
  constexpr const char * kName = "silu_rows_inplace";
  M1_RETURN_IF_ERROR(cuda::require(n_rows > 0 && width > 0 && width % 8 == 0, kName,
                                   "n_rows must be positive and width a positive multiple of 8, got " +
                                       std::to_string(n_rows) + " x " + std::to_string(width)));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "data", data, stride, width));
  const int64_t n_chunks = static_cast<int64_t>(n_rows) * (width / 8);
  silu_kernel<<<grid_for(n_chunks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(data, stride, width / 8, n_chunks);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
