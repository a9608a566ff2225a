// Lightning attention prefill on Hopper warpgroup MMAs (sm_90a wgmma): the block recurrence of
// lightning_prefill.cu (see there for the math and the error budget, which this kernel keeps:
// S read as bf16 for q S, decayed scores and decayed keys rounded to bf16, o stored as bf16, S
// accumulated in fp32), value slice 64. Thread block = (value slice, head, sequence or chunk),
// three warpgroups that meet only at mbarriers, never at a block-wide barrier:
//   - warpgroup 2, producer: each 64-token block's Q and K (two 64-wide panels each) and V slice,
//     copied with cp.async into a kStages ring of 128-byte-swizzled tiles. "full" tells the
//     consumers a stage landed (after the producer's own wait and a proxy fence, so that wgmma, an
//     async-proxy reader, sees it); "empty" tells the producer both consumers are done with it.
//   - warpgroup 0, outputs: S_qk = Q K^T and O = Q S_prev as wgmma with both operands in shared
//     memory (S_prev read transposed), then O = diag(lambda^(i+1)) O + (decay mask . S_qk) V with
//     the masked scores as the register A operand and V read transposed.
//   - warpgroup 1, state: S = lambda^m S + (decayed K)^T V as two m64 wgmmas (key dims 0-63 and
//     64-127), the decayed K^T as the register A operand (ldmatrix.trans from the K tile, scaled per
//     token in fp32 and rounded once), V read transposed; then S as bf16 into one of two buffers for
//     the outputs' next block: "s_full" (state -> outputs: S_b is in buffer b % 2) and "s_empty"
//     (outputs -> state: done reading buffer b % 2).
// So per block, the tensor cores run the output side's Q K^T, Q S and P V and the state side's
// K^T V from two warpgroups while the producer keeps up to kStages blocks of Q, K, V in flight.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/cuda/lightning_prefill_common.cuh"
#include "kernels/cuda/mbarrier.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/wgmma.cuh"
#include "kernels/lightning_attention_gpu.h"

