// CPU kernels of the M1 forward against float64 implementations of their formulas
// (M1_SPEC.md section 4). Inputs are random (fixed seeds); tolerances are fp32 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/lightning.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/kernels/test_values.h"

namespace cpu = m1::kernels::cpu;

namespace {

using m1::test::random_values;
using m1::test::relative_error;

// Token-by-token float64 recurrence: S = lambda S + k^T v, o = q S.
std::vector<double> lightning_reference(const std::vector<float> & q, const std::vector<float> & k,
                                        const std::vector<float> & v, int n, int d, double slope,
                                        std::vector<double> & state) {
  const double lambda = std::exp(-slope);
  std::vector<double> o(size_t(n) * d, 0.0);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) {
        double & s = state[size_t(i) * d + j];
        s = lambda * s + double(k[size_t(t) * d + i]) * v[size_t(t) * d + j];
        o[size_t(t) * d + j] += double(q[size_t(t) * d + i]) * s;
      }
  return o;
}

}  // namespace

TEST(CpuGemm, LinearLayerMatchesDirectSum) {
  const int m = 5, n = 7, k = 33;
  auto a = random_values(size_t(m) * k, 1), w = random_values(size_t(n) * k, 2);
  std::vector<float> c(size_t(m) * n);
  cpu::matmul_nt(a.data(), w.data(), c.data(), m, n, k);
  std::vector<double> expected(size_t(m) * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) expected[size_t(i) * n + j] += double(a[size_t(i) * k + p]) * w[size_t(j) * k + p];
  EXPECT_LT(relative_error(c, expected), 1e-6);  // fp32 accumulation over 33 terms
  std::vector<float> row(n);
  cpu::matmul_nt(a.data(), w.data(), row.data(), 1, n, k);  // the one-token (gemv) path
  for (int j = 0; j < n; ++j) EXPECT_NEAR(row[j], expected[j], 1e-5);
}

TEST(CpuElementwise, RmsnormSiluSoftmax) {
  const int n = 300;
  auto x = random_values(n, 3, 2.0f), w = random_values(n, 4);
  std::vector<float> y(n);
  cpu::rmsnorm(x.data(), n, w.data(), y.data(), n, 1, n, 1e-5);
  double ms = 0;
  for (float v : x) ms += double(v) * v;
  const double scale = 1.0 / std::sqrt(ms / n + 1e-5);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i] * scale * w[i], 1e-5 * std::abs(w[i]) + 1e-6);

  std::vector<float> s = x;
  cpu::silu(s.data(), s.size());
  for (int i = 0; i < n; ++i) EXPECT_NEAR(s[i], x[i] / (1.0 + std::exp(-double(x[i]))), 1e-6);

  std::vector<float> p = x;
  cpu::softmax(p.data(), n);
  double top = *std::max_element(x.begin(), x.end()), sum = 0;
  for (float v : x) sum += std::exp(v - top);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(p[i], std::exp(x[i] - top) / sum, 1e-7);
}

TEST(CpuRope, NeoxPairsOnTheFirstRotaryDims) {
  const int n = 4, heads = 3, d = 16, r = 8;
  const int64_t first = 1000003;  // large positions: angles must be computed in double
  const double theta = 1e7;
  auto x = random_values(size_t(n) * heads * d, 5);
  auto y = x;
  cpu::rope_neox(y.data(), heads * d, n, heads, d, r, first, theta);
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h) {
      const float * in = x.data() + (size_t(t) * heads + h) * d;
      const float * out = y.data() + (size_t(t) * heads + h) * d;
      for (int j = 0; j < r / 2; ++j) {
        const double angle = double(first + t) * std::pow(theta, -2.0 * j / r);
        EXPECT_NEAR(out[j], in[j] * std::cos(angle) - in[j + r / 2] * std::sin(angle), 2e-6);
        EXPECT_NEAR(out[j + r / 2], in[j + r / 2] * std::cos(angle) + in[j] * std::sin(angle), 2e-6);
      }
      for (int j = r; j < d; ++j) EXPECT_EQ(out[j], in[j]);  // past rotary_dim: untouched
    }
}

// Block-wise prefill against the token-by-token recurrence, for block sizes that do and do not
// divide the length, starting from a non-zero state, continued from the state it leaves.
TEST(CpuLightning, BlockwiseEqualsRecurrence) {
  const int n = 37, d = 16;
  const double slope = 0.35;
  auto q = random_values(size_t(n) * d, 6, 0.5f), k = random_values(size_t(n) * d, 7, 0.5f);
  auto v = random_values(size_t(n) * d, 8, 0.5f), s0 = random_values(size_t(d) * d, 9, 0.2f);
  std::vector<double> ref_state(s0.begin(), s0.end());
  const std::vector<double> expected = lightning_reference(q, k, v, n, d, slope, ref_state);
  for (int block : {1, 4, 5, 16, 36, 37, 256}) {
    std::vector<float> state = s0, o(size_t(n) * d);
    cpu::LightningScratch scratch;
    cpu::lightning_blockwise(q.data(), k.data(), v.data(), d, o.data(), d, n, d, state.data(), slope, block, scratch);
    EXPECT_LT(relative_error(o, expected), 1e-5) << "block " << block;
    EXPECT_LT(relative_error(state, ref_state), 1e-5) << "block " << block;
  }
  std::vector<float> state = s0, o(size_t(n) * d);
  cpu::lightning_recurrence(q.data(), k.data(), v.data(), d, o.data(), d, n, d, state.data(), slope);
  EXPECT_LT(relative_error(o, expected), 1e-5);
  EXPECT_LT(relative_error(state, ref_state), 1e-5);
}

TEST(CpuThreadPool, RunsEveryItemOnce) {
  cpu::ThreadPool pool(3);
  for (int round = 0; round < 50; ++round) {
    std::vector<int> hits(round + 1, 0);
    pool.parallel_for(round + 1, [&](int i) { hits[i]++; });
    for (int h : hits) EXPECT_EQ(h, 1);
  }
}
