// Lightning attention prefill with warpgroup MMA (sm_90a): the same block recurrence as
// lightning_prefill.cu (see there for the math and the error budget), value slice 64, with the two
// largest products of the output side, Q K^T and Q S_prev (64 x 64 x 128 each per block), issued
// as wgmma from shared memory by the output warpgroup (warps 0-3). The masked scores times V and
// the state update K~^T V (warps 4-7) stay on mma.sync: both need V as a transposed (MN-major)
// operand and per-token decay scaling of an operand, which register fragments give directly.
// Q and K tiles and the bf16 state copy (stored transposed, S^T [value][key]) use the
// core-matrix-blocked layout of wgmma.cuh; V keeps padded rows for ldmatrix.trans.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/lightning_prefill_common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/lightning_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

using cuda::blocked_index;
using cuda::cp_async_16;
using cuda::ldmatrix_x4_trans;
using cuda::mma_bf16;
using cuda::pack_bf16x2;

constexpr int kD = kLightningHeadDim;
constexpr int kBlock = 64;
constexpr int kDV = 64;                 // value columns per thread block
constexpr int kThreads = 256;           // warpgroup 0: outputs; warps 4-7: state
constexpr int kVStride = kDV + 8;       // padded V rows (144 B): conflict-free ldmatrix.trans
constexpr float kLog2e = 1.4426950408889634f;

struct Layout {
  static constexpr int kQk = kBlock * kD;      // blocked Q or K tile
  static constexpr int kV = kBlock * kVStride;
  static constexpr int kS = kDV * kD;          // blocked S^T tile [value][key]
  static constexpr int kStage = 16 * kVStride; // one output warp's staging rows
  __host__ __device__ static constexpr int q(int i) { return i * kQk; }
  __host__ __device__ static constexpr int k(int i) { return (2 + i) * kQk; }
  __host__ __device__ static constexpr int v(int i) { return 4 * kQk + i * kV; }
  __host__ __device__ static constexpr int s(int i) { return 4 * kQk + 2 * kV + i * kS; }
  __host__ __device__ static constexpr int stage(int w) { return 4 * kQk + 2 * kV + 2 * kS + w * kStage; }
};
constexpr int kSmemBytes = Layout::stage(4) * 2;  // 126 KB: one block per SM

// Both warp roles reach it from different code locations: the non-.aligned barrier.
__device__ __forceinline__ void block_barrier() { asm volatile("barrier.sync 1, %0;\n" ::"n"(kThreads)); }

__device__ __forceinline__ void load_block(const PrefillParams & p, __nv_bfloat16 * smem, int buf, int64_t base,
                                           int tok0, int len, int head, int slice) {
  const int64_t head_off = head * p.head_stride;
  for (int i = threadIdx.x; i < kBlock * (kD / 8); i += kThreads) {
    const int r = i / (kD / 8), c = i % (kD / 8);
    const bool valid = tok0 + r < len;
    const int64_t off = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + c * 8;
    cp_async_16(smem + Layout::q(buf) + blocked_index(r, c * 8), p.q + off, valid);
    cp_async_16(smem + Layout::k(buf) + blocked_index(r, c * 8), p.k + off, valid);
  }
  for (int i = threadIdx.x; i < kBlock * (kDV / 8); i += kThreads) {
    const int r = i / (kDV / 8), c = i % (kDV / 8);
    const bool valid = tok0 + r < len;
    const int64_t off = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + slice * kDV + c * 8;
    cp_async_16(smem + Layout::v(buf) + r * kVStride + c * 8, p.v + off, valid);
  }
}

// Waits for block b's tiles (and makes them visible to wgmma), then fetches block b+1.
__device__ __forceinline__ void begin_block(const PrefillParams & p, __nv_bfloat16 * smem, int b, int n_blocks,
                                            int64_t base, int len, int head, int slice) {
  cuda::cp_async_wait<0>();
  cuda::fence_proxy_async();
  block_barrier();
  if (b + 1 < n_blocks) load_block(p, smem, (b + 1) & 1, base, (b + 1) * kBlock, len, head, slice);
  cuda::cp_async_commit();
}