namespace m1::kernels::gpu {
namespace {

using cuda::cp_async_16;
using cuda::mbarrier_arrive;
using cuda::mbarrier_init;
using cuda::mbarrier_wait;
using cuda::pack_bf16x2;
using cuda::smem_address;

constexpr int kD = kLightningHeadDim;
constexpr int kBlock = 64;   // tokens per block
constexpr int kDV = 64;      // value columns per thread block
constexpr int kStages = 4;   // blocks in the ring
constexpr int kThreads = 384;
// Registers per thread after the warpgroups re-balance them (setmaxnreg; 168 at entry for 384
// threads): 2 x 128 x 232 + 128 x 40 <= 64K.
constexpr int kConsumerRegs = 232, kProducerRegs = 40;
constexpr int kPanel = kBlock * 64;  // one 64-wide column panel of a 64-row tile: 8 KB
// A stage: Q panels 0, 1, K panels 0, 1, V (one panel): 40 KB.
constexpr int kQ = 0, kK = 2 * kPanel, kV = 4 * kPanel, kStageElems = 5 * kPanel;
constexpr int kSElems = kD * kDV;          // bf16 S [key dim][value col], MN-major, 128-byte swizzle: 16 KB
constexpr int kStageStride = kDV + 8;      // padded output staging rows (144 B): conflict-free stores
constexpr int kStagingElems = kBlock * kStageStride;
constexpr int kSmemBytes = 1024 + (kStages * kStageElems + 2 * kSElems + kStagingElems) * 2 + (2 * kStages + 4) * 8;
constexpr float kLog2e = 1.4426950408889634f;

// Element (r, c) of a 64-row tile of 64-wide, 128-byte-swizzled rows: 16-byte chunk c / 8 of row r
// sits at chunk position (c / 8) ^ (r % 8).
__device__ __forceinline__ int swizzled(int r, int c) { return r * 64 + (((c >> 3) ^ (r & 7)) << 3) + (c & 7); }

struct Barriers {
  uint64_t * full;     // [kStages], 128 producer arrivals
  uint64_t * empty;    // [kStages], one lane of each of the 8 consumer warps
  uint64_t * s_full;   // [2], one lane of each state warp
  uint64_t * s_empty;  // [2], one lane of each output warp
};

// Producer: blocks 0..n_blocks-1 of [base, base + len) into the ring; rows past len zero-filled.
// Block b signals "full" once block b + 2 has been issued, so that two blocks are always in flight
// behind the one being waited for.
__device__ void produce(const PrefillParams & p, __nv_bfloat16 * ring, const Barriers & bar, int64_t base, int len,
                        int n_blocks, int head, int slice) {
  const int tid = threadIdx.x % 128;
  const int64_t head_off = head * p.head_stride;
  for (int b = 0; b < n_blocks; ++b) {
    const int s = b % kStages;
    if (b >= kStages) mbarrier_wait(&bar.empty[s], (b / kStages - 1) & 1);
    __nv_bfloat16 * stage = ring + s * kStageElems;
    const int tok0 = b * kBlock;
#pragma unroll
    for (int i = 0; i < 8; ++i) {  // Q and K: 64 rows x 16 chunks of 16 bytes
      const int idx = tid + 128 * i, r = idx / 16, c = idx % 16;
      const bool valid = tok0 + r < len;
      const int64_t src = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + c * 8;
      const int dst = (c / 8) * kPanel + swizzled(r, (c % 8) * 8);
      cp_async_16(stage + kQ + dst, p.q + src, valid);
      cp_async_16(stage + kK + dst, p.k + src, valid);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {  // V: 64 rows x 8 chunks
      const int idx = tid + 128 * i, r = idx / 8, c = idx % 8;
      const bool valid = tok0 + r < len;
      const int64_t src = (base + (valid ? tok0 + r : 0)) * p.row_stride + head_off + slice * kDV + c * 8;
      cp_async_16(stage + kV + swizzled(r, c * 8), p.v + src, valid);
    }
    cuda::cp_async_commit();
    if (b >= 2) {
      cuda::cp_async_wait<2>();
      cuda::fence_proxy_async();
      mbarrier_arrive(&bar.full[(b - 2) % kStages]);
    }
  }
  if (n_blocks >= 2) {
    cuda::cp_async_wait<1>();
    cuda::fence_proxy_async();
    mbarrier_arrive(&bar.full[(n_blocks - 2) % kStages]);
  }
  cuda::cp_async_wait<0>();
  cuda::fence_proxy_async();
  mbarrier_arrive(&bar.full[(n_blocks - 1) % kStages]);
}

// A warp's 16 output rows (accumulator layout) as bf16 into rows [0, n_rows) of `out`: through its
// staging rows, so that the global stores are 16 bytes wide.
__device__ __forceinline__ void store_rows(const float (&o)[8][4], __nv_bfloat16 * staging, __nv_bfloat16 * out,
                                           int64_t out_row_stride, int n_rows, int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    *reinterpret_cast<uint32_t *>(staging + g * kStageStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][0], o[nt][1]);
    *reinterpret_cast<uint32_t *>(staging + (g + 8) * kStageStride + nt * 8 + 2 * t) = pack_bf16x2(o[nt][2], o[nt][3]);
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int idx = lane + 32 * i, r = idx / 8, c = idx % 8;
    if (r < n_rows)
      *reinterpret_cast<uint4 *>(out + r * out_row_stride + c * 8) = *reinterpret_cast<const uint4 *>(staging + r * kStageStride + c * 8);
  }
  __syncwarp();  // the staging rows are rewritten next block
}

// Output warpgroup: rows 16 * warp .. + 15 of each block.
__device__ void compute_outputs(const PrefillParams & p, const __nv_bfloat16 * ring, const __nv_bfloat16 * s_bufs,
                                __nv_bfloat16 * staging, const Barriers & bar, int64_t base, int len, int n_blocks,
                                int head, int slice, float neg_log2_lambda) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  const int row0 = warp * 16 + g, row1 = row0 + 8;
  const float f0 = exp2f(-neg_log2_lambda * (row0 + 1)), f1 = exp2f(-neg_log2_lambda * (row1 + 1));
  // The causal decay mask of this thread's score elements, the same for every block.
  float mask[8][4];
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = e < 2 ? row0 : row1, col = nt * 8 + 2 * t + (e & 1);
      mask[nt][e] = row >= col ? exp2f(-neg_log2_lambda * (row - col)) : 0.f;
    }
  __nv_bfloat16 * my_staging = staging + warp * 16 * kStageStride;

  for (int b = 0; b < n_blocks; ++b) {
    const int s = b % kStages;
    const __nv_bfloat16 * stage = ring + s * kStageElems;
    const __nv_bfloat16 * s_buf = s_bufs + (b & 1) * kSElems;
    float sc[8][4], o[8][4];
    mbarrier_wait(&bar.full[s], (b / kStages) & 1);
    // S_b too before any wgmma: a wait loop with wgmmas in flight makes ptxas serialize them all
    mbarrier_wait(&bar.s_full[b & 1], (b >> 1) & 1);
    cuda::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {  // K step kk reads panel kk / 4 at byte 32 (kk % 4)
      const int off = (kk / 4) * kPanel + (kk % 4) * 16;
      cuda::wgmma_m64n64k16(sc, cuda::wgmma_descriptor_sw128(stage + kQ + off),
                            cuda::wgmma_descriptor_sw128(stage + kK + off), kk > 0);
    }
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)  // S rows 16 kk .. + 15: 2 KB apart
      cuda::wgmma_m64n64k16<1>(o, cuda::wgmma_descriptor_sw128(stage + kQ + (kk / 4) * kPanel + (kk % 4) * 16),
                               cuda::wgmma_descriptor_sw128_mn64(s_buf + kk * 16 * 64), kk > 0);
    cuda::wgmma_commit();
    cuda::wgmma_wait_all();
    cuda::wgmma_fence_operand(sc);
    cuda::wgmma_fence_operand(o);
    if (lane == 0) mbarrier_arrive(&bar.s_empty[b & 1]);

    // o = diag(lambda^(i+1)) Q S_prev + (decay-masked scores) V, the scores in the A layout: key
    // step kt = score tiles 2 kt (a0, a1) and 2 kt + 1 (a2, a3)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) o[nt][0] *= f0, o[nt][1] *= f0, o[nt][2] *= f1, o[nt][3] *= f1;
    uint32_t pa[kBlock / 16][4];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      pa[nt / 2][(nt % 2) * 2] = pack_bf16x2(sc[nt][0] * mask[nt][0], sc[nt][1] * mask[nt][1]);
      pa[nt / 2][(nt % 2) * 2 + 1] = pack_bf16x2(sc[nt][2] * mask[nt][2], sc[nt][3] * mask[nt][3]);
    }
    cuda::wgmma_fence_operand(o);
    cuda::wgmma_fence();
