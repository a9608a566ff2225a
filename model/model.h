// The M1 network on the CPU: opened from a checkpoint folder (config.json + safetensors), it runs
// a forward pass over a batch of sequences, each with its own SequenceMemory, appending the new
// tokens to each memory and returning fp32 logits only for the rows asked for (the LM head is the
// largest single GEMM: computing it only where needed is what makes decode cheap).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/cpu/thread_pool.h"
#include "model/config.h"
#include "model/lightning_attention.h"
#include "model/moe.h"
#include "model/sequence_memory.h"
#include "model/softmax_attention.h"
#include "model/weights.h"

namespace m1 {

struct ModelOptions {
  int threads = 0;          // 0: all hardware threads
  int lightning_block = 0;  // block size of the lightning prefill; 0: the config's (256 original)
};

enum class LogitRows { none, last, all };

// One sequence's part of a batch: its memory (appended to) and its new tokens.
struct SequenceInput {
  SequenceMemory * memory = nullptr;
  std::span<const int32_t> tokens;
  LogitRows logits = LogitRows::last;
};

// fp32 [n_rows, vocab]: n_rows is 0, 1 (the last new token) or tokens.size().
struct SequenceLogits {
  int n_rows = 0;
  int vocab = 0;
  std::vector<float> values;
};

class Model {
public:
  static Expected<std::unique_ptr<Model>> open(const std::string & folder, const ModelOptions & options = {});
  Model(ModelConfig config, ModelWeights weights, const ModelOptions & options);

  const ModelConfig & config() const { return config_; }
  MemoryShape memory_shape() const { return MemoryShape::of(config_); }
  SequenceMemory new_memory() const { return SequenceMemory(memory_shape()); }

  // Validates the whole batch first (memory shapes, distinct memories, token ids in range), so an
  // error leaves every memory untouched. Not re-entrant: one forward at a time per Model.
  Expected<std::vector<SequenceLogits>> forward(std::span<const SequenceInput> batch);

  void set_threads(int threads);
  int threads() const { return pool_->size(); }
  int lightning_block() const { return lightning_block_; }
  void set_lightning_block(int block) { lightning_block_ = block > 0 ? block : config_.block_size; }

private:
  Status validate(std::span<const SequenceInput> batch) const;
  void run_layer(int layer, std::span<const SequenceRows> rows, int n_rows);
  std::vector<SequenceLogits> lm_head(std::span<const SequenceInput> batch, std::span<const SequenceRows> rows);

  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<kernels::cpu::ThreadPool> pool_;
  int lightning_block_;
  // Scratch reused across forwards (owned by the single caller of forward()).
  std::vector<float> x_, normed_, sublayer_;
  LightningWorkspace lightning_ws_;
  SoftmaxWorkspace softmax_ws_;
  MoeWorkspace moe_ws_;
};

}  // namespace m1
