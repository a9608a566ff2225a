// Safetensors reading and writing, and checkpoint validation against a config: round trips of
// every float dtype, every truncation of a file, corrupt headers, broken shard indexes, and
// missing / unexpected / mis-shaped / mis-typed tensors, each an error naming file and tensor.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "model/config.h"
#include "model/random_checkpoint.h"
#include "model/safetensors.h"
#include "model/safetensors_writer.h"
#include "model/weights.h"

namespace fs = std::filesystem;

namespace {

std::string temp_folder(const std::string & name) {
  const std::string dir = ::testing::TempDir() + "m1_safetensors_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_bytes(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string & path, const std::string & bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A safetensors file by hand: header JSON text + data bytes.
std::string raw_file(const std::string & header, const std::string & data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

TEST(Safetensors, RoundTripsEveryFloatDtype) {
  const std::string dir = temp_folder("roundtrip");
  const std::vector<float> values = {1.0f, -2.5f, 0.1f, 3.0e-5f, 65504.0f, -0.0f};
  std::vector<m1::TensorToWrite> tensors;
  for (m1::DType t : {m1::DType::f32, m1::DType::f16, m1::DType::bf16})
    tensors.push_back(m1::make_tensor(std::string(m1::dtype_name(t)), t, {2, 3}, values));
  ASSERT_TRUE(m1::write_safetensors(dir + "/t.safetensors", tensors).ok());
  auto file = m1::SafetensorsFile::open(dir + "/t.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_EQ((*file)->tensors().size(), 3u);
  for (const auto & [name, info] : (*file)->tensors()) {
    EXPECT_EQ(info.shape, (std::vector<int64_t>{2, 3}));
    std::vector<float> back(6);
    m1::tensor_to_f32(info, back.data());
    for (size_t i = 0; i < values.size(); ++i) {
      // Each dtype's own rounding: exact for f32; 11 / 8 significant bits for f16 / bf16.
      const double tolerance = name == "F32" ? 0.0 : std::abs(values[i]) * (name == "F16" ? 1.0 / 2048 : 1.0 / 256) + 1e-7;
      EXPECT_NEAR(back[i], values[i], tolerance) << name << " value " << i;
    }
  }
  const std::string header_size = read_bytes(dir + "/t.safetensors").substr(0, 8);
  uint64_t n = 0;
  std::memcpy(&n, header_size.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // padded, as the format recommends
}

TEST(Safetensors, EveryTruncationIsAnError) {
  const std::string dir = temp_folder("truncate");
  const std::vector<float> values(40, 0.5f);
  std::vector<m1::TensorToWrite> tensors = {m1::make_tensor("a", m1::DType::bf16, {4, 10}, values),
                                            m1::make_tensor("b", m1::DType::f32, {40}, values)};
  ASSERT_TRUE(m1::write_safetensors(dir + "/full.safetensors", tensors).ok());
  const std::string full = read_bytes(dir + "/full.safetensors");
  for (size_t len = 0; len < full.size(); ++len) {
    write_bytes(dir + "/cut.safetensors", full.substr(0, len));
    auto file = m1::SafetensorsFile::open(dir + "/cut.safetensors");
    EXPECT_FALSE(file.ok()) << "length " << len;
    if (!file.ok()) {
      EXPECT_NE(file.status().message().find("cut.safetensors"), std::string::npos);
    }
  }
}

TEST(Safetensors, CorruptHeadersAreErrors) {
  const std::string dir = temp_folder("corrupt");
  const std::string data(16, '\0');
  struct Case { std::string header, message; };
  const std::vector<Case> cases = {
      {"{not json", "header is not a JSON object"},
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", "hold 12 bytes but F32 [2,2] needs 16"},
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})", "data ends at byte 24 but the file holds only 16"},
      {R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", "unknown dtype \"Q4\""},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "bad dimension -2"},
      {R"({"w":{"dtype":"F32","shape":[2]}})", "entry needs dtype, shape and data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       "tensor data ranges overlap"},
      {R"({"w":{"dtype":"F32","shape":[1048576,1048576,1048576],"data_offsets":[0,16]}})", "too large"},
  };
  for (const Case & c : cases) {
    write_bytes(dir + "/bad.safetensors", raw_file(c.header, data));
    auto file = m1::SafetensorsFile::open(dir + "/bad.safetensors");
    ASSERT_FALSE(file.ok()) << c.header;
    EXPECT_NE(file.status().message().find(c.message), std::string::npos) << file.status().message();
  }
  std::string huge(8, '\xff');
  write_bytes(dir + "/len.safetensors", huge + "{}");
  auto file = m1::SafetensorsFile::open(dir + "/len.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("runs past the end"), std::string::npos) << file.status().message();
}

// A tiny model's checkpoint in the given layout, for the validation cases below.
std::string tiny_checkpoint(const std::string & name, m1::ConfigDialect dialect, int shards) {
  const std::string dir = temp_folder(name);
  m1::M1Dimensions dims{32, 16, 2, 2, 1, 8, 4, 2, 1, 8, 4};
  m1::RandomCheckpointOptions options;
  options.dialect = dialect;
  options.n_shards = shards;
  EXPECT_TRUE(m1::write_random_checkpoint(dir, m1::m1_shaped_config(dims), options).ok());
  return dir;
}

std::string validate(const std::string & dir) {
  auto config = m1::load_model_config(dir + "/config.json");
  if (!config) return config.status().message();
  auto ckpt = m1::Checkpoint::open(dir);
  if (!ckpt) return ckpt.status().message();
  auto naming = m1::validate_checkpoint(*ckpt, *config);
  return naming ? "" : naming.status().message();
}

// Rewrites one tensor of a single-file checkpoint (name, dtype, shape), keeping the others.
void rewrite(const std::string & dir, const std::function<bool(m1::TensorToWrite &)> & edit) {
  auto file = m1::SafetensorsFile::open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  std::vector<m1::TensorToWrite> tensors;
  for (const auto & [name, info] : (*file)->tensors()) {
    m1::TensorToWrite t{name, *m1::parse_dtype(info.dtype_name), info.shape, {info.bytes.begin(), info.bytes.end()}};
    if (edit(t)) tensors.push_back(std::move(t));
  }
  file->reset();
  ASSERT_TRUE(m1::write_safetensors(dir + "/model.safetensors", tensors).ok());
}

TEST(CheckpointValidation, GoodCheckpointsInBothNamingsAndShardings) {
  EXPECT_EQ(validate(tiny_checkpoint("good_orig", m1::ConfigDialect::original, 1)), "");
  EXPECT_EQ(validate(tiny_checkpoint("good_port", m1::ConfigDialect::transformers, 3)), "");
}

TEST(CheckpointValidation, MissingUnexpectedWrongShapeWrongDtype) {
  const std::string q = "model.layers.1.self_attn.q_proj.weight";
  std::string dir = tiny_checkpoint("missing", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite & t) { return t.name != q; });
  EXPECT_NE(validate(dir).find("missing tensor " + q + " (expected shape [16, 16])"), std::string::npos) << validate(dir);

  dir = tiny_checkpoint("unexpected", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite & t) {
    if (t.name == q) t.name = "model.layers.1.self_attn.q_norm.weight";
    return true;
  });
  EXPECT_NE(validate(dir).find("missing tensor " + q), std::string::npos) << validate(dir);

  dir = tiny_checkpoint("extra", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite & t) {
    if (t.name == "model.norm.weight") t.name = "model.final_norm.weight";
    return true;
  });
  EXPECT_NE(validate(dir).find("missing tensor model.norm.weight"), std::string::npos) << validate(dir);

  dir = tiny_checkpoint("shape", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite & t) {
    if (t.name == q) t.shape = {8, 32};
    return true;
  });
  EXPECT_NE(validate(dir).find("model.safetensors: tensor " + q + ": expected shape [16, 16], found [8, 32]"),
            std::string::npos) << validate(dir);

