#include "model/weights.h"

#include <cstring>
#include <regex>

namespace m1 {

namespace {

std::string layer_prefix(int l) { return "model.layers." + std::to_string(l) + "."; }

std::string moe_prefix(int l, WeightNaming naming) {
  return layer_prefix(l) + (naming == WeightNaming::original ? "block_sparse_moe." : "mlp.");
}

// transformers keeps the lightning decay tables as persistent buffers, so checkpoints saved by
// it may carry them; they are derived from the config, never read.
bool is_derived_buffer(const std::string & name) {
  static const std::regex buffer(
      R"(model\.layers\.\d+\.self_attn\.(slope_rate|query_decay|key_decay|diagonal_decay)|.*rotary_emb\.inv_freq)");
  return std::regex_match(name, buffer);
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig & c, WeightNaming naming) {
  const int64_t D = c.hidden_size, V = c.vocab_size, Hd = int64_t(c.n_heads) * c.head_dim;
  const int64_t kv = int64_t(c.n_kv_heads) * c.head_dim, E = c.n_experts, F = c.expert_ffn;
  std::vector<TensorSpec> specs = {{"model.embed_tokens.weight", {V, D}},
                                   {"model.norm.weight", {D}},
                                   {"lm_head.weight", {V, D}}};
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = layer_prefix(l), moe = moe_prefix(l, naming);
    specs.push_back({p + "input_layernorm.weight", {D}});
    specs.push_back({p + "post_attention_layernorm.weight", {D}});
    if (c.layer_kinds[l] == LayerKind::lightning) {
      specs.push_back({p + "self_attn.qkv_proj.weight", {3 * Hd, D}});
      specs.push_back({p + "self_attn.output_gate.weight", {Hd, D}});
      specs.push_back({p + "self_attn.norm.weight", {Hd}});
      specs.push_back({p + "self_attn.out_proj.weight", {D, Hd}});
    } else {
      specs.push_back({p + "self_attn.q_proj.weight", {Hd, D}});
      specs.push_back({p + "self_attn.k_proj.weight", {kv, D}});
      specs.push_back({p + "self_attn.v_proj.weight", {kv, D}});
      specs.push_back({p + "self_attn.o_proj.weight", {D, Hd}});
    }
    specs.push_back({moe + "gate.weight", {E, D}});
    if (naming == WeightNaming::transformers) {
      specs.push_back({moe + "experts.gate_up_proj", {E, 2 * F, D}});
      specs.push_back({moe + "experts.down_proj", {E, D, F}});
    } else {
      for (int e = 0; e < E; ++e) {
        const std::string expert = moe + "experts." + std::to_string(e) + ".";
        specs.push_back({expert + "w1.weight", {F, D}});
        specs.push_back({expert + "w2.weight", {D, F}});
        specs.push_back({expert + "w3.weight", {F, D}});
      }
    }
  }
  return specs;
}

Expected<WeightNaming> validate_checkpoint(const Checkpoint & ckpt, const ModelConfig & c) {
  const std::string where = ckpt.folder() + ": ";
  WeightNaming naming;
  if (ckpt.find("model.layers.0.block_sparse_moe.gate.weight")) naming = WeightNaming::original;
  else if (ckpt.find("model.layers.0.mlp.gate.weight")) naming = WeightNaming::transformers;
  else
    return Status::error(where + "missing tensor model.layers.0.block_sparse_moe.gate.weight "
                         "(original names) or model.layers.0.mlp.gate.weight (transformers names)");
  std::map<std::string, const TensorSpec *> wanted;
  const std::vector<TensorSpec> specs = expected_tensors(c, naming);
  for (const TensorSpec & spec : specs) wanted[spec.name] = &spec;
  for (const TensorSpec & spec : specs) {
    const TensorInfo * t = ckpt.find(spec.name);
    if (!t) return Status::error(where + "missing tensor " + spec.name + " (expected shape " + shape_string(spec.shape) + ")");
    if (t->shape != spec.shape)
      return Status::error(where + t->file + ": tensor " + spec.name + ": expected shape " +
                           shape_string(spec.shape) + ", found " + shape_string(t->shape));
    if (!t->dtype)
      return Status::error(where + t->file + ": tensor " + spec.name + ": expected dtype BF16, F16 or F32, found " + t->dtype_name);
  }
  for (const auto & [name, t] : ckpt.tensors())
    if (!wanted.count(name) && !is_derived_buffer(name))
      return Status::error(where + t->file + ": unexpected tensor " + name + " " + shape_string(t->shape) +
                           " (not part of this config's network)");
  return naming;
}

namespace {

std::vector<float> read_f32(const Checkpoint & ckpt, const std::string & name) {
  const TensorInfo * t = ckpt.find(name);  // present and a float type: validated before
  std::vector<float> out(size_t(t->numel()));
  tensor_to_f32(*t, out.data());
  return out;
}

void read_experts(const Checkpoint & ckpt, const ModelConfig & c, WeightNaming naming, int l, MoeWeights & moe) {
  const std::string p = moe_prefix(l, naming);
  moe.router = read_f32(ckpt, p + "gate.weight");
  if (naming == WeightNaming::transformers) {
    moe.gate_up = read_f32(ckpt, p + "experts.gate_up_proj");
    moe.down = read_f32(ckpt, p + "experts.down_proj");
    return;
  }
  const size_t block = size_t(c.expert_ffn) * c.hidden_size;  // one [F, D] or [D, F] matrix
  moe.gate_up.resize(2 * block * c.n_experts);
  moe.down.resize(block * c.n_experts);
  for (int e = 0; e < c.n_experts; ++e) {
    const std::string expert = p + "experts." + std::to_string(e) + ".";
    tensor_to_f32(*ckpt.find(expert + "w1.weight"), moe.gate_up.data() + 2 * block * e);
    tensor_to_f32(*ckpt.find(expert + "w3.weight"), moe.gate_up.data() + 2 * block * e + block);
    tensor_to_f32(*ckpt.find(expert + "w2.weight"), moe.down.data() + block * e);
  }
}

}  // namespace

Expected<ModelWeights> load_weights(const Checkpoint & ckpt, const ModelConfig & c) {
  auto naming = validate_checkpoint(ckpt, c);
  if (!naming) return naming.status();
  ModelWeights w;
  w.embed = read_f32(ckpt, "model.embed_tokens.weight");
  w.final_norm = read_f32(ckpt, "model.norm.weight");
  w.lm_head = read_f32(ckpt, "lm_head.weight");
  w.layers.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights & layer = w.layers[l];
    const std::string p = layer_prefix(l);
    layer.kind = c.layer_kinds[l];
    layer.input_norm = read_f32(ckpt, p + "input_layernorm.weight");
    layer.post_attention_norm = read_f32(ckpt, p + "post_attention_layernorm.weight");
    if (layer.kind == LayerKind::lightning) {
      layer.lightning.qkv = read_f32(ckpt, p + "self_attn.qkv_proj.weight");
      layer.lightning.output_gate = read_f32(ckpt, p + "self_attn.output_gate.weight");
      layer.lightning.norm = read_f32(ckpt, p + "self_attn.norm.weight");
      layer.lightning.out_proj = read_f32(ckpt, p + "self_attn.out_proj.weight");
    } else {
      layer.softmax.q_proj = read_f32(ckpt, p + "self_attn.q_proj.weight");
      layer.softmax.k_proj = read_f32(ckpt, p + "self_attn.k_proj.weight");
      layer.softmax.v_proj = read_f32(ckpt, p + "self_attn.v_proj.weight");
      layer.softmax.o_proj = read_f32(ckpt, p + "self_attn.o_proj.weight");
    }
    read_experts(ckpt, c, *naming, l, layer.moe);
  }
  return w;
}

}  // namespace m1
