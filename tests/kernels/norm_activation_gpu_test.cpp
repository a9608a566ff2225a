// Norm and activation kernels against float64 evaluations of M1_SPEC.md section 4 on the same
// bf16 inputs: the postnorm residual RMSNorm, the lightning output norm with its sigmoid gate,
// SwiGLU and SiLU. Widths sweep the real ones (6144, 8192), the largest supported (12288) and a
// small odd multiple of 8; row counts are odd; outputs are poisoned with NaN before each launch.
// The norm with the MoE un-permute fused in must equal moe_unpermute then the norm bit for bit
// (both tested against float64 here and in moe_routing_gpu_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/activation_gpu.h"
#include "kernels/moe_routing_gpu.h"
#include "kernels/norm_gpu.h"
#include "tests/kernels/gpu_test_support.h"

namespace {

using m1::kernels::DeviceBuffer;
using m1::kernels::gpu::Bf16;
using m1::test::device_copy;
using m1::test::from_bf16;
using m1::test::host_copy;
using m1::test::to_bf16;

// Per-element relative tolerances: each rounding to bf16 costs at most one unit roundoff
// u = 2^-8 = 3.9e-3 (half an ulp, or a full ulp where an fp32 difference flips the rounding of a
// value that lies on a boundary). residual_rms_norm and swiglu round twice (8e-3), gated_rms_norm
// three times (1.2e-2), silu once (4e-3). fp32 sums and rsqrt add under 1e-5.
constexpr double kTwoRoundings = 8e-3;
constexpr double kThreeRoundings = 1.2e-2;
constexpr double kOneRounding = 4e-3;

std::vector<Bf16> random_bf16(size_t n, std::mt19937 & rng, float stddev = 1.f, float mean = 0.f) {
  std::normal_distribution<float> normal(mean, stddev);
  std::vector<Bf16> v(n);
  for (Bf16 & x : v) x = to_bf16(normal(rng));
  return v;
}

// Counts elements where |got - want| > tol * |want| (NaN counts as a miss).
int count_misses(const std::vector<Bf16> & got, const std::vector<double> & want, double tol) {
  int misses = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = from_bf16(got[i]);
    if (!(std::abs(g - want[i]) <= tol * std::abs(want[i]) + 1e-30)) ++misses;
  }
  return misses;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double silu(double x) { return x * sigmoid(x); }

TEST(NormGpu, ResidualRmsNormMatchesFloat64) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(11);
  const float alpha = 3.5565588200778455f, beta = 1.f;  // the M1 config's alpha = (2*80)^(1/4)
  for (int width : {40, 6144, 12288}) {
    for (bool with_branch : {true, false}) {
      SCOPED_TRACE("width " + std::to_string(width) + (with_branch ? " with branch" : " without branch"));
      const int n_rows = 7, stride = width + 8;  // padded rows check the stride handling
      std::vector<Bf16> skip = random_bf16(static_cast<size_t>(n_rows) * stride, rng);
      std::vector<Bf16> branch = random_bf16(static_cast<size_t>(n_rows) * stride, rng, 3.f);
      std::vector<Bf16> weight = random_bf16(width, rng, 0.2f, 1.f);
      DeviceBuffer d_skip = device_copy(skip), d_branch = device_copy(branch), d_weight = device_copy(weight);
      DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_rows) * width, 0xffff));
      m1::kernels::gpu::ResidualRmsNormArgs args;
      args.n_rows = n_rows;
      args.width = width;
      args.skip = static_cast<const Bf16 *>(d_skip.data());
      args.skip_stride = stride;
      args.branch = with_branch ? static_cast<const Bf16 *>(d_branch.data()) : nullptr;
      args.branch_stride = stride;
      args.alpha = alpha;
      args.beta = beta;
      args.weight = static_cast<const Bf16 *>(d_weight.data());
      args.eps = 1e-5f;
      args.out = static_cast<Bf16 *>(d_out.data());
      args.out_stride = width;
      m1::Status status = m1::kernels::gpu::residual_rms_norm(args, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();
      std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_rows) * width);
      ASSERT_FALSE(out.empty());

      std::vector<double> want;
      for (int r = 0; r < n_rows; ++r) {
        std::vector<double> x(width);
        double sum_sq = 0;
        for (int c = 0; c < width; ++c) {
          x[c] = alpha * from_bf16(skip[r * stride + c]) + (with_branch ? beta * from_bf16(branch[r * stride + c]) : 0.0);
          sum_sq += x[c] * x[c];
        }
        const double rstd = 1.0 / std::sqrt(sum_sq / width + 1e-5);
        for (int c = 0; c < width; ++c) want.push_back(x[c] * rstd * from_bf16(weight[c]));
      }
      EXPECT_EQ(count_misses(out, want, kTwoRoundings), 0);
    }
  }
}

