// The tiered state cache with byte-buffer states: LRU order across device -> host -> disk under
// tiny budgets, byte accounting, exact bytes after every round trip, and a restart that finds
// the disk snapshots again through the SQLite index.
#include "runtime/snapshot_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace m1 {
namespace {

// A state whose bytes are its identity: a round trip through any tier must give them back.
class BytesState : public CachedState {
public:
  explicit BytesState(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  size_t byte_size() const override { return bytes_.size(); }
  std::vector<std::uint8_t> serialize() const override { return bytes_; }
  const std::vector<std::uint8_t> & bytes() const { return bytes_; }

private:
  std::vector<std::uint8_t> bytes_;
};

StateDecoder bytes_decoder() {
  return [](std::span<const std::uint8_t> b) -> Expected<std::shared_ptr<const CachedState>> {
    return std::shared_ptr<const CachedState>(std::make_shared<BytesState>(std::vector<std::uint8_t>(b.begin(), b.end())));
  };
}

std::shared_ptr<const CachedState> state_of(std::uint8_t tag, size_t n = 100) {
  std::vector<std::uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = std::uint8_t(tag * 31 + i);
  return std::make_shared<BytesState>(b);
}

std::vector<Token> prefix(size_t n) {
  std::vector<Token> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = Token(i * 7 % 13);
  return t;
}

std::string fresh_dir(const char * name) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("m1_store_test_" + std::string(name))).string();
  std::filesystem::remove_all(dir);
  return dir;
}

const std::vector<std::uint8_t> & bytes_of(const SnapshotStore::Hit & hit) {
  return static_cast<const BytesState &>(*hit.state).bytes();
}

TEST(SnapshotStore, LruMovesDownTheTiersAndComesBackExact) {
  const std::string dir = fresh_dir("lru");
  auto store = SnapshotStore::open({250, 250, 10000}, bytes_decoder(), dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  SnapshotStore & s = **store;
  for (std::uint8_t i = 1; i <= 6; ++i) ASSERT_TRUE(s.put(prefix(i * 10), state_of(i)).ok());
  // 100 bytes each: two fit per memory tier; the oldest two went to host, then on to disk.
  EXPECT_EQ(s.count(Tier::device), 2u);
  EXPECT_EQ(s.count(Tier::host), 2u);
  EXPECT_EQ(s.count(Tier::disk), 2u);
  EXPECT_EQ(s.bytes().device, 200u);
  EXPECT_EQ(s.bytes().host, 200u);
  EXPECT_EQ(s.bytes().disk, 200u);
  // The longest prefix of a 25-token query is the 20-token snapshot (#2, on disk by now).
  std::optional<SnapshotStore::Hit> hit = s.longest_prefix(prefix(25));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->n_tokens, 20u);
  EXPECT_EQ(hit->found_in, Tier::disk);
  EXPECT_EQ(bytes_of(*hit), static_cast<const BytesState &>(*state_of(2)).bytes());
  EXPECT_EQ(s.count(Tier::device), 2u);  // #2 came up, pushing the least recent down
  // Every snapshot still answers with its exact bytes.
  for (std::uint8_t i = 1; i <= 6; ++i) {
    hit = s.longest_prefix(prefix(i * 10));
    ASSERT_TRUE(hit.has_value());
    EXPECT_EQ(hit->n_tokens, i * 10u);
    EXPECT_EQ(bytes_of(*hit), static_cast<const BytesState &>(*state_of(i)).bytes());
  }
  EXPECT_EQ(s.counters().hits, 7u);
  EXPECT_FALSE(s.longest_prefix(prefix(5)).has_value());
  EXPECT_EQ(s.counters().misses, 1u);
}

TEST(SnapshotStore, DiskBudgetDropsTheLeastRecent) {
  auto store = SnapshotStore::open({100, 100, 200}, bytes_decoder(), fresh_dir("drop"));
  ASSERT_TRUE(store.ok());
  SnapshotStore & s = **store;
  for (std::uint8_t i = 1; i <= 5; ++i) ASSERT_TRUE(s.put(prefix(i), state_of(i)).ok());
  EXPECT_EQ(s.counters().dropped, 1u);
  EXPECT_FALSE(s.longest_prefix(prefix(1)).has_value());
  EXPECT_EQ(s.longest_prefix(prefix(2))->n_tokens, 2u);
}

TEST(SnapshotStore, WithoutStateDirHostEvictionDrops) {
  auto store = SnapshotStore::open({100, 100, 1000}, bytes_decoder(), "");
  ASSERT_TRUE(store.ok());
  SnapshotStore & s = **store;
  for (std::uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(s.put(prefix(i), state_of(i)).ok());
  EXPECT_EQ(s.bytes().disk, 0u);
  EXPECT_EQ(s.counters().dropped, 1u);
}

TEST(SnapshotStore, RestartFindsDiskSnapshotsByPrefix) {
  const std::string dir = fresh_dir("restart");
  {
    auto store = SnapshotStore::open({1000, 1000, 100000}, bytes_decoder(), dir);
    ASSERT_TRUE(store.ok());
    for (std::uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE((*store)->put(prefix(i * 4), state_of(i, 64)).ok());
    ASSERT_TRUE((*store)->persist_all().ok());
    EXPECT_EQ((*store)->count(Tier::disk), 3u);
  }
  auto store = SnapshotStore::open({1000, 1000, 100000}, bytes_decoder(), dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_EQ((*store)->bytes().disk, 3u * 64u);
  std::optional<SnapshotStore::Hit> hit = (*store)->longest_prefix(prefix(10));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->n_tokens, 8u);
  EXPECT_EQ(bytes_of(*hit), static_cast<const BytesState &>(*state_of(2, 64)).bytes());
}

TEST(SnapshotStore, DamagedFileIsDroppedAndTheNextLongestUsed) {
  const std::string dir = fresh_dir("damaged");
  {
    auto store = SnapshotStore::open({0, 0, 100000}, bytes_decoder(), dir);  // straight to disk
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->put(prefix(4), state_of(1, 64)).ok());
    ASSERT_TRUE((*store)->put(prefix(8), state_of(2, 64)).ok());
    EXPECT_EQ((*store)->count(Tier::disk), 2u);
  }
  // Flip one byte of every snapshot file of 8 tokens: find it through a fresh index read.
  auto store = SnapshotStore::open({1000, 1000, 100000}, bytes_decoder(), dir);
  ASSERT_TRUE(store.ok());
  auto tier = DiskSnapshotTier::open(dir);
  ASSERT_TRUE(tier.ok());
  Expected<std::vector<DiskSnapshotTier::Record>> records = (*tier)->list();
  ASSERT_TRUE(records.ok());
  for (const DiskSnapshotTier::Record & r : *records)
    if (r.tokens.size() == 8)
      for (const auto & e : std::filesystem::directory_iterator((*tier)->directory())) {
        char name[40];
        std::snprintf(name, sizeof name, "%016llx.snap", (unsigned long long)r.id);
        if (e.path().filename() != name) continue;
        std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(10);
        f.put(char(0x55 ^ static_cast<const BytesState &>(*state_of(2, 64)).bytes()[10]));
      }
  std::optional<SnapshotStore::Hit> hit = (*store)->longest_prefix(prefix(8));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->n_tokens, 4u);
  EXPECT_EQ((*store)->counters().dropped, 1u);
}

TEST(SnapshotStore, UnwritableStateDirIsAnErrorNamingThePath) {
  auto store = SnapshotStore::open({}, bytes_decoder(), "/proc/m1_cannot_exist");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/m1_cannot_exist"), std::string::npos);
}

}  // namespace
}  // namespace m1
