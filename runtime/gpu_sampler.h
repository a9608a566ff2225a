// The device sampler (kernels/sampling_gpu.h) for the runtime: logit rows that are already on the
// GPU in, SampledTokens (id, logprob, alternatives) out, with only those few numbers copied back.
// Given the draw sampling_uniform() makes from the request's seeded stream, a row gives the
// token sample_token() would give on the CPU (see sampling_gpu.h for the one caveat).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "kernels/device_memory.h"
#include "runtime/sampling.h"

namespace m1 {

class GpuSampler {
public:
  // Uploads the mask of allowed ids once (empty = every id of the vocabulary).
  static Expected<std::unique_ptr<GpuSampler>> create(int device, size_t vocab, const TokenMask & mask);

  struct Row {
    SamplingParams params;
    double uniform = 0.0;  // sampling_uniform(params, the request's rng)
  };
  // rows.size() rows of fp32 logits on the device, row_stride floats apart, one choice each with
  // its n_top most likely alternatives.
  Expected<std::vector<SampledToken>> sample(const float * device_logits, int64_t row_stride, std::span<const Row> rows,
                                             int n_top);

private:
  GpuSampler(int device, size_t vocab) : device_(device), vocab_(vocab) {}
  Status ensure(kernels::DeviceBuffer & buffer, size_t bytes);

  int device_ = 0;
  size_t vocab_ = 0;
  kernels::DeviceBuffer allowed_, params_, scratch_, ids_, logprobs_, top_ids_, top_logprobs_;
};

}  // namespace m1