// The fp32 residual stream: fp32 (or bf16) skip and branch rows in, the fp32 normed row out and
// its bf16 copy. fp32 arithmetic: the sum, the sum of squares over <= 12288 values and rsqrtf stay
// within 1e-5 of float64 relative to the size of the terms (|alpha*skip| + |beta*branch|) * rstd * w,
// which also covers cancellation in the sum; the bf16 copy adds one rounding of the fp32 value.
TEST(NormGpu, ResidualRmsNormFp32StreamMatchesFloat64) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(14);
  std::normal_distribution<float> normal(0.f, 1.f);
  const float alpha = 3.5565588200778455f, beta = 0.9f;
  enum class Branch { none, bf16, f32 };
  struct Case {
    int width;
    bool skip_f32;
    Branch branch;
    bool bf16_copy, in_place;
  };
  for (const Case & k : {Case{40, true, Branch::f32, true, false}, Case{6144, true, Branch::bf16, true, false},
                         Case{12288, true, Branch::f32, false, true}, Case{6144, false, Branch::none, true, false},
                         Case{8192, true, Branch::none, false, false}}) {
    SCOPED_TRACE("width " + std::to_string(k.width) + " skip " + (k.skip_f32 ? "f32" : "bf16") + " branch " +
                 std::to_string(int(k.branch)) + (k.in_place ? " in place" : ""));
    const int n_rows = 5, width = k.width, stride = width + 8;
    const size_t n = size_t(n_rows) * stride;
    std::vector<float> skip(n), branch(n);
    for (float & v : skip) v = k.skip_f32 ? normal(rng) : m1::test::round_bf16(normal(rng));
    for (float & v : branch) v = k.branch == Branch::bf16 ? m1::test::round_bf16(3.f * normal(rng)) : 3.f * normal(rng);
    std::vector<Bf16> skip16(n), branch16(n);
    for (size_t i = 0; i < n; ++i) skip16[i] = to_bf16(skip[i]), branch16[i] = to_bf16(branch[i]);
    std::vector<Bf16> weight = random_bf16(width, rng, 0.2f, 1.f);
    DeviceBuffer d_skip = k.skip_f32 ? device_copy(skip) : device_copy(skip16);
    DeviceBuffer d_branch = k.branch == Branch::bf16 ? device_copy(branch16) : device_copy(branch);
    DeviceBuffer d_weight = device_copy(weight);
    DeviceBuffer d_out32 = device_copy(std::vector<float>(n, NAN));
    DeviceBuffer d_out16 = device_copy(std::vector<Bf16>(size_t(n_rows) * width, 0xffff));
    m1::kernels::gpu::ResidualRmsNormArgs args;
    args.n_rows = n_rows, args.width = width, args.skip_stride = stride, args.branch_stride = stride;
    if (k.skip_f32) args.skip_f32 = static_cast<const float *>(d_skip.data());
    else args.skip = static_cast<const Bf16 *>(d_skip.data());
    if (k.branch == Branch::f32) args.branch_f32 = static_cast<const float *>(d_branch.data());
    if (k.branch == Branch::bf16) args.branch = static_cast<const Bf16 *>(d_branch.data());
    args.alpha = alpha, args.beta = beta, args.weight = static_cast<const Bf16 *>(d_weight.data()), args.eps = 1e-5f;
    float * out32 = k.in_place ? static_cast<float *>(d_skip.data()) : static_cast<float *>(d_out32.data());
    args.out_f32 = out32, args.out_f32_stride = stride;
    if (k.bf16_copy) args.out = static_cast<Bf16 *>(d_out16.data()), args.out_stride = width;
    m1::Status status = m1::kernels::gpu::residual_rms_norm(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<float> got32 = host_copy<float>(k.in_place ? d_skip : d_out32, n);
    std::vector<Bf16> got16 = host_copy<Bf16>(d_out16, size_t(n_rows) * width);
    ASSERT_FALSE(got32.empty() || got16.empty());
    int misses32 = 0, misses16 = 0;
    for (int r = 0; r < n_rows; ++r) {
      std::vector<double> x(width), size(width);
      double sum_sq = 0;
      for (int c = 0; c < width; ++c) {
        const size_t i = size_t(r) * stride + c;
        const double b = k.branch == Branch::none ? 0.0 : beta * double(branch[i]);
        x[c] = alpha * double(skip[i]) + b;
        size[c] = std::abs(alpha * double(skip[i])) + std::abs(b);
        sum_sq += x[c] * x[c];
      }
      const double rstd = 1.0 / std::sqrt(sum_sq / width + 1e-5);
      for (int c = 0; c < width; ++c) {
        const double w = from_bf16(weight[c]), want = x[c] * rstd * w, slack = 1e-5 * size[c] * rstd * std::abs(w);
        const double g32 = got32[size_t(r) * stride + c];
        misses32 += !(std::abs(g32 - want) <= slack);
        if (k.bf16_copy) {
          const double g16 = from_bf16(got16[size_t(r) * width + c]);
          misses16 += !(std::abs(g16 - want) <= kOneRounding * std::abs(want) + slack);
        } else {
          misses16 += got16[size_t(r) * width + c] != 0xffff;  // no bf16 copy asked for: untouched
        }
      }
    }
    EXPECT_EQ(misses32, 0);
    EXPECT_EQ(misses16, 0);
  }
}

