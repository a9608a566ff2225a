// Lightning attention prefill on tensor cores (mma.sync m16n8k16, bf16 operands, fp32 accumulate).
// Per sequence and head, for each block of kBlock tokens with offsets i, j in [0, m):
//   o_i    = lambda^(i+1) q_i S_prev + sum_{j<=i} lambda^(i-j) (q_i . k_j) v_j
//   S_next = lambda^m S_prev + sum_j lambda^(m-1-j) k_j^T v_j            (M1_SPEC.md section 4)
// One thread block owns (value slice, head, sequence) and walks the sequence's blocks in order,
// keeping its S[:, slice] (128 x DV fp32) in registers across blocks; the q/k/v tiles of the next
// block are fetched with cp.async while the current one is computed. Output warp w owns token rows
// [16w, 16w+16) of a block; state warp w owns key rows [32w, 32w+32) of S.
// Operand roundings (the error budget the tests use): S is read as bf16 for q S; the decayed
// scores lambda^(i-j) q.k and the decayed keys lambda^(m-1-j) k are rounded to bf16; o is stored
// as bf16. S itself accumulates in fp32 and leaves the call in fp32.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/lightning_prefill_common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/lightning_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

using cuda::cp_async_16;
using cuda::ldmatrix_x4;
using cuda::ldmatrix_x4_trans;
using cuda::mma_bf16;
using cuda::pack_bf16x2;

constexpr int kD = kLightningHeadDim;
constexpr int kBlock = 64;             // tokens per block: 4 output warps x 16 rows
constexpr int kOutputWarps = 4;        // then 4 state warps x 32 key rows of S
constexpr int kThreads = 256;
constexpr int kQkStride = kD + 8;      // padded smem rows: 272 B, ldmatrix rows hit distinct banks
constexpr float kLog2e = 1.4426950408889634f;

template <int DV> struct PrefillLayout {
  static constexpr int kVStride = DV + 8;  // 144 B (DV 64) / 80 B (DV 32): conflict-free ldmatrix
  static constexpr int kQkTile = kBlock * kQkStride;
  static constexpr int kVTile = kBlock * kVStride;
  static constexpr int kSTile = kD * kVStride;
  // two buffers each of Q, K, V (the block computed and the one in flight) and of bf16 S
  static constexpr int kElems = 2 * (2 * kQkTile + kVTile) + 2 * kSTile;
  // then fp32 lambda^x for x in [0, kBlock]: every decay factor of a block, computed once
  static constexpr int kPowersOffsetBytes = kElems * 2;
  static constexpr int kBytes = kPowersOffsetBytes + (kBlock + 1) * 4;
};

template <int DV>
__device__ __forceinline__ void load_block(const PrefillParams & p, __nv_bfloat16 * qs,
                                           __nv_bfloat16 * ks, __nv_bfloat16 * vs, int64_t base,
                                           int tok0, int len, int head, int slice) {
  constexpr int kVStride = PrefillLayout<DV>::kVStride;
  const int64_t head_off = head * p.head_stride;
  for (int i = threadIdx.x; i < kBlock * (kD / 8); i += kThreads) {
    int r = i / (kD / 8), c = i % (kD / 8);
    bool valid = tok0 + r < len;
    int64_t off = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + c * 8;
    cp_async_16(qs + r * kQkStride + c * 8, p.q + off, valid);
    cp_async_16(ks + r * kQkStride + c * 8, p.k + off, valid);
  }
  for (int i = threadIdx.x; i < kBlock * (DV / 8); i += kThreads) {
    int r = i / (DV / 8), c = i % (DV / 8);
    bool valid = tok0 + r < len;
    int64_t off = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + slice * DV + c * 8;
    cp_async_16(vs + r * kVStride + c * 8, p.v + off, valid);
  }
}

