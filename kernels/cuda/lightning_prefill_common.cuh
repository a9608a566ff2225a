// Shared by the two lightning prefill kernels (mma.sync in lightning_prefill.cu, wgmma in
// lightning_prefill_wgmma.cu): their parameters and the wgmma launcher the dispatcher calls.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"

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

// The wgmma kernel: value slice 64, grid (2, n_heads, n_seqs * p.max_chunks).
Status launch_prefill_wgmma(const PrefillParams & p, int n_seqs, int n_heads, cudaStream_t stream);

}  // namespace m1::kernels::gpu
