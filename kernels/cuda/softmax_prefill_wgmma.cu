// Causal softmax attention prefill over a paged KV cache on Hopper warpgroup MMAs (sm_90a wgmma),
// the launcher's default (kernels/softmax_attention_gpu.h; the mma.sync kernel in softmax_prefill.cu
// stays for comparison). Thread block = 128 query rows of one head of one sequence's chunk:
//   - warps 0-7: two consumer warpgroups of 64 query rows each. Q stays in registers (the A operand);
//     per 64-key tile S = Q K^T is 8 wgmma m64n64k16 (K from shared memory, K-major), the online
//     softmax runs on the accumulators in registers (scores in log2 units, exp2 with log2(e) folded
//     into the scale, masking only on diagonal tiles), P is packed to bf16 in registers and
//     O += P V is 8 wgmma m64n64k16 with P as the register A operand and V read transposed from
//     shared memory. The P V of tile j and the S of tile j + 1 are issued back to back, so the
//     tensor cores stay busy while this warpgroup waits and the other one runs its softmax.
//   - warps 8-11: the producer warpgroup. It gathers 64-key K and V tiles row by row from the cache
//     pages with cp.async into a 4-stage ring of 128-byte-swizzled tiles; "full" mbarriers tell the
//     consumers a stage landed (signalled after the producer's own wait on the copies and a proxy
//     fence, so that wgmma, an async-proxy reader, sees them), "empty" mbarriers tell the producer a
//     stage is free. The two consumer warpgroups never meet at a block-wide barrier.
// Heads vary fastest in the grid and query tiles run latest first, so the blocks with the most key
// tiles start first over all heads, and the 8 heads sharing a KV head read its tiles at about the
// same time (from L2). Roundings: P to bf16 for P V, O to bf16.
#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mbarrier.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/softmax_prefill_wgmma.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace m1::kernels::gpu {
namespace {

using cuda::cp_async_16;
using cuda::mbarrier_arrive;
using cuda::mbarrier_init;
using cuda::mbarrier_wait;
using cuda::pack_bf16x2;
using cuda::smem_address;

constexpr int kD = kSoftmaxHeadDim;
constexpr int kG = kSoftmaxGroup;
constexpr int kRows = 128;  // query rows per block: 2 warpgroups x 64
constexpr int kKeys = 64;   // keys per tile
constexpr int kStages = 4;  // K/V tiles in the ring
constexpr int kConsumerWarps = 8;
constexpr int kThreads = (kConsumerWarps + 4) * 32;
// Registers per thread after the warpgroups re-balance them (setmaxnreg; 168 at entry for 384
// threads): 2 x 128 x 232 + 128 x 40 <= 64K.
constexpr int kConsumerRegs = 232, kProducerRegs = 40;
constexpr int kPanelElems = kKeys * 64;       // one 64-wide column panel of a tile: 8 KB
constexpr int kStageElems = 4 * kPanelElems;  // K panels 0, 1, then V panels 0, 1: 32 KB
constexpr int kQStride = kD + 8;              // padded Q rows (272 B): conflict-free ldmatrix
constexpr int kQBytes = kRows * kQStride * 2;
constexpr int kSmemBytes = 1024 + kStages * kStageElems * 2 + kQBytes + 2 * kStages * 8;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

struct Tile {
  int seq, head, kv_head, row_begin, q_row0;  // q_row0: this block's first row within the chunk
  int n_rows, pos0, kv_len, n_tiles;          // pos0: position of that row; n_tiles: key tiles loaded
};

// Producer (one warpgroup): key tiles 0..n_tiles-1 into the ring. Warp pw copies tile rows
// 16 pw .. 16 pw + 15: lane l computes the cache row of row 16 pw + l % 16, then 16 lanes copy one
// 256-byte K row and one V row per step, two rows a step. Rows at or past kv_len are zero-filled.
__device__ void produce(const PagedPrefillArgs & a, const Tile & tl, Bf16 * ring, uint64_t * full,
                        uint64_t * empty) {
  const PagedKvCache & c = a.cache;
  const int lane = threadIdx.x % 32, c16 = lane % 16, sub = lane / 16, pw = (threadIdx.x / 32) % 4;
  const int32_t * table = c.block_table + static_cast<int64_t>(tl.seq) * c.max_pages;
  const __nv_bfloat16 * k = reinterpret_cast<const __nv_bfloat16 *>(c.k);
  const __nv_bfloat16 * v = reinterpret_cast<const __nv_bfloat16 *>(c.v);
  const int panel_off = (c16 / 8) * kPanelElems;
  for (int j = 0; j < tl.n_tiles; ++j) {
    const int s = j % kStages;
    if (j >= kStages) mbarrier_wait(&empty[s], (j / kStages - 1) & 1);
    const int t = j * kKeys + 16 * pw + c16;
    const int cache_row = t < tl.kv_len ? table[t / c.page_size] * c.page_size + t % c.page_size : -1;
    __nv_bfloat16 * ks = reinterpret_cast<__nv_bfloat16 *>(ring) + s * kStageElems + panel_off;
    __nv_bfloat16 * vs = ks + 2 * kPanelElems;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int r = 16 * pw + 2 * i + sub;
      const int row = __shfl_sync(0xffffffffu, cache_row, 2 * i + sub);
      const int64_t src =
          row < 0 ? 0 : (static_cast<int64_t>(row) * c.n_kv_heads + tl.kv_head) * kD + c16 * 8;
      const int dst = r * 64 + ((c16 % 8) ^ (r % 8)) * 8;
      cp_async_16(ks + dst, k + src, row >= 0);
      cp_async_16(vs + dst, v + src, row >= 0);
    }
    cuda::cp_async_commit();
    if (j >= 2) {  // tile j - 2 has landed: make it visible to wgmma and signal it
      cuda::cp_async_wait<2>();
      cuda::fence_proxy_async();
      mbarrier_arrive(&full[(j - 2) % kStages]);
    }
  }
  if (tl.n_tiles >= 2) {
    cuda::cp_async_wait<1>();
    cuda::fence_proxy_async();
    mbarrier_arrive(&full[(tl.n_tiles - 2) % kStages]);
  }
  cuda::cp_async_wait<0>();
  cuda::fence_proxy_async();
  mbarrier_arrive(&full[(tl.n_tiles - 1) % kStages]);
}

