// Causal softmax attention prefill over a paged KV cache: the launcher, and the kernel on mma.sync
// (the default is the wgmma kernel of softmax_prefill_wgmma.cu; this one runs when pinned, for
// comparison). Flash-style on tensor cores (mma.sync
// m16n8k16, bf16 operands, fp32 accumulate and softmax). Thread block = 128 query rows of one head of
// one sequence's chunk (8 warps x 16 rows); it walks the 64-token key tiles up to its last query's
// position, double-buffering K and V tiles gathered row by row from the cache pages with cp.async,
// keeping an online softmax (running max and sum per row, scores in log2 units) and the 16 x 128
// output accumulator per warp in registers. Query tiles run latest first (most key tiles first).
// Roundings: the probabilities are rounded to bf16 for P V and the output to bf16.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/softmax_prefill_wgmma.cuh"
#include "kernels/softmax_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

using cuda::cp_async_16;
using cuda::ldmatrix_x4;
using cuda::ldmatrix_x4_trans;
using cuda::mma_bf16;
using cuda::pack_bf16x2;

constexpr int kD = kSoftmaxHeadDim;
constexpr int kG = kSoftmaxGroup;
// 128 query rows per block: 8 warps x 16 share each K/V tile. H100, 32K tokens: 229 TFLOP/s, vs
// 202 with 64 rows (4 warps, two blocks per SM) in the same run (BENCHMARKS.md).
constexpr int kRows = 128;
constexpr int kKeys = 64;            // keys per tile
constexpr int kThreads = 256;
constexpr int kStride = kD + 8;      // padded rows (272 B): conflict-free ldmatrix
constexpr int kTile = kKeys * kStride;
constexpr int kSmemBytes = (kRows + 4 * kKeys) * kStride * 2;  // Q + 2 x (K, V): 102 KB
constexpr float kLog2e = 1.4426950408889634f;

// Gathers keys [t0, t0 + 64) of kv_head into padded tiles; rows at or past kv_len are zero-filled.
__device__ __forceinline__ void load_kv_tile(const PagedPrefillArgs & a, __nv_bfloat16 * ks, __nv_bfloat16 * vs,
                                             int seq, int kv_head, int t0, int kv_len) {
  const PagedKvCache & c = a.cache;
  const int c16 = threadIdx.x % 16;
  constexpr int kRowsPerPass = kThreads / 16;
#pragma unroll
  for (int it = 0; it < kKeys / kRowsPerPass; ++it) {
    const int r = threadIdx.x / 16 + kRowsPerPass * it, t = t0 + r;
    const bool valid = t < kv_len;
    int64_t row = 0;
    if (valid) {
      const int page = c.block_table[static_cast<int64_t>(seq) * c.max_pages + t / c.page_size];
      row = ((static_cast<int64_t>(page) * c.page_size + t % c.page_size) * c.n_kv_heads + kv_head) * kD;
    }
    cp_async_16(ks + r * kStride + c16 * 8, c.k + row + c16 * 8, valid);
    cp_async_16(vs + r * kStride + c16 * 8, c.v + row + c16 * 8, valid);
  }
}

__global__ void __launch_bounds__(kThreads, 1) paged_prefill_kernel(PagedPrefillArgs a, int n_q_tiles) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 * qs = reinterpret_cast<__nv_bfloat16 *>(smem_raw);
  __nv_bfloat16 * kv = qs + kRows * kStride;  // K0, V0, K1, V1
  const int q_tile = n_q_tiles - 1 - static_cast<int>(blockIdx.x), head = blockIdx.y, seq = blockIdx.z;
  const int row_begin = a.seq_starts[seq], chunk_len = a.seq_starts[seq + 1] - row_begin;
  if (q_tile * kRows >= chunk_len) return;
  const int pos0 = a.chunk_pos[seq] + q_tile * kRows;  // position of this block's first query
  const int n_rows = min(kRows, chunk_len - q_tile * kRows);
  const int kv_len = a.chunk_pos[seq] + chunk_len;
  const int last_key = pos0 + n_rows - 1;
  const int n_tiles = last_key / kKeys + 1;
  const int kv_head = head / kG;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;

  // Q tile (rows past the chunk zero-filled), then the first K/V tile
  for (int i = threadIdx.x; i < kRows * (kD / 8); i += kThreads) {
    const int r = i / (kD / 8), c = i % (kD / 8);
    const bool valid = r < n_rows;
    const int64_t off = static_cast<int64_t>(row_begin + q_tile * kRows + (valid ? r : 0)) * a.q_row_stride + head * kD + c * 8;
    cp_async_16(qs + r * kStride + c * 8, a.q + off, valid);
  }
  load_kv_tile(a, kv, kv + kTile, seq, kv_head, 0, kv_len);
  cuda::cp_async_commit();

  const float scale = kLog2e * rsqrtf(static_cast<float>(kD)) * a.q_scale;
  const int qpos0 = pos0 + warp * 16 + g, qpos1 = qpos0 + 8;
  float o[kD / 8][4] = {};
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  uint32_t qf[kD / 16][4];

  for (int j = 0; j < n_tiles; ++j) {
    const int cur = j & 1;
    cuda::cp_async_wait<0>();
    __syncthreads();  // tile j (and Q) landed; every warp is done with tile j-1
    if (j + 1 < n_tiles) load_kv_tile(a, kv + (2 * (cur ^ 1)) * kTile, kv + (2 * (cur ^ 1) + 1) * kTile, seq, kv_head,
                                      (j + 1) * kKeys, kv_len);
    cuda::cp_async_commit();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk)
        ldmatrix_x4(qf[kk], qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + kk * 16 + (lane >> 4) * 8);
    }
    const __nv_bfloat16 * ks = kv + 2 * cur * kTile;
    const __nv_bfloat16 * vs = ks + kTile;

    float sc[kKeys / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4(bf, ks + (np * 16 + (lane & 7) + (lane >> 4) * 8) * kStride + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(sc[2 * np], qf[kk], bf[0], bf[1]);
        mma_bf16(sc[2 * np + 1], qf[kk], bf[2], bf[3]);
      }
    }
    // scale, causal mask, row maxima
    const bool diagonal = (j + 1) * kKeys - 1 > pos0;
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      const int kpos = j * kKeys + nt * 8 + 2 * t;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qpos = e < 2 ? qpos0 : qpos1;
        float x = sc[nt][e] * scale;
        if (diagonal && kpos + (e & 1) > qpos) x = -INFINITY;
        sc[nt][e] = x;
      }
      mx0 = fmaxf(mx0, fmaxf(sc[nt][0], sc[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(sc[nt][2], sc[nt][3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    const float c0 = exp2f(m0 - mx0), c1 = exp2f(m1 - mx1);  // 0 on the first tile (m = -inf)
    m0 = mx0, m1 = mx1;
    l0 *= c0, l1 *= c1;
#pragma unroll
    for (int nt = 0; nt < kD / 8; ++nt) o[nt][0] *= c0, o[nt][1] *= c0, o[nt][2] *= c1, o[nt][3] *= c1;

    // P V
#pragma unroll
    for (int kt = 0; kt < kKeys / 16; ++kt) {
      uint32_t pa[4];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int nt = 2 * kt + half;
        const float p0 = exp2f(sc[nt][0] - m0), p1 = exp2f(sc[nt][1] - m0);
        const float p2 = exp2f(sc[nt][2] - m1), p3 = exp2f(sc[nt][3] - m1);
        l0 += p0 + p1, l1 += p2 + p3;
        pa[half * 2] = pack_bf16x2(p0, p1);
        pa[half * 2 + 1] = pack_bf16x2(p2, p3);
      }
#pragma unroll
      for (int np = 0; np < kD / 16; ++np) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride + np * 16 + (lane >> 4) * 8);
        mma_bf16(o[2 * np], pa, bf[0], bf[1]);
        mma_bf16(o[2 * np + 1], pa, bf[2], bf[3]);
      }
    }
  }

  // normalize, stage through this warp's own Q rows, store 16 bytes at a time
#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, off);
    l1 += __shfl_xor_sync(0xffffffffu, l1, off);
  }
  const float inv0 = 1.f / l0, inv1 = 1.f / l1;
  __syncwarp();  // every lane's ldmatrix of these Q rows is done before any lane overwrites them
  __nv_bfloat16 * stage = qs + warp * 16 * kStride;
