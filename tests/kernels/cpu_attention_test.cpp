// CPU causal attention (kernels/cpu/attention.h) and its tile loops against float64
// implementations of the formulas. Tolerances are fp32 rounding: sums of up to ~1000 products and
// an exp within a few ulps give relative errors around 1e-7; the bounds leave a 10x margin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_tiles.h"
#include "tests/kernels/test_values.h"

namespace cpu = m1::kernels::cpu;
using m1::test::random_values;
using m1::test::relative_error;

namespace {

std::vector<const cpu::AttentionTileKernels *> every_table() {
  std::vector<const cpu::AttentionTileKernels *> tables{&cpu::portable_attention_tile_kernels()};
  if (const cpu::AttentionTileKernels * avx2 = cpu::avx2_attention_tile_kernels()) tables.push_back(avx2);
  return tables;
}

TEST(CpuAttentionTiles, Rows4GemmMatchesFloat64) {
  for (const cpu::AttentionTileKernels * t : every_table())
    for (int k : {1, 5, 64, 300})
      for (bool accumulate : {false, true}) {
        const int n = 3 * t->column_multiple, lda = k + 3, ldb = n + t->column_multiple, ldc = n + 5;
        const float scale = 0.37f;
        auto a = random_values(size_t(4) * lda, 1), b = random_values(size_t(k) * ldb, 2);
        auto c = random_values(size_t(4) * ldc, 3);
        std::vector<double> expected(c.size());
        for (int r = 0; r < 4; ++r)
          for (int j = 0; j < ldc; ++j) {
            double sum = 0;
            for (int p = 0; p < k && j < n; ++p) sum += double(a[size_t(r) * lda + p]) * b[size_t(p) * ldb + j];
            const double old = c[size_t(r) * ldc + j];
            expected[size_t(r) * ldc + j] = j < n ? scale * sum + (accumulate ? old : 0.0) : old;
          }
        t->rows4_gemm(a.data(), lda, b.data(), ldb, c.data(), ldc, k, n, scale, accumulate);
        EXPECT_LT(relative_error(c, expected), 1e-6) << t->name << " k " << k << " accumulate " << accumulate;
        for (int r = 0; r < 4; ++r)  // columns past n untouched
          for (int j = n; j < ldc; ++j) EXPECT_EQ(c[size_t(r) * ldc + j], float(expected[size_t(r) * ldc + j]));
      }
}

TEST(CpuAttentionTiles, ExpShiftedSumMatchesFloat64) {
  for (const cpu::AttentionTileKernels * t : every_table())
    for (int n : {1, 7, 8, 33, 256}) {
      std::vector<float> x = random_values(size_t(n), 4, 30.0f);
      x[0] = -200.0f;  // far below the clamp: must come out as (almost) nothing
      const float shift = *std::max_element(x.begin(), x.end());
      std::vector<double> expected(x.size());
      double sum = 0;
      // The reference takes the same fp32-rounded argument (x - shift), so this checks exp itself;
      // rounding that argument costs |x - shift| x 6e-8 relative, as in any fp32 softmax.
      for (size_t i = 0; i < x.size(); ++i) sum += (expected[i] = std::exp(double(x[i] - shift)));
      const float got_sum = t->exp_shifted_sum(x.data(), n, shift);
      for (size_t i = 0; i < x.size(); ++i)  // a few fp32 ulps of each value, or below fp32's normal range
        EXPECT_NEAR(x[i], expected[i], 4e-7 * expected[i] + 1e-37) << t->name << " i " << i;
      EXPECT_NEAR(got_sum, sum, 1e-6 * sum) << t->name << " n " << n;
    }
}

TEST(CpuAttentionTiles, MaxValueIsTheLargest) {
  for (const cpu::AttentionTileKernels * t : every_table())
    for (int n : {1, 3, 8, 9, 31, 256}) {
      const std::vector<float> x = random_values(size_t(n), 5 + unsigned(n), 10.0f);
      EXPECT_EQ(t->max_value(x.data(), n), *std::max_element(x.begin(), x.end())) << t->name << " n " << n;
    }
}

struct Shape {
  int past, n, heads, kv_heads, d, page;
  float q_scale;  // larger scores make the softmax peaky, so the running max must rescale
};

// K/V pages (K transposed within its page, as attention.h asks) with the slots past the last
// token set to NaN: nothing may use them.
struct PagedKv {
  std::vector<std::vector<float>> k_pages, v_pages;
  std::vector<const float *> k_ptrs, v_ptrs;
  std::vector<float> k, v;