// Writes this warp's key rows of S (fp32 registers) into the bf16 copy that q S reads.
template <int DV>
__device__ __forceinline__ void store_state_bf16(const float (&s)[2][DV / 8][4],
                                                 __nv_bfloat16 * ss, int warp, int g, int t) {
  constexpr int kVStride = PrefillLayout<DV>::kVStride;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    int row = warp * 32 + mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < DV / 8; ++nt) {
      int col = nt * 8 + 2 * t;
      *reinterpret_cast<uint32_t *>(ss + row * kVStride + col) = pack_bf16x2(s[mt][nt][0], s[mt][nt][1]);
      *reinterpret_cast<uint32_t *>(ss + (row + 8) * kVStride + col) =
          pack_bf16x2(s[mt][nt][2], s[mt][nt][3]);
    }
  }
}

// Barrier 1 over the whole block, reached once per block of tokens by both warp roles from different
// code locations: the non-.aligned form (bar.sync is .aligned, which requires one location).
__device__ __forceinline__ void block_barrier() { asm volatile("barrier.sync 1, %0;\n" ::"n"(kThreads)); }

// Waits for block b's tiles, then starts fetching block b+1 into the other buffers.
template <int DV>
__device__ __forceinline__ void begin_block(const PrefillParams & p, __nv_bfloat16 * smem, int b, int n_blocks,
                                            int64_t base, int len, int head, int slice) {
  using L = PrefillLayout<DV>;
  cuda::cp_async_wait<0>();
  block_barrier();  // block b landed for all; every warp is done with block b-1's buffers
  const int nxt = (b + 1) & 1;
  if (b + 1 < n_blocks)
    load_block<DV>(p, smem + nxt * L::kQkTile, smem + (2 + nxt) * L::kQkTile, smem + 4 * L::kQkTile + nxt * L::kVTile,
                   base, (b + 1) * kBlock, len, head, slice);
  cuda::cp_async_commit();
}

// Output warp w: rows [16w, 16w+16) of each block, o = diag(lambda^(i+1)) Q S_prev + (mask . Q K^T) V.
template <int DV>
__device__ __forceinline__ void output_warp(const PrefillParams & p, __nv_bfloat16 * smem, const float * powers,
                                            int warp, int n_blocks, int64_t base, int len, int head, int slice,
                                            float neg_log2_lambda) {
  using L = PrefillLayout<DV>;
  constexpr int kVStride = L::kVStride;
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const int row0 = warp * 16 + g, row1 = row0 + 8;
  const float f0 = exp2f(-neg_log2_lambda * (row0 + 1)), f1 = exp2f(-neg_log2_lambda * (row1 + 1));
  for (int b = 0; b < n_blocks; ++b) {
    begin_block<DV>(p, smem, b, n_blocks, base, len, head, slice);
    const int cur = b & 1;
    __nv_bfloat16 * qs = smem + cur * L::kQkTile;
    const __nv_bfloat16 * ks = smem + (2 + cur) * L::kQkTile;
    const __nv_bfloat16 * vs = smem + 4 * L::kQkTile + cur * L::kVTile;
    const __nv_bfloat16 * ss = smem + 4 * L::kQkTile + 2 * L::kVTile + cur * L::kSTile;

    uint32_t qf[kD / 16][4];
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
      ldmatrix_x4(qf[kk], qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kQkStride + kk * 16 + (lane >> 4) * 8);

    // scores = Q K^T for the key tiles at or before this warp's rows (causal)
    float sc[kBlock / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kBlock / 16; ++np) {
        if (np > warp) continue;
        uint32_t bf[4];
        ldmatrix_x4(bf, ks + (np * 16 + (lane & 7) + (lane >> 4) * 8) * kQkStride + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(sc[2 * np], qf[kk], bf[0], bf[1]);
        mma_bf16(sc[2 * np + 1], qf[kk], bf[2], bf[3]);
      }
    }

    // o = diag(lambda^(i+1)) Q S_prev
    float o[DV / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < DV / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, ss + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kVStride + np * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * np], qf[kk], bf[0], bf[1]);
        mma_bf16(o[2 * np + 1], qf[kk], bf[2], bf[3]);
      }
    }
