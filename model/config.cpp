#include "model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

namespace m1 {

namespace {

using json = nlohmann::json;

// Reads keys of one config.json; every error names the file and the key.
class KeyReader {
public:
  KeyReader(const json & j, std::string source) : j_(j), source_(std::move(source)) {}

  bool has(const std::string & key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  Status error(const std::string & key, const std::string & why) const {
    return Status::error(source_ + ": key " + key + ": " + why);
  }
  Status fail(const std::string & why) const { return Status::error(source_ + ": " + why); }

  Expected<int> positive_int(const std::string & key) const {
    if (!has(key)) return error(key, "missing");
    const json & v = j_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > INT32_MAX)
      return error(key, "expected a positive integer, found " + v.dump());
    return int(v.get<int64_t>());
  }
  Expected<int> non_negative_int(const std::string & key) const {
    if (!has(key)) return error(key, "missing");
    const json & v = j_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      return error(key, "expected a non-negative integer, found " + v.dump());
    return int(v.get<int64_t>());
  }
  Expected<double> positive_number(const std::string & key) const {
    if (!has(key)) return error(key, "missing");
    const json & v = j_.at(key);
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      return error(key, "expected a positive number, found " + v.dump());
    return v.get<double>();
  }
  Expected<double> number_or(const std::string & key, double fallback) const {
    if (!has(key)) return fallback;
    const json & v = j_.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      return error(key, "expected a number, found " + v.dump());
    return v.get<double>();
  }
  const json & at(const std::string & key) const { return j_.at(key); }

private:
  const json & j_;
  std::string source_;
};

#define M1_ASSIGN(lhs, expr)                      \
  do {                                            \
    auto m1_value_ = (expr);                      \
    if (!m1_value_.ok()) return m1_value_.status(); \
    lhs = m1_value_.value();                      \
  } while (0)

Expected<ConfigDialect> detect_dialect(const KeyReader & keys, std::string & architecture) {
  std::string model_type = keys.has("model_type") && keys.at("model_type").is_string()
                               ? keys.at("model_type").get<std::string>() : "";
  if (keys.has("architectures")) {
    const json & arch = keys.at("architectures");
    if (!arch.is_array() || arch.size() != 1 || !arch[0].is_string())
      return keys.error("architectures", "expected a list with one name, found " + arch.dump());
    architecture = arch[0].get<std::string>();
  }
  ConfigDialect dialect;
  if (architecture == "MiniMaxM1ForCausalLM" || architecture == "MiniMaxText01ForCausalLM" ||
      (architecture.empty() && model_type == "minimax_m1"))
    dialect = ConfigDialect::original;
  else if (architecture == "MiniMaxForCausalLM" || (architecture.empty() && model_type == "minimax"))
    dialect = ConfigDialect::transformers;
  else if (!architecture.empty())
    return keys.error("architectures", "unknown architecture \"" + architecture +
                      "\" (known: MiniMaxM1ForCausalLM, MiniMaxText01ForCausalLM, MiniMaxForCausalLM)");
  else
    return keys.error("model_type", "unknown model type " + (keys.has("model_type") ? keys.at("model_type").dump() : std::string("(missing)")) +
                      " and no architectures (known: minimax_m1, minimax)");
  const char * expected_type = dialect == ConfigDialect::original ? "minimax_m1" : "minimax";
  // Text-01 configs say "minimax_text_01"; both belong to the original code.
  if (!model_type.empty() && model_type != expected_type &&
      !(dialect == ConfigDialect::original && model_type == "minimax_text_01"))
    return keys.error("model_type", "\"" + model_type + "\" does not match architecture \"" +
                      architecture + "\" (expected \"" + expected_type + "\")");
  if (architecture.empty()) architecture = dialect == ConfigDialect::original ? "MiniMaxM1ForCausalLM" : "MiniMaxForCausalLM";
  return dialect;
}

Status read_layer_kinds(const KeyReader & keys, ConfigDialect dialect, ModelConfig & c) {
  const std::string key = dialect == ConfigDialect::original ? "attn_type_list" : "layer_types";
  if (!keys.has(key)) return keys.error(key, "missing (it says which layers use softmax attention)");
  const json & list = keys.at(key);
  if (!list.is_array()) return keys.error(key, "expected a list, found " + list.dump());
  if (int(list.size()) != c.n_layers)
    return keys.error(key, "has " + std::to_string(list.size()) + " entries but num_hidden_layers is " +
                      std::to_string(c.n_layers));
  for (size_t l = 0; l < list.size(); ++l) {
    const json & v = list[l];
    if (dialect == ConfigDialect::original && v.is_number_integer() && (v == 0 || v == 1))
      c.layer_kinds.push_back(v == 1 ? LayerKind::softmax : LayerKind::lightning);
    else if (dialect == ConfigDialect::transformers && v == "linear_attention")
      c.layer_kinds.push_back(LayerKind::lightning);
    else if (dialect == ConfigDialect::transformers && v == "full_attention")
      c.layer_kinds.push_back(LayerKind::softmax);
    else
      return keys.error(key + "[" + std::to_string(l) + "]",
                        "expected " + std::string(dialect == ConfigDialect::original ? "0 or 1" :
                        "\"linear_attention\" or \"full_attention\"") + ", found " + v.dump());
  }
  return Status();
}

Status read_residuals(const KeyReader & keys, ConfigDialect dialect, ModelConfig & c) {
  struct Pair { ResidualScale * scale; const char * alpha; const char * beta; };
  const Pair original[] = {
      {&c.lightning_residual, "layernorm_linear_attention_alpha", "layernorm_linear_attention_beta"},
      {&c.softmax_residual, "layernorm_full_attention_alpha", "layernorm_full_attention_beta"},
      {&c.mlp_residual, "layernorm_mlp_alpha", "layernorm_mlp_beta"}};
  const Pair port[] = {
      {&c.lightning_residual, "linear_attn_alpha_factor", "linear_attn_beta_factor"},
      {&c.softmax_residual, "full_attn_alpha_factor", "full_attn_beta_factor"},
      {&c.mlp_residual, "mlp_alpha_factor", "mlp_beta_factor"}};
  for (const Pair & p : dialect == ConfigDialect::original ? original : port) {
    if (dialect == ConfigDialect::original) {  // the original code reads them unconditionally
      if (!keys.has(p.alpha)) return keys.error(p.alpha, "missing");
      if (!keys.has(p.beta)) return keys.error(p.beta, "missing");
    }
    M1_ASSIGN(p.scale->alpha, keys.number_or(p.alpha, 1.0));  // transformers defaults to 1
    M1_ASSIGN(p.scale->beta, keys.number_or(p.beta, 1.0));
  }
  return Status();
}

Status read_rope(const KeyReader & keys, ConfigDialect dialect, ModelConfig & c) {
  if (dialect == ConfigDialect::original) {
    M1_ASSIGN(c.rotary_dim, keys.positive_int("rotary_dim"));
    M1_ASSIGN(c.rope_theta, keys.positive_number("rope_theta"));
    return Status();
  }
  // transformers >= 5: rope_parameters {rope_type, rope_theta, partial_rotary_factor?}; older
  // versions: top-level rope_theta. No partial-rotary key means the whole head rotates.
  double partial = 1.0;
  if (keys.has("rope_parameters")) {
    const json & rope = keys.at("rope_parameters");
    if (!rope.is_object()) return keys.error("rope_parameters", "expected an object, found " + rope.dump());
    KeyReader inner(rope, "");
    if (rope.contains("rope_type") && rope["rope_type"] != "default")
      return keys.error("rope_parameters.rope_type", "only \"default\" RoPE is supported, found " +
                        rope["rope_type"].dump());
    if (!inner.has("rope_theta")) return keys.error("rope_parameters.rope_theta", "missing");
    if (!rope["rope_theta"].is_number() || !(rope["rope_theta"].get<double>() > 0))
      return keys.error("rope_parameters.rope_theta", "expected a positive number, found " + rope["rope_theta"].dump());
    c.rope_theta = rope["rope_theta"].get<double>();
    if (inner.has("partial_rotary_factor")) {
      if (!rope["partial_rotary_factor"].is_number())
        return keys.error("rope_parameters.partial_rotary_factor", "expected a number, found " +
                          rope["partial_rotary_factor"].dump());
      partial = rope["partial_rotary_factor"].get<double>();
    }
  } else {
    if (!keys.has("rope_theta")) return keys.error("rope_parameters", "missing (and no rope_theta)");
    M1_ASSIGN(c.rope_theta, keys.positive_number("rope_theta"));
  }
  if (keys.has("partial_rotary_factor")) M1_ASSIGN(partial, keys.positive_number("partial_rotary_factor"));
  if (keys.has("rotary_dim")) {
    M1_ASSIGN(c.rotary_dim, keys.positive_int("rotary_dim"));
  } else {
    const double dims = partial * c.head_dim;
    if (!(partial > 0 && partial <= 1) || std::abs(dims - std::round(dims)) > 1e-6)
      return keys.error("partial_rotary_factor", std::to_string(partial) + " x head_dim " +
                        std::to_string(c.head_dim) + " is not a whole number of dims in (0, head_dim]");
    c.rotary_dim = int(std::round(dims));
  }
  return Status();
}

Status check_consistency(const KeyReader & keys, const ModelConfig & c) {
  auto s = [](auto v) { return std::to_string(v); };
  if (c.n_heads % c.n_kv_heads != 0)
    return keys.error("num_key_value_heads", s(c.n_kv_heads) + " does not divide num_attention_heads " + s(c.n_heads));
  if (c.rotary_dim > c.head_dim || c.rotary_dim % 2 != 0)
    return keys.error("rotary_dim", s(c.rotary_dim) + " must be even and at most head_dim " + s(c.head_dim));
  if (c.n_experts_per_token > c.n_experts)
    return keys.error("num_experts_per_tok", s(c.n_experts_per_token) + " is more than num_local_experts " + s(c.n_experts));
  if (keys.has("postnorm") && keys.at("postnorm") != true)
    return keys.error("postnorm", "only postnorm = true (as in M1) is supported, found " + keys.at("postnorm").dump());
  if (keys.has("shared_intermediate_size") && keys.at("shared_intermediate_size") != 0)
    return keys.error("shared_intermediate_size", "a shared expert is not supported (M1 has none), found " +
                      keys.at("shared_intermediate_size").dump());
  if (keys.has("tie_word_embeddings") && keys.at("tie_word_embeddings") != false)
    return keys.error("tie_word_embeddings", "tied embeddings are not supported (M1 unties them), found " +
                      keys.at("tie_word_embeddings").dump());
  if (keys.has("hidden_act") && keys.at("hidden_act") != "silu")
    return keys.error("hidden_act", "only \"silu\" is supported, found " + keys.at("hidden_act").dump());
  if (keys.has("sliding_window"))
    return keys.error("sliding_window", "sliding-window attention is not supported (M1 has none), found " +
                      keys.at("sliding_window").dump());
  return Status();
}

}  // namespace

Expected<ModelConfig> parse_model_config(const json & j, const std::string & source) {
  if (!j.is_object()) return Status::error(source + ": expected a JSON object");
  KeyReader keys(j, source);
  ModelConfig c;
  M1_ASSIGN(c.dialect, detect_dialect(keys, c.architecture));
  M1_ASSIGN(c.vocab_size, keys.positive_int("vocab_size"));
  M1_ASSIGN(c.hidden_size, keys.positive_int("hidden_size"));
  M1_ASSIGN(c.n_layers, keys.positive_int("num_hidden_layers"));
  M1_ASSIGN(c.n_heads, keys.positive_int("num_attention_heads"));
  M1_ASSIGN(c.n_kv_heads, keys.positive_int("num_key_value_heads"));
  if (keys.has("head_dim")) {
    M1_ASSIGN(c.head_dim, keys.positive_int("head_dim"));
  } else if (c.hidden_size % c.n_heads != 0) {
    return keys.error("head_dim", "missing, and hidden_size " + std::to_string(c.hidden_size) +
                      " is not a multiple of num_attention_heads " + std::to_string(c.n_heads));
  } else {
    c.head_dim = c.hidden_size / c.n_heads;
  }
  M1_ASSIGN(c.n_experts, keys.positive_int("num_local_experts"));
  M1_ASSIGN(c.n_experts_per_token, keys.positive_int("num_experts_per_tok"));
  M1_ASSIGN(c.expert_ffn, keys.positive_int("intermediate_size"));
  M1_ASSIGN(c.rms_norm_eps, keys.positive_number("rms_norm_eps"));
  if (c.dialect == ConfigDialect::transformers && keys.has("block_size"))
    M1_ASSIGN(c.block_size, keys.positive_int("block_size"));
  M1_RETURN_IF_ERROR(read_layer_kinds(keys, c.dialect, c));
  M1_RETURN_IF_ERROR(read_residuals(keys, c.dialect, c));
  M1_RETURN_IF_ERROR(read_rope(keys, c.dialect, c));
  M1_RETURN_IF_ERROR(check_consistency(keys, c));
  return c;
}

Expected<ModelConfig> load_model_config(const std::string & path) {
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::error(path + ": not valid JSON");
  return parse_model_config(j, path);
}

int ModelConfig::n_layers_of(LayerKind kind) const {
  int n = 0;
  for (LayerKind k : layer_kinds) n += k == kind;
  return n;
}

int64_t ModelConfig::lightning_state_bytes() const {
  return int64_t(n_layers_of(LayerKind::lightning)) * n_heads * head_dim * head_dim * 4;
}

int64_t ModelConfig::kv_bytes_per_token(int bytes_per_value) const {
  return int64_t(n_layers_of(LayerKind::softmax)) * 2 * n_kv_heads * head_dim * bytes_per_value;
}

double ModelConfig::lightning_slope(int layer, int head) const {
  // s(l,h) = 2^(-8(h+1)/H) * (1 - l/(L-1) + 1e-5); a one-layer model has no depth term.
  const double depth = n_layers > 1 ? double(layer) / (n_layers - 1) : 0.0;
  return std::pow(2.0, -8.0 * (head + 1) / n_heads) * (1.0 - depth + 1e-5);
}

ParameterCounts count_parameters(const ModelConfig & c) {
  const int64_t D = c.hidden_size, Hd = int64_t(c.n_heads) * c.head_dim;
  const int64_t kv = int64_t(c.n_kv_heads) * c.head_dim, F = c.expert_ffn;
  ParameterCounts counts;
  counts.embedding = 2 * int64_t(c.vocab_size) * D;
  const int64_t expert = 3 * D * F;
  for (LayerKind kind : c.layer_kinds) {
    const int64_t attention = kind == LayerKind::lightning ? 3 * Hd * D + Hd * D + Hd + D * Hd
                                                           : Hd * D + 2 * kv * D + D * Hd;
    const int64_t shared = attention + 2 * D + int64_t(c.n_experts) * D;  // norms, router
    counts.total += shared + c.n_experts * expert;
    counts.active += shared + c.n_experts_per_token * expert;
  }
  counts.total += counts.embedding + D;  // final norm
  counts.active += D;
  return counts;
}

json model_config_json(const ModelConfig & c, ConfigDialect dialect) {
  json j = {{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
            {"num_hidden_layers", c.n_layers}, {"num_attention_heads", c.n_heads},
            {"num_key_value_heads", c.n_kv_heads}, {"head_dim", c.head_dim},
            {"num_local_experts", c.n_experts}, {"num_experts_per_tok", c.n_experts_per_token},
            {"intermediate_size", c.expert_ffn}, {"rms_norm_eps", c.rms_norm_eps},
            {"hidden_act", "silu"}, {"tie_word_embeddings", false}};
  json kinds = json::array();
  if (dialect == ConfigDialect::original) {
    for (LayerKind k : c.layer_kinds) kinds.push_back(k == LayerKind::softmax ? 1 : 0);
    j.update({{"architectures", {"MiniMaxM1ForCausalLM"}}, {"model_type", "minimax_m1"},
              {"attn_type_list", kinds}, {"rotary_dim", c.rotary_dim}, {"rope_theta", c.rope_theta},
              {"postnorm", true}, {"shared_intermediate_size", 0},
              {"layernorm_linear_attention_alpha", c.lightning_residual.alpha},
              {"layernorm_linear_attention_beta", c.lightning_residual.beta},
              {"layernorm_full_attention_alpha", c.softmax_residual.alpha},
              {"layernorm_full_attention_beta", c.softmax_residual.beta},
              {"layernorm_mlp_alpha", c.mlp_residual.alpha}, {"layernorm_mlp_beta", c.mlp_residual.beta}});
    return j;
  }
  for (LayerKind k : c.layer_kinds) kinds.push_back(k == LayerKind::softmax ? "full_attention" : "linear_attention");
  json rope = {{"rope_type", "default"}, {"rope_theta", c.rope_theta}};
  if (c.rotary_dim != c.head_dim) rope["partial_rotary_factor"] = double(c.rotary_dim) / c.head_dim;
  j.update({{"architectures", {"MiniMaxForCausalLM"}}, {"model_type", "minimax"},
            {"layer_types", kinds}, {"block_size", c.block_size}, {"rope_parameters", rope},
            {"linear_attn_alpha_factor", c.lightning_residual.alpha},
            {"linear_attn_beta_factor", c.lightning_residual.beta},
            {"full_attn_alpha_factor", c.softmax_residual.alpha},
            {"full_attn_beta_factor", c.softmax_residual.beta},
            {"mlp_alpha_factor", c.mlp_residual.alpha}, {"mlp_beta_factor", c.mlp_residual.beta}});
  return j;
}

}  // namespace m1
