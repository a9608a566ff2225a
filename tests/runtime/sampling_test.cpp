// Sampling against direct formulas: log-softmax in long double, the filtered distributions
// written out by hand, and frequencies of many seeded draws against those probabilities.
#include "runtime/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <map>
#include <set>

namespace m1 {
namespace {

std::vector<float> some_logits() { return {1.5f, -0.25f, 3.0f, 0.5f, 3.0f, -2.0f, 0.75f, 2.25f}; }

// softmax(l / t) over the listed ids in long double, the oracle for sampled frequencies.
std::map<Token, long double> softmax_over(const std::vector<float> & l, const std::vector<Token> & ids, long double t) {
  long double sum = 0;
  for (Token id : ids) sum += std::exp((long double)l[size_t(id)] / t);
  std::map<Token, long double> p;
  for (Token id : ids) p[id] = std::exp((long double)l[size_t(id)] / t) / sum;
  return p;
}

// Draws n tokens and checks each frequency within 5 standard deviations of its probability, and
// that no other id is drawn.
void expect_frequencies(const std::vector<float> & logits, const TokenMask & mask, const SamplingParams & params,
                        const std::map<Token, long double> & expected) {
  const int n = 40000;
  SamplingRng rng(params.seed);
  std::map<Token, int> counts;
  for (int i = 0; i < n; ++i) ++counts[sample_token(logits, mask, params, 0, rng).id];
  for (const auto & [id, count] : counts) EXPECT_TRUE(expected.count(id)) << "drew id " << id;
  for (const auto & [id, p] : expected) {
    const double sigma = std::sqrt(double(p * (1 - p)) / n);
    EXPECT_NEAR(double(counts[id]) / n, double(p), 5 * sigma + 1e-9) << "id " << id;
  }
}

TEST(Sampling, LogSoftmaxMatchesLongDoubleAndMasks) {
  const std::vector<float> l = some_logits();
  TokenMask mask(l.size(), 1);
  mask[2] = 0;  // the largest logit, masked
  const std::vector<float> lp = log_softmax(l, mask);
  long double sum = 0;
  for (size_t i = 0; i < l.size(); ++i)
    if (mask[i]) sum += std::exp((long double)l[i]);
  for (size_t i = 0; i < l.size(); ++i) {
    if (!mask[i]) {
      EXPECT_TRUE(std::isinf(lp[i]) && lp[i] < 0);
      continue;
    }
    // fp32 output of a double computation: within 2 fp32 ulps of the exact value.
    const long double exact = (long double)l[i] - std::log(sum);
    EXPECT_NEAR(lp[i], double(exact), 2.5e-7 * std::max(1.0, std::fabs(double(exact))));
  }
}

TEST(Sampling, GreedyIsArgmaxOverAllowedIdsTiesToLowestId) {
  const std::vector<float> l = some_logits();  // ids 2 and 4 tie at 3.0
  SamplingRng rng(1);
  EXPECT_EQ(sample_token(l, {}, {}, 0, rng).id, 2);
  TokenMask mask(l.size(), 1);
  mask[2] = 0;
  EXPECT_EQ(sample_token(l, mask, {}, 0, rng).id, 4);
  mask[4] = 0;
  EXPECT_EQ(sample_token(l, mask, {}, 0, rng).id, 7);
}

TEST(Sampling, ReportsModelLogprobAndTopAlternatives) {
  const std::vector<float> l = some_logits();
  SamplingRng rng(3);
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 3;
  const SampledToken t = sample_token(l, {}, p, 4, rng);
  const std::vector<float> lp = log_softmax(l, {});
  EXPECT_EQ(t.logprob, lp[size_t(t.id)]);  // the unscaled distribution, whatever the knobs
  ASSERT_EQ(t.top.size(), 4u);
  const Token order[] = {2, 4, 7, 0};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.top[i].id, order[i]);
    EXPECT_EQ(t.top[i].logprob, lp[size_t(order[i])]);
  }
}

TEST(Sampling, TemperatureDrawsFollowSoftmaxOfScaledLogits) {
  const std::vector<float> l = some_logits();
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 11;
  expect_frequencies(l, {}, p, softmax_over(l, {0, 1, 2, 3, 4, 5, 6, 7}, 0.8L));
}

