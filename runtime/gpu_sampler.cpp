// GpuSampler: device buffers for the parameters, scratch and results of kernels/sampling_gpu.h,
// grown as batches grow, and the copies of the results to the host.
#include "runtime/gpu_sampler.h"

#include <algorithm>

#include "kernels/sampling_gpu.h"
#include "kernels/tensor_ops_gpu.h"

namespace m1 {

namespace gpu = kernels::gpu;

Expected<std::unique_ptr<GpuSampler>> GpuSampler::create(int device, size_t vocab, const TokenMask & mask) {
  if (vocab == 0 || vocab > size_t(INT32_MAX)) return Status::error("gpu sampler: vocabulary size out of range");
  if (!mask.empty() && mask.size() != vocab)
    return Status::error("gpu sampler: the mask has " + std::to_string(mask.size()) + " ids, the vocabulary " +
                         std::to_string(vocab));
  std::unique_ptr<GpuSampler> sampler(new GpuSampler(device, vocab));
  if (!mask.empty()) {
    M1_RETURN_IF_ERROR(sampler->ensure(sampler->allowed_, vocab));
    M1_RETURN_IF_ERROR(sampler->allowed_.upload(mask.data(), vocab));
  }
  return sampler;
}

Status GpuSampler::ensure(kernels::DeviceBuffer & buffer, size_t bytes) {
  if (buffer.data() && buffer.size() >= bytes) return Status();
  Expected<kernels::DeviceBuffer> grown = kernels::DeviceBuffer::allocate(device_, std::max<size_t>(bytes, 256));
  if (!grown) return grown.status().with_context("gpu sampler");
  buffer = std::move(*grown);
  return Status();
}

Expected<std::vector<SampledToken>> GpuSampler::sample(const float * device_logits, int64_t row_stride,
                                                       std::span<const Row> rows, int n_top) {
  if (rows.empty()) return std::vector<SampledToken>();
  const int n = int(rows.size());
  std::vector<gpu::SampleRowParams> params(rows.size());
  bool any_sampled = false;
  for (size_t r = 0; r < rows.size(); ++r) {
    M1_RETURN_IF_ERROR(validate(rows[r].params).with_context("gpu sampler"));
    const SamplingParams & p = rows[r].params;
    params[r] = {p.temperature, p.top_k, p.top_p, p.min_p, rows[r].uniform};
    any_sampled = any_sampled || p.temperature > 0.0f;
  }
  const size_t top = size_t(std::max(n_top, 0));
  M1_RETURN_IF_ERROR(ensure(params_, params.size() * sizeof(gpu::SampleRowParams)));
  M1_RETURN_IF_ERROR(ensure(scratch_, any_sampled ? gpu::sample_scratch_bytes(n, int(vocab_)) : 8));
  M1_RETURN_IF_ERROR(ensure(ids_, rows.size() * 4));
  M1_RETURN_IF_ERROR(ensure(logprobs_, rows.size() * 4));
  M1_RETURN_IF_ERROR(ensure(top_ids_, rows.size() * top * 4));
  M1_RETURN_IF_ERROR(ensure(top_logprobs_, rows.size() * top * 4));
  M1_RETURN_IF_ERROR(params_.upload(params.data(), params.size() * sizeof(gpu::SampleRowParams)));
  gpu::SampleArgs args;
  args.n_rows = n, args.vocab = int(vocab_), args.logits = device_logits, args.row_stride = row_stride;
  args.allowed = static_cast<const std::uint8_t *>(allowed_.data());
  args.params = static_cast<const gpu::SampleRowParams *>(params_.data());
  args.n_top = int(top), args.scratch = static_cast<double *>(scratch_.data());
  args.ids = static_cast<std::int32_t *>(ids_.data()), args.logprobs = static_cast<float *>(logprobs_.data());
  args.top_ids = static_cast<std::int32_t *>(top_ids_.data());
  args.top_logprobs = static_cast<float *>(top_logprobs_.data());
  M1_RETURN_IF_ERROR(gpu::sample_rows(args, nullptr));
  std::vector<std::int32_t> ids(rows.size()), top_ids(rows.size() * top);
  std::vector<float> logprobs(rows.size()), top_logprobs(rows.size() * top);
  M1_RETURN_IF_ERROR(ids_.download(ids.data(), ids.size() * 4));
  M1_RETURN_IF_ERROR(logprobs_.download(logprobs.data(), logprobs.size() * 4));
  M1_RETURN_IF_ERROR(top_ids_.download(top_ids.data(), top_ids.size() * 4));
  M1_RETURN_IF_ERROR(top_logprobs_.download(top_logprobs.data(), top_logprobs.size() * 4));
  std::vector<SampledToken> out(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    if (ids[r] < 0) return Status::error("gpu sampler: row " + std::to_string(r) + " allows no id");
    out[r].id = ids[r];
    out[r].logprob = logprobs[r];
    for (size_t t = 0; t < top && top_ids[r * top + t] >= 0; ++t)
      out[r].top.push_back({top_ids[r * top + t], top_logprobs[r * top + t]});
  }
  return out;
}

}  // namespace m1
