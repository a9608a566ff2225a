// Softmax attention over a paged KV cache on the GPU (M1_SPEC.md section 4, "Softmax attention
// layer"): head dim 128, GQA with 8 query heads per KV head, RoPE with the NeoX pairing on the first
// rotary_dim dims, causal, scale q_scale/sqrt(128), softmax in fp32.
// - rope_append: rotates the new tokens' q in place and writes their rotated k and their v into the
//   cache pages of their sequences (prefill chunks and decode steps both append this way).
// - paged_decode: one query token per sequence attends to the first seq_lens[i] cached tokens of its
//   sequence (the new token included), split over the sequence for parallelism, then combined.
// - paged_prefill: a chunk of query tokens per sequence attends causally to the cached tokens up to
//   each one's position: a whole prompt, or a chunk continuing from a cached prefix.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

inline constexpr int kSoftmaxHeadDim = 128;
inline constexpr int kSoftmaxGroup = 8;  // query heads per KV head

struct PagedKvCache {
  Bf16 * k = nullptr;                        // bf16 [n_pages, page_size, n_kv_heads, 128]
  Bf16 * v = nullptr;                        // bf16 [n_pages, page_size, n_kv_heads, 128]
  int page_size = 0;                         // tokens per page
  int n_kv_heads = 0;
  const std::int32_t * block_table = nullptr;  // device [n_seqs, max_pages]: page of the j-th page
  int max_pages = 0;                         // row length of block_table
};

struct RopeAppendArgs {
  int n_tokens = 0;
  int n_heads = 0;                           // query heads = 8 * cache.n_kv_heads
  Bf16 * q = nullptr;                        // bf16 [n_tokens, q_row_stride], head h at h*128; rotated in place
  std::int64_t q_row_stride = 0;
  const Bf16 * k = nullptr;                  // bf16 [n_tokens, kv_row_stride], kv head h at h*128
  const Bf16 * v = nullptr;                  // bf16 [n_tokens, kv_row_stride]
  std::int64_t kv_row_stride = 0;
  const std::int32_t * token_seq = nullptr;  // device [n_tokens]: sequence (block_table row) of each token
  const std::int32_t * token_pos = nullptr;  // device [n_tokens]: absolute 0-based position
  int rotary_dim = 64;                       // even, at most 128
  double rope_theta = 1e7;
  PagedKvCache cache;
};

struct PagedDecodeArgs {
  int n_seqs = 0;
  int n_heads = 0;                           // 8 * cache.n_kv_heads
  const Bf16 * q = nullptr;                  // bf16 [n_seqs, q_row_stride], rotated (rope_append)
  std::int64_t q_row_stride = 0;
  const std::int32_t * seq_lens = nullptr;   // device [n_seqs]: cached tokens to attend to, >= 1
  int max_seq_len = 0;                       // host bound on seq_lens: sizes the split
  PagedKvCache cache;
  Bf16 * out = nullptr;                      // bf16 [n_seqs, out_row_stride], head h at h*128
  std::int64_t out_row_stride = 0;
  float * workspace = nullptr;               // paged_decode_workspace_bytes(...) bytes, or nullptr if that is 0
  int splits = 0;                            // parts of each sequence; 0 = the launcher's choice
  // With the workspace (a split decode): device [n_seqs * cache.n_kv_heads], zero before the call
  // and left zero by it. The last thread block of a (sequence, kv head) to finish merges its splits.
  unsigned * split_counters = nullptr;
  float q_scale = 1.0f;                      // scores scaled by q_scale / sqrt(128) (sqrt(128 / d) for a
                                             // head of d < 128 padded to 128 gives 1 / sqrt(d))
};

// Which prefill kernel runs: the launcher's choice (wgmma), or one pinned (tests and benchmarks
// compare them).
enum class PagedPrefillKernel { kAuto, kMmaSync, kWgmma };

struct PagedPrefillArgs {
  int n_seqs = 0;
  int n_heads = 0;                           // 8 * cache.n_kv_heads
  const Bf16 * q = nullptr;                  // bf16 [chunk tokens, q_row_stride], rotated (rope_append)
  std::int64_t q_row_stride = 0;
  const std::int32_t * seq_starts = nullptr; // device [n_seqs + 1]: rows of each sequence's chunk in q/out
  const std::int32_t * chunk_pos = nullptr;  // device [n_seqs]: position of the chunk's first token
                                             // (tokens cached before it); the chunk itself is cached too
  int max_chunk_len = 0;                     // host bound on the chunk lengths: sizes the grid
  PagedKvCache cache;
  Bf16 * out = nullptr;                      // bf16 [chunk tokens, out_row_stride], head h at h*128
  std::int64_t out_row_stride = 0;
  float q_scale = 1.0f;                      // as PagedDecodeArgs::q_scale
  PagedPrefillKernel kernel = PagedPrefillKernel::kAuto;
};

// Bytes of workspace paged_decode needs for these sizes (0 when it runs unsplit).
std::size_t paged_decode_workspace_bytes(int n_seqs, int n_heads, int max_seq_len, int splits = 0);

Status rope_append(const RopeAppendArgs & args, Stream stream);
Status paged_decode(const PagedDecodeArgs & args, Stream stream);
// Causal attention of each sequence's chunk of query tokens over its cache (flash-style, tensor cores).
Status paged_prefill(const PagedPrefillArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
