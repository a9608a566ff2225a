#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace m1 {

namespace {

bool allowed(const TokenMask & mask, size_t id) { return mask.empty() || mask[id] != 0; }

// A candidate for sampling: its scaled logit z (the sort key) and, once normalized, its probability.
struct Candidate {
  Token id;
  double z;
  double p = 0.0;
};

// Most likely first; equal values go to the lower id so the order never depends on the sort.
bool more_likely(const Candidate & a, const Candidate & b) {
  return a.z != b.z ? a.z > b.z : a.id < b.id;
}

Token argmax(std::span<const float> logits, const TokenMask & mask) {
  Token best = -1;
  for (size_t id = 0; id < logits.size(); ++id)
    if (allowed(mask, id) && (best < 0 || logits[id] > logits[size_t(best)])) best = Token(id);
  return best;
}

std::vector<Candidate> scaled_candidates(std::span<const float> logits, const TokenMask & mask,
                                         double temperature) {
  std::vector<Candidate> out;
  out.reserve(logits.size());
  for (size_t id = 0; id < logits.size(); ++id)
    if (allowed(mask, id)) out.push_back({Token(id), double(logits[id]) / temperature});
  return out;
}

// p = softmax(z) over the survivors, in double, summed in the order of c. Returns the largest z.
double normalize(std::vector<Candidate> & c) {
  double max_z = -std::numeric_limits<double>::infinity();
  for (const Candidate & x : c) max_z = std::max(max_z, x.z);
  double sum = 0.0;
  for (Candidate & x : c) sum += (x.p = std::exp(x.z - max_z));
  for (Candidate & x : c) x.p /= sum;
  return max_z;
}

Token draw(const std::vector<Candidate> & sorted_probs, double uniform) {
  double total = 0.0;
  for (const Candidate & x : sorted_probs) total += x.p;
  const double u = uniform * total;
  double cumulative = 0.0;
  for (const Candidate & x : sorted_probs) {
    cumulative += x.p;
    if (u < cumulative) return x.id;
  }
  return sorted_probs.back().id;  // u rounded up to the total
}

// Sorts c (most likely first) only as far as the top-p cut needs, and drops the rest. One pass
// buckets the probability mass by distance below the best logit; the candidates of the buckets
// that reach top_p (one more for rounding) are the most likely ones, so sorting only them gives
// exactly the prefix, order and cumulative sums of a full sort. At M1's 200k-id vocabulary the
// full sort took ~20 ms per token.
void keep_top_p_sorted(std::vector<Candidate> & c, double top_p, double max_z) {
  constexpr int kBuckets = 1024;
  constexpr double kBucketsPerNat = 16.0;  // 64 nats below the best, then one bucket for the rest
  auto bucket = [&](const Candidate & x) { return int(std::min((max_z - x.z) * kBucketsPerNat, double(kBuckets - 1))); };
  std::vector<double> mass(kBuckets, 0.0);
  for (const Candidate & x : c) mass[size_t(bucket(x))] += x.p;
  int last = 0;
  for (double cumulative = 0.0; last < kBuckets - 1 && cumulative + mass[size_t(last)] < top_p; ++last)
    cumulative += mass[size_t(last)];
  last = std::min(last + 1, kBuckets - 1);

  auto top = std::partition(c.begin(), c.end(), [&](const Candidate & x) { return bucket(x) <= last; });
  for (int pass = 0; pass < 2; ++pass, top = c.end()) {  // the second pass only if rounding fell short
    std::sort(c.begin(), top, more_likely);
    double cumulative = 0.0;
    size_t keep = 0;
    const size_t sorted = size_t(top - c.begin());
    while (keep < sorted && cumulative < top_p) cumulative += c[keep++].p;
    if (cumulative >= top_p || top == c.end()) {
      c.resize(std::max<size_t>(keep, 1));
      return;
    }
  }
}

// Probabilities are normalized over every candidate left after top-k, in id order (or in sorted
// order after a top-k cut); then the top-p and min-p cuts, then the draw in sorted order.
Token sample_id(std::span<const float> logits, const TokenMask & mask, const SamplingParams & p,
                double uniform) {
  std::vector<Candidate> c = scaled_candidates(logits, mask, p.temperature);
  if (p.top_k > 0 && size_t(p.top_k) < c.size()) {
    std::nth_element(c.begin(), c.begin() + p.top_k, c.end(), more_likely);
    c.resize(size_t(p.top_k));
    std::sort(c.begin(), c.end(), more_likely);
  }
  const double max_z = normalize(c);
  if (p.top_p < 1.0f) keep_top_p_sorted(c, double(p.top_p), max_z);
  else std::sort(c.begin(), c.end(), more_likely);  // after a top-k cut: already sorted, cheap
  if (p.min_p > 0.0f) {
    const double floor = double(p.min_p) * c.front().p;
    size_t keep = 1;
    while (keep < c.size() && c[keep].p >= floor) ++keep;
    c.resize(keep);
  }
  return draw(c, uniform);
}

}  // namespace

