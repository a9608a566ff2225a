// MoE routing and permutation kernels against float64 / exact host evaluations of M1_SPEC.md
// section 4 "MoE": softmax over all experts, top-k with ties broken towards the lower expert
// index, renormalized weights; the permutation is checked exactly (offsets, stable rows, copied
// rows) and the weighted un-permute against a float64 sum. The fused decode routing (router GEMV,
// route and permute in one launch) is checked against the same host evaluation on float64 logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/moe_routing_gpu.h"
#include "tests/kernels/gpu_test_support.h"

namespace {

using m1::kernels::DeviceBuffer;
using m1::kernels::gpu::Bf16;
using m1::test::device_copy;
using m1::test::from_bf16;
using m1::test::host_copy;
using m1::test::to_bf16;

// fp32 softmax and renormalization against float64: expf and the divisions each cost a few fp32
// ulps (1.2e-7 each); 2e-6 relative leaves room for the sum over up to 256 experts.
constexpr double kWeightTol = 2e-6;
// Un-permute: fp32 accumulation of k products (error <= k * 6e-8 of sum |w y|) and one rounding
// of the result to bf16 (<= 2^-8 relative, a full ulp where fp32 error flips a boundary).
constexpr double kUnpermuteRelTol = 4e-3;
constexpr double kUnpermuteAbsTol = 1e-6;

struct Routing {
  std::vector<int32_t> experts;
  std::vector<double> weights;
};

// Host routing in float64 on the same fp32 logits.
Routing route_on_host(const std::vector<float> & logits, int n_tokens, int n_experts, int top_k) {
  Routing r;
  for (int t = 0; t < n_tokens; ++t) {
    const float * l = logits.data() + static_cast<size_t>(t) * n_experts;
    double mx = *std::max_element(l, l + n_experts), sum = 0;
    std::vector<double> p(n_experts);
    for (int e = 0; e < n_experts; ++e) sum += p[e] = std::exp(l[e] - mx);
    std::vector<int> order(n_experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return l[a] > l[b]; });
    double chosen = 0;
    for (int s = 0; s < top_k; ++s) chosen += p[order[s]] / sum;
    for (int s = 0; s < top_k; ++s) {
      r.experts.push_back(order[s]);
      r.weights.push_back(p[order[s]] / sum / chosen);
    }
  }
  return r;
}

TEST(MoeRoutingGpu, TopKMatchesFloat64WithTiesToLowerIndex) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(21);
  struct Case { int n_tokens, n_experts, top_k; bool ties; };
  for (Case c : {Case{1001, 32, 2, false}, Case{257, 32, 2, true}, Case{63, 200, 8, true}, Case{5, 7, 7, false}}) {
    SCOPED_TRACE(std::to_string(c.n_tokens) + " tokens, " + std::to_string(c.n_experts) + " experts, top " +
                 std::to_string(c.top_k) + (c.ties ? ", with ties" : ""));
    std::vector<float> logits(static_cast<size_t>(c.n_tokens) * c.n_experts);
    std::normal_distribution<float> normal(0.f, 2.f);
    std::uniform_int_distribution<int> grid(-6, 6);
    // with ties: logits on a 1/4 grid, so equal logits are frequent and distinct ones far apart
    for (float & x : logits) x = c.ties ? grid(rng) * 0.25f : normal(rng);
    DeviceBuffer d_logits = device_copy(logits);
    DeviceBuffer d_experts = device_copy(std::vector<int32_t>(static_cast<size_t>(c.n_tokens) * c.top_k, -1));
    DeviceBuffer d_weights = device_copy(std::vector<float>(static_cast<size_t>(c.n_tokens) * c.top_k, NAN));
    m1::kernels::gpu::MoeRouteArgs args;
    args.n_tokens = c.n_tokens;
    args.n_experts = c.n_experts;
    args.top_k = c.top_k;
    args.logits = static_cast<const float *>(d_logits.data());
    args.experts = static_cast<int32_t *>(d_experts.data());
    args.weights = static_cast<float *>(d_weights.data());
    m1::Status status = m1::kernels::gpu::moe_route(args, nullptr);
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<int32_t> experts = host_copy<int32_t>(d_experts, static_cast<size_t>(c.n_tokens) * c.top_k);
    std::vector<float> weights = host_copy<float>(d_weights, experts.size());
    Routing want = route_on_host(logits, c.n_tokens, c.n_experts, c.top_k);
    ASSERT_EQ(experts, want.experts);
    for (size_t i = 0; i < weights.size(); ++i)
      ASSERT_NEAR(weights[i], want.weights[i], kWeightTol * want.weights[i] + 1e-12) << "entry " << i;
  }
}

