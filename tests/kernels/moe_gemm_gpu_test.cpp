// Grouped expert GEMMs (kernels/moe_gemm_gpu.h), both kernels, against float64 products of the
// same bf16 inputs: experts with no rows, one row, row counts off the 128-row tile and spanning
// several tiles (256, 257, 384, 511 rows), n and k off the 256/128 and 64 tiles, k long enough
// for the copy ring to wrap; strided rows. The output is poisoned first,
// so an unwritten element (NaN) fails, and padding columns and rows past the grouped rows must
// stay poisoned.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/moe_gemm_gpu.h"
#include "tests/kernels/gpu_test_support.h"

namespace {

using m1::kernels::DeviceBuffer;
using m1::kernels::gpu::Bf16;
using m1::kernels::gpu::MoeGemmKernel;
using m1::test::device_copy;
using m1::test::from_bf16;
using m1::test::host_copy;
using m1::test::to_bf16;

constexpr Bf16 kPoison = 0xffff;  // a NaN
// One rounding to bf16 (round to nearest): at most half an ulp, 2^-8 of the value.
constexpr double kBf16Rounding = 1.0 / 256;
// fp32 accumulation of k products (exact in fp32, bf16 x bf16): at most k * 2^-24 of sum |x w|.
double accumulation_bound(int k, double sum_abs) { return k * std::ldexp(1.0, -24) * sum_abs; }

double silu(double x) { return x / (1 + std::exp(-x)); }
double silu_slope(double x) {
  const double s = 1 / (1 + std::exp(-x));
  return s * (1 + x * (1 - s));
}

struct Case {
  std::vector<int> counts;  // rows per expert
  int n, k;
  bool swiglu;
};

std::string describe(const Case & c, MoeGemmKernel kernel) {
  std::string s = std::string(kernel == MoeGemmKernel::tensor ? "tensor" : "streaming") + (c.swiglu ? " swiglu" : " plain") +
                  " n " + std::to_string(c.n) + " k " + std::to_string(c.k) + " counts";
  for (int n : c.counts) s += " " + std::to_string(n);
  return s;
}

void run_case(const Case & c, MoeGemmKernel kernel, std::mt19937 & rng) {
  SCOPED_TRACE(describe(c, kernel));
  const int E = int(c.counts.size()), rows = std::accumulate(c.counts.begin(), c.counts.end(), 0);
  const int in_stride = c.k + 8, out_stride = c.n + 8, extra_rows = 3, w_rows = c.swiglu ? 2 * c.n : c.n;
  std::vector<int32_t> offsets(size_t(E) + 1, 0);
  std::partial_sum(c.counts.begin(), c.counts.end(), offsets.begin() + 1);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<Bf16> in(size_t(rows) * in_stride), weights(size_t(E) * w_rows * c.k);
  for (Bf16 & x : in) x = to_bf16(normal(rng));
  for (Bf16 & x : weights) x = to_bf16(normal(rng) * 0.1f);
  DeviceBuffer d_in = device_copy(in), d_w = device_copy(weights), d_offsets = device_copy(offsets);
  DeviceBuffer d_out = device_copy(std::vector<Bf16>(size_t(rows + extra_rows) * out_stride, kPoison));
  ASSERT_TRUE(d_in.data() && d_w.data() && d_offsets.data() && d_out.data());

  m1::kernels::gpu::MoeGemmArgs args;
  args.n_rows = rows;
  args.n_experts = E;
  args.n = c.n;
  args.k = c.k;
  args.swiglu = c.swiglu;
  args.in = static_cast<const Bf16 *>(d_in.data());
  args.in_stride = in_stride;
  args.expert_offsets = static_cast<const int32_t *>(d_offsets.data());
  args.weights = static_cast<const Bf16 *>(d_w.data());
  args.out = static_cast<Bf16 *>(d_out.data());
  args.out_stride = out_stride;
  args.kernel = kernel;
  const m1::Status status = m1::kernels::gpu::moe_expert_gemm(args, nullptr);
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<Bf16> out = host_copy<Bf16>(d_out, size_t(rows + extra_rows) * out_stride);
  ASSERT_FALSE(out.empty());

  // (dot product, sum of |products|) of row r with weight row `w_row` of expert e, in float64.
  auto dot = [&](int r, int e, int w_row) {
    const Bf16 * x = in.data() + size_t(r) * in_stride;
    const Bf16 * w = weights.data() + (size_t(e) * w_rows + size_t(w_row)) * c.k;
    double sum = 0, abs_sum = 0;
    for (int i = 0; i < c.k; ++i) {
      const double p = double(from_bf16(x[i])) * from_bf16(w[i]);
      sum += p;
      abs_sum += std::fabs(p);
    }
    return std::pair<double, double>(sum, abs_sum);
  };
  int bad = 0;
  for (int e = 0; e < E; ++e) {
    for (int r = offsets[size_t(e)]; r < offsets[size_t(e) + 1]; ++r) {
      for (int j = 0; j < c.n; ++j) {
        const double got = from_bf16(out[size_t(r) * out_stride + size_t(j)]);
        double want, bound;
        if (!c.swiglu) {
          const auto [v, abs_sum] = dot(r, e, j);
          want = v;
          bound = kBf16Rounding * std::fabs(v) + accumulation_bound(c.k, abs_sum);
        } else {
          // bf16(bf16(silu(bf16 g)) * bf16 u): g and u each carry accumulation error and one rounding,
          // silu(g) one more, the product one more; first-order propagation through silu' and the
          // product, doubled to cover the second-order terms.
          const auto [g, g_abs] = dot(r, e, j);
          const auto [u, u_abs] = dot(r, e, c.n + j);
          const double dg = kBf16Rounding * std::fabs(g) + accumulation_bound(c.k, g_abs);
          const double du = kBf16Rounding * std::fabs(u) + accumulation_bound(c.k, u_abs);
          const double s = silu(g);
          want = s * u;
          const double ds = std::fabs(silu_slope(g)) * dg + kBf16Rounding * (std::fabs(s) + dg);
          bound = 2 * (ds * std::fabs(u) + std::fabs(s) * du + ds * du) + kBf16Rounding * std::fabs(want);
        }
        if (!(std::fabs(got - want) <= bound + 1e-30) && ++bad <= 5)
          ADD_FAILURE() << "row " << r << " (expert " << e << ") col " << j << ": got " << got << ", want " << want
                        << " +- " << bound;
      }
      for (int j = c.n; j < out_stride; ++j)
        if (out[size_t(r) * out_stride + size_t(j)] != kPoison && ++bad <= 5)
          ADD_FAILURE() << "row " << r << " padding column " << j << " was written";
    }
  }
  for (size_t i = size_t(rows) * out_stride; i < out.size(); ++i)
    if (out[i] != kPoison && ++bad <= 5) ADD_FAILURE() << "element " << i << " past the grouped rows was written";
  EXPECT_EQ(bad, 0);
}

TEST(MoeGemmGpu, BothKernelsMatchFloat64OnRaggedExperts) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(31);
  std::vector<int> skewed(32);  // 300 tokens, top 2, most on a few experts, several with none
  std::discrete_distribution<int> pick({40, 30, 20, 10, 5, 5, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  for (int i = 0; i < 600; ++i) ++skewed[size_t(pick(rng))];
  const std::vector<Case> cases = {
      {{0, 1, 130, 257, 7}, 264, 200, false},  // n spans two 256-tiles, k three 64-steps plus a part
      {{0, 1, 130, 257, 7}, 136, 200, true},   // 136 gate/up columns: two 128-column tiles
      {skewed, 64, 136, true},
      {skewed, 48, 72, false},
      // Expert sizes around the 128-row tile: 256 (two full tiles), 257 and 511 (a last tile of 1
      // or 127 rows), 64 / 65 (the tile's second 64-row half empty or holding one row), 384 (three
      // full tiles); k of 9 and 16 K steps, so the 4-stage copy ring wraps several times.
      {{256, 257, 511, 64, 65, 384}, 264, 520, false},
      {{256, 257, 511, 64, 65, 384}, 136, 1000, true},
      {{3}, 8, 8, false},                       // the smallest shapes allowed
      {{9, 0, 17}, 24, 16, true},               // more rows than the streaming kernel takes at once
  };
  for (const Case & c : cases)
    for (MoeGemmKernel kernel : {MoeGemmKernel::tensor, MoeGemmKernel::streaming}) run_case(c, kernel, rng);
}

TEST(MoeGemmGpu, RejectsShapesOffTheEightElementGrid) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  DeviceBuffer d = device_copy(std::vector<Bf16>(1024, 0));
  DeviceBuffer offsets = device_copy(std::vector<int32_t>{0, 4});
  m1::kernels::gpu::MoeGemmArgs args;
  args.n_rows = 4;
  args.n_experts = 1;
  args.n = 12;  // not a multiple of 8
  args.k = 16;
  args.in = static_cast<const Bf16 *>(d.data());
  args.in_stride = 16;
  args.expert_offsets = static_cast<const int32_t *>(offsets.data());
  args.weights = static_cast<const Bf16 *>(d.data());
  args.out = static_cast<Bf16 *>(d.data());
  args.out_stride = 16;
  const m1::Status status = m1::kernels::gpu::moe_expert_gemm(args, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("multiples of 8"), std::string::npos) << status.message();
}

}  // namespace