TEST(NormGpu, ResidualRmsNormWithGatheredMoeBranchEqualsUnpermuteThenNorm) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(15);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int width : {40, 6144}) {
    for (int top_k : {1, 2, 8}) {
      SCOPED_TRACE("width " + std::to_string(width) + ", top " + std::to_string(top_k));
      const int n_rows = 7, n_entries = n_rows * top_k;
      std::vector<float> skip(size_t(n_rows) * width), weights(n_entries);
      for (float & v : skip) v = normal(rng);
      for (float & v : weights) v = std::abs(normal(rng));
      std::vector<int32_t> rows(n_entries);  // a permutation of the entries
      for (int i = 0; i < n_entries; ++i) rows[i] = (i * 5 + 3) % n_entries;
      if (std::gcd(5, n_entries) != 1) std::iota(rows.rbegin(), rows.rend(), 0);
      std::vector<Bf16> expert_out = random_bf16(size_t(n_entries) * width, rng, 2.f);
      std::vector<Bf16> weight = random_bf16(width, rng, 0.2f, 1.f);
      DeviceBuffer d_skip = device_copy(skip), d_weights = device_copy(weights), d_rows = device_copy(rows);
      DeviceBuffer d_expert_out = device_copy(expert_out), d_weight = device_copy(weight);
      DeviceBuffer d_branch = device_copy(std::vector<Bf16>(size_t(n_rows) * width, 0xffff));
      std::vector<DeviceBuffer> out32, out16;
      for (int fused = 0; fused < 2; ++fused) {
        out32.push_back(device_copy(std::vector<float>(size_t(n_rows) * width, NAN)));
        out16.push_back(device_copy(std::vector<Bf16>(size_t(n_rows) * width, 0xffff)));
        m1::kernels::gpu::ResidualRmsNormArgs args;
        args.n_rows = n_rows, args.width = width, args.skip_f32 = static_cast<const float *>(d_skip.data());
        args.skip_stride = width, args.alpha = 3.5f, args.beta = 0.75f;
        args.weight = static_cast<const Bf16 *>(d_weight.data()), args.eps = 1e-5f;
        args.out_f32 = static_cast<float *>(out32.back().data()), args.out_f32_stride = width;
        args.out = static_cast<Bf16 *>(out16.back().data()), args.out_stride = width;
        if (fused) {
          args.gather = static_cast<const Bf16 *>(d_expert_out.data());
          args.gather_rows = static_cast<const int32_t *>(d_rows.data());
          args.gather_weights = static_cast<const float *>(d_weights.data()), args.gather_k = top_k;
        } else {
          m1::kernels::gpu::MoeUnpermuteArgs ua;
          ua.n_tokens = n_rows, ua.top_k = top_k, ua.width = width;
          ua.expert_out = static_cast<const Bf16 *>(d_expert_out.data());
          ua.entry_rows = static_cast<const int32_t *>(d_rows.data());
          ua.weights = static_cast<const float *>(d_weights.data());
          ua.out = static_cast<Bf16 *>(d_branch.data()), ua.out_stride = width;
          const m1::Status status = m1::kernels::gpu::moe_unpermute(ua, nullptr);
          ASSERT_TRUE(status.ok()) << status.message();
          args.branch = static_cast<const Bf16 *>(d_branch.data()), args.branch_stride = width;
        }
        const m1::Status status = m1::kernels::gpu::residual_rms_norm(args, nullptr);
        ASSERT_TRUE(status.ok()) << status.message();
      }
      const size_t n = size_t(n_rows) * width;
      std::vector<float> separate32 = host_copy<float>(out32[0], n), fused32 = host_copy<float>(out32[1], n);
      ASSERT_FALSE(separate32.empty() || fused32.empty());
      EXPECT_FALSE(std::isnan(separate32[0]));
      EXPECT_EQ(0, std::memcmp(separate32.data(), fused32.data(), n * 4)) << "fp32 outputs differ";
      EXPECT_EQ(host_copy<Bf16>(out16[0], n), host_copy<Bf16>(out16[1], n));
    }
  }
}

