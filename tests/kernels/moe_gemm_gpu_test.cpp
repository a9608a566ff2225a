// Grouped expert GEMMs (kernels/moe_gemm_gpu.h), both kernels, against float64 products of the
// same bf16 inputs: experts with no rows, one row, row counts off the 128-row tile and spanning
// several tiles (256, 257, 384, 511 rows), n and k off the 256/128 and 64 tiles, k long enough
// for the copy ring to wrap, k past and off the streaming kernel's split parts and load rounds;
// strided rows. The output is poisoned first,
// so an unwritten element (NaN) fails, and padding columns and rows past the grouped rows must
// stay poisoned. The per-expert cuBLAS path (moe_expert_gemms_per_expert) is held to the same
// float64 products and bounds, stage by stage.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <utility>
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

// (dot product, sum of |products|) of k bf16 values of x and w, in float64.
std::pair<double, double> dot(const Bf16 * x, const Bf16 * w, int k) {
  double sum = 0, abs_sum = 0;
  for (int i = 0; i < k; ++i) {
    const double p = double(from_bf16(x[i])) * from_bf16(w[i]);
    sum += p;
    abs_sum += std::fabs(p);
  }
  return {sum, abs_sum};
}

// A plain product rounded to bf16: one rounding plus fp32 accumulation.
double plain_bound(int k, double v, double abs_sum) {
  return kBf16Rounding * std::fabs(v) + accumulation_bound(k, abs_sum);
}

