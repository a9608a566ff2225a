// The tiered state cache with byte-buffer states: LRU order across device -> host -> disk under
// tiny budgets, byte accounting, exact bytes after every round trip, and a restart that finds
// the disk snapshots again through the SQLite index.
#include "runtime/snapshot_store.h"

#include <gtest/gtest.h>

#include "tests/runtime/temp_path.h"

#include <filesystem>
#include <fstream>

namespace m1 {
namespace {

// A state whose bytes are its identity: a round trip through any tier must give them back.
class BytesState : public CachedState {
public:
  explicit BytesState(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  size_t byte_size() const override { return bytes_.size(); }
  Expected<std::vector<std::uint8_t>> serialize() const override {
    if (fails_) return Status::error("device lost");
    return bytes_;
  }
  void fail_serializing() { fails_ = true; }
  const std::vector<std::uint8_t> & bytes() const { return bytes_; }

private:
  std::vector<std::uint8_t> bytes_;
  bool fails_ = false;
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
  static const testing::RemovedAtExit parent{testing::temp_path("m1_store_test")};
  const std::string dir = parent.path + "/" + name;
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

// A device snapshot that cannot be copied to host memory is dropped with the device's error; the
// store keeps working.
TEST(SnapshotStore, SnapshotThatCannotMoveDownIsDroppedWithTheError) {
  auto store = SnapshotStore::open({150, 1000, 0}, bytes_decoder(), "");
  ASSERT_TRUE(store.ok());
  SnapshotStore & s = **store;
  auto failing = std::make_shared<BytesState>(std::vector<std::uint8_t>(100, 1));
  failing->fail_serializing();
  ASSERT_TRUE(s.put(prefix(10), failing).ok());
  const Status demoted = s.put(prefix(20), state_of(2));
  ASSERT_FALSE(demoted.ok());
  EXPECT_NE(demoted.message().find("moving a snapshot to host memory: device lost"), std::string::npos)
      << demoted.message();
  EXPECT_EQ(s.counters().dropped, 1u);
  EXPECT_EQ(s.count(Tier::device), 1u);
  EXPECT_EQ(s.count(Tier::host), 0u);
  EXPECT_EQ(s.bytes().device, 100u);
  std::optional<SnapshotStore::Hit> hit = s.longest_prefix(prefix(25));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->n_tokens, 20u);
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

// A state made of private bytes plus blocks it may share with other states (like KV pages).
class SharingState : public CachedState {
public:
  SharingState(size_t n_private, std::vector<std::shared_ptr<std::vector<std::uint8_t>>> blocks)
      : n_private_(n_private), blocks_(std::move(blocks)) {}
  size_t byte_size() const override {
    size_t n = n_private_;
    for (const auto & b : blocks_) n += b->size();
    return n;
  }
  size_t private_bytes() const override { return n_private_; }
  void visit_shared_blocks(const std::function<void(const void *, size_t)> & visit) const override {
    for (const auto & b : blocks_) visit(b.get(), b->size());
  }
  Expected<std::vector<std::uint8_t>> serialize() const override { return std::vector<std::uint8_t>(byte_size(), 7); }

private:
  size_t n_private_;
  std::vector<std::shared_ptr<std::vector<std::uint8_t>>> blocks_;
};

TEST(SnapshotStore, SharedBlocksCountOnceInTheDeviceTier) {
  auto block = [](size_t n) { return std::make_shared<std::vector<std::uint8_t>>(n); };
  auto common = block(1000), tail_a = block(50), tail_b = block(60), other = block(200);
  auto store = SnapshotStore::open({1400, 100000, 0}, bytes_decoder(), "");
  ASSERT_TRUE(store.ok());
  SnapshotStore & s = **store;
  ASSERT_TRUE(s.put(prefix(10), std::make_shared<SharingState>(100, std::vector{common, tail_a})).ok());
  EXPECT_EQ(s.bytes().device, 100u + 1000u + 50u);
  // A fork's snapshot: the same common block, its own tail; the common block counts once.
  ASSERT_TRUE(s.put(prefix(12), std::make_shared<SharingState>(100, std::vector{common, tail_b})).ok());
  EXPECT_EQ(s.bytes().device, 1150u + 100u + 60u);
  // 1610 > 1400: demoting the oldest frees only its own 150 (B still holds the common block),
  // so B goes too; host RAM holds both as full serialized copies.
  ASSERT_TRUE(s.put(prefix(14), std::make_shared<SharingState>(100, std::vector{other})).ok());
  EXPECT_EQ(s.count(Tier::device), 1u);
  EXPECT_EQ(s.bytes().device, 300u);
  EXPECT_EQ(s.bytes().host, 1150u + 1160u);
}

// A live state that keeps part of itself in host memory (a GPU state waiting for a slot keeps its
// lightning states there): that part counts in the host tier, not the device tier.
class HostHoldingState : public CachedState {
public:
  HostHoldingState(size_t on_device, size_t in_host) : on_device_(on_device), in_host_(in_host) {}
  size_t byte_size() const override { return on_device_ + in_host_; }
  size_t private_bytes() const override { return on_device_; }
  size_t host_bytes() const override { return in_host_; }
  Expected<std::vector<std::uint8_t>> serialize() const override { return std::vector<std::uint8_t>(byte_size(), 3); }

private:
  size_t on_device_, in_host_;
};

TEST(SnapshotStore, HostPartsOfLiveStatesCountInTheHostTier) {
  const std::string dir = fresh_dir("host_parts");
  auto store = SnapshotStore::open({150, 500, 10000}, bytes_decoder(), dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  SnapshotStore & s = **store;
  ASSERT_TRUE(s.put(prefix(10), state_of(1)).ok());
  ASSERT_TRUE(s.put(prefix(20), std::make_shared<HostHoldingState>(50, 450)).ok());
  EXPECT_EQ(s.bytes().device, 150u);
  EXPECT_EQ(s.bytes().host, 450u);
  // 250 > 150 on the device: the oldest (100 bytes) moves to host RAM, where 450 + 100 > 500
  // sends it on to disk; the host-holding state stays live and keeps its 450 in the host count.
  ASSERT_TRUE(s.put(prefix(30), state_of(3)).ok());
  EXPECT_EQ(s.count(Tier::device), 2u);
  EXPECT_EQ(s.count(Tier::host), 0u);
  EXPECT_EQ(s.count(Tier::disk), 1u);
  EXPECT_EQ(s.bytes().device, 150u);
  EXPECT_EQ(s.bytes().host, 450u);
  // Moved down itself (the device's oldest), it becomes ordinary serialized bytes, all 500 of
  // them, and leaves the live count: device {4}, host {3}, disk {1, the host-holding state}.
  ASSERT_TRUE(s.put(prefix(40), state_of(4)).ok());
  EXPECT_EQ(s.count(Tier::device), 1u);
  EXPECT_EQ(s.count(Tier::host), 1u);
  EXPECT_EQ(s.count(Tier::disk), 2u);
  EXPECT_EQ(s.bytes().device, 100u);
  EXPECT_EQ(s.bytes().host, 100u);
  EXPECT_EQ(s.bytes().disk, 100u + 500u);
}

TEST(SnapshotStore, UnwritableStateDirIsAnErrorNamingThePath) {
  auto store = SnapshotStore::open({}, bytes_decoder(), "/proc/m1_cannot_exist");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/m1_cannot_exist"), std::string::npos);
}

}  // namespace
}  // namespace m1
