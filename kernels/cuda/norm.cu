// RMSNorm kernels of the M1 decoder (M1_SPEC.md section 4), one thread block per row:
//   residual_rms_norm: x = alpha * skip + beta * branch (fp32), y = bf16(bf16(x * rstd) * weight),
//                      or with an fp32 output y = x * rstd * weight (fp32) and its bf16 copy; the
//                      branch may be gathered: the MoE's weighted un-permute (as moe_unpermute
//                      computes it) fused into the norm that reads it, one launch less per layer
//   gated_rms_norm:    y = bf16(bf16(bf16(o * rstd) * weight) * sigmoid(gate))
// with rstd = 1 / sqrt(mean(x^2) + eps) in fp32. Each row is read once with 16-byte loads into
// registers (width <= kMaxWidth), reduced across the block, and written once: the kernels are
// bound by bytes, 3 (or 2) bf16 values in and one out per element.
#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scalar_math.cuh"
#include "kernels/norm_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kChunksPerThread = 6;                         // 8 values each
constexpr int kMaxWidth = kThreads * kChunksPerThread * 8;  // 12288 (D = 6144, H*d = 8192)

__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
  return make_uint4(cuda::pack_bf16x2(f[0], f[1]), cuda::pack_bf16x2(f[2], f[3]),
                    cuda::pack_bf16x2(f[4], f[5]), cuda::pack_bf16x2(f[6], f[7]));
}

using cuda::round_bf16;

// Sum over the thread block; every thread gets the total.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kThreads / 32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  return total;
}

__device__ __forceinline__ void load8(const uint16_t * p, float (&f)[8]) {
  cuda::unpack_bf16x8(*reinterpret_cast<const uint4 *>(p), f);
}

__device__ __forceinline__ void load8(const float * p, float (&f)[8]) {
  const float4 lo = reinterpret_cast<const float4 *>(p)[0], hi = reinterpret_cast<const float4 *>(p)[1];
  f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w, f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
}

__device__ __forceinline__ void store8(float * p, const float (&f)[8]) {
  reinterpret_cast<float4 *>(p)[0] = make_float4(f[0], f[1], f[2], f[3]);
  reinterpret_cast<float4 *>(p)[1] = make_float4(f[4], f[5], f[6], f[7]);
}

// The branch type of a gathered branch: row t = bf16(sum_s w[t*k+s] * rows[entry_rows[t*k+s]]).
struct MoeGather {};

// SkipT: uint16_t (bf16 bits) or float; BranchT: those or MoeGather.
template <typename SkipT, typename BranchT>
struct ResidualParams {
  const SkipT * skip;
  int64_t skip_stride;
  const BranchT * branch;
  int64_t branch_stride;
  float alpha, beta;
  const uint16_t * weight;
  float eps;
  uint16_t * out;
  int64_t out_stride;
  float * out_f32;
  int64_t out_f32_stride;
  int width;
  const uint16_t * gather;
  const int32_t * gather_rows;
  const float * gather_weights;
  int gather_k;
};

// moe_unpermute's sum for 8 columns of one row, with its order and rounding.
template <typename SkipT, typename BranchT>
__device__ __forceinline__ void gather8(const ResidualParams<SkipT, BranchT> & p, int64_t row, int col, float (&y)[8]) {
  float acc[8] = {};
  for (int s = 0; s < p.gather_k; ++s) {
    const int64_t entry = row * p.gather_k + s;
    const float w = __ldg(p.gather_weights + entry);
    float f[8];
    cuda::unpack_bf16x8(*reinterpret_cast<const uint4 *>(p.gather + int64_t(__ldg(p.gather_rows + entry)) * p.width + col), f);
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = fmaf(w, f[e], acc[e]);
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) y[e] = round_bf16(acc[e]);
}