  dir = tiny_checkpoint("dtype", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite & t) {
    if (t.name == q) t.dtype = m1::DType::i8, t.shape = {16, 32};
    return true;
  });
  EXPECT_NE(validate(dir).find("tensor " + q + ": expected shape [16, 16], found [16, 32]"), std::string::npos);
  rewrite(dir, [&](m1::TensorToWrite & t) {
    if (t.name == q) t.shape = {16, 16}, t.bytes.resize(256);
    return true;
  });
  EXPECT_NE(validate(dir).find("tensor " + q + ": expected dtype BF16, F16 or F32, found I8"), std::string::npos)
      << validate(dir);
}

TEST(CheckpointValidation, UnexpectedTensorIsNamed) {
  const std::string dir = tiny_checkpoint("surplus", m1::ConfigDialect::original, 1);
  rewrite(dir, [&](m1::TensorToWrite &) { return true; });
  auto file = m1::SafetensorsFile::open(dir + "/model.safetensors");
  std::vector<m1::TensorToWrite> tensors;
  for (const auto & [name, info] : (*file)->tensors())
    tensors.push_back({name, *m1::parse_dtype(info.dtype_name), info.shape, {info.bytes.begin(), info.bytes.end()}});
  file->reset();
  tensors.push_back(m1::make_tensor("model.layers.0.block_sparse_moe.experts.2.w1.weight", m1::DType::bf16, {8, 16},
                                    std::vector<float>(128, 1.0f)));
  ASSERT_TRUE(m1::write_safetensors(dir + "/model.safetensors", tensors).ok());
  EXPECT_NE(validate(dir).find("unexpected tensor model.layers.0.block_sparse_moe.experts.2.w1.weight [8, 16]"),
            std::string::npos) << validate(dir);
}