TEST(NormGpu, ResidualRmsNormRejectsAmbiguousInputs) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  DeviceBuffer rows = device_copy(std::vector<float>(64, 1.f)), weight = device_copy(std::vector<Bf16>(8, 0x3f80));
  m1::kernels::gpu::ResidualRmsNormArgs args;
  args.n_rows = 2, args.width = 8, args.skip_stride = 8, args.branch_stride = 8;
  args.skip = static_cast<const Bf16 *>(rows.data()), args.skip_f32 = static_cast<const float *>(rows.data());
  args.weight = static_cast<const Bf16 *>(weight.data());
  args.out_f32 = static_cast<float *>(rows.data()) + 32, args.out_f32_stride = 8;
  m1::Status both = m1::kernels::gpu::residual_rms_norm(args, nullptr);
  EXPECT_NE(both.message().find("exactly one of skip and skip_f32"), std::string::npos) << both.message();
  args.skip = nullptr, args.out_f32 = nullptr;
  m1::Status no_out = m1::kernels::gpu::residual_rms_norm(args, nullptr);
  EXPECT_NE(no_out.message().find("neither out nor out_f32"), std::string::npos) << no_out.message();
}

TEST(NormGpu, GatedRmsNormMatchesFloat64) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(12);
  for (int width : {40, 8192}) {
    SCOPED_TRACE("width " + std::to_string(width));
    const int n_rows = 9;
    std::vector<Bf16> in = random_bf16(static_cast<size_t>(n_rows) * width, rng, 0.3f);
    std::vector<Bf16> gate = random_bf16(static_cast<size_t>(n_rows) * width, rng, 2.f);
    std::vector<Bf16> weight = random_bf16(width, rng, 0.2f, 1.f);
    DeviceBuffer d_in = device_copy(in), d_gate = device_copy(gate), d_weight = device_copy(weight);
    DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_rows) * width, 0xffff));
    m1::kernels::gpu::GatedRmsNormArgs args;
    args.n_rows = n_rows;
    args.width = width;
    args.in = static_cast<const Bf16 *>(d_in.data());
    args.in_stride = width;
    args.gate = static_cast<const Bf16 *>(d_gate.data());
    args.gate_stride = width;
    args.weight = static_cast<const Bf16 *>(d_weight.data());
    args.eps = 1e-6f;
    args.out = static_cast<Bf16 *>(d_out.data());
    args.out_stride = width;
    m1::Status status = m1::kernels::gpu::gated_rms_norm(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_rows) * width);
    ASSERT_FALSE(out.empty());
    std::vector<double> want;
    for (int r = 0; r < n_rows; ++r) {
      double sum_sq = 0;
      for (int c = 0; c < width; ++c) sum_sq += std::pow(from_bf16(in[r * width + c]), 2);
      const double rstd = 1.0 / std::sqrt(sum_sq / width + 1e-6);
      for (int c = 0; c < width; ++c)
        want.push_back(from_bf16(in[r * width + c]) * rstd * from_bf16(weight[c]) * sigmoid(from_bf16(gate[r * width + c])));
    }
    EXPECT_EQ(count_misses(out, want, kThreeRoundings), 0);
  }
}

