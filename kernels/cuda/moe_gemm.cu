// Grouped expert GEMMs over device-side expert offsets (kernels/moe_gemm_gpu.h).
//   tensor:    one block per (expert, 128-row tile, 256-weight-row tile); the block finds its tile
//              from the offsets (warp 0 scans per-expert tile counts), so the grid is sized by an
//              upper bound (n_rows / 128 + n_experts row tiles) and surplus blocks exit. Two
//              warpgroups each run wgmma m64n256k16 on a 4-stage cp.async pipeline (64-wide K
//              steps, tiles in the 128-byte swizzle; the unswizzled core-matrix layout measured 3x
//              slower on the H100, from shared-memory bank conflicts). Within an expert the
//              row tile varies fastest, so a weight tile stays in L2 while the expert's rows pass.
//              With swiglu a block's 256 weight rows are 128 gate rows and the matching 128 up
//              rows, so silu(g) * u is formed in registers and the 2n-wide product never exists.
//   streaming: kStreamSplit warps per weight row (or gate/up pair) of one expert, each streaming a
//              contiguous part of the row with 16-byte loads against up to 8 of the expert's rows
//              at a time from L1/L2, the parts' sums added in shared memory; for decode batches,
//              where a tensor tile of 128 rows would be nearly empty.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scalar_math.cuh"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/moe_gemm_gpu.h"

