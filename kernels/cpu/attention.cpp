#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/elementwise.h"

namespace m1::kernels::cpu {

namespace {

// The inner loops run over head_dim for every (query, key) pair, so they decide the speed of long
// contexts. They work on 4-float vectors (GCC/Clang vector extensions: SSE2 on the baseline x86-64
// target, wider where the target allows) with 4 independent partial sums per dot product. One
// serial sum chain (the first version) was latency-bound at ~4 cycles per multiply-add and made
// attention over a 20k-token history 60% of a 20M model's prefill time (perf on `m1 bench
// sessions`).
using Vec4 = float __attribute__((vector_size(16)));

Vec4 load4(const float * p) {
  Vec4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float dot(const float * __restrict a, const float * __restrict b, int d) {
  Vec4 acc0 = {}, acc1 = {}, acc2 = {}, acc3 = {};
  int c = 0;
  for (; c + 16 <= d; c += 16) {
    acc0 += load4(a + c) * load4(b + c);
    acc1 += load4(a + c + 4) * load4(b + c + 4);
    acc2 += load4(a + c + 8) * load4(b + c + 8);
    acc3 += load4(a + c + 12) * load4(b + c + 12);
  }
  const Vec4 acc = (acc0 + acc1) + (acc2 + acc3);
  float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; c < d; ++c) sum += a[c] * b[c];
  return sum;
}

// y += p * x over d values.
void add_scaled(float p, const float * __restrict x, float * __restrict y, int d) {
  int c = 0;
  for (; c + 4 <= d; c += 4) {
    const Vec4 v = load4(y + c) + p * load4(x + c);
    std::memcpy(y + c, &v, sizeof v);
  }
  for (; c < d; ++c) y[c] += p * x[c];
}

}  // namespace

// Queries are processed in blocks that share each K/V page while it is in cache: one query at a
// time streamed the whole KV of the context from memory per query (per head 2 x 256 B per past
// token: 7.7 MB at 15k tokens, far past L2), which made long-history prefill memory-bound. Per
// query the arithmetic and its order are unchanged.
constexpr int kQueryBlock = 16;

void causal_attention(const float * q, int ld_q, int n_queries, int n_heads, int64_t first_position,
                      const KvPagesView & kv, float * out, int ld_out, int head_begin, int head_end,
                      std::vector<float> & scores) {
  const int d = kv.head_dim, group = n_heads / kv.n_kv_heads;
  const size_t token_stride = size_t(kv.n_kv_heads) * d;
  const float scale = float(1.0 / std::sqrt(double(d)));
  for (int h = head_begin; h < head_end; ++h) {
    const size_t kv_offset = size_t(h / group) * d;
    for (int i0 = 0; i0 < n_queries; i0 += kQueryBlock) {
      const int nb = std::min(kQueryBlock, n_queries - i0);
      // Row r of the block (query i0 + r) sees keys [0, n_keys(r)); rows are n_cols apart.
      const int n_cols = int(first_position + i0 + nb);
      auto n_keys = [&](int r) { return int(first_position + i0 + r + 1); };
      scores.resize(size_t(nb) * size_t(n_cols));
      for (int page = 0, t0 = 0; t0 < n_cols; ++page, t0 += kv.page_tokens) {
        const float * kp = kv.k_pages[size_t(page)] + kv_offset;
        for (int r = 0; r < nb; ++r) {
          const float * qh = q + size_t(i0 + r) * ld_q + size_t(h) * d;
          float * row = scores.data() + size_t(r) * n_cols;
          const int n = std::min(kv.page_tokens, n_keys(r) - t0);
          for (int t = 0; t < n; ++t) row[t0 + t] = dot(qh, kp + size_t(t) * token_stride, d) * scale;
        }
      }
      for (int r = 0; r < nb; ++r) {
        softmax(scores.data() + size_t(r) * n_cols, n_keys(r));
        std::memset(out + size_t(i0 + r) * ld_out + size_t(h) * d, 0, sizeof(float) * d);
      }
      for (int page = 0, t0 = 0; t0 < n_cols; ++page, t0 += kv.page_tokens) {
        const float * vp = kv.v_pages[size_t(page)] + kv_offset;
        for (int r = 0; r < nb; ++r) {
          const float * row = scores.data() + size_t(r) * n_cols;
          float * oh = out + size_t(i0 + r) * ld_out + size_t(h) * d;
          const int n = std::min(kv.page_tokens, n_keys(r) - t0);
          for (int t = 0; t < n; ++t) add_scaled(row[t0 + t], vp + size_t(t) * token_stride, oh, d);
        }
      }
    }
  }
}

}  // namespace m1::kernels::cpu
