// The device sampler (runtime/gpu_sampler.h over kernels/sampling_gpu.h) against the CPU
// sampler (runtime/sampling.cpp, which sorts the candidates and walks them in double): the same
// rows and the same uniform draw must give the same token, and the same alternatives, on swept
// vocabulary sizes, logit shapes (spread, bf16-rounded with many ties, one dominant id, all equal),
// masks and parameters. Skipped, with the reason, without a CUDA build or device.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "kernels/device_memory.h"
#include "runtime/gpu_sampler.h"
#include "runtime/sampling.h"
#include "tests/kernels/gpu_test_support.h"

namespace m1 {
namespace {

// Log-probabilities: both sides compute float(double(logit) - log_norm); the log-normalizer's
// double sum runs in another order, which moves it by a few 1e-16, and the float rounding of the
// difference can then differ by one float ulp (6e-8 relative).
constexpr double kLogprobTolerance = 2.5e-7;

enum class Shape { spread, bf16_ties, dominant, flat };

std::vector<float> make_row(size_t vocab, Shape shape, std::mt19937 & gen) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> row(vocab);
  for (float & x : row) {
    switch (shape) {
    case Shape::spread: x = normal(gen); break;
    case Shape::bf16_ties: x = test::round_bf16(normal(gen) * 0.5f); break;
    case Shape::dominant: x = normal(gen) * 0.3f; break;
    case Shape::flat: x = 1.25f; break;
    }
  }
  if (shape == Shape::dominant) row[gen() % vocab] = 12.0f;
  return row;
}

TokenMask make_mask(size_t vocab, bool masked, std::mt19937 & gen) {
  if (!masked) return {};
  TokenMask mask(vocab);
  for (auto & m : mask) m = gen() % 10 < 7;
  mask[gen() % vocab] = 1;
  return mask;
}

std::vector<SamplingParams> parameter_sweep() {
  std::vector<SamplingParams> sweep;
  sweep.push_back({});  // greedy
  for (float t : {0.6f, 1.0f, 1.7f})
    for (int k : {0, 1, 7, 100})
      for (float p : {1.0f, 0.9f, 0.3f})
        for (float m : {0.0f, 0.1f}) sweep.push_back({t, k, p, m, 0});
  return sweep;
}

class GpuSampling : public ::testing::Test {
protected:
  void SetUp() override {
    const std::string reason = test::gpu_unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
};

// One launch per (vocab, shape, mask): every parameter set of the sweep as its own row, each with
// a draw from a seeded stream, plus draws at the ends of [0, 1).
TEST_F(GpuSampling, MatchesTheCpuSamplerOnSweptRows) {
  std::mt19937 gen(2026);
  SamplingRng rng(99);
  const std::vector<SamplingParams> sweep = parameter_sweep();
  int rows_checked = 0, sampled_distinct = 0;
  for (size_t vocab : {1u, 2u, 5u, 130u, 4099u, 65536u, 200064u}) {
    for (Shape shape : {Shape::spread, Shape::bf16_ties, Shape::dominant, Shape::flat}) {
      for (bool masked : {false, true}) {
        const TokenMask mask = make_mask(vocab, masked, gen);
        std::vector<GpuSampler::Row> rows;
        std::vector<float> logits;
        for (size_t i = 0; i < sweep.size(); ++i) {
          const std::vector<float> row = make_row(vocab, shape, gen);
          logits.insert(logits.end(), row.begin(), row.end());
          const double u = i % 11 == 3 ? 0.0 : i % 11 == 7 ? 0.9999999999 : sampling_uniform(sweep[i], rng);
          rows.push_back({sweep[i], u});
        }
        kernels::DeviceBuffer device = test::device_copy(logits);
        ASSERT_TRUE(device.data());
        auto sampler = GpuSampler::create(0, vocab, mask);
        ASSERT_TRUE(sampler.ok()) << sampler.status().message();
        const int n_top = 5;
        auto got = (*sampler)->sample(static_cast<const float *>(device.data()), int64_t(vocab), rows, n_top);
        ASSERT_TRUE(got.ok()) << got.status().message();
        std::vector<Token> ids;
        for (size_t i = 0; i < rows.size(); ++i) {
          const std::span<const float> row(logits.data() + i * vocab, vocab);
          const SampledToken want = sample_token_with_uniform(row, mask, rows[i].params, n_top, rows[i].uniform);
          const SampledToken & have = (*got)[i];
          const std::string where = "vocab " + std::to_string(vocab) + " shape " + std::to_string(int(shape)) +
                                    (masked ? " masked" : "") + " row " + std::to_string(i);
          ASSERT_EQ(have.id, want.id) << where;
          EXPECT_NEAR(have.logprob, want.logprob, kLogprobTolerance * std::max(1.0f, std::fabs(want.logprob))) << where;
          ASSERT_EQ(have.top.size(), want.top.size()) << where;
          for (size_t t = 0; t < want.top.size(); ++t) {
            EXPECT_EQ(have.top[t].id, want.top[t].id) << where << " alternative " << t;
            EXPECT_NEAR(have.top[t].logprob, want.top[t].logprob,
                        kLogprobTolerance * std::max(1.0f, std::fabs(want.top[t].logprob)))
                << where << " alternative " << t;
          }
          ids.push_back(have.id);
          ++rows_checked;
        }
        std::sort(ids.begin(), ids.end());
        sampled_distinct += int(std::unique(ids.begin(), ids.end()) - ids.begin());
      }
    }
  }
  std::printf("device sampler: %d rows agree with the CPU sampler (%d distinct ids chosen)\n", rows_checked,
              sampled_distinct);
  EXPECT_GT(sampled_distinct, 200) << "the sweep should choose many different ids";
}

// The draw decides: sweeping it over [0, 1) on one row walks through the kept ids in order.
TEST_F(GpuSampling, DrawWalksTheKeptIdsLikeTheCpu) {
  std::mt19937 gen(7);
  const size_t vocab = 3000;
  const std::vector<float> row = make_row(vocab, Shape::spread, gen);
  kernels::DeviceBuffer device = test::device_copy(row);
  auto sampler = GpuSampler::create(0, vocab, {});
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  const SamplingParams params{1.3f, 0, 0.98f, 0.0f, 0};
  int changes = 0;
  Token previous = -1;
  for (int i = 0; i < 400; ++i) {
    const GpuSampler::Row r{params, i / 400.0};
    auto got = (*sampler)->sample(static_cast<const float *>(device.data()), int64_t(vocab), {&r, 1}, 0);
    ASSERT_TRUE(got.ok()) << got.status().message();
    const SampledToken want = sample_token_with_uniform(row, {}, params, 0, r.uniform);
    ASSERT_EQ((*got)[0].id, want.id) << "uniform " << r.uniform;
    changes += want.id != previous;
    previous = want.id;
  }
  EXPECT_GT(changes, 100);
}

TEST_F(GpuSampling, SeededStreamGivesTheSameTokensAsTheCpu) {
  std::mt19937 gen(11);
  const size_t vocab = 50000;
  const int n_rows = 16;
  std::vector<float> logits;
  for (int r = 0; r < n_rows; ++r) {
    const std::vector<float> row = make_row(vocab, Shape::spread, gen);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  kernels::DeviceBuffer device = test::device_copy(logits);
  auto sampler = GpuSampler::create(0, vocab, {});
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  const SamplingParams params{0.8f, 40, 0.95f, 0.02f, 1234};
  SamplingRng cpu_rng(params.seed), gpu_rng(params.seed);
  std::vector<GpuSampler::Row> rows;
  for (int r = 0; r < n_rows; ++r) rows.push_back({params, sampling_uniform(params, gpu_rng)});
  auto got = (*sampler)->sample(static_cast<const float *>(device.data()), int64_t(vocab), rows, 0);
  ASSERT_TRUE(got.ok()) << got.status().message();
  for (int r = 0; r < n_rows; ++r) {
    const std::span<const float> row(logits.data() + size_t(r) * vocab, vocab);
    EXPECT_EQ((*got)[size_t(r)].id, sample_token(row, {}, params, 0, cpu_rng).id) << "row " << r;
  }
}

// A decode step's worth: 64 rows of a 200k vocabulary. Prints the sampler's time next to what
// sampling on the host costs (copying the rows, then the CPU sampler); the choices must agree.
TEST_F(GpuSampling, BatchOfFullVocabularyRows) {
  std::mt19937 gen(5);
  const size_t vocab = 200064, n_rows = 64;
  std::vector<float> logits(vocab * n_rows);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float & x : logits) x = normal(gen);
  kernels::DeviceBuffer device = test::device_copy(logits);
  ASSERT_TRUE(device.data());
  auto sampler = GpuSampler::create(0, vocab, {});
  ASSERT_TRUE(sampler.ok()) << sampler.status().message();
  SamplingRng rng(3);
  std::vector<GpuSampler::Row> rows;
  for (size_t r = 0; r < n_rows; ++r) {
    const SamplingParams p{1.0f, r % 2 ? 50 : 0, 0.95f, 0.0f, 0};
    rows.push_back({p, sampling_uniform(p, rng)});
  }
  auto time_ms = [](auto && f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  };
  Expected<std::vector<SampledToken>> got = (*sampler)->sample(static_cast<const float *>(device.data()), int64_t(vocab), rows, 5);
  ASSERT_TRUE(got.ok()) << got.status().message();
  double sample_ms = 1e9, copy_ms = 1e9;
  std::vector<float> host(logits.size());
  for (int i = 0; i < 5; ++i) {
    sample_ms = std::min(sample_ms, time_ms([&] { got = (*sampler)->sample(static_cast<const float *>(device.data()), int64_t(vocab), rows, 5); }));
    copy_ms = std::min(copy_ms, time_ms([&] { ASSERT_TRUE(device.download(host.data(), host.size() * 4).ok()); }));
  }
  ASSERT_TRUE(got.ok());
  std::vector<SampledToken> on_cpu(n_rows);
  const double cpu_ms = time_ms([&] {
    for (size_t r = 0; r < n_rows; ++r)
      on_cpu[r] = sample_token_with_uniform(std::span<const float>(host.data() + r * vocab, vocab), {}, rows[r].params, 5,
                                            rows[r].uniform);
  });
  std::printf("device sampler, %zu rows x %zu ids (top-p 0.95, half with top-k 50, 5 alternatives): %.3f ms; "
              "on the host instead: copying the rows %.3f ms, then the CPU sampler (one thread) %.1f ms\n",
              n_rows, vocab, sample_ms, copy_ms, cpu_ms);
  for (size_t r = 0; r < n_rows; ++r) EXPECT_EQ((*got)[r].id, on_cpu[r].id) << "row " << r;
}

TEST(DeviceSamplerErrors, BadMaskSizeIsRejectedBeforeAnyDeviceWork) {
  auto sampler = GpuSampler::create(0, 100, TokenMask(99, 1));
  ASSERT_FALSE(sampler.ok());
  EXPECT_NE(sampler.status().message().find("mask"), std::string::npos);
}

}  // namespace
}  // namespace m1