namespace m1::kernels::gpu {
namespace {

constexpr int kMaxExperts = 256;

using cuda::silu;
using cuda::round_bf16;
// The bf16 reference's act_fn(w1 x) * w3 x with both products already rounded to bf16.
__device__ __forceinline__ float swiglu_value(float g, float u) {
  return round_bf16(silu(round_bf16(g))) * round_bf16(u);
}

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel.

constexpr int kBM = 128, kBN = 256, kBK = 64, kStages = 4, kThreads = 256;
constexpr int kATileElems = kBM * kBK, kBTileElems = kBN * kBK, kStageElems = kATileElems + kBTileElems;
constexpr int kSmemBytes = kStages * kStageElems * 2 + 1024;  // + alignment slack

struct TensorParams {
  MoeGemmArgs a;
  int n_tiles;          // weight-row tiles per expert
  int rows_per_expert;  // weight rows per expert: 2n with swiglu, else n
};

struct Tile {
  int expert, row_begin, row_end, n_tile;  // expert < 0: no work for this block
};

// Warp 0: the tile of block `linear` (experts in order, m_tiles(e) * n_tiles blocks each, the row
// tile fastest), published in shared memory.
__device__ void find_tile(const TensorParams & p, int linear, Tile & out) {
  const int lane = threadIdx.x;
  int base = 0;
  bool found = false;
  for (int e0 = 0; e0 < p.a.n_experts && !found; e0 += 32) {
    const int e = e0 + lane;
    int begin = 0, end = 0;
    if (e < p.a.n_experts) begin = p.a.expert_offsets[e], end = p.a.expert_offsets[e + 1];
    const int m_tiles = (end - begin + kBM - 1) / kBM, blocks = m_tiles * p.n_tiles;
    int incl = blocks;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    const int before = base + incl - blocks;
    const bool mine = blocks > 0 && linear >= before && linear < before + blocks;
    if (mine) {
      const int local = linear - before;
      out = {e, begin + (local % m_tiles) * kBM, end, local / m_tiles};
    }
    found = __ballot_sync(0xffffffffu, mine) != 0;
    base += __shfl_sync(0xffffffffu, incl, 31);
  }
  if (!found && lane == 0) out.expert = -1;
}

__device__ __forceinline__ void wgmma_wait_one() { asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory"); }

template <bool kSwiglu>
__global__ void __launch_bounds__(kThreads, 1) moe_gemm_tensor_kernel(TensorParams p) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  // The 128-byte swizzle needs 1024-byte aligned tiles: round the dynamic base up.
  const uint32_t misalign = cuda::smem_address(smem_raw) & 1023u;
  Bf16 * smem = reinterpret_cast<Bf16 *>(smem_raw + (misalign ? 1024 - misalign : 0));
  __shared__ Tile tile;
  if (threadIdx.x < 32) find_tile(p, blockIdx.x, tile);
  __syncthreads();
  if (tile.expert < 0) return;
  const MoeGemmArgs & a = p.a;
  const int tid = threadIdx.x, k = a.k;
  // This thread copies smem chunks tid + 256 j of each tile (consecutive threads fill consecutive
  // 16 bytes): row tid / 8 + 32 j, K chunk tid % 8, stored at chunk (tid % 8) ^ (row % 8).
  const int row0 = tid / 8, kc = (tid % 8) * 8;
  const int dst0 = row0 * kBK + ((tid % 8) ^ (row0 % 8)) * 8;  // + 32 j rows
  const Bf16 * a_src[kBM / 32];
  const Bf16 * b_src[kBN / 32];
  uint32_t valid = 0;
#pragma unroll
  for (int j = 0; j < kBM / 32; ++j) {
    const int row = tile.row_begin + row0 + 32 * j;
    const bool ok = row < tile.row_end;
    a_src[j] = a.in + (ok ? int64_t(row) * a.in_stride + kc : 0);
    valid |= uint32_t(ok) << j;
  }
#pragma unroll
  for (int j = 0; j < kBN / 32; ++j) {
    const int r = row0 + 32 * j;
    int col = kSwiglu ? tile.n_tile * (kBN / 2) + r % (kBN / 2) : tile.n_tile * kBN + r;
    const bool ok = col < a.n;
    if (kSwiglu && r >= kBN / 2) col += a.n;
    b_src[j] = a.weights + (ok ? (int64_t(tile.expert) * p.rows_per_expert + col) * k + kc : 0);
    valid |= uint32_t(ok) << (kBM / 32 + j);
  }
  auto load_stage = [&](int kt, int buf) {
    Bf16 * sa = smem + buf * kStageElems, * sb = sa + kATileElems;
    const int kcol = kt * kBK;
    const bool k_ok = kcol + kc < k;
#pragma unroll
    for (int j = 0; j < kBM / 32; ++j) {
      const bool ok = k_ok && (valid >> j & 1u);
      cuda::cp_async_16(sa + dst0 + 32 * kBK * j, ok ? a_src[j] + kcol : a.in, ok);
    }
#pragma unroll
    for (int j = 0; j < kBN / 32; ++j) {
      const bool ok = k_ok && (valid >> (kBM / 32 + j) & 1u);
      cuda::cp_async_16(sb + dst0 + 32 * kBK * j, ok ? b_src[j] + kcol : a.weights, ok);
    }
  };
  // The descriptor of K step kk (16 columns, 32 bytes on inside the swizzled 128-byte rows).
  auto descriptor = [](const Bf16 * tile_base, int kk) { return cuda::wgmma_descriptor_sw128(tile_base + kk * 16); };

  const int n_k = (k + kBK - 1) / kBK, wg = tid / 128;
  float acc[32][4];
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
  // Three stages are loaded ahead of the one being multiplied; a buffer is refilled right after
  // the wgmma that last read it has finished in both warpgroups (the second barrier of a step).
  // Two ahead with one barrier per step (refilling the buffer of step kt - 2) measured as fast at
  // 4K tokens and 8% slower at 32K (H100, 2026-11-26).
  constexpr int kAhead = kStages - 1;
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    if (s < n_k) load_stage(s, s);
    cuda::cp_async_commit();
  }
  for (int kt = 0; kt < n_k; ++kt) {
    cuda::cp_async_wait<kAhead - 1>();  // stage kt has landed (this thread's part)
    cuda::fence_proxy_async();
    __syncthreads();  // every part has
    const Bf16 * sa = smem + (kt % kStages) * kStageElems + wg * 64 * kBK, * sb = smem + (kt % kStages) * kStageElems + kATileElems;
    cuda::wgmma_fence_operand(acc);
    cuda::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)
      cuda::wgmma_m64n256k16(acc, descriptor(sa, kk), descriptor(sb, kk), 1);
    cuda::wgmma_commit();
    wgmma_wait_one();  // step kt - 1 done here; after the barrier, in both warpgroups
    cuda::wgmma_fence_operand(acc);
    __syncthreads();
    if (kt + kAhead < n_k) load_stage(kt + kAhead, (kt + kAhead) % kStages);  // the buffer of step kt - 1
    cuda::cp_async_commit();
  }
  cuda::wgmma_wait_all();
  cuda::wgmma_fence_operand(acc);