// bf16(bf16(silu(bf16 g)) * bf16 u) against silu(g) * u (returned in want): g and u each carry
// accumulation error and one rounding, silu(g) one more, the product one more; first-order
// propagation through silu' and the product, doubled to cover the second-order terms.
double swiglu_bound(int k, std::pair<double, double> g, std::pair<double, double> u, double & want) {
  const double dg = plain_bound(k, g.first, g.second), du = plain_bound(k, u.first, u.second);
  const double s = silu(g.first);
  want = s * u.first;
  const double ds = std::fabs(silu_slope(g.first)) * dg + kBf16Rounding * (std::fabs(s) + dg);
  return 2 * (ds * std::fabs(u.first) + std::fabs(s) * du + ds * du) + kBf16Rounding * std::fabs(want);
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

  // Row r against weight row `w_row` of expert e.
  auto dot_row = [&](int r, int e, int w_row) {
    return dot(in.data() + size_t(r) * in_stride, weights.data() + (size_t(e) * w_rows + size_t(w_row)) * c.k, c.k);
  };
  int bad = 0;
  for (int e = 0; e < E; ++e) {
    for (int r = offsets[size_t(e)]; r < offsets[size_t(e) + 1]; ++r) {
      for (int j = 0; j < c.n; ++j) {
        const double got = from_bf16(out[size_t(r) * out_stride + size_t(j)]);
        double want = 0, bound = 0;
        if (!c.swiglu) {
          const auto [v, abs_sum] = dot_row(r, e, j);
          want = v;
          bound = plain_bound(c.k, v, abs_sum);
        } else {
          bound = swiglu_bound(c.k, dot_row(r, e, j), dot_row(r, e, c.n + j), want);
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
      // k past kStreamSplit * 256 * kStreamUnroll (up to 4 * 256 * 4) and off that grid, so a
      // streaming warp's part of k (kernels/cuda/moe_gemm.cu) runs whole 4-load rounds, a part
      // round, a part of the lanes (4104 = 16 * 256 + 8) or, split 8 ways, nothing; 11 rows are a
      // pass of 8 and a pass of 3, 3 and 5 rows a part pass each.
      {{1, 0, 11}, 40, 5000, true},
      {{3, 0, 5}, 24, 4104, false},
  };
  for (const Case & c : cases)
    for (MoeGemmKernel kernel : {MoeGemmKernel::tensor, MoeGemmKernel::streaming}) run_case(c, kernel, rng);
}

// moe_expert_gemms_per_expert on host offsets with `counts` rows per expert, ffn F, width D. Each
// stage against its own float64 oracle: the gate half of the hidden scratch against the swiglu of
// the same bf16 inputs (the grouped swiglu cases' bound), and the output against the float64 down
// product of that bf16 hidden as the device left it (the plain bound). Rows past n_rows of hidden
// and out, and out's padding columns, must stay poisoned.
void run_per_expert_case(const std::vector<int> & counts, int F, int D, std::mt19937 & rng) {
  std::string name = "per-expert F " + std::to_string(F) + " D " + std::to_string(D) + " counts";
  for (int n : counts) name += " " + std::to_string(n);
  SCOPED_TRACE(name);
  const int E = int(counts.size()), rows = std::accumulate(counts.begin(), counts.end(), 0);
  const int in_stride = D + 8, out_stride = D + 8, H = 2 * F, extra_rows = 3;
  std::vector<int32_t> offsets(size_t(E) + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), offsets.begin() + 1);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<Bf16> in(size_t(rows) * in_stride), gate_up(size_t(E) * H * D), down(size_t(E) * D * F);
  for (Bf16 & x : in) x = to_bf16(normal(rng));
  for (Bf16 & x : gate_up) x = to_bf16(normal(rng) * 0.1f);
  for (Bf16 & x : down) x = to_bf16(normal(rng) * 0.1f);
  // One element at least, so that an empty batch still has buffers to poison and check.
  DeviceBuffer d_in = device_copy(in.empty() ? std::vector<Bf16>(8, 0) : in), d_gate_up = device_copy(gate_up);
  DeviceBuffer d_down = device_copy(down);
  DeviceBuffer d_hidden = device_copy(std::vector<Bf16>(size_t(rows + extra_rows) * H, kPoison));
  DeviceBuffer d_out = device_copy(std::vector<Bf16>(size_t(rows + extra_rows) * out_stride, kPoison));
  ASSERT_TRUE(d_in.data() && d_gate_up.data() && d_down.data() && d_hidden.data() && d_out.data());

  m1::kernels::gpu::MoePerExpertArgs args;
  args.n_rows = rows, args.n_experts = E, args.width = D, args.ffn = F, args.host_offsets = offsets.data();
  args.in = static_cast<const Bf16 *>(d_in.data()), args.in_stride = in_stride;
  args.gate_up = static_cast<const Bf16 *>(d_gate_up.data()), args.down = static_cast<const Bf16 *>(d_down.data());
  args.hidden = static_cast<Bf16 *>(d_hidden.data());
  args.out = static_cast<Bf16 *>(d_out.data()), args.out_stride = out_stride;
  const m1::Status status = m1::kernels::gpu::moe_expert_gemms_per_expert(args, nullptr);
  ASSERT_TRUE(status.ok()) << status.message();
  const std::vector<Bf16> hidden = host_copy<Bf16>(d_hidden, size_t(rows + extra_rows) * H);
  const std::vector<Bf16> out = host_copy<Bf16>(d_out, size_t(rows + extra_rows) * out_stride);
  ASSERT_FALSE(hidden.empty() || out.empty());

  int bad = 0;
  auto expect_near = [&](const char * what, int r, int e, int j, double got, double want, double bound) {
    if (!(std::fabs(got - want) <= bound + 1e-30) && ++bad <= 5)
      ADD_FAILURE() << what << " row " << r << " (expert " << e << ") col " << j << ": got " << got << ", want "
                    << want << " +- " << bound;
  };
  for (int e = 0; e < E; ++e) {
    const Bf16 * w1 = gate_up.data() + size_t(e) * H * D, * w2 = down.data() + size_t(e) * D * F;
    for (int r = offsets[size_t(e)]; r < offsets[size_t(e) + 1]; ++r) {
      const Bf16 * x = in.data() + size_t(r) * in_stride, * h = hidden.data() + size_t(r) * H;
      for (int j = 0; j < F; ++j) {
        double want = 0;
        const double bound = swiglu_bound(D, dot(x, w1 + size_t(j) * D, D), dot(x, w1 + size_t(F + j) * D, D), want);
        expect_near("hidden", r, e, j, from_bf16(h[j]), want, bound);
      }
      for (int j = 0; j < D; ++j) {
        const auto [v, abs_sum] = dot(h, w2 + size_t(j) * F, F);
        expect_near("out", r, e, j, from_bf16(out[size_t(r) * out_stride + size_t(j)]), v, plain_bound(F, v, abs_sum));
      }
      for (int j = D; j < out_stride; ++j)
        if (out[size_t(r) * out_stride + size_t(j)] != kPoison && ++bad <= 5)
          ADD_FAILURE() << "row " << r << " padding column " << j << " was written";
    }
  }
  for (size_t i = size_t(rows) * H; i < hidden.size(); ++i)
    if (hidden[i] != kPoison && ++bad <= 5) ADD_FAILURE() << "hidden element " << i << " past the rows was written";
  for (size_t i = size_t(rows) * out_stride; i < out.size(); ++i)
    if (out[i] != kPoison && ++bad <= 5) ADD_FAILURE() << "out element " << i << " past the rows was written";
  EXPECT_EQ(bad, 0);
}

TEST(MoeGemmGpu, PerExpertCublasMatchesFloat64OnRaggedExperts) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(37);
  std::vector<int> skewed(32);  // 200 tokens, top 2, most on a few experts, several with none
  std::discrete_distribution<int> pick({40, 30, 20, 10, 5, 5, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  for (int i = 0; i < 400; ++i) ++skewed[size_t(pick(rng))];
  // Empty experts first, between and last; one-row experts (the GEMV kernel gemm_nt picks for one
  // row); counts off cuBLAS's tiles (130, 257); the smallest shapes; and a batch with no rows.
  run_per_expert_case({0, 1, 130, 257, 7}, 136, 200, rng);
  run_per_expert_case(skewed, 64, 136, rng);
  run_per_expert_case({1, 1, 0, 1}, 24, 16, rng);
  run_per_expert_case({0, 0, 5, 0}, 40, 72, rng);
  run_per_expert_case({3}, 8, 8, rng);
  run_per_expert_case({0, 0}, 16, 16, rng);
}

TEST(MoeGemmGpu, PerExpertRejectsOffsetsThatDoNotCoverTheRows) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  DeviceBuffer d = device_copy(std::vector<Bf16>(1024, 0));
  std::vector<int32_t> offsets = {0, 4, 6};
  m1::kernels::gpu::MoePerExpertArgs args;
  args.n_rows = 5;  // offsets end at 6
  args.n_experts = 2, args.width = 16, args.ffn = 8, args.host_offsets = offsets.data();
  args.in = static_cast<const Bf16 *>(d.data()), args.in_stride = 16;
  args.gate_up = args.down = args.in, args.hidden = static_cast<Bf16 *>(d.data());
  args.out = static_cast<Bf16 *>(d.data()), args.out_stride = 16;
  m1::Status status = m1::kernels::gpu::moe_expert_gemms_per_expert(args, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("host_offsets must run from 0 to n_rows 5, found 0 to 6"), std::string::npos)
      << status.message();
  offsets = {0, 4, 3};  // a decreasing offset: expert 1 would have -1 rows
  args.n_rows = 3;
  status = m1::kernels::gpu::moe_expert_gemms_per_expert(args, nullptr);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("host_offsets decrease at expert 1"), std::string::npos) << status.message();
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