__device__ __forceinline__ void output_warp(const PrefillParams & p, __nv_bfloat16 * smem, int warp, int n_blocks,
                                            int64_t base, int len, int head, int slice, float neg_log2_lambda) {
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const int row0 = warp * 16 + g, row1 = row0 + 8;
  const float f0 = exp2f(-neg_log2_lambda * (row0 + 1)), f1 = exp2f(-neg_log2_lambda * (row1 + 1));
  __nv_bfloat16 * stage = smem + Layout::stage(warp);
  for (int b = 0; b < n_blocks; ++b) {
    begin_block(p, smem, b, n_blocks, base, len, head, slice);
    const int cur = b & 1;
    const __nv_bfloat16 * qs = smem + Layout::q(cur);
    const __nv_bfloat16 * ks = smem + Layout::k(cur);
    const __nv_bfloat16 * vs = smem + Layout::v(cur);
    const __nv_bfloat16 * ss = smem + Layout::s(cur);

    float sc[8][4] = {}, o[8][4] = {};
    cuda::wgmma_fence_operand(sc);
    cuda::wgmma_fence_operand(o);
    cuda::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
      cuda::wgmma_m64n64k16(sc, cuda::wgmma_descriptor(qs + kk * 128), cuda::wgmma_descriptor(ks + kk * 128), kk > 0);
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
      cuda::wgmma_m64n64k16(o, cuda::wgmma_descriptor(qs + kk * 128), cuda::wgmma_descriptor(ss + kk * 128), kk > 0);
    cuda::wgmma_commit();
    cuda::wgmma_wait_all();
    cuda::wgmma_fence_operand(sc);
    cuda::wgmma_fence_operand(o);

#pragma unroll
    for (int nt = 0; nt < kDV / 8; ++nt) o[nt][0] *= f0, o[nt][1] *= f0, o[nt][2] *= f1, o[nt][3] *= f1;

    // o += (decay-masked scores) V on mma.sync, P straight from the accumulator registers
#pragma unroll
    for (int kt = 0; kt < kBlock / 16; ++kt) {
      if (kt > warp) continue;
      uint32_t pa[4];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int nt = 2 * kt + half;
#pragma unroll
        for (int e = 0; e < 4; e += 2) {
          const int row = e < 2 ? row0 : row1;
          const int col = nt * 8 + 2 * t;
          float v0 = row >= col ? sc[nt][e] * exp2f(-neg_log2_lambda * (row - col)) : 0.f;
          float v1 = row >= col + 1 ? sc[nt][e + 1] * exp2f(-neg_log2_lambda * (row - col - 1)) : 0.f;
          pa[half * 2 + e / 2] = pack_bf16x2(v0, v1);
        }
      }
#pragma unroll
      for (int np = 0; np < kDV / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kVStride + np * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * np], pa, bf[0], bf[1]);
        mma_bf16(o[2 * np + 1], pa, bf[2], bf[3]);
      }
    }

#pragma unroll
    for (int nt = 0; nt < kDV / 8; ++nt) {
      *reinterpret_cast<uint32_t *>(stage + g * kVStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][0], o[nt][1]);
      *reinterpret_cast<uint32_t *>(stage + (g + 8) * kVStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][2], o[nt][3]);
    }
    __syncwarp();
    for (int i = lane; i < 16 * (kDV / 8); i += 32) {
      const int r = i / (kDV / 8), c = i % (kDV / 8);
      const int tok = b * kBlock + warp * 16 + r;
      if (tok < len)
        *reinterpret_cast<uint4 *>(p.out + (base + tok) * p.out_row_stride + head * kD + slice * kDV + c * 8) =
            *reinterpret_cast<const uint4 *>(stage + r * kVStride + c * 8);
    }
    __syncwarp();  // the stage is rewritten next block
  }
}

// Writes key rows [32w, 32w+32) of S as bf16 into S^T (blocked [value][key]) for the wgmma B
// operand: stmatrix.trans turns each 8x8 fragment (key rows, value columns) into value rows.
__device__ __forceinline__ void store_state_transposed(const float (&s)[2][kDV / 8][4], __nv_bfloat16 * st, int warp,
                                                       int lane) {
  const int m = lane >> 3, i = lane & 7;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    const int key0 = warp * 32 + mt * 16 + (m & 1) * 8;
#pragma unroll
    for (int np = 0; np < kDV / 16; ++np) {
      const uint32_t r[4] = {pack_bf16x2(s[mt][2 * np][0], s[mt][2 * np][1]),
                             pack_bf16x2(s[mt][2 * np][2], s[mt][2 * np][3]),
                             pack_bf16x2(s[mt][2 * np + 1][0], s[mt][2 * np + 1][1]),
                             pack_bf16x2(s[mt][2 * np + 1][2], s[mt][2 * np + 1][3])};
      cuda::stmatrix_x4_trans(st + blocked_index(np * 16 + (m >> 1) * 8 + i, key0), r);
    }
  }
  cuda::fence_proxy_async();  // wgmma reads it after the next barrier
}