  const int warp = (tid / 32) % 4, g = (tid % 32) / 4, t = tid % 4;
  const int r_lo = tile.row_begin + wg * 64 + 16 * warp + g, r_hi = r_lo + 8;
  uint16_t * out = reinterpret_cast<uint16_t *>(a.out);
  if constexpr (kSwiglu) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int col = tile.n_tile * (kBN / 2) + 8 * j + 2 * t;
      if (col >= a.n) continue;
      if (r_lo < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_lo) * a.out_stride + col) = cuda::pack_bf16x2(
            swiglu_value(acc[j][0], acc[j + 16][0]), swiglu_value(acc[j][1], acc[j + 16][1]));
      if (r_hi < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_hi) * a.out_stride + col) = cuda::pack_bf16x2(
            swiglu_value(acc[j][2], acc[j + 16][2]), swiglu_value(acc[j][3], acc[j + 16][3]));
    }
  } else {
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = tile.n_tile * kBN + 8 * j + 2 * t;
      if (col >= a.n) continue;
      if (r_lo < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_lo) * a.out_stride + col) = cuda::pack_bf16x2(acc[j][0], acc[j][1]);
      if (r_hi < tile.row_end)
        *reinterpret_cast<uint32_t *>(out + int64_t(r_hi) * a.out_stride + col) = cuda::pack_bf16x2(acc[j][2], acc[j][3]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Streaming kernel.

constexpr int kStreamWarps = 8, kStreamRows = 8, kStreamUnroll = 4;
// Warps sharing one weight row (or gate/up pair): each streams a contiguous 1/kStreamSplit of k and
// their fp32 partial sums meet in shared memory, added in split order (deterministic). Measured on
// an H100 (BENCHMARKS.md), split 1 / 2 / 4: batch 1 (2 experts) 81 / 82 / 81% of copy, batch 16
// 101 / 99 / 97%, batch 64 (32 experts) 69 / 79 / 81%.
constexpr int kStreamSplit = 2;
constexpr int kStreamRowsPerBlock = kStreamWarps / kStreamSplit;  // weight rows (or pairs) per block
static_assert(kStreamWarps % kStreamSplit == 0, "the warps of a row must all be in one block");
static_assert(kStreamRowsPerBlock < 16, "one named barrier per row, 1 to 15 (0 is __syncthreads)");

using cuda::dot8;
using cuda::load_streaming;

// The index of the which-th expert (counting from 0) that has rows, or -1.
__device__ int nth_used_expert(const int32_t * offsets, int n_experts, int which) {
  const int lane = threadIdx.x % 32;
  int seen = 0;
  for (int e0 = 0; e0 < n_experts; e0 += 32) {
    const int e = e0 + lane;
    const unsigned used = __ballot_sync(0xffffffffu, e < n_experts && offsets[e + 1] > offsets[e]);
    const int count = __popc(used);
    if (which < seen + count) return e0 + int(__fns(used, 0, which - seen + 1));
    seen += count;
  }
  return -1;
}

// Adds this lane's part of columns [c_begin, c_end) of the weight row(s) times rows r0 .. r0 + nr - 1
// of `in` into g (and u); the lane's columns start at c_begin + 8 lane, 256 apart.
template <bool kSwiglu>
__device__ __forceinline__ void stream_columns(const MoeGemmArgs & a, const Bf16 * w_gate, const Bf16 * w_up, int r0,
                                               int nr, int c_begin, int c_end, float (&g)[kStreamRows],
                                               float (&u)[kSwiglu ? kStreamRows : 1]) {
  for (int c0 = c_begin + (threadIdx.x % 32) * 8; c0 < c_end; c0 += 256 * kStreamUnroll) {
    uint4 wg[kStreamUnroll], wu[kSwiglu ? kStreamUnroll : 1];
#pragma unroll
    for (int i = 0; i < kStreamUnroll; ++i) {  // all weight loads in flight before the first use
      const int c = c0 + 256 * i;
      wg[i] = c < c_end ? load_streaming(w_gate + c) : make_uint4(0, 0, 0, 0);
      if constexpr (kSwiglu) wu[i] = c < c_end ? load_streaming(w_up + c) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int i = 0; i < kStreamUnroll; ++i) {
      const int c = c0 + 256 * i;
      if (c >= c_end) break;
      float fg[8], fu[8];
      cuda::unpack_bf16x8(wg[i], fg);
      if constexpr (kSwiglu) cuda::unpack_bf16x8(wu[i], fu);
#pragma unroll
      for (int r = 0; r < kStreamRows; ++r) {
        if (r >= nr) break;
        const uint4 x = *reinterpret_cast<const uint4 *>(a.in + int64_t(r0 + r) * a.in_stride + c);
        g[r] = dot8(fg, x, g[r]);
        if constexpr (kSwiglu) u[r] = dot8(fu, x, u[r]);
      }
    }
  }
}

// Waits until the kStreamSplit warps of one weight row arrive; their shared-memory writes before
// it are visible to all of them after it.
__device__ __forceinline__ void row_barrier(int id) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "n"(kStreamSplit * 32) : "memory");
}

