// Picks the next token from one row of fp32 logits: greedy or temperature sampling with top-k,
// top-p and min-p, over the ids the tokenizer defines (the others are masked), and reports the
// chosen token's log-probability and the top-n alternatives.
//
// The reported log-probabilities are those of the model's own distribution: log-softmax of the
// fp32 logits over the allowed ids, before temperature and truncation. That is what a caller
// scoring text needs; the sampling knobs only change which token is drawn.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "runtime/sampling_rng.h"
#include "runtime/token.h"

namespace m1 {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy (argmax, ties to the lowest id)
  int top_k = 0;             // keep the k most likely ids; 0 = off
  float top_p = 1.0f;        // keep the smallest most-likely set with mass >= top_p; 1 = off
  float min_p = 0.0f;        // keep ids with p >= min_p * p_max; 0 = off
  std::uint64_t seed = 0;    // the draws of one request are a function of this seed alone
};

// Range checks with the offending field named.
Status validate(const SamplingParams & params);

// Which ids may be produced: allowed[id] != 0. Empty = every id of the logits row.
using TokenMask = std::vector<std::uint8_t>;

struct TokenChoice {
  Token id = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  Token id = 0;
  float logprob = 0.0f;
  std::vector<TokenChoice> top;  // the n_top most likely allowed ids, most likely first
};

// log-softmax over the allowed ids (sums in double); masked ids get -infinity.
std::vector<float> log_softmax(std::span<const float> logits, const TokenMask & mask);

// The n most likely allowed ids of a log-probability row, most likely first, ties to the lower id.
std::vector<TokenChoice> top_choices(std::span<const float> logprobs, const TokenMask & mask, int n);

// Draws one token. Precondition: at least one id is allowed (the engine checks the mask once).
// Order of the filters: temperature, top-k, top-p, min-p; then one uniform draw from `rng`.
SampledToken sample_token(std::span<const float> logits, const TokenMask & mask,
                          const SamplingParams & params, int n_top, SamplingRng & rng);

// The one random number sample_token takes from `rng` for these parameters (none when greedy:
// then 0 and the stream is untouched). Drawing it here and handing it to the device sampler
// (runtime/gpu_sampler.h) reproduces sample_token's choice.
double sampling_uniform(const SamplingParams & params, SamplingRng & rng);
// sample_token with the draw already made.
SampledToken sample_token_with_uniform(std::span<const float> logits, const TokenMask & mask,
                                       const SamplingParams & params, int n_top, double uniform);

}  // namespace m1
