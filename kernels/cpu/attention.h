// Causal softmax attention with grouped KV heads over a paged KV store, fp32 (M1_SPEC.md section
// 4, softmax layers): scores q.k / sqrt(d), softmax in fp32, query head h reads KV head
// h / (n_heads / n_kv_heads). Keys and values live in pages of `page_tokens` tokens, so the caller
// can keep them in fixed-size blocks: a value page is fp32 [page_tokens, n_kv_heads, head_dim], a
// key page fp32 [n_kv_heads, head_dim, page_tokens] (transposed, so it is read in place as the B
// matrix of the score GEMM).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace m1::kernels::cpu {

struct KvPagesView {
  std::span<const float * const> k_pages;  // fp32 [n_kv_heads, head_dim, page_tokens] each
  std::span<const float * const> v_pages;  // fp32 [page_tokens, n_kv_heads, head_dim] each
  int page_tokens = 0;  // a multiple of 16 (the widest tile GEMM step)
  int n_tokens = 0;  // valid tokens across the pages
  int n_kv_heads = 0;
  int head_dim = 0;
};

// Per-thread buffers of causal_attention, kept between calls so the hot loop never allocates.
struct AttentionScratch {
  std::vector<float> queries, values, scores, out, running_max;
  std::vector<double> running_sum;
};

// q: fp32 [n_queries, n_heads, head_dim] (row stride ld_q); query i sits at position
// first_position + i and sees keys 0 .. first_position + i, all of which must be in kv.
// out: fp32 [n_queries, n_heads, head_dim] (row stride ld_out). Computes the query heads that read
// KV head `kv_head`, for queries [query_begin, query_end) only, so callers can split the work
// across threads; each query's result is the same however the queries are split.
void causal_attention(const float * q, int ld_q, int n_heads, int64_t first_position, const KvPagesView & kv,
                      float * out, int ld_out, int kv_head, int query_begin, int query_end,
                      AttentionScratch & scratch);

}  // namespace m1::kernels::cpu