// S = Q K^T for one stage: 8 K steps of 16 dims; K step kk reads panel kk / 4 at byte 32 (kk % 4).
__device__ __forceinline__ void issue_scores(float (&sc)[8][4], const uint32_t (&qf)[8][4],
                                             const __nv_bfloat16 * ks) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk)
    cuda::wgmma_m64n64k16_rs<0>(
        sc, qf[kk], cuda::wgmma_descriptor_sw128(ks + (kk / 4) * kPanelElems + (kk % 4) * 16), kk > 0);
}

// O += P V for one stage: 4 key steps of 16 (2 KB apart) x the two 64-wide value panels.
__device__ __forceinline__ void issue_pv(float (&o)[2][8][4], const uint32_t (&pa)[4][4],
                                         const __nv_bfloat16 * vs) {
#pragma unroll
  for (int kt = 0; kt < kKeys / 16; ++kt)
#pragma unroll
    for (int p = 0; p < 2; ++p)
      cuda::wgmma_m64n64k16_rs<1>(o[p], pa[kt],
                                  cuda::wgmma_descriptor_sw128_mn64(vs + p * kPanelElems + kt * 16 * 64), 1);
}

// This warp's 16 Q rows (rows past the chunk zero-filled) through its shared-memory rows into the
// A fragments of the 8 K steps.
__device__ __forceinline__ void load_q(const PagedPrefillArgs & a, const Tile & tl, __nv_bfloat16 * my_q,
                                       uint32_t (&qf)[kD / 16][4]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = lane; i < 16 * (kD / 8); i += 32) {
    const int r = i / (kD / 8), ch = i % (kD / 8), row = warp * 16 + r;
    const bool valid = row < tl.n_rows;
    const int64_t off = static_cast<int64_t>(tl.row_begin + tl.q_row0 + (valid ? row : 0)) * a.q_row_stride +
                        tl.head * kD + ch * 8;
    cp_async_16(my_q + r * kQStride + ch * 8, a.q + off, valid);
  }
  cuda::cp_async_commit();
  cuda::cp_async_wait<0>();
  __syncwarp();
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk)
    cuda::ldmatrix_x4(qf[kk],
                      my_q + ((lane & 7) + ((lane >> 3) & 1) * 8) * kQStride + kk * 16 + (lane >> 4) * 8);
}

// Normalizes this warp's 16 output rows by their sums, stages them in its shared-memory rows and
// stores the rows inside the chunk 16 bytes at a time.
__device__ __forceinline__ void store_output(const PagedPrefillArgs & a, const Tile & tl,
                                             const float (&o)[2][8][4], float l0, float l1,
                                             __nv_bfloat16 * my_q) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, off);
    l1 += __shfl_xor_sync(0xffffffffu, l1, off);
  }
  const float inv0 = 1.f / l0, inv1 = 1.f / l1;
