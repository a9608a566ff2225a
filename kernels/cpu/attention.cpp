#include "kernels/cpu/attention.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/elementwise.h"

namespace m1::kernels::cpu {

void causal_attention(const float * q, int ld_q, int n_queries, int n_heads, int64_t first_position,
                      const KvPagesView & kv, float * out, int ld_out, int head_begin, int head_end,
                      std::vector<float> & scores) {
  const int d = kv.head_dim, group = n_heads / kv.n_kv_heads;
  const size_t token_stride = size_t(kv.n_kv_heads) * d;
  const float scale = float(1.0 / std::sqrt(double(d)));
  scores.resize(size_t(first_position + n_queries));
  for (int i = 0; i < n_queries; ++i) {
    const int n_keys = int(first_position + i + 1);
    for (int h = head_begin; h < head_end; ++h) {
      const float * qh = q + size_t(i) * ld_q + size_t(h) * d;
      const size_t kv_offset = size_t(h / group) * d;
      for (int t = 0; t < n_keys; ++t) {
        const float * kt = kv.k_pages[t / kv.page_tokens] + (t % kv.page_tokens) * token_stride + kv_offset;
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += qh[c] * kt[c];
        scores[t] = dot * scale;
      }
      softmax(scores.data(), n_keys);
      float * oh = out + size_t(i) * ld_out + size_t(h) * d;
      std::memset(oh, 0, sizeof(float) * d);
      for (int t = 0; t < n_keys; ++t) {
        const float * vt = kv.v_pages[t / kv.page_tokens] + (t % kv.page_tokens) * token_stride + kv_offset;
        const float p = scores[t];
        for (int c = 0; c < d; ++c) oh[c] += p * vt[c];
      }
    }
  }
}

}  // namespace m1::kernels::cpu
