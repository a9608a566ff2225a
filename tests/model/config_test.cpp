// config.json in both dialects: the real MiniMax-M1 config with the shapes M1_SPEC.md section 1
// derives from it, the golden fixtures' configs, and every kind of bad config as an error that
// names the key and the values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "model/config.h"
#include "model/weights.h"

namespace {

using m1::LayerKind;
using nlohmann::json;

json read_json(const std::string & path) {
  std::ifstream in(path);
  return json::parse(in);
}

const std::string kRealConfig = std::string(M1_TEST_DATA_DIR) + "/m1_reference/config.json";

TEST(ModelConfig, RealM1ConfigGivesTheSpecShapes) {
  auto config = m1::load_model_config(kRealConfig);
  ASSERT_TRUE(config.ok()) << config.status().message();
  const m1::ModelConfig & c = *config;
  EXPECT_EQ(c.dialect, m1::ConfigDialect::original);
  EXPECT_EQ(c.n_layers, 80);
  EXPECT_EQ(c.hidden_size, 6144);
  EXPECT_EQ(c.n_heads, 64);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.rotary_dim, 64);
  EXPECT_EQ(c.rope_theta, 1e7);
  EXPECT_EQ(c.n_experts, 32);
  EXPECT_EQ(c.n_experts_per_token, 2);
  EXPECT_EQ(c.expert_ffn, 9216);
  EXPECT_EQ(c.vocab_size, 200064);
  EXPECT_EQ(c.block_size, 256);  // the original has no key: 256-token blocks
  EXPECT_DOUBLE_EQ(c.mlp_residual.alpha, 3.5565588200778455);
  for (int l = 0; l < 80; ++l)
    EXPECT_EQ(c.layer_kinds[l], (l + 1) % 8 == 0 ? LayerKind::softmax : LayerKind::lightning) << "layer " << l;
  EXPECT_EQ(c.n_layers_of(LayerKind::softmax), 10);
  // Per sequence: 70 lightning layers x 64 x 128 x 128 fp32 = 280 MiB; 40 KiB of bf16 K/V per token.
  EXPECT_EQ(c.lightning_state_bytes(), 280ll << 20);
  EXPECT_EQ(c.kv_bytes_per_token(2), 40ll << 10);
  // 456.1 B parameters in total, 45.9 B active per token without embedding / LM head.
  const m1::ParameterCounts counts = m1::count_parameters(c);
  EXPECT_NEAR(double(counts.total) / 1e9, 456.1, 0.05);
  EXPECT_NEAR(double(counts.active) / 1e9, 45.9, 0.05);
  // The checkpoint's tensors: shapes of M1_SPEC.md section 3.
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto & spec : m1::expected_tensors(c, m1::WeightNaming::original)) shapes[spec.name] = spec.shape;
  EXPECT_EQ(shapes.size(), 3u + 80 * (2 + 1 + 32 * 3) + 70 * 4 + 10 * 4);
  EXPECT_EQ(shapes["model.layers.0.self_attn.qkv_proj.weight"], (std::vector<int64_t>{24576, 6144}));
  EXPECT_EQ(shapes["model.layers.0.self_attn.norm.weight"], (std::vector<int64_t>{8192}));
  EXPECT_EQ(shapes["model.layers.7.self_attn.k_proj.weight"], (std::vector<int64_t>{1024, 6144}));
  EXPECT_EQ(shapes["model.layers.7.self_attn.o_proj.weight"], (std::vector<int64_t>{6144, 8192}));
  EXPECT_EQ(shapes["model.layers.79.block_sparse_moe.experts.31.w2.weight"], (std::vector<int64_t>{6144, 9216}));
  EXPECT_EQ(shapes["lm_head.weight"], (std::vector<int64_t>{200064, 6144}));
  std::map<std::string, std::vector<int64_t>> port;
  for (const auto & spec : m1::expected_tensors(c, m1::WeightNaming::transformers)) port[spec.name] = spec.shape;
  EXPECT_EQ(port["model.layers.3.mlp.experts.gate_up_proj"], (std::vector<int64_t>{32, 18432, 6144}));
  EXPECT_EQ(port["model.layers.3.mlp.experts.down_proj"], (std::vector<int64_t>{32, 6144, 9216}));
}

