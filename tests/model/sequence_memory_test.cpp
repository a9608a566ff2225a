// SequenceMemory as a value: sizes, KV pages, serialization round trips, and every way restored
// bytes can be wrong (truncated, corrupt, another model's shape) as an error.
#include <gtest/gtest.h>

#include <random>

#include "model/sequence_memory.h"

namespace {

m1::MemoryShape shape() {
  return m1::MemoryShape{{m1::LayerKind::lightning, m1::LayerKind::softmax, m1::LayerKind::lightning}, 2, 4, 1};
}

m1::SequenceMemory filled_memory(int n_tokens) {
  m1::SequenceMemory m(shape());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (int l : {0, 2})
    for (int i = 0; i < 2 * 4 * 4; ++i) m.lightning_state(l)[i] = normal(rng);
  std::vector<float> k(size_t(n_tokens) * 4), v(k.size());
  for (float & x : k) x = normal(rng);
  for (float & x : v) x = normal(rng);
  m.kv(1).append(k.data(), v.data(), 4, n_tokens);
  m.advance(n_tokens);
  return m;
}

TEST(SequenceMemory, SizesAndPages) {
  m1::SequenceMemory empty(shape());
  EXPECT_EQ(empty.n_tokens(), 0);
  EXPECT_EQ(empty.byte_size(), 2 * 2 * 4 * 4 * 4);  // two lightning states, no KV yet
  const m1::SequenceMemory m = filled_memory(m1::KvPages::kPageTokens + 3);
  EXPECT_EQ(m.kv(1).k_pages().size(), 2u);  // fixed-size token pages
  EXPECT_EQ(m.byte_size(), 2 * 2 * 4 * 4 * 4 + 2 * 2 * m1::KvPages::kPageTokens * 4 * 4);
}

TEST(SequenceMemory, SerializeRoundTripAndCopy) {
  for (int n : {0, 1, 64, 130}) {
    const m1::SequenceMemory m = filled_memory(n);
    auto back = m1::SequenceMemory::deserialize(m.serialize(), shape());
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, m);
    EXPECT_EQ(back->n_tokens(), n);
    m1::SequenceMemory copy = m;
    EXPECT_EQ(copy, m);
    copy.lightning_state(0)[3] += 1.0f;  // a copy is independent
    EXPECT_NE(copy, m);
  }
}

TEST(SequenceMemory, BadBytesAreErrors) {
  const std::vector<uint8_t> bytes = filled_memory(10).serialize();
  for (size_t len : {size_t(0), size_t(7), size_t(20), bytes.size() / 2, bytes.size() - 1}) {
    auto r = m1::SequenceMemory::deserialize(std::span(bytes).first(len), shape());
    EXPECT_FALSE(r.ok()) << "length " << len;
  }
  for (size_t at : {size_t(9), size_t(40), bytes.size() / 2, bytes.size() - 9}) {
    std::vector<uint8_t> flipped = bytes;
    flipped[at] ^= 0x10;
    auto r = m1::SequenceMemory::deserialize(flipped, shape());
    ASSERT_FALSE(r.ok()) << "flip at " << at;
    EXPECT_NE(r.status().message().find("checksum mismatch"), std::string::npos) << r.status().message();
  }
  m1::MemoryShape other = shape();
  other.n_heads = 4;
  auto r = m1::SequenceMemory::deserialize(bytes, other);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("made for a model with 3 layers LSL, 2 heads of dim 4, 1 kv heads, this model has "
                                      "3 layers LSL, 4 heads"), std::string::npos) << r.status().message();
  std::vector<uint8_t> garbage(100, 0x42);
  EXPECT_NE(m1::SequenceMemory::deserialize(garbage, shape()).status().message().find("bad magic"), std::string::npos);
}

TEST(SequenceMemory, ClearAndTruncate) {
  m1::SequenceMemory m = filled_memory(100);
  m1::SequenceMemory prefix = filled_memory(100);
  prefix.kv(1).truncate(70);
  EXPECT_EQ(prefix.kv(1).n_tokens(), 70);
  EXPECT_EQ(prefix.kv(1).k_pages().size(), 2u);
  m.clear();
  EXPECT_EQ(m, m1::SequenceMemory(shape()));
}

}  // namespace
