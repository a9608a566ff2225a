// Lightning (linear) attention on the GPU, M1_SPEC.md section 4 step 3-4: per sequence and head,
// S_t = lambda * S_{t-1} + k_t^T v_t and o_t = q_t S_t, with lambda = exp(-decay[h]) and an fp32
// state per (sequence, head) that a call continues from and leaves updated. Head dim is 128.
// Prefill runs block-wise on tensor cores (any length, a batch of unequal sequences); decode adds
// one token to each sequence of a batch. Both return an error (and launch nothing) on bad shapes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

inline constexpr int kLightningHeadDim = 128;

// q, k, v: bf16; row r (a token for prefill, a sequence for decode), head h starts at
// base + r * row_stride + h * head_stride and holds 128 contiguous values. The packed qkv layout
// of the checkpoint (per head: q, k, v) is row_stride = 3*H*128, head_stride = 384 with k = q + 128
// and v = q + 256; separate [rows, H, 128] tensors use row_stride = H*128, head_stride = 128.
// Strides are in elements and multiples of 8; pointers 16-byte aligned.
struct LightningInputs {
  const Bf16 * q = nullptr;
  const Bf16 * k = nullptr;
  const Bf16 * v = nullptr;
  std::int64_t row_stride = 0;
  std::int64_t head_stride = 0;
};

struct LightningState {
  float * data = nullptr;                // fp32 [slots, n_heads, 128 (key dim), 128 (value dim)]
  const std::int32_t * slots = nullptr;  // device [n_seqs]: slot of sequence i; nullptr = slot i
};

// Which prefill kernel runs: the launcher's choice (wgmma at value slice 64, mma.sync at 32), or one
// pinned (tests and benchmarks compare them).
enum class LightningPrefillKernel { kAuto, kMmaSync, kWgmma };

struct LightningPrefillArgs {
  int n_seqs = 0;
  int n_heads = 0;
  const std::int32_t * seq_starts = nullptr;  // device [n_seqs + 1]: token offsets, nondecreasing
  LightningInputs in;
  const float * decay = nullptr;              // device fp32 [n_heads]: s(l, h); lambda = exp(-s)
  LightningState state;
  Bf16 * out = nullptr;                       // bf16 [tokens, out_row_stride]; head h at h*128
  std::int64_t out_row_stride = 0;
  int value_slice = 0;  // value columns per thread block: 32 or 64, 0 = the launcher's choice
  LightningPrefillKernel kernel = LightningPrefillKernel::kAuto;  // kWgmma needs value slice 64
  // The sequence split (either kernel). One thread block per (value slice,
  // head, sequence) leaves most SMs idle when sequences x heads are few (8 heads, one sequence: 16
  // of 132), so each sequence is cut into chunks of chunk_tokens run in parallel: a pass computes
  // each chunk's own contribution to the state, a scan gives each chunk its start state, then the
  // block loop runs per chunk. It needs max_seq_len and the workspace; without either it runs unsplit.
  int max_seq_len = 0;          // tokens of the longest sequence in this call; 0 = not given
  int chunk_tokens = 0;         // a positive multiple of 64, or 0 = the launcher's choice (which may be no split)
  float * workspace = nullptr;  // device, lightning_prefill_workspace_bytes(...) bytes
};

struct LightningDecodeArgs {
  int n_seqs = 0;
  int n_heads = 0;
  LightningInputs in;                         // row i = the new token of sequence i
  const float * decay = nullptr;              // device fp32 [n_heads]
  LightningState state;
  Bf16 * out = nullptr;                       // bf16 [n_seqs, out_row_stride]; head h at h*128
  std::int64_t out_row_stride = 0;
  bool silu = false;                          // q, k, v replaced by bf16(silu(x)) as they load
};

Status lightning_prefill(const LightningPrefillArgs & args, Stream stream);
// The launcher's chunk length for these sizes (0 = it runs unsplit; depends on the SM count).
int lightning_prefill_chunk_tokens(int n_seqs, int n_heads, int max_seq_len);
// Workspace bytes a split prefill of these sizes needs (0 = it runs unsplit); chunk_tokens as in
// LightningPrefillArgs.
std::size_t lightning_prefill_workspace_bytes(int n_seqs, int n_heads, int max_seq_len, int chunk_tokens = 0);
Status lightning_decode(const LightningDecodeArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