#pragma unroll
  for (int nt = 0; nt < kD / 8; ++nt) {
    *reinterpret_cast<uint32_t *>(stage + g * kStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][0] * inv0, o[nt][1] * inv0);
    *reinterpret_cast<uint32_t *>(stage + (g + 8) * kStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][2] * inv1, o[nt][3] * inv1);
  }
  __syncwarp();
  for (int i = lane; i < 16 * (kD / 8); i += 32) {
    const int r = i / (kD / 8), c = i % (kD / 8);
    const int row = q_tile * kRows + warp * 16 + r;
    if (row < chunk_len)
      *reinterpret_cast<uint4 *>(a.out + static_cast<int64_t>(row_begin + row) * a.out_row_stride + head * kD + c * 8) =
          *reinterpret_cast<const uint4 *>(stage + r * kStride + c * 8);
  }
}

}  // namespace

Status paged_prefill(const PagedPrefillArgs & a, Stream stream) {
  constexpr const char * kName = "paged_prefill";
  M1_RETURN_IF_ERROR(cuda::require(a.n_seqs > 0 && a.n_seqs <= 65535, kName, "n_seqs must be in [1, 65535]"));
  M1_RETURN_IF_ERROR(
      cuda::require(a.max_chunk_len <= 65535 * 128, kName, "max_chunk_len must be at most 65535 x 128"));
  M1_RETURN_IF_ERROR(cuda::require(a.cache.k && a.cache.v && a.cache.block_table && a.cache.page_size > 0 &&
                                       a.cache.max_pages > 0 && a.cache.n_kv_heads > 0,
                                   kName, "the cache must be set"));
  M1_RETURN_IF_ERROR(cuda::require(a.n_heads == kG * a.cache.n_kv_heads, kName,
                                   "n_heads " + std::to_string(a.n_heads) + " must be 8 x n_kv_heads"));
  M1_RETURN_IF_ERROR(cuda::require(cuda::aligned16(a.cache.k) && cuda::aligned16(a.cache.v), kName,
                                   "cache k and v must be 16-byte aligned"));
  M1_RETURN_IF_ERROR(cuda::require(a.seq_starts && a.chunk_pos && a.max_chunk_len > 0, kName,
                                   "seq_starts, chunk_pos and max_chunk_len must be set"));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "q", a.q, a.q_row_stride, static_cast<int64_t>(a.n_heads) * kD));
  M1_RETURN_IF_ERROR(cuda::require_vector_row(kName, "out", a.out, a.out_row_stride, static_cast<int64_t>(a.n_heads) * kD));
  if (a.kernel != PagedPrefillKernel::kMmaSync)
    return launch_paged_prefill_wgmma(a, static_cast<cudaStream_t>(stream));
  const int n_q_tiles = (a.max_chunk_len + kRows - 1) / kRows;
  M1_CUDA_STATUS(cudaFuncSetAttribute(paged_prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  paged_prefill_kernel<<<dim3(n_q_tiles, a.n_heads, a.n_seqs), kThreads, kSmemBytes, static_cast<cudaStream_t>(stream)>>>(
      a, n_q_tiles);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