#pragma unroll
    for (int kt = 0; kt < kBlock / 16; ++kt)
      cuda::wgmma_m64n64k16_rs<1>(o, pa[kt], cuda::wgmma_descriptor_sw128_mn64(stage + kV + kt * 16 * 64), 1);
    cuda::wgmma_commit();
    cuda::wgmma_wait_all();
    cuda::wgmma_fence_operand(o);
    if (lane == 0) mbarrier_arrive(&bar.empty[s]);

    // this warp's 16 rows of the block (those inside the span) into out, through its staging rows
    __nv_bfloat16 * out = p.out + (base + b * kBlock + warp * 16) * p.out_row_stride + head * kD + slice * kDV;
    store_rows(o, my_staging, out, p.out_row_stride, len - (b * kBlock + warp * 16), lane);
  }
}

// S (fp32 accumulators of the two m64 halves) as bf16 into an MN-major swizzled buffer [key][value]
// for the outputs' Q S, with stmatrix: matrices (rows +0/+8) x (columns of tiles j, j+1).
__device__ __forceinline__ void store_state_bf16(const float (&s)[2][8][4], __nv_bfloat16 * s_buf, int w, int lane) {
  const int m = lane >> 3, rr = lane & 7;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int key = h * 64 + w * 16 + (m & 1) * 8 + rr;
#pragma unroll
    for (int jp = 0; jp < 4; ++jp) {
      const uint32_t r[4] = {pack_bf16x2(s[h][2 * jp][0], s[h][2 * jp][1]), pack_bf16x2(s[h][2 * jp][2], s[h][2 * jp][3]),
                             pack_bf16x2(s[h][2 * jp + 1][0], s[h][2 * jp + 1][1]),
                             pack_bf16x2(s[h][2 * jp + 1][2], s[h][2 * jp + 1][3])};
      cuda::stmatrix_x4(s_buf + key * 64 + (((2 * jp + (m >> 1)) ^ (key & 7)) << 3), r);
    }
  }
}

