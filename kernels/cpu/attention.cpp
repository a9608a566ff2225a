#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_tiles.h"

namespace m1::kernels::cpu {

namespace {

// Keys are visited in tiles of whole pages, about kKeyTile tokens (flash-attention style, with a
// running max and sum per query row), so a tile's scores stay in L2 whatever the history length:
// the first version kept whole score rows (30k tokens x 4 B per row) and streamed them from memory
// three times, and its per-pair dot products ran at a third of the rate of a blocked GEMM. Keys
// and values are read in place from their pages (keys are stored transposed for this), so a
// decode step reads each past token once and copies nothing. Tiles and pages start at fixed
// token positions, so every query sees the same tiles however the queries are grouped: its
// arithmetic, and so its result, does not depend on the grouping.
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

// One page of one KV head, as the tile GEMMs read it.
struct PageOperands {
  const float * keys_t;  // [d, page_tokens]: B of the score GEMM (ld page_tokens)
  const float * values;  // B of the value GEMM, rows of d_pad columns
  int ld_values;
};

// The values in place when a row of d floats is whole GEMM steps; else copied into `padded`
// ([page_tokens, d_pad], sized and zeroed once per call) so the GEMM never reads past a row.
PageOperands page_operands(const KvPagesView & kv, size_t page, int kv_head, int valid, const RowLayout & L,
                           std::vector<float> & padded) {
  const int token_stride = kv.n_kv_heads * L.d;
  PageOperands p{kv.k_pages[page] + size_t(kv_head) * L.d * kv.page_tokens,
                 kv.v_pages[page] + size_t(kv_head) * L.d, token_stride};
  if (L.d_pad != L.d) {
    for (int t = 0; t < valid; ++t)
      std::copy(p.values + size_t(t) * token_stride, p.values + size_t(t) * token_stride + L.d,
                padded.begin() + ptrdiff_t(t) * L.d_pad);
    p.values = padded.data(), p.ld_values = L.d_pad;
  }
  return p;
}

}  // namespace

void causal_attention(const float * q, int ld_q, int n_heads, int64_t first_position, const KvPagesView & kv,
                      float * out, int ld_out, int kv_head, int query_begin, int query_end,
                      AttentionScratch & s) {
  if (query_end <= query_begin) return;
  const AttentionTileKernels & tiles = attention_tile_kernels();
  const int cm = tiles.column_multiple, pt = kv.page_tokens;
  const int d = kv.head_dim, group = n_heads / kv.n_kv_heads, rows = (query_end - query_begin) * group;
  const RowLayout L{group, rows, round_up(rows, 4), d, round_up(d, cm)};
  const int tile_pages = std::max(1, kKeyTile / pt), ld_scores = tile_pages * pt;
  const float scale = float(1.0 / std::sqrt(double(d)));
  constexpr float kNone = -std::numeric_limits<float>::infinity();

  gather_queries(q, ld_q, kv_head, query_begin, L, s.queries);
  s.values.assign(L.d_pad == d ? 0 : size_t(pt) * L.d_pad, 0.0f);
  s.scores.assign(size_t(L.rows4) * ld_scores, 0.0f);
  s.out.assign(size_t(L.rows4) * L.d_pad, 0.0f);
  s.running_max.assign(size_t(L.rows4), kNone);
  s.running_sum.assign(size_t(L.rows4), 0.0);

  const int64_t n_cols = first_position + query_end;  // keys seen by the last query
  for (int64_t first_page = 0; first_page * pt < n_cols; first_page += tile_pages) {
    const int64_t t0 = first_page * pt;
    const int width = int(std::min<int64_t>(int64_t(tile_pages) * pt, n_cols - t0));
    auto valid_in = [&](int p) { return std::min(pt, width - p * pt); };  // tokens of the tile's page p
    const int n_pages = (width + pt - 1) / pt;
    // Scores, page by page. Columns past a page's valid tokens (rounded up to a GEMM step) hold
    // junk and are overwritten by the next page or ignored below.
    for (int p = 0; p < n_pages; ++p) {
      const float * keys_t = kv.k_pages[size_t(first_page + p)] + size_t(kv_head) * d * pt;
      const int n = round_up(valid_in(p), cm);  // <= pt: pages are whole GEMM steps (attention.h)
      for (int r = 0; r < L.rows4; r += 4)
        tiles.rows4_gemm(s.queries.data() + size_t(r) * d, d, keys_t, pt, s.scores.data() + size_t(r) * ld_scores + p * pt,
                         ld_scores, d, n, scale, false);
    }

    // Online softmax: fold the tile into each row's running max and sum; probabilities of keys a
    // row may not see (and of the padding rows) become 0, which adds exactly nothing below.
    for (int r = 0; r < L.rows4; ++r) {
      float * row = s.scores.data() + size_t(r) * ld_scores;
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

    for (int p = 0; p < n_pages; ++p) {
      const PageOperands page = page_operands(kv, size_t(first_page + p), kv_head, valid_in(p), L, s.values);
      for (int r = 0; r < L.rows4; r += 4)
        tiles.rows4_gemm(s.scores.data() + size_t(r) * ld_scores + p * pt, ld_scores, page.values, page.ld_values,
                         s.out.data() + size_t(r) * L.d_pad, L.d_pad, valid_in(p), L.d_pad, 1.0f, true);
    }
  }

  for (int r = 0; r < rows; ++r) {
    float * dst = out + size_t(query_begin + r / group) * ld_out + size_t(kv_head * group + r % group) * d;
    const float inv = float(1.0 / s.running_sum[r]);
    for (int c = 0; c < d; ++c) dst[c] = s.out[size_t(r) * L.d_pad + c] * inv;
  }
}

}  // namespace m1::kernels::cpu