TEST(Sampling, TopKKeepsTheKMostLikely) {
  const std::vector<float> l = some_logits();
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 3;
  p.seed = 5;
  expect_frequencies(l, {}, p, softmax_over(l, {2, 4, 7}, 1.0L));
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingTheMass) {
  // probabilities 0.5, 0.3, 0.15, 0.05 (logits are their logs)
  const std::vector<float> l = {std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 9;
  p.top_p = 0.75f;
  expect_frequencies(l, {}, p, {{1, 0.5L / 0.8L}, {3, 0.3L / 0.8L}});
  p.top_p = 0.85f;
  expect_frequencies(l, {}, p, {{1, 0.5L / 0.95L}, {3, 0.3L / 0.95L}, {0, 0.15L / 0.95L}});
}

TEST(Sampling, MinPKeepsIdsAboveAFractionOfTheBest) {
  const std::vector<float> l = {std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 13;
  p.min_p = 0.5f;  // keep p >= 0.25
  expect_frequencies(l, {}, p, {{1, 0.5L / 0.8L}, {3, 0.3L / 0.8L}});
}

TEST(Sampling, MaskedIdsAreNeverDrawn) {
  std::vector<float> l = some_logits();
  l[5] = 50.0f;  // would win every draw if allowed
  TokenMask mask(l.size(), 1);
  mask[5] = 0;
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 21;
  expect_frequencies(l, mask, p, softmax_over(l, {0, 1, 2, 3, 4, 6, 7}, 1.0L));
}

// The sampler written out the plain way (every candidate sorted by scaled logit, probabilities in
// id order, then the top-p and min-p cuts and the walk in sorted order): the oracle for the
// sampler's partial sorting at a large vocabulary, which must give the same id for every draw.
struct FullSortSampler {
  struct C {
    Token id;
    double z, p;
  };
  std::vector<C> kept;

  FullSortSampler(const std::vector<float> & logits, const SamplingParams & p) {
    double max_z = -1e300, sum = 0;
    for (size_t id = 0; id < logits.size(); ++id) {
      kept.push_back({Token(id), double(logits[id]) / p.temperature, 0.0});
      max_z = std::max(max_z, kept.back().z);
    }
    for (C & x : kept) sum += (x.p = std::exp(x.z - max_z));
    for (C & x : kept) x.p /= sum;
    std::sort(kept.begin(), kept.end(), [](const C & a, const C & b) { return a.z != b.z ? a.z > b.z : a.id < b.id; });
    size_t keep = kept.size();
    if (p.top_p < 1.0f) {
      double cumulative = 0;
      for (keep = 0; keep < kept.size() && cumulative < double(p.top_p);) cumulative += kept[keep++].p;
    }
    kept.resize(std::max<size_t>(keep, 1));
    if (p.min_p > 0.0f) {
      size_t k = 1;
      while (k < kept.size() && kept[k].p >= double(p.min_p) * kept[0].p) ++k;
      kept.resize(k);
    }
  }

  Token draw(double u) const {
    double total = 0, cumulative = 0;
    for (const C & x : kept) total += x.p;
    for (const C & x : kept)
      if (u * total < (cumulative += x.p)) return x.id;
    return kept.back().id;
  }
};

TEST(Sampling, LargeVocabularyTopPEqualsTheFullSort) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (float spread : {1.0f, 4.0f, 12.0f})  // flat to peaked: a kept set of thousands down to a few ids
    for (float top_p : {0.5f, 0.95f, 0.999f})
      for (float min_p : {0.0f, 0.05f}) {
        std::vector<float> logits(50000);
        for (float & x : logits) x = spread * normal(rng);
        logits[123] = logits[77];  // a tie, broken by id
        SamplingParams p;
        p.temperature = 0.9f, p.top_p = top_p, p.min_p = min_p;
        const FullSortSampler oracle(logits, p);
        for (int i = 0; i < 8; ++i) {
          const double u = (i + 0.5) / 8.0;
          ASSERT_EQ(sample_token_with_uniform(logits, {}, p, 0, u).id, oracle.draw(u))
              << "spread " << spread << " top_p " << top_p << " min_p " << min_p << " u " << u;
        }
      }
}

TEST(Sampling, SeededDrawsAreReproducibleAndSeedsDiffer) {
  const std::vector<float> l = some_logits();
  SamplingParams p;
  p.temperature = 1.5f;
  auto draws = [&](std::uint64_t seed) {
    SamplingRng rng(seed);
    std::vector<Token> out;
    for (int i = 0; i < 64; ++i) out.push_back(sample_token(l, {}, p, 0, rng).id);
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
}

TEST(Sampling, RngIsUniformInUnitInterval) {
  SamplingRng rng(7);
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
}

TEST(Sampling, ValidateNamesTheBadField) {
  SamplingParams p;
  EXPECT_TRUE(validate(p).ok());
  p.top_p = 0.0f;
  EXPECT_NE(validate(p).message().find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1.0f;
  EXPECT_NE(validate(p).message().find("temperature"), std::string::npos);
  p = {};
  p.min_p = 2.0f;
  EXPECT_NE(validate(p).message().find("min_p"), std::string::npos);
  p = {};
  p.top_k = -3;
  EXPECT_NE(validate(p).message().find("top_k"), std::string::npos);
}

}  // namespace
}  // namespace m1