Status validate(const SamplingParams & p) {
  auto bad = [](const std::string & field, double value, const char * range) {
    return Status::error("sampling: " + field + " = " + std::to_string(value) + ": expected " + range);
  };
  if (!(p.temperature >= 0.0f) || std::isinf(p.temperature))
    return bad("temperature", p.temperature, "a finite value >= 0");
  if (p.top_k < 0) return bad("top_k", p.top_k, ">= 0 (0 = off)");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p", p.top_p, "in (0, 1]");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return bad("min_p", p.min_p, "in [0, 1]");
  return Status();
}

std::vector<float> log_softmax(std::span<const float> logits, const TokenMask & mask) {
  double max_logit = -std::numeric_limits<double>::infinity();
  for (size_t id = 0; id < logits.size(); ++id)
    if (allowed(mask, id)) max_logit = std::max(max_logit, double(logits[id]));
  double sum = 0.0;
  for (size_t id = 0; id < logits.size(); ++id)
    if (allowed(mask, id)) sum += std::exp(double(logits[id]) - max_logit);
  const double log_norm = max_logit + std::log(sum);
  std::vector<float> out(logits.size(), -std::numeric_limits<float>::infinity());
  for (size_t id = 0; id < logits.size(); ++id)
    if (allowed(mask, id)) out[id] = float(double(logits[id]) - log_norm);
  return out;
}

std::vector<TokenChoice> top_choices(std::span<const float> logprobs, const TokenMask & mask, int n) {
  std::vector<Candidate> c;
  c.reserve(logprobs.size());
  for (size_t id = 0; id < logprobs.size(); ++id)
    if (allowed(mask, id)) c.push_back({Token(id), double(logprobs[id])});
  const size_t keep = std::min(c.size(), size_t(std::max(n, 0)));
  std::partial_sort(c.begin(), c.begin() + keep, c.end(), more_likely);
  std::vector<TokenChoice> out;
  for (size_t i = 0; i < keep; ++i) out.push_back({c[i].id, float(c[i].z)});
  return out;
}

double sampling_uniform(const SamplingParams & params, SamplingRng & rng) {
  return params.temperature == 0.0f ? 0.0 : rng.uniform();
}

SampledToken sample_token(std::span<const float> logits, const TokenMask & mask,
                          const SamplingParams & params, int n_top, SamplingRng & rng) {
  return sample_token_with_uniform(logits, mask, params, n_top, sampling_uniform(params, rng));
}

SampledToken sample_token_with_uniform(std::span<const float> logits, const TokenMask & mask,
                                       const SamplingParams & params, int n_top, double uniform) {
  SampledToken out;
  out.id = params.temperature == 0.0f ? argmax(logits, mask) : sample_id(logits, mask, params, uniform);
  const std::vector<float> logprobs = log_softmax(logits, mask);
  out.logprob = logprobs[size_t(out.id)];
  if (n_top > 0) out.top = top_choices(logprobs, mask, n_top);
  return out;
}

}  // namespace m1