TEST(ModelConfig, GoldenConfigsInBothDialects) {
  auto port = m1::load_model_config(std::string(M1_TEST_DATA_DIR) + "/model/hf_gqa_partial_rotary/config.json");
  ASSERT_TRUE(port.ok()) << port.status().message();
  EXPECT_EQ(port->dialect, m1::ConfigDialect::transformers);
  EXPECT_EQ(port->rotary_dim, 16);  // rope_parameters.partial_rotary_factor 0.5 x head_dim 32
  EXPECT_EQ(port->head_dim, 32);
  EXPECT_EQ(port->block_size, 16);
  EXPECT_DOUBLE_EQ(port->lightning_residual.alpha, 1.9);
  EXPECT_DOUBLE_EQ(port->softmax_residual.beta, 1.1);
  EXPECT_EQ(port->layer_kinds, (std::vector<LayerKind>{LayerKind::lightning, LayerKind::lightning,
                                                       LayerKind::lightning, LayerKind::softmax}));
  auto mha = m1::load_model_config(std::string(M1_TEST_DATA_DIR) + "/model/hf_mha_fp16_two_shards/config.json");
  ASSERT_TRUE(mha.ok()) << mha.status().message();
  EXPECT_EQ(mha->rotary_dim, mha->head_dim);  // no partial-rotary key: the whole head rotates
  auto text01 = m1::load_model_config(std::string(M1_TEST_DATA_DIR) + "/model/orig_text01_mqa_single/config.json");
  ASSERT_TRUE(text01.ok()) << text01.status().message();
  EXPECT_EQ(text01->architecture, "MiniMaxText01ForCausalLM");
  EXPECT_EQ(text01->rms_norm_eps, 1e-6);
}

TEST(ModelConfig, WrittenConfigsReadBack) {
  auto real = m1::load_model_config(kRealConfig);
  ASSERT_TRUE(real.ok());
  for (auto dialect : {m1::ConfigDialect::original, m1::ConfigDialect::transformers}) {
    auto back = m1::parse_model_config(m1::model_config_json(*real, dialect), "written");
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->layer_kinds, real->layer_kinds);
    EXPECT_EQ(back->rotary_dim, 64);
    EXPECT_EQ(back->rope_theta, 1e7);
    EXPECT_EQ(back->mlp_residual.alpha, real->mlp_residual.alpha);
    EXPECT_EQ(back->dialect, dialect);
  }
}

struct BadConfig {
  std::string what;
  std::function<void(json &)> edit;
  std::string message;
};

TEST(ModelConfig, BadConfigsAreErrorsNamingKeyAndValues) {
  const json real = read_json(kRealConfig);
  const std::vector<BadConfig> cases = {
      {"unknown architecture", [](json & j) { j["architectures"] = {"LlamaForCausalLM"}; },
       "key architectures: unknown architecture \"LlamaForCausalLM\""},
      {"missing key", [](json & j) { j.erase("hidden_size"); }, "key hidden_size: missing"},
      {"missing layer list", [](json & j) { j.erase("attn_type_list"); }, "key attn_type_list: missing"},
      {"wrong type", [](json & j) { j["num_attention_heads"] = "64"; },
       "key num_attention_heads: expected a positive integer, found \"64\""},
      {"list length", [](json & j) { j["num_hidden_layers"] = 79; },
       "key attn_type_list: has 80 entries but num_hidden_layers is 79"},
      {"bad list entry", [](json & j) { j["attn_type_list"][3] = 2; }, "key attn_type_list[3]: expected 0 or 1, found 2"},
      {"top-k over experts", [](json & j) { j["num_experts_per_tok"] = 33; },
       "key num_experts_per_tok: 33 is more than num_local_experts 32"},
      {"gqa", [](json & j) { j["num_key_value_heads"] = 7; },
       "key num_key_value_heads: 7 does not divide num_attention_heads 64"},
      {"rotary dim", [](json & j) { j["rotary_dim"] = 130; }, "key rotary_dim: 130 must be even and at most head_dim 128"},
      {"model type", [](json & j) { j["model_type"] = "minimax"; },
       "key model_type: \"minimax\" does not match architecture \"MiniMaxM1ForCausalLM\""},
      {"missing alpha", [](json & j) { j.erase("layernorm_mlp_alpha"); }, "key layernorm_mlp_alpha: missing"},
      {"shared expert", [](json & j) { j["shared_intermediate_size"] = 1024; },
       "key shared_intermediate_size: a shared expert is not supported"},
      {"head_dim", [](json & j) { j.erase("head_dim"); j["hidden_size"] = 6100; },
       "key head_dim: missing, and hidden_size 6100 is not a multiple of num_attention_heads 64"},
  };
  for (const BadConfig & c : cases) {
    json j = real;
    c.edit(j);
    auto config = m1::parse_model_config(j, "config.json");
    ASSERT_FALSE(config.ok()) << c.what;
    EXPECT_EQ(config.status().message().rfind("config.json: ", 0), 0u) << config.status().message();
    EXPECT_NE(config.status().message().find(c.message), std::string::npos)
        << c.what << ": " << config.status().message();
  }
  auto port = read_json(std::string(M1_TEST_DATA_DIR) + "/model/hf_gqa_partial_rotary/config.json");
  port["layer_types"][1] = "sliding_attention";
  auto bad = m1::parse_model_config(port, "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("key layer_types[1]: expected \"linear_attention\" or \"full_attention\", "
                                        "found \"sliding_attention\""), std::string::npos) << bad.status().message();
  EXPECT_FALSE(m1::load_model_config(std::string(M1_TEST_DATA_DIR) + "/m1_reference/tokenizer_config.json").ok());
  auto not_json = m1::load_model_config(std::string(M1_TEST_DATA_DIR) + "/model/orig_text01_mqa_single/tokens_0.txt");
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.status().message().find("not valid JSON"), std::string::npos) << not_json.status().message();
}

}  // namespace
