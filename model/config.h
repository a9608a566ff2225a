// The hyper-parameters of an M1 network, read from config.json in either dialect (M1_SPEC.md
// section 2): the original (`minimax_m1`, MiniMaxM1ForCausalLM / MiniMaxText01ForCausalLM) and the
// transformers port (`minimax`, MiniMaxForCausalLM). Everything the forward needs, and the shapes
// it derives (tensor shapes, state and KV sizes, parameter counts), comes from ModelConfig.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace m1 {

enum class LayerKind { lightning, softmax };
enum class ConfigDialect { original, transformers };

// The postnorm residual of one sub-layer: x1 = alpha * N(x) + beta * f(N(x)).
struct ResidualScale {
  double alpha = 1.0;
  double beta = 1.0;
};

struct ModelConfig {
  ConfigDialect dialect = ConfigDialect::original;
  std::string architecture;
  int vocab_size = 0;
  int hidden_size = 0;        // D
  int n_layers = 0;
  int n_heads = 0;            // H, both layer kinds
  int n_kv_heads = 0;         // softmax layers (GQA)
  int head_dim = 0;           // d
  int rotary_dim = 0;         // RoPE on the first rotary_dim dims of each softmax head
  int n_experts = 0;
  int n_experts_per_token = 0;
  int expert_ffn = 0;         // F, the width of one expert
  int block_size = 256;       // lightning prefill block (the original has no key: 256)
  double rope_theta = 0.0;
  double rms_norm_eps = 1e-5;       // input, post-attention and final norms
  double lightning_norm_eps = 1e-6; // the norm inside lightning attention (fixed in both codes)
  std::vector<LayerKind> layer_kinds;
  ResidualScale lightning_residual, softmax_residual, mlp_residual;

  int n_layers_of(LayerKind kind) const;
  // Per sequence: the lightning states (fp32 H x d x d per lightning layer), and K+V per token.
  int64_t lightning_state_bytes() const;
  int64_t kv_bytes_per_token(int bytes_per_value) const;
  // Lightning decay rate of head h in layer l (the original formula; M1_SPEC.md section 4.2).
  double lightning_slope(int layer, int head) const;
};

struct ParameterCounts {
  int64_t total = 0;        // every weight, embedding and LM head included
  int64_t active = 0;       // used per token: top-k experts, without embedding and LM head
  int64_t embedding = 0;    // embed_tokens + lm_head
};
ParameterCounts count_parameters(const ModelConfig &);

// `source` names the file in error messages.
Expected<ModelConfig> parse_model_config(const nlohmann::json & json, const std::string & source);
Expected<ModelConfig> load_model_config(const std::string & path);

// config.json of the given dialect for `config` (what the random-checkpoint writer stores).
nlohmann::json model_config_json(const ModelConfig & config, ConfigDialect dialect);

}  // namespace m1