#pragma unroll
    for (int nt = 0; nt < DV / 8; ++nt) o[nt][0] *= f0, o[nt][1] *= f0, o[nt][2] *= f1, o[nt][3] *= f1;

    // o += (decay-masked scores) V
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
          float v0 = row >= col ? sc[nt][e] * powers[row - col] : 0.f;
          float v1 = row >= col + 1 ? sc[nt][e + 1] * powers[row - col - 1] : 0.f;
          pa[half * 2 + e / 2] = pack_bf16x2(v0, v1);
        }
      }
#pragma unroll
      for (int np = 0; np < DV / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kVStride + np * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * np], pa, bf[0], bf[1]);
        mma_bf16(o[2 * np + 1], pa, bf[2], bf[3]);
      }
    }

    // stage through this warp's own Q rows (no other warp reads them), then 16-byte stores
    __syncwarp();
    __nv_bfloat16 * stage = qs + warp * 16 * kQkStride;
#pragma unroll
    for (int nt = 0; nt < DV / 8; ++nt) {
      *reinterpret_cast<uint32_t *>(stage + g * kQkStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][0], o[nt][1]);
      *reinterpret_cast<uint32_t *>(stage + (g + 8) * kQkStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][2], o[nt][3]);
    }
    __syncwarp();
    for (int i = lane; i < 16 * (DV / 8); i += 32) {
      int r = i / (DV / 8), c = i % (DV / 8);
      int tok = b * kBlock + warp * 16 + r;
      if (tok < len)
        *reinterpret_cast<uint4 *>(p.out + (base + tok) * p.out_row_stride + head * kD + slice * DV + c * 8) =
            *reinterpret_cast<const uint4 *>(stage + r * kQkStride + c * 8);
    }
  }
}

// State warp w: key rows [32w, 32w+32) of S[:, slice], kept in fp32 registers across blocks:
// S = lambda^m S + sum_j lambda^(m-1-j) k_j^T v_j, then a bf16 copy for the next block's q S.
template <int DV>
__device__ __forceinline__ void state_warp(const PrefillParams & p, __nv_bfloat16 * smem, const float * powers,
                                           int warp, int n_blocks,
                                           int64_t base, int len, int head, int slice, float neg_log2_lambda,
                                           float * state) {
  using L = PrefillLayout<DV>;
  constexpr int kVStride = L::kVStride;
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  float s[2][DV / 8][4];
#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    int row = warp * 32 + mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < DV / 8; ++nt) {
      float2 lo = *reinterpret_cast<const float2 *>(state + row * kD + nt * 8 + 2 * t);
      float2 hi = *reinterpret_cast<const float2 *>(state + (row + 8) * kD + nt * 8 + 2 * t);
      s[mt][nt][0] = lo.x, s[mt][nt][1] = lo.y, s[mt][nt][2] = hi.x, s[mt][nt][3] = hi.y;
    }
  }
  store_state_bf16<DV>(s, smem + 4 * L::kQkTile + 2 * L::kVTile, warp, g, t);

  for (int b = 0; b < n_blocks; ++b) {
    begin_block<DV>(p, smem, b, n_blocks, base, len, head, slice);
    const int cur = b & 1;
    const __nv_bfloat16 * ks = smem + (2 + cur) * L::kQkTile;
    const __nv_bfloat16 * vs = smem + 4 * L::kQkTile + cur * L::kVTile;
    const int m = min(kBlock, len - b * kBlock);
    const float fm = powers[m];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int nt = 0; nt < DV / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][nt][e] *= fm;
