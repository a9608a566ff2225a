// Shared by the two lightning prefill kernels (mma.sync in lightning_prefill.cu, wgmma in
// lightning_prefill_wgmma.cu): their parameters and the wgmma launcher the dispatcher calls.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/mma.cuh"

namespace m1::kernels::gpu {

// Device pointers and strides of one prefill launch (see LightningPrefillArgs).
struct PrefillParams {
  const __nv_bfloat16 * q;
  const __nv_bfloat16 * k;
  const __nv_bfloat16 * v;
  int64_t row_stride;
  int64_t head_stride;
  const int32_t * seq_starts;
  const int32_t * slots;
  const float * decay;
  float * state;
  __nv_bfloat16 * out;
  int64_t out_row_stride;
  int n_heads;
  // The sequence split (mma.sync kernel only): grid z = sequence * max_chunks + chunk, chunk c
  // covering tokens [c * chunk_tokens, ...) of its sequence (the last chunk of the grid runs to the
  // end) and starting from chunk_states[z * sub_chunks][head] ([128][128] fp32). max_chunks 1 =
  // unsplit: one thread block per sequence starting from and updating the state slot.
  const float * chunk_states = nullptr;
  int chunk_tokens = 0;
  int max_chunks = 1;
  int sub_chunks = 1;  // state-pass pieces per chunk: chunk_states holds max_chunks * sub_chunks entries per sequence
};

// What one thread block of a prefill kernel walks: grid (value slice, head, sequence * max_chunks
// + chunk); its tokens are [base, base + len) (len <= 0: nothing to do, the state is left as it
// was), it starts from `init` (the slot's state, or its chunk's start state under the split) and
// writes `state` only when `write_state` (the sequence's last chunk). Both pointers are offset to
// the block's value slice of width dv; rows are kD = 128 floats apart.
struct PrefillSpan {
  int64_t base;
  int len;
  const float * init;
  float * state;
  bool write_state;
};

__device__ __forceinline__ PrefillSpan prefill_span(const PrefillParams & p, int dv) {
  constexpr int kD = 128;
  const int slice = blockIdx.x, head = blockIdx.y, seq = blockIdx.z / p.max_chunks;
  const int chunk = blockIdx.z % p.max_chunks;
  const int64_t seq_base = p.seq_starts[seq];
  const int seq_len = p.seq_starts[seq + 1] - static_cast<int>(seq_base);
  // The whole sequence, or its chunk (the grid's last chunk runs to the end).
  const int first = chunk * p.chunk_tokens;
  const int len = chunk + 1 < p.max_chunks ? min(p.chunk_tokens, seq_len - first) : seq_len - first;
  const int slot = p.slots != nullptr ? p.slots[seq] : seq;
  float * state = p.state + (static_cast<int64_t>(slot) * p.n_heads + head) * kD * kD + slice * dv;
  const float * init = p.max_chunks == 1 ? state
                                         : p.chunk_states +
                                               (static_cast<int64_t>(blockIdx.z) * p.sub_chunks * p.n_heads + head) * kD * kD +
                                               slice * dv;
  return {seq_base + first, len, init, state, first + len == seq_len};
}

// A thread's fp32 fragments of S[:, slice] in the accumulator layout both kernels use (mma.sync C,
// wgmma D): fragment i holds key rows row0 + i * row_step and that + 8 (row0 includes the lane's
// g), value columns 8 j + 2 t and + 1; rows of `state` are 128 floats apart.
template <int kTiles, int kCols>
__device__ __forceinline__ void load_state_fragments(float (&s)[kTiles][kCols][4], const float * state, int row0,
                                                     int row_step, int t) {
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
    const int row = row0 + i * row_step;
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      const float2 lo = *reinterpret_cast<const float2 *>(state + row * 128 + j * 8 + 2 * t);
      const float2 hi = *reinterpret_cast<const float2 *>(state + (row + 8) * 128 + j * 8 + 2 * t);
      s[i][j][0] = lo.x, s[i][j][1] = lo.y, s[i][j][2] = hi.x, s[i][j][3] = hi.y;
    }
  }
}

template <int kTiles, int kCols>
__device__ __forceinline__ void store_state_fragments(const float (&s)[kTiles][kCols][4], float * state, int row0,
                                                      int row_step, int t) {
#pragma unroll
  for (int i = 0; i < kTiles; ++i) {
    const int row = row0 + i * row_step;
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      *reinterpret_cast<float2 *>(state + row * 128 + j * 8 + 2 * t) = make_float2(s[i][j][0], s[i][j][1]);
      *reinterpret_cast<float2 *>(state + (row + 8) * 128 + j * 8 + 2 * t) = make_float2(s[i][j][2], s[i][j][3]);
    }
  }
}

// The state update's A operand K^T, one m16 x k16 fragment as ldmatrix.trans gives it (a0, a1:
// tokens 2t, 2t + 1 of the key step; a2, a3: tokens 2t + 8, 2t + 9), scaled by those tokens' decay
// factors dk and rounded to bf16 once.
__device__ __forceinline__ void scale_key_fragment(uint32_t (&a)[4], const float (&dk)[4]) {
  a[0] = cuda::scale_bf16x2(a[0], dk[0], dk[1]);
  a[1] = cuda::scale_bf16x2(a[1], dk[0], dk[1]);
  a[2] = cuda::scale_bf16x2(a[2], dk[2], dk[3]);
  a[3] = cuda::scale_bf16x2(a[3], dk[2], dk[3]);
}

// The wgmma kernel: value slice 64, grid (2, n_heads, n_seqs * p.max_chunks).
Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream);

}  // namespace m1::kernels::gpu