  PagedKv(const Shape & s, unsigned seed) {
    const int total = s.past + s.n, width = s.kv_heads * s.d;
    k = random_values(size_t(total) * width, seed);
    v = random_values(size_t(total) * width, seed + 1);
    for (int start = 0; start < total; start += s.page) {
      std::vector<float> kp(size_t(s.page) * width, std::numeric_limits<float>::quiet_NaN()), vp = kp;
      for (int t = start; t < std::min(total, start + s.page); ++t)
        for (int c = 0; c < width; ++c) {
          kp[size_t(c) * s.page + size_t(t - start)] = k[size_t(t) * width + c];
          vp[size_t(t - start) * width + c] = v[size_t(t) * width + c];
        }
      k_pages.push_back(std::move(kp));
      v_pages.push_back(std::move(vp));
    }
    for (size_t p = 0; p < k_pages.size(); ++p) {
      k_ptrs.push_back(k_pages[p].data());
      v_ptrs.push_back(v_pages[p].data());
    }
  }
  cpu::KvPagesView view(const Shape & s) const { return {k_ptrs, v_ptrs, s.page, s.past + s.n, s.kv_heads, s.d}; }
};

std::vector<double> attention_reference(const Shape & s, const std::vector<float> & q, const PagedKv & kv) {
  std::vector<double> expected(size_t(s.n) * s.heads * s.d, 0.0);
  for (int i = 0; i < s.n; ++i)
    for (int h = 0; h < s.heads; ++h) {
      const int g = h / (s.heads / s.kv_heads), n_keys = s.past + i + 1;
      std::vector<double> p(static_cast<size_t>(n_keys));
      double top = -1e300, sum = 0;
      for (int t = 0; t < n_keys; ++t) {
        double dot = 0;
        for (int c = 0; c < s.d; ++c)
          dot += double(q[(size_t(i) * s.heads + h) * s.d + c]) * kv.k[(size_t(t) * s.kv_heads + g) * s.d + c];
        p[size_t(t)] = dot / std::sqrt(double(s.d));
        top = std::max(top, p[size_t(t)]);
      }
      for (double & x : p) sum += (x = std::exp(x - top));
      for (int t = 0; t < n_keys; ++t)
        for (int c = 0; c < s.d; ++c)
          expected[(size_t(i) * s.heads + h) * s.d + c] +=
              p[size_t(t)] / sum * kv.v[(size_t(t) * s.kv_heads + g) * s.d + c];
    }
  return expected;
}

// Runs every KV head over the queries split at `cuts` (each a query index).
std::vector<float> run_attention(const Shape & s, const std::vector<float> & q, const PagedKv & kv,
                                 std::vector<int> cuts) {
  std::vector<float> out(size_t(s.n) * s.heads * s.d, -1.0f);
  cuts.insert(cuts.begin(), 0);
  cuts.push_back(s.n);
  cpu::AttentionScratch scratch;
  for (int g = 0; g < s.kv_heads; ++g)
    for (size_t c = 0; c + 1 < cuts.size(); ++c)
      cpu::causal_attention(q.data(), s.heads * s.d, s.heads, s.past, kv.view(s), out.data(), s.heads * s.d, g,
                            cuts[c], cuts[c + 1], scratch);
  return out;
}

const Shape kShapes[] = {
    {70, 5, 4, 2, 8, 16, 1.0f},      // several pages, one tile
    {0, 1, 2, 2, 16, 64, 1.0f},      // decode of the very first token
    {600, 37, 4, 1, 24, 64, 1.0f},   // several tiles, d not a multiple of the vector columns
    {511, 3, 2, 2, 5, 32, 1.0f},     // odd d, a query at a tile boundary
    {260, 300, 8, 2, 64, 64, 3.0f},  // a whole prefill chunk with peaky scores
};

TEST(CpuAttention, CausalGqaOverPagesMatchesFloat64) {
  for (const Shape & s : kShapes) {
    const PagedKv kv(s, 11);
    const auto q = random_values(size_t(s.n) * s.heads * s.d, 10, s.q_scale);
    EXPECT_LT(relative_error(run_attention(s, q, kv, {}), attention_reference(s, q, kv)), 1e-6)
        << "past " << s.past << " n " << s.n << " d " << s.d;
  }
}

// The engine relies on this: a query's output must not depend on which queries share its call.
TEST(CpuAttention, ResultDoesNotDependOnHowQueriesAreSplit) {
  for (const Shape & s : kShapes) {
    if (s.n < 3) continue;
    const PagedKv kv(s, 21);
    const auto q = random_values(size_t(s.n) * s.heads * s.d, 20, s.q_scale);
    const std::vector<float> whole = run_attention(s, q, kv, {});
    EXPECT_EQ(run_attention(s, q, kv, {1, 2}), whole) << "past " << s.past;
    EXPECT_EQ(run_attention(s, q, kv, {s.n / 2}), whole) << "past " << s.past;
  }
}

}  // namespace