#pragma unroll
    for (int kt = 0; kt < kBlock / 16; ++kt) {
      if (kt * 16 >= m) continue;
      float dk[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int j = kt * 16 + 2 * t + (e & 1) + (e >> 1) * 8;
        dk[e] = j < m ? powers[m - 1 - j] : 0.f;
      }
      uint32_t a[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt) {
        ldmatrix_x4_trans(a[mt], ks + (kt * 16 + (lane & 7) + (lane >> 4) * 8) * kQkStride + warp * 32 + mt * 16 +
                                     ((lane >> 3) & 1) * 8);
        a[mt][0] = cuda::scale_bf16x2(a[mt][0], dk[0], dk[1]);
        a[mt][1] = cuda::scale_bf16x2(a[mt][1], dk[0], dk[1]);
        a[mt][2] = cuda::scale_bf16x2(a[mt][2], dk[2], dk[3]);
        a[mt][3] = cuda::scale_bf16x2(a[mt][3], dk[2], dk[3]);
      }
#pragma unroll
      for (int np = 0; np < DV / 16; ++np) {  // each V fragment serves both key-row tiles
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kVStride + np * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma_bf16(s[mt][2 * np], a[mt], bf[0], bf[1]);
          mma_bf16(s[mt][2 * np + 1], a[mt], bf[2], bf[3]);
        }
      }
    }
    if (b + 1 < n_blocks) store_state_bf16<DV>(s, smem + 4 * L::kQkTile + 2 * L::kVTile + (cur ^ 1) * L::kSTile, warp, g, t);
  }

#pragma unroll
  for (int mt = 0; mt < 2; ++mt) {
    int row = warp * 32 + mt * 16 + g;
#pragma unroll
    for (int nt = 0; nt < DV / 8; ++nt) {
      *reinterpret_cast<float2 *>(state + row * kD + nt * 8 + 2 * t) = make_float2(s[mt][nt][0], s[mt][nt][1]);
      *reinterpret_cast<float2 *>(state + (row + 8) * kD + nt * 8 + 2 * t) = make_float2(s[mt][nt][2], s[mt][nt][3]);
    }
  }
}

// Two warp roles with separate register sets: warps 0-3 compute outputs, warps 4-7 carry the
// state. They meet only at the per-block barrier: output warps read the bf16 S of the current
// buffer, state warps write the other one. (Measured on H100, 32K tokens: one role set per warp at
// 4 warps took 255 registers and ran 2.03 ms; BENCHMARKS.md.)
template <int DV>
__global__ void __launch_bounds__(kThreads, DV == 32 ? 2 : 1) lightning_prefill_kernel(PrefillParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 * smem = reinterpret_cast<__nv_bfloat16 *>(smem_raw);
  const int slice = blockIdx.x, head = blockIdx.y, seq = blockIdx.z;
  const int warp = threadIdx.x / 32;
  const int64_t base = p.seq_starts[seq];
  const int len = p.seq_starts[seq + 1] - static_cast<int>(base);
  if (len <= 0) return;  // the state is left as it was
  const int slot = p.slots != nullptr ? p.slots[seq] : seq;
  float * state = p.state + (static_cast<int64_t>(slot) * p.n_heads + head) * kD * kD + slice * DV;
  const float neg_log2_lambda = p.decay[head] * kLog2e;  // lambda^x = exp2(-neg_log2_lambda * x)
  const int n_blocks = (len + kBlock - 1) / kBlock;

  using L = PrefillLayout<DV>;
  float * powers = reinterpret_cast<float *>(smem_raw + L::kPowersOffsetBytes);
  if (threadIdx.x <= kBlock) powers[threadIdx.x] = exp2f(-neg_log2_lambda * threadIdx.x);  // read after the first barrier
  load_block<DV>(p, smem, smem + 2 * L::kQkTile, smem + 4 * L::kQkTile, base, 0, len, head, slice);
  cuda::cp_async_commit();
  if (warp < kOutputWarps)
    output_warp<DV>(p, smem, powers, warp, n_blocks, base, len, head, slice, neg_log2_lambda);
  else
    state_warp<DV>(p, smem, powers, warp - kOutputWarps, n_blocks, base, len, head, slice, neg_log2_lambda, state);
}