__device__ __forceinline__ void state_warp(const PrefillParams & p, __nv_bfloat16 * smem, int warp, int n_blocks,
                                           int64_t base, int len, int head, int slice, float neg_log2_lambda,
                                           float * state) {
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  float s[2][kDV / 8][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    const int row = warp * 32 + mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < kDV / 8; ++nt) {
      const float2 lo = *reinterpret_cast<const float2 *>(state + row * kD + nt * 8 + 2 * t);
      const float2 hi = *reinterpret_cast<const float2 *>(state + (row + 8) * kD + nt * 8 + 2 * t);
      s[mt][nt][0] = lo.x, s[mt][nt][1] = lo.y, s[mt][nt][2] = hi.x, s[mt][nt][3] = hi.y;
    }
  }
  store_state_transposed(s, smem + Layout::s(0), warp, lane);

  for (int b = 0; b < n_blocks; ++b) {
    begin_block(p, smem, b, n_blocks, base, len, head, slice);
    const int cur = b & 1;
    const __nv_bfloat16 * ks = smem + Layout::k(cur);
    const __nv_bfloat16 * vs = smem + Layout::v(cur);
    const int m = min(kBlock, len - b * kBlock);
    const float fm = exp2f(-neg_log2_lambda * m);
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int nt = 0; nt < kDV / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] *= fm;
#pragma unroll
    for (int kt = 0; kt < kBlock / 16; ++kt) {
      if (kt * 16 >= m) continue;
      float dk[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = kt * 16 + 2 * t + (e & 1) + (e >> 1) * 8;
        dk[e] = j < m ? exp2f(-neg_log2_lambda * (m - 1 - j)) : 0.f;
      }
      uint32_t a[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        ldmatrix_x4_trans(a[mt], ks + blocked_index(kt * 16 + (lane & 7) + (lane >> 4) * 8,
                                                    warp * 32 + mt * 16 + ((lane >> 3) & 1) * 8));
        a[mt][0] = cuda::scale_bf16x2(a[mt][0], dk[0], dk[1]);
        a[mt][1] = cuda::scale_bf16x2(a[mt][1], dk[0], dk[1]);
        a[mt][2] = cuda::scale_bf16x2(a[mt][2], dk[2], dk[3]);
        a[mt][3] = cuda::scale_bf16x2(a[mt][3], dk[2], dk[3]);
      }
#pragma unroll
      for (int np = 0; np < kDV / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kVStride + np * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma_bf16(s[mt][2 * np], a[mt], bf[0], bf[1]);
          mma_bf16(s[mt][2 * np + 1], a[mt], bf[2], bf[3]);
        }
      }
    }
    if (b + 1 < n_blocks) store_state_transposed(s, smem + Layout::s((b + 1) & 1), warp, lane);
  }

#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    const int row = warp * 32 + mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < kDV / 8; ++nt) {
      *reinterpret_cast<float2 *>(state + row * kD + nt * 8 + 2 * t) = make_float2(s[mt][nt][0], s[mt][nt][1]);
      *reinterpret_cast<float2 *>(state + (row + 8) * kD + nt * 8 + 2 * t) = make_float2(s[mt][nt][2], s[mt][nt][3]);
    }
  }
}

__global__ void __launch_bounds__(kThreads, 1) lightning_prefill_wgmma_kernel(PrefillParams p) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __nv_bfloat16 * smem = reinterpret_cast<__nv_bfloat16 *>(smem_raw);
  const int slice = blockIdx.x, head = blockIdx.y, seq = blockIdx.z;
  const int warp = threadIdx.x / 32;
  const int64_t base = p.seq_starts[seq];
  const int len = p.seq_starts[seq + 1] - static_cast<int>(base);
  if (len <= 0) return;  // the state is left as it was
  const int slot = p.slots != nullptr ? p.slots[seq] : seq;
  float * state = p.state + (static_cast<int64_t>(slot) * p.n_heads + head) * kD * kD + slice * kDV;
  const float neg_log2_lambda = p.decay[head] * kLog2e;
  const int n_blocks = (len + kBlock - 1) / kBlock;
  load_block(p, smem, 0, base, 0, len, head, slice);
  cuda::cp_async_commit();
  if (warp < 4)
    output_warp(p, smem, warp, n_blocks, base, len, head, slice, neg_log2_lambda);
  else
    state_warp(p, smem, warp - 4, n_blocks, base, len, head, slice, neg_log2_lambda, state);
}

}  // namespace

Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream) {
  M1_CUDA_STATUS(cudaFuncSetAttribute(lightning_prefill_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      kSmemBytes));
  lightning_prefill_wgmma_kernel<<<dim3(kD / kDV, n_heads, n_seqs), kThreads, kSmemBytes, stream>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