#pragma unroll
  for (int p = 0; p < 2; ++p)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const int col = p * 64 + nt * 8 + 2 * t;
      *reinterpret_cast<uint32_t *>(my_q + g * kQStride + col) =
          pack_bf16x2(o[p][nt][0] * inv0, o[p][nt][1] * inv0);
      *reinterpret_cast<uint32_t *>(my_q + (g + 8) * kQStride + col) =
          pack_bf16x2(o[p][nt][2] * inv1, o[p][nt][3] * inv1);
    }
  __syncwarp();
  for (int i = lane; i < 16 * (kD / 8); i += 32) {
    const int r = i / (kD / 8), ch = i % (kD / 8), row = warp * 16 + r;
    if (row < tl.n_rows)
      *reinterpret_cast<uint4 *>(
          a.out + static_cast<int64_t>(tl.row_begin + tl.q_row0 + row) * a.out_row_stride + tl.head * kD +
          ch * 8) = *reinterpret_cast<const uint4 *>(my_q + r * kQStride + ch * 8);
  }
}

// Consumer warp: rows 16 * warp .. + 15 of the block; its warpgroup computes tiles 0..n_mine-1
// and then only releases the stages of any further tiles the producer loads.
__device__ void consume(const PagedPrefillArgs & a, const Tile & tl, const Bf16 * ring, __nv_bfloat16 * qs,
                        uint64_t * full, uint64_t * empty) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wg = warp / 4;
  const __nv_bfloat16 * stages = reinterpret_cast<const __nv_bfloat16 *>(ring);

  __nv_bfloat16 * my_q = qs + warp * 16 * kQStride;
  uint32_t qf[kD / 16][4];
  load_q(a, tl, my_q, qf);

  // Tiles this warpgroup computes: up to its last valid row's position. A warpgroup with no valid
  // rows (a short last query tile) still runs tile 0, which the producer always loads, so that
  // every wgmma sits on a path all warpgroups take (ptxas serializes wgmma on divergent paths).
  const int wg_row0 = wg * 64;
  const int n_mine = (tl.pos0 + max(1, min(tl.n_rows, wg_row0 + 64)) - 1) / kKeys + 1;
  const int wg_pos0 = tl.pos0 + wg_row0;  // position of the warpgroup's first row
  const int qpos0 = tl.pos0 + warp * 16 + g, qpos1 = qpos0 + 8;
  const float scale = kLog2e * rsqrtf(static_cast<float>(kD)) * a.q_scale;
  float o[2][8][4] = {};
  float sc[8][4];
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // row maxima in raw score units

  mbarrier_wait(&full[0], 0);
  cuda::wgmma_fence();
  issue_scores(sc, qf, stages);
  cuda::wgmma_commit();
  cuda::wgmma_wait_all();
  cuda::wgmma_fence_operand(sc);

  // Tile j: softmax of its scores (in sc), then P V; with a next tile, its scores right behind.
  auto step = [&](int j, auto has_next) {
    const int s = j % kStages;
    // mask (diagonal tiles only), row maxima, rescale of the running sum and output
    if ((j + 1) * kKeys - 1 > wg_pos0) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int kpos = j * kKeys + nt * 8 + 2 * t;
        if (kpos > qpos0) sc[nt][0] = -INFINITY;
        if (kpos + 1 > qpos0) sc[nt][1] = -INFINITY;
        if (kpos > qpos1) sc[nt][2] = -INFINITY;
        if (kpos + 1 > qpos1) sc[nt][3] = -INFINITY;
      }
    }
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      mx0 = fmaxf(mx0, fmaxf(sc[nt][0], sc[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(sc[nt][2], sc[nt][3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    const float c0 = fast_exp2((m0 - mx0) * scale),
                c1 = fast_exp2((m1 - mx1) * scale);  // 0 on the first tile
    m0 = mx0, m1 = mx1;
    const float ms0 = m0 * scale, ms1 = m1 * scale;
    l0 *= c0, l1 *= c1;
#pragma unroll
    for (int p = 0; p < 2; ++p)
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
        o[p][nt][0] *= c0, o[p][nt][1] *= c0, o[p][nt][2] *= c1, o[p][nt][3] *= c1;
    // P in bf16, in the A layout: key step kt = score tiles 2kt (a0, a1) and 2kt + 1 (a2, a3)
    uint32_t pa[kKeys / 16][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const float p0 = fast_exp2(fmaf(sc[nt][0], scale, -ms0)), p1 = fast_exp2(fmaf(sc[nt][1], scale, -ms0));
      const float p2 = fast_exp2(fmaf(sc[nt][2], scale, -ms1)), p3 = fast_exp2(fmaf(sc[nt][3], scale, -ms1));
      l0 += p0 + p1, l1 += p2 + p3;
      pa[nt / 2][(nt % 2) * 2] = pack_bf16x2(p0, p1);
      pa[nt / 2][(nt % 2) * 2 + 1] = pack_bf16x2(p2, p3);
    }
    if (decltype(has_next)::value) mbarrier_wait(&full[(j + 1) % kStages], ((j + 1) / kStages) & 1);
    cuda::wgmma_fence_operand(o[0]);
    cuda::wgmma_fence_operand(o[1]);
    cuda::wgmma_fence();
    issue_pv(o, pa, stages + s * kStageElems + 2 * kPanelElems);
    cuda::wgmma_commit();
    if (decltype(has_next)::value) {
      issue_scores(sc, qf, stages + ((j + 1) % kStages) * kStageElems);
      cuda::wgmma_commit();
    }
    cuda::wgmma_wait_all();
    cuda::wgmma_fence_operand(o[0]);
    cuda::wgmma_fence_operand(o[1]);
    cuda::wgmma_fence_operand(sc);
    if (lane == 0) mbarrier_arrive(&empty[s]);
  };
  for (int j = 0; j + 1 < n_mine; ++j) step(j, std::true_type());
  step(n_mine - 1, std::false_type());
  for (int j = n_mine; j < tl.n_tiles; ++j) {  // tiles past this warpgroup's rows: release only
    mbarrier_wait(&full[j % kStages], (j / kStages) & 1);
    if (lane == 0) mbarrier_arrive(&empty[j % kStages]);
  }

  store_output(a, tl, o, l0, l1, my_q);
}

__global__ void __launch_bounds__(kThreads, 1) paged_prefill_wgmma_kernel(PagedPrefillArgs a, int n_q_tiles) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  // The 128-byte swizzle needs 1024-byte aligned tiles: round the dynamic base up.
  const uint32_t misalign = smem_address(smem_raw) & 1023u;
  Bf16 * ring = reinterpret_cast<Bf16 *>(smem_raw + (misalign ? 1024 - misalign : 0));
  __nv_bfloat16 * qs = reinterpret_cast<__nv_bfloat16 *>(ring) + kStages * kStageElems;
  uint64_t * full = reinterpret_cast<uint64_t *>(reinterpret_cast<unsigned char *>(qs) + kQBytes);
  uint64_t * empty = full + kStages;

  Tile tl;
  const int q_tile = n_q_tiles - 1 - static_cast<int>(blockIdx.y);
  tl.seq = blockIdx.z;
  tl.head = blockIdx.x;
  tl.kv_head = tl.head / kG;
  tl.row_begin = a.seq_starts[tl.seq];
  const int chunk_len = a.seq_starts[tl.seq + 1] - tl.row_begin;
  tl.q_row0 = q_tile * kRows;
  if (tl.q_row0 >= chunk_len) return;
  const int chunk_pos = a.chunk_pos[tl.seq];
  tl.n_rows = min(kRows, chunk_len - tl.q_row0);
  tl.pos0 = chunk_pos + tl.q_row0;
  tl.kv_len = chunk_pos + chunk_len;
  tl.n_tiles = (tl.pos0 + tl.n_rows - 1) / kKeys + 1;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&full[s], 128);              // every producer thread, once its copies landed
      mbarrier_init(&empty[s], kConsumerWarps);  // one lane of every consumer warp
    }
  }
  __syncthreads();
  if (threadIdx.x / 32 >= kConsumerWarps) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
    produce(a, tl, ring, full, empty);
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs));
    consume(a, tl, ring, qs, full, empty);
  }
}

}  // namespace

Status launch_paged_prefill_wgmma(const PagedPrefillArgs & a, cudaStream_t stream) {
  const int n_q_tiles = (a.max_chunk_len + kRows - 1) / kRows;
  M1_CUDA_STATUS(cudaFuncSetAttribute(paged_prefill_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      kSmemBytes));
  paged_prefill_wgmma_kernel<<<dim3(a.n_heads, n_q_tiles, a.n_seqs), kThreads, kSmemBytes, stream>>>(
      a, n_q_tiles);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