// The state warpgroup's fp32 S[:, slice] in the accumulator layout of its two m64 halves: warp w,
// lane (g, t) holds s[h][j] = rows (key dims) 64 h + 16 w + g (+ 8), columns 8 j + 2 t (+ 1).
using StateFragments = float[2][8][4];

// The A operand of the state update, (decayed K)^T: rows = key dims 64 h + 16 w .., columns = the
// block's tokens 16 kk .., loaded transposed from the K tile and scaled by lambda^(m-1-j) for token j
// (decay_full: the factors of a full block; a short last block computes its own).
__device__ __forceinline__ void decayed_keys(uint32_t (&a)[2][4][4], const __nv_bfloat16 * k_tile,
                                             const float (&decay_full)[4][4], int m, float neg_log2_lambda, int w,
                                             int lane) {
  const int t = lane & 3;
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const int r = kk * 16 + (lane & 7) + (lane >> 4) * 8;
      const int c = w * 16 + ((lane >> 3) & 1) * 8;
      cuda::ldmatrix_x4_trans(a[h][kk], k_tile + h * kPanel + swizzled(r, c));
      float dk[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = kk * 16 + 2 * t + (e & 1) + (e >> 1) * 8;
        dk[e] = m == kBlock ? decay_full[kk][e] : (j < m ? exp2f(-neg_log2_lambda * (m - 1 - j)) : 0.f);
      }
      scale_key_fragment(a[h][kk], dk);
    }
}

// S as bf16 into buffer `to` for the outputs, then tells them (s_full).
__device__ __forceinline__ void publish_state(const StateFragments & s, __nv_bfloat16 * to, uint64_t * s_full, int w,
                                              int lane) {
  store_state_bf16(s, to, w, lane);
  cuda::fence_proxy_async();  // wgmma (async proxy) reads it after the mbarrier
  __syncwarp();
  if (lane == 0) mbarrier_arrive(s_full);
}

