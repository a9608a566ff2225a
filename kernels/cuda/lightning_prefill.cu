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
// This file also holds the launcher (lightning_prefill, at the end) and the sequence split's
// chunk-state pass and scan. The launcher runs the wgmma kernel (lightning_prefill_wgmma.cu, same
// math and roundings, 1.7x faster on an H100) at value slice 64, and this mma.sync kernel at value
// slice 32 or when pinned.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/lightning_prefill_common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/sm_count.h"
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

// The q/k/v tiles of tokens [tok0, tok0 + kBlock) (rows past len zero-filled); q only when kWithQ
// (the chunk-state pass reads keys and values alone), by kLoaders threads.
template <int DV, bool kWithQ = true, int kLoaders = kThreads>
__device__ __forceinline__ void load_block(const PrefillParams & p, __nv_bfloat16 * qs,
                                           __nv_bfloat16 * ks, __nv_bfloat16 * vs, int64_t base,
                                           int tok0, int len, int head, int slice) {
  constexpr int kVStride = PrefillLayout<DV>::kVStride;
  const int64_t head_off = head * p.head_stride;
  for (int i = threadIdx.x; i < kBlock * (kD / 8); i += kLoaders) {
    int r = i / (kD / 8), c = i % (kD / 8);
    bool valid = tok0 + r < len;
    int64_t off = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + c * 8;
    if (kWithQ) cp_async_16(qs + r * kQkStride + c * 8, p.q + off, valid);
    cp_async_16(ks + r * kQkStride + c * 8, p.k + off, valid);
  }
  for (int i = threadIdx.x; i < kBlock * (DV / 8); i += kLoaders) {
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

// One block of the state recurrence for this warp's key rows [32w, 32w+32) of S[:, slice]:
// S = lambda^m S + sum_j lambda^(m-1-j) k_j^T v_j over the block's first m tokens.
template <int DV>
__device__ __forceinline__ void state_block_update(float (&s)[2][DV / 8][4], const __nv_bfloat16 * ks,
                                                   const __nv_bfloat16 * vs, const float * powers, int m, int warp) {
  constexpr int kVStride = PrefillLayout<DV>::kVStride;
  const int lane = threadIdx.x % 32, t = lane & 3;
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
      scale_key_fragment(a[mt], dk);
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
}

// State warp w: key rows [32w, 32w+32) of S[:, slice], kept in fp32 registers across blocks:
// S = lambda^m S + sum_j lambda^(m-1-j) k_j^T v_j, then a bf16 copy for the next block's q S.
template <int DV>
__device__ __forceinline__ void state_warp(const PrefillParams & p, __nv_bfloat16 * smem, const float * powers,
                                           int warp, int n_blocks,
                                           int64_t base, int len, int head, int slice,
                                           const float * init, float * state, bool write_state) {
  using L = PrefillLayout<DV>;
  const int lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  float s[2][DV / 8][4];
  load_state_fragments(s, init, warp * 32 + g, 16, t);
  store_state_bf16<DV>(s, smem + 4 * L::kQkTile + 2 * L::kVTile, warp, g, t);

  for (int b = 0; b < n_blocks; ++b) {
    begin_block<DV>(p, smem, b, n_blocks, base, len, head, slice);
    const int cur = b & 1;
    const __nv_bfloat16 * ks = smem + (2 + cur) * L::kQkTile;
    const __nv_bfloat16 * vs = smem + 4 * L::kQkTile + cur * L::kVTile;
    state_block_update<DV>(s, ks, vs, powers, min(kBlock, len - b * kBlock), warp);
    if (b + 1 < n_blocks) store_state_bf16<DV>(s, smem + 4 * L::kQkTile + 2 * L::kVTile + (cur ^ 1) * L::kSTile, warp, g, t);
  }
  if (write_state) store_state_fragments(s, state, warp * 32 + g, 16, t);  // else the slot is the last chunk's
}

// Two warp roles with separate register sets: warps 0-3 compute outputs, warps 4-7 carry the
// state. They meet only at the per-block barrier: output warps read the bf16 S of the current
// buffer, state warps write the other one. (Measured on H100, 32K tokens: one role set per warp at
// 4 warps took 255 registers and ran 2.03 ms; BENCHMARKS.md.)
template <int DV>
__global__ void __launch_bounds__(kThreads, DV == 32 ? 2 : 1) lightning_prefill_kernel(PrefillParams p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 * smem = reinterpret_cast<__nv_bfloat16 *>(smem_raw);
  const int slice = blockIdx.x, head = blockIdx.y;
  const int warp = threadIdx.x / 32;
  const PrefillSpan span = prefill_span(p, DV);
  const int64_t base = span.base;
  const int len = span.len;
  if (len <= 0) return;  // the state is left as it was
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
    state_warp<DV>(p, smem, powers, warp - kOutputWarps, n_blocks, base, len, head, slice, span.init, span.state,
                   span.write_state);
}

// The sequence split, pass 1: sub-chunk j's own contribution to the state at its end (a chunk is
// sub_chunks sub-chunks, so that this pass has many short sequential loops, not a few long ones),
//   local(j) = sum over its blocks of (S = lambda^m S + sum_i lambda^(m-1-i) k_i^T v_i) from S = 0,
// with the block loop and roundings of the state warps above, into entry j + 1 of the sequence
// (which the scan turns into the start state of sub-chunk j + 1). Four state warps per (value
// slice of 64, head, sub-chunk); sub-chunks of a sequence's last chunk feed no later chunk and exit.
constexpr int kChunkStateThreads = 128;
struct ChunkStateLayout {
  using L = PrefillLayout<64>;
  static constexpr int kElems = 2 * (L::kQkTile + L::kVTile);  // K and V, double-buffered
  static constexpr int kPowersOffsetBytes = kElems * 2;
  static constexpr int kBytes = kPowersOffsetBytes + (kBlock + 1) * 4;
};

__global__ void __launch_bounds__(kChunkStateThreads) lightning_chunk_state_kernel(PrefillParams p, float * chunk_states) {
  constexpr int DV = 64;
  using L = PrefillLayout<DV>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 * smem = reinterpret_cast<__nv_bfloat16 *>(smem_raw);
  __nv_bfloat16 * ks = smem;                      // 2 buffers of kQkTile
  __nv_bfloat16 * vs = smem + 2 * L::kQkTile;     // 2 buffers of kVTile
  const int entries = p.max_chunks * p.sub_chunks;  // per sequence
  const int slice = blockIdx.x, head = blockIdx.y, seq = blockIdx.z / entries, sub = blockIdx.z % entries;
  const int next_chunk = sub / p.sub_chunks + 1;  // the first chunk whose start state needs this one
  const int64_t seq_base = p.seq_starts[seq];
  const int seq_len = p.seq_starts[seq + 1] - static_cast<int>(seq_base);
  if (next_chunk >= p.max_chunks || next_chunk * p.chunk_tokens >= seq_len) return;
  const int len = p.chunk_tokens / p.sub_chunks, n_blocks = len / kBlock;  // a full sub-chunk
  const int64_t base = seq_base + static_cast<int64_t>(sub) * len;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const float neg_log2_lambda = p.decay[head] * kLog2e;
  float * powers = reinterpret_cast<float *>(smem_raw + ChunkStateLayout::kPowersOffsetBytes);
  if (threadIdx.x <= kBlock) powers[threadIdx.x] = exp2f(-neg_log2_lambda * threadIdx.x);
  load_block<DV, false, kChunkStateThreads>(p, nullptr, ks, vs, base, 0, len, head, slice);
  cuda::cp_async_commit();
  float s[2][DV / 8][4] = {};
  for (int b = 0; b < n_blocks; ++b) {
    cuda::cp_async_wait<0>();
    __syncthreads();  // block b landed; every warp is done with block b-1's buffers
    const int cur = b & 1, nxt = cur ^ 1;
    if (b + 1 < n_blocks)
      load_block<DV, false, kChunkStateThreads>(p, nullptr, ks + nxt * L::kQkTile, vs + nxt * L::kVTile, base, (b + 1) * kBlock, len,
                            head, slice);
    cuda::cp_async_commit();
    state_block_update<DV>(s, ks + cur * L::kQkTile, vs + cur * L::kVTile, powers, kBlock, warp);
  }
  float * out = chunk_states + ((static_cast<int64_t>(blockIdx.z) + 1) * p.n_heads + head) * kD * kD + slice * DV;
  store_state_fragments(s, out, warp * 32 + g, 16, t);
}

// The sequence split, pass 2, one thread per state element of (sequence, head): entry 0 = a copy
// of the slot's state (so the last chunk may overwrite the slot while chunk 0 still reads), then
// entry j = start(j) = lambda^sub_tokens start(j-1) + local(j-1) in fp32, in place; chunk c starts
// from entry c * sub_chunks.
__global__ void lightning_chunk_scan_kernel(PrefillParams p, float * chunk_states) {
  const int seq = blockIdx.y;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // head * kD * kD + element
  if (e >= static_cast<int64_t>(p.n_heads) * kD * kD) return;
  const int head = static_cast<int>(e / (kD * kD));
  const int seq_len = p.seq_starts[seq + 1] - p.seq_starts[seq];
  if (seq_len <= 0) return;
  const int n_chunks = min(p.max_chunks, (seq_len + p.chunk_tokens - 1) / p.chunk_tokens);
  const int n_entries = (n_chunks - 1) * p.sub_chunks + 1;
  const int slot = p.slots != nullptr ? p.slots[seq] : seq;
  const float decay_sub = exp2f(-p.decay[head] * kLog2e * (p.chunk_tokens / p.sub_chunks));
  const int64_t stride = static_cast<int64_t>(p.n_heads) * kD * kD;
  float * entry = chunk_states + static_cast<int64_t>(seq) * p.max_chunks * p.sub_chunks * stride + e;
  float s = p.state[static_cast<int64_t>(slot) * stride + e];
  entry[0] = s;
  for (int j = 1; j < n_entries; ++j) {
    s = decay_sub * s + entry[j * stride];
    entry[j * stride] = s;
  }
}

template <int DV> Status launch_prefill(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream) {
  auto kernel = lightning_prefill_kernel<DV>;
  constexpr int kBytes = PrefillLayout<DV>::kBytes;
  M1_CUDA_STATUS(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  kernel<<<dim3(kD / DV, n_heads, n_seqs * p.max_chunks), kThreads, kBytes, stream>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

// Passes 1 and 2 of the sequence split: every chunk's start state into p.chunk_states.
Status launch_chunk_states(const PrefillParams & p, float * states, int n_seqs, int n_heads, cudaStream_t stream) {
  constexpr int kBytes = ChunkStateLayout::kBytes;
  M1_CUDA_STATUS(cudaFuncSetAttribute(lightning_chunk_state_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
  lightning_chunk_state_kernel<<<dim3(kD / 64, n_heads, n_seqs * p.max_chunks * p.sub_chunks), kChunkStateThreads, kBytes, stream>>>(
      p, states);
  M1_CUDA_STATUS(cudaGetLastError());
  const int64_t elems = static_cast<int64_t>(n_heads) * kD * kD;
  lightning_chunk_scan_kernel<<<dim3(static_cast<unsigned>((elems + 255) / 256), n_seqs), 256, 0, stream>>>(p, states);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

using cuda::sm_count;

int max_chunks_of(int max_seq_len, int chunk_tokens) { return (max_seq_len + chunk_tokens - 1) / chunk_tokens; }

// Sub-chunks per chunk for the chunk-state pass: the fewest that make them at most kSubTokens
// long while dividing the chunk into whole blocks. More pieces shorten that pass's sequential loop
// but lengthen the scan (one dependent load per piece): 8 heads x 32K, H100, 1024-token pieces ran
// 0.291 ms (8 chunks) and 0.288 (16), whole chunks 0.265 and 0.243 (another H100 of the same kind).
int sub_chunks_of(int chunk_tokens) {
  constexpr int kSubTokens = 4096;
  const int blocks = chunk_tokens / kBlock;
  int r = (chunk_tokens + kSubTokens - 1) / kSubTokens;
  while (blocks % r != 0) ++r;
  return r;
}

}  // namespace

int lightning_prefill_chunk_tokens(int n_seqs, int n_heads, int max_seq_len) {
  // Chunks shorter than this cost more in the extra passes (a 64 KiB state per chunk and head
  // read and written twice) and per-block start-up than they gain.
  constexpr int kMinChunkTokens = 512;
  if (n_seqs <= 0 || n_heads <= 0 || max_seq_len <= 0) return 0;
  // One thread block per (value slice of 64, head, chunk), one resident per SM: split only when
  // the unsplit launch fills at most half the SMs, into as many chunks as fill them twice (8 heads
  // x 32K on an H100: 16 chunks 0.243 ms, 8 chunks 0.265: the chunk-state pass's loop is shorter).
  const int64_t blocks = static_cast<int64_t>(n_seqs) * n_heads * (kD / 64);
  const int64_t sms = sm_count();
  if (2 * blocks > sms) return 0;
  const int64_t chunks = std::min<int64_t>(2 * (sms / blocks), max_seq_len / kMinChunkTokens);
  if (chunks < 2) return 0;
  const int64_t tokens = (max_seq_len + chunks - 1) / chunks;
  const int chunk_tokens = static_cast<int>((tokens + kBlock - 1) / kBlock * kBlock);
  return chunk_tokens < max_seq_len ? chunk_tokens : 0;
}

std::size_t lightning_prefill_workspace_bytes(int n_seqs, int n_heads, int max_seq_len, int chunk_tokens) {
  if (n_seqs <= 0 || n_heads <= 0 || max_seq_len <= 0) return 0;
  if (chunk_tokens == 0) chunk_tokens = lightning_prefill_chunk_tokens(n_seqs, n_heads, max_seq_len);
  if (chunk_tokens <= 0 || chunk_tokens >= max_seq_len) return 0;
  return static_cast<std::size_t>(n_seqs) * max_chunks_of(max_seq_len, chunk_tokens) * sub_chunks_of(chunk_tokens) *
         n_heads * kD * kD * sizeof(float);
}

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
  M1_RETURN_IF_ERROR(cuda::require(a.chunk_tokens >= 0 && a.chunk_tokens % kBlock == 0, kName,
                                   "chunk_tokens " + std::to_string(a.chunk_tokens) +
                                       " must be 0 or a positive multiple of " + std::to_string(kBlock)));
  const int chunk_tokens = a.chunk_tokens > 0 ? a.chunk_tokens : lightning_prefill_chunk_tokens(a.n_seqs, a.n_heads, a.max_seq_len);
  const bool split = a.workspace != nullptr && a.max_seq_len > 0 && chunk_tokens > 0 && chunk_tokens < a.max_seq_len;
  const int max_chunks = split ? max_chunks_of(a.max_seq_len, chunk_tokens) : 1;
  const int sub_chunks = split ? sub_chunks_of(chunk_tokens) : 1;
  M1_RETURN_IF_ERROR(cuda::require(static_cast<int64_t>(a.n_seqs) * max_chunks * sub_chunks <= 65535, kName,
                                   std::to_string(a.n_seqs) + " sequences x " + std::to_string(max_chunks) +
                                       " chunks must be at most 65535: use longer chunk_tokens"));
  int slice = a.value_slice;
  // The split fills the SMs (slice 32 would compute Q K^T twice); the wgmma kernel has slice 64 only.
  if (slice == 0 && (split || a.kernel == LightningPrefillKernel::kWgmma)) slice = 64;
  if (slice == 0) {
    // 64 value columns per block unless that leaves most SMs idle (H100, one run, BENCHMARKS.md:
    // 64 heads x 32K tokens: 1.62 ms at 64, 1.65 at 32; 8 heads x 32K: 1.45 ms at 64, 1.20 at 32).
    slice = static_cast<int64_t>(a.n_seqs) * a.n_heads * 2 >= 128 ? 64 : 32;
  }
  M1_RETURN_IF_ERROR(cuda::require(slice == 32 || slice == 64, kName,
                                   "value_slice " + std::to_string(a.value_slice) + " must be 0, 32 or 64"));
  M1_RETURN_IF_ERROR(cuda::require(a.kernel != LightningPrefillKernel::kWgmma || slice == 64, kName,
                                   "the wgmma kernel needs value_slice 64"));
  // wgmma at slice 64 unless mma.sync is pinned (H100, one run, BENCHMARKS.md: 64 heads x 32K 0.81
  // vs 1.38-1.49 ms; 8 heads x 32K split in 16 chunks 0.21 vs 0.26 ms).
  const bool wgmma = slice == 64 && a.kernel != LightningPrefillKernel::kMmaSync;
  PrefillParams p{reinterpret_cast<const __nv_bfloat16 *>(a.in.q),
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
  if (split) {
    p.chunk_states = a.workspace;
    p.chunk_tokens = chunk_tokens;
    p.max_chunks = max_chunks;
    p.sub_chunks = sub_chunks;
    M1_RETURN_IF_ERROR(launch_chunk_states(p, a.workspace, a.n_seqs, a.n_heads, s));
  }
  // Template and kernel instances, listed here only: mma.sync at value slices 64 and 32, wgmma at 64.
  if (slice == 64) return wgmma ? launch_prefill_wgmma(p, a.n_seqs, a.n_heads, s) : launch_prefill<64>(p, a.n_seqs, a.n_heads, s);
#if M1_CUDA_ALL_VARIANTS
  return launch_prefill<32>(p, a.n_seqs, a.n_heads, s);
#else
  return launch_prefill<64>(p, a.n_seqs, a.n_heads, s);
#endif
}

}  // namespace m1::kernels::gpu