// Block y works on the y-th expert that has rows (the grid has min(n_experts, n_rows) rows of
// blocks, so a decode step launches no blocks for the experts nobody chose). Block x holds the
// kStreamRowsPerBlock weight rows (gate/up pairs with swiglu) from kStreamRowsPerBlock x on, each
// streamed by kStreamSplit consecutive warps: split s takes columns [s seg, (s + 1) seg) of k, seg
// the smallest multiple of 256 that covers k in kStreamSplit parts (so every warp-wide load stays
// 512-byte aligned to the row start), the last parts short or empty when k is not a multiple of
// kStreamSplit * 256. The rows of `in` pass kStreamRows at a time.
template <bool kSwiglu>
__global__ void __launch_bounds__(kStreamWarps * 32, 3) moe_gemm_streaming_kernel(MoeGemmArgs a, int rows_per_expert) {
  __shared__ int expert;
  if (threadIdx.x < 32) {
    const int e = nth_used_expert(a.expert_offsets, a.n_experts, blockIdx.y);
    if (threadIdx.x == 0) expert = e;
  }
  __syncthreads();
  const int e = expert;
  if (e < 0) return;
  const int begin = a.expert_offsets[e], end = a.expert_offsets[e + 1];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, split = warp % kStreamSplit;
  const int j = blockIdx.x * kStreamRowsPerBlock + warp / kStreamSplit;
  if (j >= a.n) return;  // with all the warps of its row, so no barrier below waits for it
  const int k = a.k, seg = (k + 256 * kStreamSplit - 1) / (256 * kStreamSplit) * 256;
  const int c_begin = split * seg, c_end = min(k, c_begin + seg);
  const Bf16 * w_gate = a.weights + (int64_t(e) * rows_per_expert + j) * k;
  const Bf16 * w_up = w_gate + int64_t(a.n) * k;  // swiglu only
  for (int r0 = begin; r0 < end; r0 += kStreamRows) {
    const int nr = min(kStreamRows, end - r0);
    float g[kStreamRows] = {}, u[kSwiglu ? kStreamRows : 1] = {};
    stream_columns<kSwiglu>(a, w_gate, w_up, r0, nr, c_begin, c_end, g, u);
#pragma unroll
    for (int r = 0; r < kStreamRows; ++r) {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        g[r] += __shfl_xor_sync(0xffffffffu, g[r], o);
        if constexpr (kSwiglu) u[r] += __shfl_xor_sync(0xffffffffu, u[r], o);
      }
    }
    // Partial sums [gate / up][warp][row of the pass], two buffers by pass parity: a pass writes
    // one while the previous pass's sums may still be read from the other, and the barrier of the
    // pass between orders each buffer's reuse after its reads. The barrier is the row's own (named
    // barrier 1 + row, its kStreamSplit warps), so rows never wait for each other.
    __shared__ float partial[2][kSwiglu ? 2 : 1][kStreamWarps][kStreamRows];
    float(&p)[kSwiglu ? 2 : 1][kStreamWarps][kStreamRows] = partial[((r0 - begin) / kStreamRows) & 1];
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kStreamRows; ++r) {
        p[0][warp][r] = g[r];
        if constexpr (kSwiglu) p[1][warp][r] = u[r];
      }
    }
    row_barrier(1 + warp / kStreamSplit);
    if (split == 0 && lane < nr) {  // lane r finishes row r0 + r of the pass
      float gs = p[0][warp][lane], us = kSwiglu ? p[kSwiglu ? 1 : 0][warp][lane] : 0.f;
#pragma unroll
      for (int s = 1; s < kStreamSplit; ++s) {
        gs += p[0][warp + s][lane];
        if constexpr (kSwiglu) us += p[1][warp + s][lane];
      }
      const float v = kSwiglu ? swiglu_value(gs, us) : gs;
      reinterpret_cast<__nv_bfloat16 *>(a.out)[int64_t(r0 + lane) * a.out_stride + j] = __float2bfloat16_rn(v);
    }
  }
}