// State warpgroup: S = lambda^m S + (decayed K)^T V per block; S_(b+1) goes to buffer (b+1) % 2 once
// the outputs are done with S_(b-1) there.
__device__ void carry_state(const __nv_bfloat16 * ring, __nv_bfloat16 * s_bufs, const Barriers & bar,
                            const PrefillSpan & span, int n_blocks, float neg_log2_lambda) {
  const int w = threadIdx.x / 32 - 4, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  StateFragments s;
  load_state_fragments(s, span.init, w * 16 + g, 64, t);
  publish_state(s, s_bufs, &bar.s_full[0], w, lane);
  float decay_full[4][4];  // lambda^(63 - j) for this thread's A columns j of a full block
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      decay_full[kk][e] = exp2f(-neg_log2_lambda * (kBlock - 1 - (kk * 16 + 2 * t + (e & 1) + (e >> 1) * 8)));
  const float decay_block = exp2f(-neg_log2_lambda * kBlock);

  for (int b = 0; b < n_blocks; ++b) {
    const int st = b % kStages;
    const __nv_bfloat16 * stage = ring + st * kStageElems;
    const int m = min(kBlock, span.len - b * kBlock);  // tokens of this block (the last may be short)
    mbarrier_wait(&bar.full[st], (b / kStages) & 1);
    uint32_t a[2][4][4];
    decayed_keys(a, stage + kK, decay_full, m, neg_log2_lambda, w, lane);
    const float fm = m == kBlock ? decay_block : exp2f(-neg_log2_lambda * m);
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[h][j][e] *= fm;
    cuda::wgmma_fence_operand(s[0]);
    cuda::wgmma_fence_operand(s[1]);
    cuda::wgmma_fence();
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        cuda::wgmma_m64n64k16_rs<1>(s[h], a[h][kk], cuda::wgmma_descriptor_sw128_mn64(stage + kV + kk * 16 * 64), 1);
    cuda::wgmma_commit();
    cuda::wgmma_wait_all();
    cuda::wgmma_fence_operand(s[0]);
    cuda::wgmma_fence_operand(s[1]);
    if (lane == 0) mbarrier_arrive(&bar.empty[st]);
    if (b + 1 < n_blocks) {
      const int nb = (b + 1) & 1;
      if (b >= 1) mbarrier_wait(&bar.s_empty[nb], ((b + 1) / 2 - 1) & 1);
      publish_state(s, s_bufs + nb * kSElems, &bar.s_full[nb], w, lane);
    }
  }
  if (span.write_state) store_state_fragments(s, span.state, w * 16 + g, 64, t);  // else the slot is the last chunk's
}

__global__ void __launch_bounds__(kThreads, 1) lightning_prefill_wgmma_kernel(PrefillParams p) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const PrefillSpan span = prefill_span(p, kDV);
  if (span.len <= 0) return;  // the state is left as it was
  // The 128-byte swizzle needs 1024-byte aligned tiles: round the dynamic base up.
  const uint32_t misalign = smem_address(smem_raw) & 1023u;
  __nv_bfloat16 * ring = reinterpret_cast<__nv_bfloat16 *>(smem_raw + (misalign ? 1024 - misalign : 0));
  __nv_bfloat16 * s_bufs = ring + kStages * kStageElems;
  __nv_bfloat16 * staging = s_bufs + 2 * kSElems;
  uint64_t * barriers = reinterpret_cast<uint64_t *>(staging + kStagingElems);
  const Barriers bar{barriers, barriers + kStages, barriers + 2 * kStages, barriers + 2 * kStages + 2};
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&bar.full[s], 128);
      mbarrier_init(&bar.empty[s], 8);
    }
    for (int i = 0; i < 2; ++i) {
      mbarrier_init(&bar.s_full[i], 4);
      mbarrier_init(&bar.s_empty[i], 4);
    }
  }
  __syncthreads();
  const int head = blockIdx.y, slice = blockIdx.x;
  const float neg_log2_lambda = p.decay[head] * kLog2e;  // lambda^x = exp2(-neg_log2_lambda * x)
  const int n_blocks = (span.len + kBlock - 1) / kBlock;
  const int role = threadIdx.x / 128;
  if (role == 2) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
    produce(p, ring, bar, span.base, span.len, n_blocks, head, slice);
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs));
    if (role == 0)
      compute_outputs(p, ring, s_bufs, staging, bar, span.base, span.len, n_blocks, head, slice, neg_log2_lambda);
    else
      carry_state(ring, s_bufs, bar, span, n_blocks, neg_log2_lambda);
  }
}

}  // namespace

Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream) {
  M1_CUDA_STATUS(cudaFuncSetAttribute(lightning_prefill_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      kSmemBytes));
  lightning_prefill_wgmma_kernel<<<dim3(kD / kDV, n_heads, n_seqs * p.max_chunks), kThreads, kSmemBytes, stream>>>(p);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

}  // namespace m1::kernels::gpu