TEST(ActivationGpu, SwigluAndSiluMatchFloat64) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(13);
  const int n_rows = 11, width = 9216 + 8;  // the expert width plus one chunk
  // gate and up side by side in one [rows, 2 * width] buffer, as a fused gate_up GEMM writes them
  std::vector<Bf16> gate_up = random_bf16(static_cast<size_t>(n_rows) * 2 * width, rng, 2.f);
  DeviceBuffer d_gate_up = device_copy(gate_up);
  DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_rows) * width, 0xffff));
  m1::kernels::gpu::SwigluArgs args;
  args.n_rows = n_rows;
  args.width = width;
  args.gate = static_cast<const Bf16 *>(d_gate_up.data());
  args.gate_stride = 2 * width;
  args.up = static_cast<const Bf16 *>(d_gate_up.data()) + width;
  args.up_stride = 2 * width;
  args.out = static_cast<Bf16 *>(d_out.data());
  args.out_stride = width;
  m1::Status status = m1::kernels::gpu::swiglu(args, nullptr);
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_rows) * width);
  ASSERT_FALSE(out.empty());
  std::vector<double> want;
  for (int r = 0; r < n_rows; ++r)
    for (int c = 0; c < width; ++c)
      want.push_back(silu(from_bf16(gate_up[r * 2 * width + c])) * from_bf16(gate_up[r * 2 * width + width + c]));
  EXPECT_EQ(count_misses(out, want, kTwoRoundings), 0);

  // silu on the first `width` columns of strided rows (the gate halves); the up halves stay as they were.
  status = m1::kernels::gpu::silu_rows_inplace(static_cast<Bf16 *>(d_gate_up.data()), n_rows, width, 2 * width, nullptr);
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<Bf16> activated = host_copy<Bf16>(d_gate_up, gate_up.size());
  ASSERT_EQ(activated.size(), gate_up.size());
  std::vector<Bf16> gates, ups, ups_after;
  std::vector<double> want_silu;
  for (int r = 0; r < n_rows; ++r)
    for (int c = 0; c < width; ++c) {
      const size_t gate_at = size_t(r) * 2 * width + c, up_at = gate_at + width;
      gates.push_back(activated[gate_at]);
      want_silu.push_back(silu(from_bf16(gate_up[gate_at])));
      ups.push_back(gate_up[up_at]);
      ups_after.push_back(activated[up_at]);
    }
  EXPECT_EQ(count_misses(gates, want_silu, kOneRounding), 0);
  EXPECT_EQ(ups_after, ups);
}

}  // namespace
