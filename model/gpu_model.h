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
  bool empty() const { return !pool_; }          // a moved-from or default memory
  int slot() const { return slot_; }             // -1: pages only (GpuModel::fork_pages)
  const std::vector<int32_t> & pages() const { return pages_; }  // K/V page per 64 tokens

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
  // The rows stay on the device (device_logits()) and are not copied to the host: for a sampler
  // that runs on the device, so a decode step copies back a token id instead of a vocabulary row.
  bool logits_on_device = false;
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

  // A copy that continues exactly as `source` would: a new slot holding a device copy of its
  // lightning states; its full K/V pages shared (reference counted: a full page is never written
  // again) and its partly filled last page copied (the next append writes into it). Fails when
  // no slot, or no page for that copy, is free.
  Expected<GpuMemory> fork_memory(const GpuMemory & source);
  // The same K/V sharing without a slot: a memory that holds pages only (it cannot run until
  // attach_slot gives it the lightning states, kept meanwhile by the caller: download_states).
  // What a cached snapshot needs when slots are scarce: its cost does not grow with its length.
  Expected<GpuMemory> fork_pages(const GpuMemory & source);
  // The slot's lightning states (every lightning layer, slot_bytes()) to host memory, and a
  // free slot for a memory without one, filled from such bytes.
  Status download_states(const GpuMemory & memory, std::span<std::uint8_t> out) const;
  Status attach_slot(GpuMemory & memory, std::span<const std::uint8_t> states);

  // The memory as host bytes (versioned, checksummed: the lightning slot fp32 as the kernels lay
  // it out, then per softmax layer the bf16 K and V rows of every token), and back. A restored
  // memory continues bit-identically. Errors name what does not match this model. A memory
  // without a slot takes its lightning states from `host_states` (download_states' bytes).
  Expected<std::vector<std::uint8_t>> serialize_memory(const GpuMemory & memory,
                                                       std::span<const std::uint8_t> host_states = {}) const;
  Expected<GpuMemory> deserialize_memory(std::span<const std::uint8_t> bytes);
  // Whether deserialize_memory would accept the bytes (slots and pages aside): their token count.
  Expected<int64_t> check_serialized(std::span<const std::uint8_t> bytes) const;
  // serialize_memory of a fresh memory, made on the host.
  std::vector<std::uint8_t> empty_memory_bytes() const;
  // The size serialize_memory gives for a memory of n_tokens.
  size_t serialized_bytes(int64_t n_tokens) const;

  // Device bytes: one slot's lightning states (every lightning layer), and one K/V page (K and V
  // of every softmax layer).
  size_t slot_bytes() const;
  size_t page_bytes() const;
  // A device address that identifies page `page` while it is held (for shared-block accounting).
  const void * page_address(int32_t page) const;
  int free_slots() const;
  int free_pages() const;
  int max_sequences() const { return options_.max_sequences; }

  // Every call below that touches the device first makes options.device current on the calling
  // thread, so models on different devices can be used in turn from one thread.

  // Validates the whole batch first (memories of this model, distinct, token ids in range, K/V
  // pages available), so an error leaves every memory untouched. One forward at a time.
  Expected<std::vector<SequenceLogits>> forward(std::span<const GpuSequenceInput> batch);

  // The fp32 logit rows of batch entry `index` of the last forward (its n_rows rows, vocab_size
  // floats apart), on the device; valid until the next forward.
  const float * device_logits(size_t index) const;

  // Decode steps run by replaying a captured graph so far (tests, benchmarks).
  int64_t graph_replays() const;
  void set_cuda_graphs(bool on) { options_.cuda_graphs = on; }

  struct Workspace;

private:
  GpuModel(ModelConfig config, GpuWeights weights, const GpuModelOptions & options);
  Status allocate_pools();
  Status use_device() const { return kernels::make_device_current(options_.device); }
  Status validate(std::span<const GpuSequenceInput> batch) const;
  void take_pages(GpuMemory & memory, int64_t n_tokens);  // pages for n_tokens (validate checked)
  Expected<GpuMemory> take_slot();                         // a memory with a slot, states not set
  Status share_pages(const GpuMemory & source, GpuMemory & copy);
  char * slot_state(int lightning_layer, int slot) const;  // fp32 [H, 128, 128] of that layer's slot
  char * page_data(const kernels::DeviceBuffer & pool, int32_t page) const;
  std::vector<std::uint8_t> serialized_header(int64_t n_tokens) const;

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
