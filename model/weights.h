// The M1 weights: which tensors a checkpoint must hold for a config (both naming schemes of
// M1_SPEC.md section 3), their validation (missing, unexpected, wrong shape or dtype), and the
// fp32 copies the CPU forward computes with (converted from bf16/fp16/fp32 at load).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace m1 {

// original: block_sparse_moe.gate + experts.e.w1/w2/w3; transformers: mlp.gate + stacked
// mlp.experts.gate_up_proj [E, 2F, D] / down_proj [E, D, F].
enum class WeightNaming { original, transformers };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<TensorSpec> expected_tensors(const ModelConfig &, WeightNaming);

// Which scheme the checkpoint uses (by its layer-0 router name), then: every expected tensor
// present with its shape and a float dtype (F32/F16/BF16), nothing else. Reads headers only.
Expected<WeightNaming> validate_checkpoint(const Checkpoint &, const ModelConfig &);

struct LightningWeights {
  std::vector<float> qkv;          // [3*H*d, D], per head h: rows [3dh, 3dh+d) q, then k, then v
  std::vector<float> output_gate;  // [H*d, D]
  std::vector<float> norm;         // [H*d]
  std::vector<float> out_proj;     // [D, H*d]
};

struct SoftmaxWeights {
  std::vector<float> q_proj, k_proj, v_proj;  // [H*d, D], [Hkv*d, D], [Hkv*d, D]
  std::vector<float> o_proj;                  // [D, H*d]
};

struct MoeWeights {
  std::vector<float> router;   // [E, D]
  std::vector<float> gate_up;  // [E, 2F, D]: rows [0, F) gate (w1), [F, 2F) up (w3)
  std::vector<float> down;     // [E, D, F] (w2)
};

struct LayerWeights {
  LayerKind kind = LayerKind::lightning;
  std::vector<float> input_norm, post_attention_norm;  // [D]
  LightningWeights lightning;  // lightning layers only
  SoftmaxWeights softmax;      // softmax layers only
  MoeWeights moe;
};

struct ModelWeights {
  std::vector<float> embed;       // [V, D]
  std::vector<float> final_norm;  // [D]
  std::vector<float> lm_head;     // [V, D]
  std::vector<LayerWeights> layers;
};

Expected<ModelWeights> load_weights(const Checkpoint &, const ModelConfig &);

}  // namespace m1
