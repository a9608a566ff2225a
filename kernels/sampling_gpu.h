// Token sampling on the GPU: from fp32 logit rows already on the device, one block per row picks
// the next token (greedy, or temperature with top-k, top-p and min-p) and its log-probability,
// plus the n most likely alternatives, so a decode step copies a few numbers to the host, not
// whole vocabulary rows. Compiles without CUDA (the launcher then reports why it cannot run).
//
// The rules are runtime/sampling.cpp's, so the two agree token for token:
//  - order: logit descending, ties to the lower id; greedy takes the first; -0 equals +0;
//  - z = double(logit) / temperature; top-k keeps the k first; p = exp(z - z_max) / sum over
//    the kept, in double; top-p keeps the shortest prefix whose mass reaches top_p; min-p keeps
//    those with p >= min_p * p_first (the first always);
//  - the one random number is drawn by the caller (the same seeded draw the CPU sampler makes)
//    and passed in: the token is the first whose cumulative mass exceeds uniform * total, the
//    last kept one if rounding leaves none;
//  - log-probabilities are of the model's distribution (log-softmax over the allowed ids, in
//    double, rounded to float), whatever the sampling knobs; alternatives are ranked by them,
//    ties to the lower id.
// Sums run in another order than the CPU's sequential ones, so the two differ in the last bits
// of a double: a choice can only differ when the draw falls within that of a boundary.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/gpu_types.h"

namespace m1::kernels::gpu {

struct SampleRowParams {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  double uniform = 0.0;      // in [0, 1): the caller's draw (unused when greedy)
};

constexpr int kMaxSampleAlternatives = 64;

struct SampleArgs {
  int n_rows = 0;
  int vocab = 0;
  const float * logits = nullptr;         // device fp32 [n_rows, row_stride]
  std::int64_t row_stride = 0;
  const std::uint8_t * allowed = nullptr; // device [vocab], nonzero = may be chosen; null = every id
  const SampleRowParams * params = nullptr;  // device [n_rows]
  int n_top = 0;                          // alternatives per row, <= kMaxSampleAlternatives
  double * scratch = nullptr;             // device, sample_scratch_bytes(n_rows, vocab)
  std::int32_t * ids = nullptr;           // device [n_rows]: the chosen ids
  float * logprobs = nullptr;             // device [n_rows]
  std::int32_t * top_ids = nullptr;       // device [n_rows, n_top]; unused when n_top = 0
  float * top_logprobs = nullptr;         // device [n_rows, n_top]
};

std::size_t sample_scratch_bytes(int n_rows, int vocab);

// Preconditions (checked where cheap): every row has at least one allowed id; parameters in the
// ranges runtime/sampling.h validates.
Status sample_rows(const SampleArgs & args, Stream stream);

}  // namespace m1::kernels::gpu
