// The M1 network on one GPU: bf16 weights (fp32 routers and LM head) on the device, and per
// sequence a GpuMemory holding its lightning states (fp32, one slot of a per-layer state pool)
// and its softmax K/V (bf16 pages of a per-layer paged cache). forward() runs a batch of
// sequences, each in prefill (any number of new tokens) or decode, and returns fp32 logits only
// for the rows asked for, like Model::forward on the CPU. Written against the device-neutral
// kernels/ headers only: in a build without CUDA, open() returns the reason.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/device_memory.h"
#include "model/config.h"
#include "model/gpu_weights.h"
#include "model/model.h"

namespace m1 {

struct GpuModelOptions {
  int device = 0;
  int max_sequences = 8;           // lightning state slots
  int64_t max_cached_tokens = 16384;  // softmax K/V capacity over all sequences together
  bool progress = true;            // weight-loading progress bar on stderr (large checkpoints)
  bool cuda_graphs = true;         // decode steps replay one CUDA graph per (batch size, context bucket)
};

struct GpuMemoryPool;  // slots and pages in use (gpu_model.cpp)

// One sequence's memory on the GPU. Move-only; gives its slot and pages back when destroyed.
class GpuMemory {
public:
  GpuMemory() = default;
  ~GpuMemory();
  GpuMemory(GpuMemory && other) noexcept;
  GpuMemory & operator=(GpuMemory && other) noexcept;
  GpuMemory(const GpuMemory &) = delete;
  GpuMemory & operator=(const GpuMemory &) = delete;

  int64_t n_tokens() const { return n_tokens_; }

private:
  friend class GpuModel;
  void release();
  std::shared_ptr<GpuMemoryPool> pool_;
  int slot_ = -1;
  std::vector<int32_t> pages_;
  int64_t n_tokens_ = 0;
};

struct GpuSequenceInput {
  GpuMemory * memory = nullptr;
  std::span<const int32_t> tokens;
  LogitRows logits = LogitRows::last;
};

class GpuModel {
public:
  static constexpr int kPageTokens = 64;

  static Expected<std::unique_ptr<GpuModel>> open(const std::string & folder, const GpuModelOptions & options = {});
  // A model of `config` with random_gpu_weights(seed) (benchmarks at real sizes; no checkpoint).
  static Expected<std::unique_ptr<GpuModel>> open_random(const ModelConfig & config, const GpuModelOptions & options,
                                                         std::uint64_t seed);
  ~GpuModel();

  const ModelConfig & config() const { return config_; }
  int64_t weight_bytes() const { return weights_.device_bytes; }

  // A fresh memory (zero states, no tokens), or an error when all max_sequences slots are taken.
  Expected<GpuMemory> new_memory();

  // Validates the whole batch first (memories of this model, distinct, token ids in range, K/V
  // pages available), so an error leaves every memory untouched. One forward at a time.
  Expected<std::vector<SequenceLogits>> forward(std::span<const GpuSequenceInput> batch);

  // Decode steps run by replaying a captured graph so far (tests, benchmarks).
  int64_t graph_replays() const;
  void set_cuda_graphs(bool on) { options_.cuda_graphs = on; }

  struct Workspace;

private:
  GpuModel(ModelConfig config, GpuWeights weights, const GpuModelOptions & options);
  Status allocate_pools();
  Status validate(std::span<const GpuSequenceInput> batch) const;
  void take_pages(GpuMemory & memory, int64_t n_tokens);  // pages for n_tokens (validate checked)

  ModelConfig config_;
  GpuWeights weights_;
  GpuModelOptions options_;
  std::shared_ptr<GpuMemoryPool> pool_;
  std::vector<int> lightning_index_;  // layer -> index among lightning layers (or softmax layers)
  kernels::DeviceBuffer states_;       // fp32 [lightning layers, max_sequences, H, 128, 128]
  std::vector<kernels::DeviceBuffer> k_pages_, v_pages_;  // per softmax layer: bf16 [pages, 64, Hkv, 128]
  std::unique_ptr<Workspace> ws_;
};

}  // namespace m1
