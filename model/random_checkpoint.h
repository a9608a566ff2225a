// Random M1-shaped checkpoints, made on the fly for benchmarks and runtime tests: a config with
// M1's layout (softmax attention at layers with (l+1) % 8 == 0, or the last layer of a model with
// fewer than 8) and weights drawn deterministically from a seed, written as config.json +
// safetensors in either dialect.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "model/config.h"
#include "model/dtype.h"
#include "model/weights.h"

namespace m1 {

struct M1Dimensions {
  int vocab_size = 1024;
  int hidden_size = 256;
  int n_layers = 8;
  int n_heads = 4;
  int n_kv_heads = 2;
  int head_dim = 64;
  int rotary_dim = 32;
  int n_experts = 8;
  int n_experts_per_token = 2;
  int expert_ffn = 256;
  int block_size = 256;
};

// M1's config (alphas (2L)^(1/4), betas 1, eps 1e-5, theta 1e7) at other dimensions.
ModelConfig m1_shaped_config(const M1Dimensions &);

// Roughly 20M and 100M parameters (for benchmarks and runtime tests).
M1Dimensions m1_dimensions_20m();
M1Dimensions m1_dimensions_100m();

struct RandomCheckpointOptions {
  uint64_t seed = 1;
  DType storage = DType::bf16;  // the MoE routers are always fp32, as in the real checkpoint
  ConfigDialect dialect = ConfigDialect::original;
  int n_shards = 1;             // > 1: model-0000i-of-0000n.safetensors + index
};

// Creates `folder` if needed and writes config.json and the weights.
Status write_random_checkpoint(const std::string & folder, const ModelConfig & config,
                               const RandomCheckpointOptions & options);

}  // namespace m1