TEST(MoeRoutingGpu, PermuteGroupsStablyAndUnpermuteSumsWeighted) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(22);
  const int n_experts = 32, top_k = 2;
  for (int width : {136, 6144}) {
    for (int n_tokens : {1, 301}) {
      SCOPED_TRACE(std::to_string(n_tokens) + " tokens, width " + std::to_string(width));
      // Skewed routing: experts 0-7 take most tokens and some experts get none.
      std::vector<int32_t> experts;
      std::uniform_int_distribution<int> hot(0, 7), any(0, n_experts - 1), coin(0, 3);
      for (int t = 0; t < n_tokens; ++t) {
        int a = coin(rng) ? hot(rng) : any(rng), b;
        do b = coin(rng) ? hot(rng) : any(rng) % 20; while (b == a);
        experts.push_back(a);
        experts.push_back(b);
      }
      std::uniform_real_distribution<float> uniform(0.f, 1.f);
      std::vector<float> weights;
      for (int t = 0; t < n_tokens; ++t) {
        float w = uniform(rng);
        weights.push_back(w);
        weights.push_back(1.f - w);
      }
      const int in_stride = width + 16;
      std::vector<Bf16> in(static_cast<size_t>(n_tokens) * in_stride);
      std::normal_distribution<float> normal(0.f, 1.f);
      for (Bf16 & x : in) x = to_bf16(normal(rng));
      const size_t n_entries = static_cast<size_t>(n_tokens) * top_k;

      DeviceBuffer d_experts = device_copy(experts), d_in = device_copy(in), d_weights = device_copy(weights);
      DeviceBuffer d_permuted = device_copy(std::vector<Bf16>(n_entries * width, 0xffff));
      DeviceBuffer d_offsets = device_copy(std::vector<int32_t>(n_experts + 1, -1));
      DeviceBuffer d_rows = device_copy(std::vector<int32_t>(n_entries, -1));
      m1::kernels::gpu::MoePermuteArgs pa;
      pa.n_tokens = n_tokens;
      pa.n_experts = n_experts;
      pa.top_k = top_k;
      pa.width = width;
      pa.experts = static_cast<const int32_t *>(d_experts.data());
      pa.in = static_cast<const Bf16 *>(d_in.data());
      pa.in_stride = in_stride;
      pa.permuted = static_cast<Bf16 *>(d_permuted.data());
      pa.expert_offsets = static_cast<int32_t *>(d_offsets.data());
      pa.entry_rows = static_cast<int32_t *>(d_rows.data());
      m1::Status status = m1::kernels::gpu::moe_permute(pa, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();

      // Exact expectations: expert e owns rows [offset_e, offset_e+1) in token order.
      std::vector<int32_t> want_offsets(n_experts + 1, 0), want_rows(n_entries);
      for (int32_t e : experts) ++want_offsets[e + 1];
      std::partial_sum(want_offsets.begin(), want_offsets.end(), want_offsets.begin());
      std::vector<int32_t> next = want_offsets;
      for (size_t i = 0; i < n_entries; ++i) want_rows[i] = next[experts[i]]++;
      EXPECT_EQ(host_copy<int32_t>(d_offsets, n_experts + 1), want_offsets);
      EXPECT_EQ(host_copy<int32_t>(d_rows, n_entries), want_rows);
      std::vector<Bf16> permuted = host_copy<Bf16>(d_permuted, n_entries * width);
      ASSERT_FALSE(permuted.empty());
      int wrong_rows = 0;
      for (size_t i = 0; i < n_entries; ++i)
        wrong_rows += !std::equal(in.begin() + (i / top_k) * in_stride, in.begin() + (i / top_k) * in_stride + width,
                                  permuted.begin() + static_cast<size_t>(want_rows[i]) * width);
      EXPECT_EQ(wrong_rows, 0);

      // Un-permute random expert outputs.
      std::vector<Bf16> expert_out(n_entries * width);
      for (Bf16 & x : expert_out) x = to_bf16(normal(rng));
      DeviceBuffer d_expert_out = device_copy(expert_out);
      DeviceBuffer d_out = device_copy(std::vector<Bf16>(static_cast<size_t>(n_tokens) * width, 0xffff));
      m1::kernels::gpu::MoeUnpermuteArgs ua;
      ua.n_tokens = n_tokens;
      ua.top_k = top_k;
      ua.width = width;
      ua.expert_out = static_cast<const Bf16 *>(d_expert_out.data());
      ua.entry_rows = static_cast<const int32_t *>(d_rows.data());
      ua.weights = static_cast<const float *>(d_weights.data());
      ua.out = static_cast<Bf16 *>(d_out.data());
      ua.out_stride = width;
      status = m1::kernels::gpu::moe_unpermute(ua, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();
      std::vector<Bf16> out = host_copy<Bf16>(d_out, static_cast<size_t>(n_tokens) * width);
      ASSERT_FALSE(out.empty());
      int misses = 0;
      for (int t = 0; t < n_tokens; ++t)
        for (int c = 0; c < width; ++c) {
          double want = 0, magnitude = 0;
          for (int s = 0; s < top_k; ++s) {
            const size_t entry = static_cast<size_t>(t) * top_k + s;
            const double term = weights[entry] * from_bf16(expert_out[static_cast<size_t>(want_rows[entry]) * width + c]);
            want += term;
            magnitude += std::abs(term);
          }
          const double got = from_bf16(out[static_cast<size_t>(t) * width + c]);
          misses += !(std::abs(got - want) <= kUnpermuteRelTol * std::abs(want) + kUnpermuteAbsTol * magnitude);
        }
      EXPECT_EQ(misses, 0);
    }
  }
}

// Host expectations of a permutation: offsets per expert, and each entry's row (stable in token order).
void expected_permutation(const std::vector<int32_t> & experts, int n_experts, std::vector<int32_t> & offsets,
                          std::vector<int32_t> & rows) {
  offsets.assign(n_experts + 1, 0);
  rows.assign(experts.size(), 0);
  for (int32_t e : experts) ++offsets[e + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  std::vector<int32_t> next = offsets;
  for (size_t i = 0; i < experts.size(); ++i) rows[i] = next[experts[i]]++;
}

TEST(MoeRoutingGpu, FusedDecodeRoutingMatchesFloat64RouterAndHostPermutation) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  std::mt19937 rng(23);
  struct Case { int n_tokens, n_experts, top_k, width; bool ties; };
  for (Case c : {Case{1, 32, 2, 6144, false}, Case{1, 16, 2, 2048, true}, Case{3, 32, 2, 136, true},
                 Case{8, 32, 2, 6144, true}, Case{5, 200, 8, 1032, false}, Case{8, 7, 7, 40, true},
                 Case{2, 256, 8, 8200, true}}) {
    SCOPED_TRACE(std::to_string(c.n_tokens) + " tokens, " + std::to_string(c.n_experts) + " experts, top " +
                 std::to_string(c.top_k) + ", width " + std::to_string(c.width) + (c.ties ? ", near and exact ties" : ""));
    const int T = c.n_tokens, E = c.n_experts, K = c.top_k, W = c.width, x_stride = W + 8, in_stride = W + 16;
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> router(size_t(E) * W);
    for (float & w : router) w = normal(rng) / std::sqrt(float(W));
    if (c.ties) {
      // Every third expert repeats the one before it (exact ties: the lower index must win); every
      // fifth is the one before it with one weight moved so that its logits differ by ~0.02 (near
      // ties, far above fp32 summation error, that the fp32 GEMV must resolve as float64 does).
      for (int e = 1; e < E; ++e) {
        float * row = router.data() + size_t(e) * W;
        if (e % 3 == 0) std::copy(row - W, row, row);
        else if (e % 5 == 0) {
          std::copy(row - W, row, row);
          row[e % W] += 0.02f;
        }
      }
    }
    DeviceBuffer d_router = device_copy(router);
    DeviceBuffer d_counter = device_copy(std::vector<uint32_t>(1, 0));
    for (int rep = 0; rep < 2; ++rep) {  // the second launch reuses the counter the first left at zero
      SCOPED_TRACE("launch " + std::to_string(rep));
      std::vector<float> x(size_t(T) * x_stride, NAN);
      std::vector<Bf16> in(size_t(T) * in_stride);
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < W; ++i) x[size_t(t) * x_stride + i] = normal(rng);
      if (c.ties)  // the moved weights' inputs are 1, so each near tie differs by 0.02
        for (int t = 0; t < T; ++t)
          for (int e = 5; e < E; e += 5) x[size_t(t) * x_stride + e % W] = 1.f;
      std::vector<float> host_logits(size_t(T) * E);
      std::vector<double> magnitude(size_t(T) * E);
      for (int t = 0; t < T; ++t)
        for (int e = 0; e < E; ++e) {
          double sum = 0, size = 0;
          for (int i = 0; i < W; ++i) {
            const double term = double(x[size_t(t) * x_stride + i]) * router[size_t(e) * W + i];
            sum += term, size += std::abs(term);
          }
          host_logits[size_t(t) * E + e] = float(sum);
          magnitude[size_t(t) * E + e] = size;
        }
      for (int t = 0; t < T; ++t)
        for (int i = 0; i < W; ++i) in[size_t(t) * in_stride + i] = to_bf16(x[size_t(t) * x_stride + i]);
      const size_t n_entries = size_t(T) * K;
      DeviceBuffer d_x = device_copy(x), d_in = device_copy(in);
      DeviceBuffer d_logits = device_copy(std::vector<float>(size_t(T) * E, NAN));
      DeviceBuffer d_experts = device_copy(std::vector<int32_t>(n_entries, -1));
      DeviceBuffer d_weights = device_copy(std::vector<float>(n_entries, NAN));
      DeviceBuffer d_permuted = device_copy(std::vector<Bf16>(n_entries * W, 0xffff));
      DeviceBuffer d_offsets = device_copy(std::vector<int32_t>(E + 1, -1));
      DeviceBuffer d_rows = device_copy(std::vector<int32_t>(n_entries, -1));
      m1::kernels::gpu::MoeRoutePermuteArgs a;
      a.n_tokens = T, a.n_experts = E, a.top_k = K, a.width = W;
      a.x = static_cast<const float *>(d_x.data()), a.x_stride = x_stride;
      a.router = static_cast<const float *>(d_router.data());
      a.in = static_cast<const Bf16 *>(d_in.data()), a.in_stride = in_stride;
      a.logits = static_cast<float *>(d_logits.data());
      a.experts = static_cast<int32_t *>(d_experts.data()), a.weights = static_cast<float *>(d_weights.data());
      a.permuted = static_cast<Bf16 *>(d_permuted.data());
      a.expert_offsets = static_cast<int32_t *>(d_offsets.data()), a.entry_rows = static_cast<int32_t *>(d_rows.data());
      a.counter = static_cast<unsigned *>(d_counter.data());
      m1::Status status = m1::kernels::gpu::moe_route_permute_small(a, nullptr);
      ASSERT_TRUE(status.ok()) << status.message();

      // fp32 dot products of W terms: per-thread chains of W / 1024 float4s, then 13 tree levels;
      // 1e-5 of sum |x w| bounds that with room (2^-24 per operation).
      std::vector<float> logits = host_copy<float>(d_logits, size_t(T) * E);
      ASSERT_FALSE(logits.empty());
      for (size_t i = 0; i < logits.size(); ++i)
        ASSERT_NEAR(logits[i], host_logits[i], 1e-5 * magnitude[i] + 1e-30) << "logit " << i;
      // The experts are those of float64 logits; the weights those of the kernel's own logits.
      std::vector<int32_t> experts = host_copy<int32_t>(d_experts, n_entries);
      std::vector<float> weights = host_copy<float>(d_weights, n_entries);
      ASSERT_EQ(experts, route_on_host(host_logits, T, E, K).experts);
      Routing own = route_on_host(logits, T, E, K);
      ASSERT_EQ(experts, own.experts);
      for (size_t i = 0; i < weights.size(); ++i)
        ASSERT_NEAR(weights[i], own.weights[i], kWeightTol * own.weights[i] + 1e-12) << "entry " << i;

      std::vector<int32_t> want_offsets, want_rows;
      expected_permutation(experts, E, want_offsets, want_rows);
      EXPECT_EQ(host_copy<int32_t>(d_offsets, E + 1), want_offsets);
      EXPECT_EQ(host_copy<int32_t>(d_rows, n_entries), want_rows);
      std::vector<Bf16> permuted = host_copy<Bf16>(d_permuted, n_entries * W);
      ASSERT_FALSE(permuted.empty());
      int wrong_rows = 0;
      for (size_t i = 0; i < n_entries; ++i)
        wrong_rows += !std::equal(in.begin() + (i / K) * in_stride, in.begin() + (i / K) * in_stride + W,
                                  permuted.begin() + static_cast<size_t>(want_rows[i]) * W);
      EXPECT_EQ(wrong_rows, 0);
    }
    EXPECT_EQ(host_copy<uint32_t>(d_counter, 1), std::vector<uint32_t>(1, 0)) << "the counter must be left at zero";
  }
}

TEST(MoeRoutingGpu, FusedDecodeRoutingRejectsLargeBatches) {
  std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  m1::kernels::gpu::MoeRoutePermuteArgs a;
  a.n_tokens = m1::kernels::gpu::kMoeRouteSmallMaxTokens + 1, a.n_experts = 32, a.top_k = 2, a.width = 64;
  const m1::Status status = m1::kernels::gpu::moe_route_permute_small(a, nullptr);
  ASSERT_FALSE(status.ok());
}

}  // namespace