template <typename SkipT, typename BranchT>
__global__ void __launch_bounds__(kThreads) residual_rms_norm_kernel(ResidualParams<SkipT, BranchT> p) {
  const int64_t row = blockIdx.x;
  const int n_chunks = p.width / 8;
  float x[kChunksPerThread][8];
  float sum_sq = 0.f;
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= n_chunks) continue;
    float a[8];
    load8(p.skip + row * p.skip_stride + c * 8, a);
    if constexpr (std::is_same_v<BranchT, MoeGather>) {
      float y[8];
      gather8(p, row, c * 8, y);
#pragma unroll
      for (int e = 0; e < 8; ++e) x[i][e] = p.alpha * a[e] + p.beta * y[e];
    } else if (p.branch != nullptr) {
      float y[8];
      load8(p.branch + row * p.branch_stride + c * 8, y);
#pragma unroll
      for (int e = 0; e < 8; ++e) x[i][e] = p.alpha * a[e] + p.beta * y[e];
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) x[i][e] = p.alpha * a[e];
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += x[i][e] * x[i][e];
  }
  const float rstd = rsqrtf(block_sum(sum_sq) / p.width + p.eps);
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= n_chunks) continue;
    float w[8], y[8];
    cuda::unpack_bf16x8(*reinterpret_cast<const uint4 *>(p.weight + c * 8), w);
    if (p.out_f32 != nullptr) {  // fp32 stream: y in fp32, the bf16 copy rounded once
#pragma unroll
      for (int e = 0; e < 8; ++e) y[e] = x[i][e] * rstd * w[e];
      store8(p.out_f32 + row * p.out_f32_stride + c * 8, y);
      if (p.out != nullptr) *reinterpret_cast<uint4 *>(p.out + row * p.out_stride + c * 8) = pack8(y);
    } else {  // bf16 activations as transformers computes them: bf16(bf16(x * rstd) * w)
#pragma unroll
      for (int e = 0; e < 8; ++e) y[e] = round_bf16(x[i][e] * rstd) * w[e];
      *reinterpret_cast<uint4 *>(p.out + row * p.out_stride + c * 8) = pack8(y);
    }
  }
}

template <typename SkipT, typename BranchT>
Status launch_residual(const ResidualRmsNormArgs & a, const SkipT * skip, const BranchT * branch, Stream stream) {
  ResidualParams<SkipT, BranchT> p{skip, a.skip_stride, branch, a.branch_stride, a.alpha, a.beta, a.weight, a.eps,
                                   a.out, a.out_stride, a.out_f32, a.out_f32_stride, a.width, a.gather,
                                   a.gather_rows, a.gather_weights, a.gather_k};
  residual_rms_norm_kernel<SkipT, BranchT><<<a.n_rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

template <typename SkipT>
Status launch_residual(const ResidualRmsNormArgs & a, const SkipT * skip, Stream stream) {
  if (a.gather != nullptr) return launch_residual(a, skip, static_cast<const MoeGather *>(nullptr), stream);
  if (a.branch_f32 != nullptr) return launch_residual(a, skip, a.branch_f32, stream);
  return launch_residual(a, skip, a.branch, stream);
}

struct GatedParams {
  const uint16_t * in;
  int64_t in_stride;
  const uint16_t * gate;
  int64_t gate_stride;
  const uint16_t * weight;
  float eps;
  uint16_t * out;
  int64_t out_stride;
  int width;
};

__global__ void __launch_bounds__(kThreads) gated_rms_norm_kernel(GatedParams p) {
  const int64_t row = blockIdx.x;
  const int n_chunks = p.width / 8;
  float x[kChunksPerThread][8];
  uint4 gate_raw[kChunksPerThread];
  float sum_sq = 0.f;
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= n_chunks) continue;
    cuda::unpack_bf16x8(*reinterpret_cast<const uint4 *>(p.in + row * p.in_stride + c * 8), x[i]);
    gate_raw[i] = *reinterpret_cast<const uint4 *>(p.gate + row * p.gate_stride + c * 8);
#pragma unroll
    for (int e = 0; e < 8; ++e) sum_sq += x[i][e] * x[i][e];
  }
  const float rstd = rsqrtf(block_sum(sum_sq) / p.width + p.eps);
