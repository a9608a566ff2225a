// Random M1-shaped checkpoints: deterministic from the seed, loadable in both dialects and
// sharded, the two dialects of one seed computing the same logits, and the ~20M / ~100M sizes the
// benchmarks use.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;

namespace {

std::string folder(const std::string & name) {
  const std::string dir = ::testing::TempDir() + "m1_random_" + name;
  fs::remove_all(dir);
  return dir;
}

std::string bytes_of(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const m1::M1Dimensions kTiny{64, 32, 9, 4, 2, 8, 4, 3, 2, 16, 8};  // 9 layers: layer 7 is softmax

TEST(RandomCheckpoint, SameSeedSameBytesOtherSeedOtherBytes) {
  const m1::ModelConfig config = m1::m1_shaped_config(kTiny);
  m1::RandomCheckpointOptions options;
  const std::string a = folder("seed_a"), b = folder("seed_b"), c = folder("seed_c");
  ASSERT_TRUE(m1::write_random_checkpoint(a, config, options).ok());
  ASSERT_TRUE(m1::write_random_checkpoint(b, config, options).ok());
  options.seed = 2;
  ASSERT_TRUE(m1::write_random_checkpoint(c, config, options).ok());
  EXPECT_EQ(bytes_of(a + "/model.safetensors"), bytes_of(b + "/model.safetensors"));
  EXPECT_NE(bytes_of(a + "/model.safetensors"), bytes_of(c + "/model.safetensors"));
}

TEST(RandomCheckpoint, BothDialectsAndShardingsGiveTheSameLogits) {
  const m1::ModelConfig config = m1::m1_shaped_config(kTiny);
  EXPECT_EQ(config.layer_kinds[7], m1::LayerKind::softmax);
  EXPECT_EQ(config.n_layers_of(m1::LayerKind::softmax), 1);
  const std::vector<int32_t> tokens = {3, 14, 15, 9, 26, 53, 58, 9, 7, 9, 32, 38};
  std::vector<float> first;
  int variant = 0;
  for (auto dialect : {m1::ConfigDialect::original, m1::ConfigDialect::transformers}) {
    for (int shards : {1, 3}) {
      const std::string dir = folder("variant" + std::to_string(variant++));
      m1::RandomCheckpointOptions options;
      options.dialect = dialect;
      options.n_shards = shards;
      ASSERT_TRUE(m1::write_random_checkpoint(dir, config, options).ok());
      // One thread and one lightning block size (the original dialect has no block_size key), so
      // the four checkpoints run exactly the same arithmetic.
      auto model = m1::Model::open(dir, {1, 8});
      ASSERT_TRUE(model.ok()) << model.status().message();
      EXPECT_EQ((*model)->config().dialect, dialect);
      m1::SequenceMemory memory = (*model)->new_memory();
      m1::SequenceInput in{&memory, tokens, m1::LogitRows::all};
      auto logits = (*model)->forward(std::span<const m1::SequenceInput>(&in, 1));
      ASSERT_TRUE(logits.ok()) << logits.status().message();
      // Same seed, same values by tensor: the stacked and per-expert layouts hold identical numbers.
      if (first.empty()) first = (*logits)[0].values;
      else EXPECT_EQ((*logits)[0].values, first) << "dialect " << int(dialect) << " shards " << shards;
    }
  }
}

TEST(RandomCheckpoint, BenchmarkSizes) {
  const m1::ParameterCounts small = m1::count_parameters(m1::m1_shaped_config(m1::m1_dimensions_20m()));
  const m1::ParameterCounts large = m1::count_parameters(m1::m1_shaped_config(m1::m1_dimensions_100m()));
  EXPECT_NEAR(double(small.total) / 1e6, 20.0, 2.0);
  EXPECT_NEAR(double(large.total) / 1e6, 100.0, 10.0);
}

}  // namespace
