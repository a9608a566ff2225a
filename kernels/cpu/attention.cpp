#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_tiles.h"

namespace m1::kernels::cpu {

namespace {

// Keys are visited in tiles of this many tokens (flash-attention style, with a running max and
// sum per query row), so a tile's scores, keys and values stay in L2 whatever the history length:
// the first version kept whole score rows (30k tokens x 4 B per row) and streamed them from memory
// three times, and its per-pair dot products ran at a third of the rate of a blocked GEMM. Tiles
// start at multiples of kKeyTile from position 0, so every query sees the same tiles however the
// queries are grouped: its arithmetic, and so its result, does not depend on the grouping.
constexpr int kKeyTile = 256;

int round_up(int n, int multiple) { return (n + multiple - 1) / multiple * multiple; }

// The query rows of one call: row r is query query_begin + r / group, head kv_head * group + r % group.
struct RowLayout {
  int group, rows, rows4, d, d_pad;
};

void gather_queries(const float * q, int ld_q, int kv_head, int query_begin, const RowLayout & L,
                    std::vector<float> & rows) {
  rows.assign(size_t(L.rows4) * L.d, 0.0f);
  for (int r = 0; r < L.rows; ++r) {
    const float * src = q + size_t(query_begin + r / L.group) * ld_q + size_t(kv_head * L.group + r % L.group) * L.d;
    std::copy(src, src + L.d, rows.begin() + ptrdiff_t(r) * L.d);
  }
}

// Keys of the tile transposed to [d, kKeyTile] and values to [width, d_pad] (pad columns stay 0).
void gather_tile(const KvPagesView & kv, int kv_head, int64_t t0, int width, const RowLayout & L,
                 float * keys_t, float * values) {
  const size_t token_stride = size_t(kv.n_kv_heads) * L.d, head_offset = size_t(kv_head) * L.d;
  for (int t = 0; t < width; ++t) {
    const int64_t token = t0 + t;
    const size_t page = size_t(token / kv.page_tokens), at = size_t(token % kv.page_tokens) * token_stride;
    const float * k = kv.k_pages[page] + at + head_offset;
    const float * v = kv.v_pages[page] + at + head_offset;
    for (int c = 0; c < L.d; ++c) keys_t[size_t(c) * kKeyTile + t] = k[c];
    std::copy(v, v + L.d, values + size_t(t) * L.d_pad);
  }
}

}  // namespace

void causal_attention(const float * q, int ld_q, int n_heads, int64_t first_position, const KvPagesView & kv,
                      float * out, int ld_out, int kv_head, int query_begin, int query_end,
                      AttentionScratch & s) {
  if (query_end <= query_begin) return;
  const AttentionTileKernels & tiles = attention_tile_kernels();
  const int d = kv.head_dim, group = n_heads / kv.n_kv_heads, rows = (query_end - query_begin) * group;
  const RowLayout L{group, rows, round_up(rows, 4), d, round_up(d, tiles.column_multiple)};
  const float scale = float(1.0 / std::sqrt(double(d)));
  constexpr float kNone = -std::numeric_limits<float>::infinity();

  gather_queries(q, ld_q, kv_head, query_begin, L, s.queries);
  s.keys_t.assign(size_t(d) * kKeyTile, 0.0f);
  s.values.assign(size_t(kKeyTile) * L.d_pad, 0.0f);
  s.scores.assign(size_t(L.rows4) * kKeyTile, 0.0f);
  s.out.assign(size_t(L.rows4) * L.d_pad, 0.0f);
  s.running_max.assign(size_t(L.rows4), kNone);
  s.running_sum.assign(size_t(L.rows4), 0.0);

  const int64_t n_cols = first_position + query_end;  // keys seen by the last query
  for (int64_t t0 = 0; t0 < n_cols; t0 += kKeyTile) {
    const int width = int(std::min<int64_t>(kKeyTile, n_cols - t0));
    gather_tile(kv, kv_head, t0, width, L, s.keys_t.data(), s.values.data());
    const int width_pad = round_up(width, tiles.column_multiple);
    for (int r = 0; r < L.rows4; r += 4)
      tiles.rows4_gemm(s.queries.data() + size_t(r) * d, d, s.keys_t.data(), kKeyTile,
                       s.scores.data() + size_t(r) * kKeyTile, kKeyTile, d, width_pad, scale, false);

    // Online softmax: fold the tile into each row's running max and sum; probabilities of keys a
    // row may not see (and of the padding rows) become 0, which adds exactly nothing below.
    for (int r = 0; r < L.rows4; ++r) {
      float * row = s.scores.data() + size_t(r) * kKeyTile;
      const int64_t n_keys = r < rows ? first_position + query_begin + r / group + 1 : 0;
      const int limit = int(std::clamp<int64_t>(n_keys - t0, 0, width));
      if (limit > 0) {
        const float top = std::max(s.running_max[r], tiles.max_value(row, limit));
        const float rescale = s.running_max[r] == kNone ? 0.0f : std::exp(s.running_max[r] - top);
        const float tile_sum = tiles.exp_shifted_sum(row, limit, top);
        s.running_sum[r] = s.running_sum[r] * rescale + tile_sum;
        s.running_max[r] = top;
        if (rescale != 1.0f)
          for (int c = 0; c < d; ++c) s.out[size_t(r) * L.d_pad + c] *= rescale;
      }
      std::fill(row + limit, row + width, 0.0f);
    }
    for (int r = 0; r < L.rows4; r += 4)
      tiles.rows4_gemm(s.scores.data() + size_t(r) * kKeyTile, kKeyTile, s.values.data(), L.d_pad,
                       s.out.data() + size_t(r) * L.d_pad, L.d_pad, width, L.d_pad, 1.0f, true);
  }

  for (int r = 0; r < rows; ++r) {
    float * dst = out + size_t(query_begin + r / group) * ld_out + size_t(kv_head * group + r % group) * d;
    const float inv = float(1.0 / s.running_sum[r]);
    for (int c = 0; c < d; ++c) dst[c] = s.out[size_t(r) * L.d_pad + c] * inv;
  }
}

}  // namespace m1::kernels::cpu