#pragma unroll
  for (int i = 0; i < kChunksPerThread; ++i) {
    const int c = threadIdx.x + i * kThreads;
    if (c >= n_chunks) continue;
    float w[8], gt[8], y[8];
    cuda::unpack_bf16x8(*reinterpret_cast<const uint4 *>(p.weight + c * 8), w);
    cuda::unpack_bf16x8(gate_raw[i], gt);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const float normed = round_bf16(round_bf16(x[i][e] * rstd) * w[e]);
      y[e] = normed * (1.f / (1.f + __expf(-gt[e])));
    }
    *reinterpret_cast<uint4 *>(p.out + row * p.out_stride + c * 8) = pack8(y);
  }
}

Status check_width(const char * name, int n_rows, int width) {
  M1_RETURN_IF_ERROR(cuda::require(n_rows > 0 && n_rows <= 2147483647, name, "n_rows must be positive"));
  return cuda::require(width > 0 && width % 8 == 0 && width <= kMaxWidth, name,
                       "width " + std::to_string(width) + " must be a multiple of 8 in [8, " +
                           std::to_string(kMaxWidth) + "]");
}

}  // namespace

Status residual_rms_norm(const ResidualRmsNormArgs & a, Stream stream) {
  constexpr const char * kName = "residual_rms_norm";
  M1_RETURN_IF_ERROR(check_width(kName, a.n_rows, a.width));
  M1_RETURN_IF_ERROR(cuda::require((a.skip == nullptr) != (a.skip_f32 == nullptr), kName,
                                   "exactly one of skip and skip_f32 must be given"));
  M1_RETURN_IF_ERROR(cuda::require(int(a.branch != nullptr) + int(a.branch_f32 != nullptr) + int(a.gather != nullptr) <= 1,
                                   kName, "at most one of branch, branch_f32 and gather may be given"));
  if (a.gather)
    M1_RETURN_IF_ERROR(cuda::require(cuda::aligned16(a.gather) && a.gather_rows && a.gather_weights && a.gather_k > 0 &&
                                         a.gather_k <= 8,
                                     kName, "gather must be 16-byte aligned with gather_rows, gather_weights and "
                                            "gather_k in [1, 8]"));
  M1_RETURN_IF_ERROR(
      cuda::require(a.out != nullptr || a.out_f32 != nullptr, kName, "neither out nor out_f32 is given"));
  if (a.skip) M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "skip", a.skip, a.skip_stride, a.width));
  if (a.skip_f32) M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "skip_f32", a.skip_f32, a.skip_stride, a.width));
  if (a.branch) M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "branch", a.branch, a.branch_stride, a.width));
  if (a.branch_f32)
    M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "branch_f32", a.branch_f32, a.branch_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "weight", a.weight, a.width, a.width));
  if (a.out) M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.width));
  if (a.out_f32)
    M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out_f32", a.out_f32, a.out_f32_stride, a.width));
  if (a.skip_f32 != nullptr) return launch_residual(a, a.skip_f32, stream);
  return launch_residual(a, a.skip, stream);
}

Status gated_rms_norm(const GatedRmsNormArgs & a, Stream stream) {
  constexpr const char * kName = "gated_rms_norm";
  M1_RETURN_IF_ERROR(check_width(kName, a.n_rows, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "in", a.in, a.in_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "gate", a.gate, a.gate_stride, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "weight", a.weight, a.width, a.width));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.width));
  GatedParams p{a.in, a.in_stride, a.gate, a.gate_stride, a.weight, a.eps, a.out, a.out_stride, a.width};
  gated_rms_norm_kernel<<<a.n_rows, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