Status check_args(const MoeGemmArgs & a) {
  constexpr const char * kName = "moe_expert_gemm";
  M1_RETURN_IF_ERROR(cuda::require(a.n_rows >= 0, kName, "n_rows must not be negative"));
  M1_RETURN_IF_ERROR(cuda::require(a.n_experts > 0 && a.n_experts <= kMaxExperts, kName,
                                   "n_experts " + std::to_string(a.n_experts) + " must be in [1, 256]"));
  M1_RETURN_IF_ERROR(cuda::require(a.n > 0 && a.n % 8 == 0 && a.k > 0 && a.k % 8 == 0, kName,
                                   "n " + std::to_string(a.n) + " and k " + std::to_string(a.k) +
                                       " must be positive multiples of 8"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "in", a.in, a.in_stride, a.k));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_stride, a.n));
  M1_RETURN_IF_ERROR(cuda::require(a.weights && cuda::aligned16(a.weights), kName, "weights must be set and 16-byte aligned"));
  return cuda::require(a.expert_offsets != nullptr, kName, "expert_offsets must be set");
}

}  // namespace

Status moe_expert_gemm(const MoeGemmArgs & a, Stream stream) {
  M1_RETURN_IF_ERROR(check_args(a));
  if (a.n_rows == 0) return {};
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int rows_per_expert = a.swiglu ? 2 * a.n : a.n;
  const bool streaming = a.kernel == MoeGemmKernel::streaming ||
                         (a.kernel == MoeGemmKernel::automatic && a.n_rows <= kMoeStreamingMaxRows);
  if (streaming) {
    const dim3 grid(unsigned((a.n + kStreamRowsPerBlock - 1) / kStreamRowsPerBlock), unsigned(std::min(a.n_experts, a.n_rows)));
    if (a.swiglu) moe_gemm_streaming_kernel<true><<<grid, kStreamWarps * 32, 0, s>>>(a, rows_per_expert);
    else moe_gemm_streaming_kernel<false><<<grid, kStreamWarps * 32, 0, s>>>(a, rows_per_expert);
    M1_CUDA_STATUS(cudaGetLastError());
    return {};
  }
  const int tile_cols = a.swiglu ? kBN / 2 : kBN;
  const TensorParams p{a, (a.n + tile_cols - 1) / tile_cols, rows_per_expert};
  const int64_t blocks = (int64_t(a.n_rows + kBM - 1) / kBM + a.n_experts) * p.n_tiles;
  M1_RETURN_IF_ERROR(cuda::require(blocks < (int64_t(1) << 31), "moe_expert_gemm", "too many rows for one launch"));
  auto kernel = a.swiglu ? moe_gemm_tensor_kernel<true> : moe_gemm_tensor_kernel<false>;
  M1_CUDA_STATUS(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  kernel<<<unsigned(blocks), kThreads, kSmemBytes, s>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