template <int DV> Status launch_prefill(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream) {
  auto kernel = lightning_prefill_kernel<DV>;
  constexpr int kBytes = PrefillLayout<DV>::kBytes;
  M1_CUDA_STATUS(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  kernel<<<dim3(kD / DV, n_heads, n_seqs), kThreads, kBytes, stream>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace

Status lightning_prefill(const LightningPrefillArgs & a, Stream stream) {
  constexpr const char * kName = "lightning_prefill";
  M1_RETURN_IF_ERROR(cuda::require(a.n_seqs > 0 && a.n_seqs <= 65535, kName,
                                   "n_seqs " + std::to_string(a.n_seqs) + " must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(cuda::require(a.n_heads > 0 && a.n_heads <= 65535, kName,
                                   "n_heads " + std::to_string(a.n_heads) + " must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(cuda::require(a.seq_starts && a.decay && a.state.data, kName,
                                   "seq_starts, decay and state must be set"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "q", a.in.q, a.in.row_stride, kD));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "k", a.in.k, a.in.row_stride, kD));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "v", a.in.v, a.in.row_stride, kD));
  M1_RETURN_IF_ERROR(cuda::require(a.in.head_stride % 8 == 0 && a.in.head_stride >= 0, kName,
                                   "head stride " + std::to_string(a.in.head_stride) +
                                       " must be a non-negative multiple of 8"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_row_stride,
                                              static_cast<int64_t>(a.n_heads) * kD));
  M1_RETURN_IF_ERROR(cuda::require(reinterpret_cast<uintptr_t>(a.state.data) % 8 == 0, kName,
                                   "state must be 8-byte aligned"));
  int slice = a.value_slice;
  if (slice == 0) {
    // 64 value columns per block unless that leaves most SMs idle (H100, one run, BENCHMARKS.md:
    // 64 heads x 32K tokens: 1.62 ms at 64, 1.65 at 32; 8 heads x 32K: 1.45 ms at 64, 1.20 at 32).
    slice = static_cast<int64_t>(a.n_seqs) * a.n_heads * 2 >= 128 ? 64 : 32;
  }
  M1_RETURN_IF_ERROR(cuda::require(slice == 32 || slice == 64, kName,
                                   "value_slice " + std::to_string(a.value_slice) + " must be 0, 32 or 64"));
  M1_RETURN_IF_ERROR(cuda::require(a.kernel != LightningPrefillKernel::kWgmma || slice == 64, kName,
                                   "the wgmma kernel needs value_slice 64"));
  const PrefillParams p{reinterpret_cast<const __nv_bfloat16 *>(a.in.q),
                        reinterpret_cast<const __nv_bfloat16 *>(a.in.k),
                        reinterpret_cast<const __nv_bfloat16 *>(a.in.v),
                        a.in.row_stride,
                        a.in.head_stride,
                        a.seq_starts,
                        a.state.slots,
                        a.decay,
                        a.state.data,
                        reinterpret_cast<__nv_bfloat16 *>(a.out),
                        a.out_row_stride,
                        a.n_heads};
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  // Template and kernel instances, listed here only: mma.sync at value slices 64 and 32, wgmma at 64.
  const bool wgmma = a.kernel == LightningPrefillKernel::kWgmma;
  if (slice == 64) return wgmma ? launch_prefill_wgmma(p, a.n_seqs, a.n_heads, s) : launch_prefill<64>(p, a.n_seqs, a.n_heads, s);
#if M1_CUDA_ALL_VARIANTS
  return launch_prefill<32>(p, a.n_seqs, a.n_heads, s);
#else
  return launch_prefill<64>(p, a.n_seqs, a.n_heads, s);
#endif
}

}  // namespace m1::kernels::gpu