TEST(CheckpointValidation, BrokenShardIndexes) {
  std::string dir = tiny_checkpoint("index_missing_file", m1::ConfigDialect::transformers, 3);
  fs::remove(dir + "/model-00002-of-00003.safetensors");
  EXPECT_NE(validate(dir).find("model-00002-of-00003.safetensors: cannot open"), std::string::npos) << validate(dir);

  dir = tiny_checkpoint("index_wrong_file", m1::ConfigDialect::transformers, 3);
  nlohmann::json index = nlohmann::json::parse(read_bytes(dir + "/model.safetensors.index.json"));
  index["weight_map"]["lm_head.weight"] = index["weight_map"]["lm_head.weight"] == "model-00001-of-00003.safetensors"
                                              ? "model-00002-of-00003.safetensors" : "model-00001-of-00003.safetensors";
  write_bytes(dir + "/model.safetensors.index.json", index.dump());
  EXPECT_NE(validate(dir).find("tensor lm_head.weight is in this file but the index puts it in"), std::string::npos)
      << validate(dir);

  dir = tiny_checkpoint("index_extra_name", m1::ConfigDialect::transformers, 2);
  index = nlohmann::json::parse(read_bytes(dir + "/model.safetensors.index.json"));
  index["weight_map"]["model.extra.weight"] = "model-00001-of-00002.safetensors";
  write_bytes(dir + "/model.safetensors.index.json", index.dump());
  EXPECT_NE(validate(dir).find("tensor model.extra.weight is listed in the index but not in the file"), std::string::npos)
      << validate(dir);

  write_bytes(dir + "/model.safetensors.index.json", "{\"weight_map\": 3}");
  EXPECT_NE(validate(dir).find("not JSON with a weight_map object"), std::string::npos) << validate(dir);

  dir = temp_folder("empty_folder");
  write_bytes(dir + "/config.json", read_bytes(tiny_checkpoint("cfg_only", m1::ConfigDialect::original, 1) + "/config.json"));
  EXPECT_NE(validate(dir).find("no model.safetensors.index.json and no model.safetensors"), std::string::npos);
}

TEST(CheckpointValidation, TruncatedShardOfAModelIsAnErrorNotACrash) {
  const std::string dir = tiny_checkpoint("model_truncated", m1::ConfigDialect::original, 3);
  const std::string path = dir + "/model-00003-of-00003.safetensors";
  const std::string bytes = read_bytes(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 3));
  EXPECT_NE(validate(dir).find("model-00003-of-00003.safetensors: tensor "), std::string::npos) << validate(dir);
  EXPECT_NE(validate(dir).find("(truncated)"), std::string::npos) << validate(dir);
}

}  // namespace
