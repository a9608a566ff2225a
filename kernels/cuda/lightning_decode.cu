// Lightning attention decode: one new token per sequence, fused state update and output,
//   S = lambda * S + k^T v,  o = q S                                  (M1_SPEC.md section 4)
// with S fp32 [128 key, 128 value] per (sequence, head), read once and written once. The step is
// bound by those 2 x 64 KiB per (sequence, head); one thread block owns a 32-column value slice of
// one (sequence, head) so that even batch 1 (64 heads) gives 256 blocks to cover the 132 SMs.
// Each thread updates 4 key rows x 4 value columns with 16-byte loads and stores, then the block
// reduces o over the key rows in shared memory. With `silu` set, q, k and v pass through
// bf16(silu(x)) as they load (the lightning layer's activation, bit-identical to silu_rows_inplace
// first): one launch less per decode step.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scalar_math.cuh"
#include "kernels/lightning_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr int kD = kLightningHeadDim;
constexpr int kSlice = 32;                 // value columns per block
constexpr int kThreads = 256;              // 32 row groups x 8 column quads
constexpr int kRowsPerThread = kD / 32;    // 4
constexpr float kLog2e = 1.4426950408889634f;

struct DecodeParams {
  const __nv_bfloat16 * q;
  const __nv_bfloat16 * k;
  const __nv_bfloat16 * v;
  int64_t row_stride;
  int64_t head_stride;
  const int32_t * slots;
  const float * decay;
  float * state;
  __nv_bfloat16 * out;
  int64_t out_row_stride;
  int n_heads;
  bool silu;
};

__device__ __forceinline__ float load_input(const __nv_bfloat16 * p, bool silu) {
  const float x = __bfloat162float(*p);
  return silu ? cuda::round_bf16(cuda::silu(x)) : x;
}

__global__ void __launch_bounds__(kThreads) lightning_decode_kernel(DecodeParams p) {
  __shared__ float q_s[kD], k_s[kD], v_s[kSlice];
  __shared__ float partial[32][kSlice + 1];
  const int slice = blockIdx.x, head = blockIdx.y, seq = blockIdx.z;
  const int64_t in_off = seq * p.row_stride + head * p.head_stride;
  const int tid = threadIdx.x;
  if (tid < kD) {
    q_s[tid] = load_input(p.q + in_off + tid, p.silu);
    k_s[tid] = load_input(p.k + in_off + tid, p.silu);
  }
  if (tid < kSlice) v_s[tid] = load_input(p.v + in_off + slice * kSlice + tid, p.silu);

  const int slot = p.slots != nullptr ? p.slots[seq] : seq;
  const int row_group = tid / 8, quad = tid % 8;
  float * s = p.state + (static_cast<int64_t>(slot) * p.n_heads + head) * kD * kD +
              row_group * kRowsPerThread * kD + slice * kSlice + quad * 4;
  float4 st[kRowsPerThread];
#pragma unroll
  for (int r = 0; r < kRowsPerThread; ++r) st[r] = *reinterpret_cast<const float4 *>(s + r * kD);
  const float lambda = exp2f(-p.decay[head] * kLog2e);
  __syncthreads();

  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  const float * vq = v_s + quad * 4;
#pragma unroll
  for (int r = 0; r < kRowsPerThread; ++r) {
    const int row = row_group * kRowsPerThread + r;
    const float kr = k_s[row], qr = q_s[row];
    st[r].x = fmaf(lambda, st[r].x, kr * vq[0]);
    st[r].y = fmaf(lambda, st[r].y, kr * vq[1]);
    st[r].z = fmaf(lambda, st[r].z, kr * vq[2]);
    st[r].w = fmaf(lambda, st[r].w, kr * vq[3]);
    acc[0] = fmaf(qr, st[r].x, acc[0]);
    acc[1] = fmaf(qr, st[r].y, acc[1]);
    acc[2] = fmaf(qr, st[r].z, acc[2]);
    acc[3] = fmaf(qr, st[r].w, acc[3]);
    *reinterpret_cast<float4 *>(s + r * kD) = st[r];
  }
#pragma unroll
  for (int c = 0; c < 4; ++c) partial[row_group][quad * 4 + c] = acc[c];
  __syncthreads();
  if (tid < kSlice) {
    float sum = 0.f;
#pragma unroll 8
    for (int rg = 0; rg < 32; ++rg) sum += partial[rg][tid];
    p.out[seq * p.out_row_stride + head * kD + slice * kSlice + tid] = __float2bfloat16_rn(sum);
  }
}

}  // namespace

Status lightning_decode(const LightningDecodeArgs & a, Stream stream) {
  constexpr const char * kName = "lightning_decode";
  M1_RETURN_IF_ERROR(cuda::require(a.n_seqs > 0 && a.n_seqs <= 65535, kName,
                                   "n_seqs " + std::to_string(a.n_seqs) + " must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(cuda::require(a.n_heads > 0 && a.n_heads <= 65535, kName,
                                   "n_heads " + std::to_string(a.n_heads) + " must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(cuda::require(a.decay && a.state.data, kName, "decay and state must be set"));
  M1_RETURN_IF_ERROR(cuda::require(a.in.q && a.in.k && a.in.v && a.out, kName, "q, k, v and out must be set"));
  M1_RETURN_IF_ERROR(cuda::require(a.in.row_stride >= kD && a.out_row_stride >= static_cast<int64_t>(a.n_heads) * kD,
                                   kName, "row strides must cover 128 values (q/k/v) and n_heads*128 (out)"));
  M1_RETURN_IF_ERROR(cuda::require(cuda::aligned16(a.state.data), kName, "state must be 16-byte aligned"));
  DecodeParams p{reinterpret_cast<const __nv_bfloat16 *>(a.in.q),
                 reinterpret_cast<const __nv_bfloat16 *>(a.in.k),
                 reinterpret_cast<const __nv_bfloat16 *>(a.in.v),
                 a.in.row_stride,
                 a.in.head_stride,
                 a.state.slots,
                 a.decay,
                 a.state.data,
                 reinterpret_cast<__nv_bfloat16 *>(a.out),
                 a.out_row_stride,
                 a.n_heads,
                 a.silu};
  dim3 grid(kD / kSlice, a.n_heads, a.n_seqs);
  lightning_decode_kernel<<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
