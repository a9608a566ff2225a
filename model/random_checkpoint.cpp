#include "model/random_checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/safetensors_writer.h"

namespace m1 {

namespace {

uint64_t splitmix64(uint64_t & state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Standard normal values from (seed, tensor name) alone, so a tensor does not depend on which
// other tensors were drawn before it.
std::vector<float> normal_values(uint64_t seed, const std::string & name, size_t n) {
  uint64_t state = seed * 0x9e3779b97f4a7c15ull;
  for (unsigned char ch : name) state = (state ^ ch) * 1099511628211ull;
  std::vector<float> values(n);
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = (double(splitmix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = double(splitmix64(state) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * M_PI * u2;
    values[i] = float(r * std::cos(angle));
    if (i + 1 < n) values[i + 1] = float(r * std::sin(angle));
  }
  return values;
}

bool ends_with(const std::string & s, const std::string & suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Values are drawn per tensor of the transformers layout (stacked experts); the original layout
// gets the same numbers renamed and sliced, so both dialects of one seed are the same network.
TensorToWrite random_tensor(const TensorSpec & spec, const RandomCheckpointOptions & options) {
  size_t n = 1;
  for (int64_t d : spec.shape) n *= size_t(d);
  std::vector<float> values = normal_values(options.seed, spec.name, n);
  const bool router = ends_with(spec.name, "mlp.gate.weight");
  if (spec.shape.size() == 1) {  // norms: near 1 but not 1
    for (float & v : values) v = 1.0f + 0.2f * v;
  } else if (spec.name != "model.embed_tokens.weight") {  // fan-in scaling keeps activations O(1)
    const float scale = float((router ? 2.0 : 1.0) / std::sqrt(double(spec.shape.back())));
    for (float & v : values) v *= scale;
  }
  return make_tensor(spec.name, router ? DType::f32 : options.storage, spec.shape, values);
}

// The original layout of one transformers-layout tensor: renamed, experts split per expert.
std::vector<TensorToWrite> to_original_naming(TensorToWrite t, const ModelConfig & c) {
  const auto replace = [](std::string s, const std::string & from, const std::string & to) {
    const size_t at = s.find(from);
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  const bool gate_up = ends_with(t.name, "mlp.experts.gate_up_proj"), down = ends_with(t.name, "mlp.experts.down_proj");
  if (!gate_up && !down) return {TensorToWrite{replace(t.name, ".mlp.gate.", ".block_sparse_moe.gate."), t.dtype, t.shape, std::move(t.bytes)}};
  const std::string base = replace(replace(t.name, ".mlp.experts.gate_up_proj", ".block_sparse_moe.experts."),
                                   ".mlp.experts.down_proj", ".block_sparse_moe.experts.");
  const size_t matrix = size_t(c.expert_ffn) * c.hidden_size * dtype_size(t.dtype);  // one [F, D] or [D, F]
  std::vector<TensorToWrite> out;
  for (int e = 0; e < c.n_experts; ++e) {
    const std::string expert = base + std::to_string(e) + ".";
    auto slice = [&](const std::string & name, size_t offset, std::vector<int64_t> shape) {
      const auto begin = t.bytes.begin() + std::ptrdiff_t(offset);
      out.push_back({expert + name, t.dtype, std::move(shape), std::vector<uint8_t>(begin, begin + std::ptrdiff_t(matrix))});
    };
    if (gate_up) {
      slice("w1.weight", 2 * matrix * e, {c.expert_ffn, c.hidden_size});
      slice("w3.weight", 2 * matrix * e + matrix, {c.expert_ffn, c.hidden_size});
    } else {
      slice("w2.weight", matrix * e, {c.hidden_size, c.expert_ffn});
    }
  }
  return out;
}

Status write_index(const std::string & path, const std::map<std::string, std::string> & weight_map, uint64_t total) {
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  std::ofstream out(path);
  out << index.dump(2) << "\n";
  out.close();
  if (!out) return Status::error(path + ": write failed");
  return Status();
}

}  // namespace

ModelConfig m1_shaped_config(const M1Dimensions & d) {
  ModelConfig c;
  c.architecture = "MiniMaxM1ForCausalLM";
  c.vocab_size = d.vocab_size;
  c.hidden_size = d.hidden_size;
  c.n_layers = d.n_layers;
  c.n_heads = d.n_heads;
  c.n_kv_heads = d.n_kv_heads;
  c.head_dim = d.head_dim;
  c.rotary_dim = d.rotary_dim;
  c.n_experts = d.n_experts;
  c.n_experts_per_token = d.n_experts_per_token;
  c.expert_ffn = d.expert_ffn;
  c.block_size = d.block_size;
  c.rope_theta = 1e7;
  c.rms_norm_eps = 1e-5;
  for (int l = 0; l < d.n_layers; ++l) {
    const bool softmax = (l + 1) % 8 == 0 || (d.n_layers < 8 && l == d.n_layers - 1);
    c.layer_kinds.push_back(softmax ? LayerKind::softmax : LayerKind::lightning);
  }
  const double alpha = std::pow(2.0 * d.n_layers, 0.25);  // M1: (2*80)^(1/4)
  c.lightning_residual = c.softmax_residual = c.mlp_residual = {alpha, 1.0};
  return c;
}

M1Dimensions m1_dimensions_20m() {
  // 8 layers (7 lightning + 1 softmax), D 256, 8 experts of 256, vocab 8192: 19.3M parameters.
  return M1Dimensions{8192, 256, 8, 4, 2, 64, 32, 8, 2, 256, 256};
}

M1Dimensions m1_dimensions_100m() {
  // 8 layers (7 lightning + 1 softmax), D 512, 8 experts of 768, vocab 16384: 100.2M parameters.
  return M1Dimensions{16384, 512, 8, 8, 2, 64, 32, 8, 2, 768, 256};
}

Status write_random_checkpoint(const std::string & folder, const ModelConfig & config,
                               const RandomCheckpointOptions & options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return Status::error(folder + ": cannot create: " + ec.message());
  {
    std::ofstream out(fs::path(folder) / "config.json");
    out << model_config_json(config, options.dialect).dump(2) << "\n";
    if (!out) return Status::error(folder + "/config.json: write failed");
  }
  std::vector<TensorSpec> specs = expected_tensors(config, WeightNaming::transformers);
  const int n_shards = std::max(1, options.n_shards);
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  for (int s = 0; s < n_shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
    const std::string file = n_shards == 1 ? "model.safetensors" : name;
    std::vector<TensorToWrite> tensors;
    for (size_t i = s; i < specs.size(); i += size_t(n_shards)) {
      TensorToWrite t = random_tensor(specs[i], options);
      std::vector<TensorToWrite> renamed;
      if (options.dialect == ConfigDialect::original) renamed = to_original_naming(std::move(t), config);
      else renamed.push_back(std::move(t));
      for (TensorToWrite & r : renamed) {
        weight_map[r.name] = file;
        total += r.bytes.size();
        tensors.push_back(std::move(r));
      }
    }
    M1_RETURN_IF_ERROR(write_safetensors((fs::path(folder) / file).string(), tensors));
  }
  if (n_shards > 1)
    return write_index((fs::path(folder) / "model.safetensors.index.json").string(), weight_map, total);
  return Status();
}

}  // namespace m1
