// The state cache: snapshots of sequence memories indexed by their token prefix, kept in three
// tiers under byte budgets, least recently used first out: device (live states, ready to copy
// into a session) -> host RAM (serialized bytes) -> disk (DiskSnapshotTier). A hit anywhere
// brings the snapshot back to the device tier. What a live state holds in host memory
// (CachedState::host_bytes) counts in the host tier: it can push host snapshots down to disk,
// while the live state itself moves only under device pressure.
//
// Not thread-safe: the engine calls it under its own lock.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "runtime/cached_state.h"
#include "runtime/disk_snapshot_tier.h"
#include "runtime/prefix_index.h"
#include "runtime/token.h"

namespace m1 {

enum class Tier { device = 0, host = 1, disk = 2 };
constexpr int kNumTiers = 3;

struct TierBudgets {
  size_t device = size_t(1) << 30;
  size_t host = size_t(4) << 30;
  size_t disk = size_t(32) << 30;  // used only with a state_dir
};

struct TierBytes {
  size_t device = 0, host = 0, disk = 0;
};

struct SnapshotStoreCounters {
  std::uint64_t hits = 0, misses = 0;
  std::uint64_t demotions = 0;  // moves to a lower tier
  std::uint64_t dropped = 0;    // evicted from the last tier, or unreadable
};

class SnapshotStore {
public:
  // state_dir empty = no disk tier (snapshots evicted from host RAM are dropped). With a
  // state_dir, the snapshots already indexed there are available at once.
  static Expected<std::unique_ptr<SnapshotStore>> open(TierBudgets budgets, StateDecoder decoder,
                                                       const std::string & state_dir);

  // Keeps `state` as the memory after `tokens` (no-op when that exact prefix is stored), then
  // applies the budgets.
  Status put(std::span<const Token> tokens, std::shared_ptr<const CachedState> state);

  struct Hit {
    size_t n_tokens = 0;
    std::shared_ptr<const CachedState> state;
    Tier found_in = Tier::device;
  };
  // The longest stored prefix of `tokens` with more than `min_tokens` tokens, now in the device
  // tier. An unreadable snapshot is dropped and the next-longest tried.
  std::optional<Hit> longest_prefix(std::span<const Token> tokens, size_t min_tokens = 0);

  // Moves every snapshot to disk (engine shutdown), as far as the disk budget allows.
  Status persist_all();

  TierBytes bytes() const;
  size_t count(Tier tier) const { return lru_[int(tier)].size(); }
  const SnapshotStoreCounters & counters() const { return counters_; }
  const TierBudgets & budgets() const { return budgets_; }

private:
  struct Entry {
    std::vector<Token> tokens;
    Tier tier = Tier::device;
    std::shared_ptr<const CachedState> state;  // device tier
    std::vector<std::uint8_t> serialized;      // host tier
    size_t bytes = 0;                          // in its current tier (device: private bytes)
    size_t host_bytes = 0;                     // device tier: the live state's host memory
    std::list<SnapshotId>::iterator lru_position;
  };

  SnapshotStore(TierBudgets budgets, StateDecoder decoder, std::unique_ptr<DiskSnapshotTier> disk);
  Status load_disk_index();
  void place(SnapshotId id, Entry & e, Tier tier, size_t bytes);
  void unlink(Entry & e);
  Status enforce_budgets();
  Status demote(SnapshotId id);
  void drop(SnapshotId id);
  Status promote(SnapshotId id);
  size_t budget_of(Tier tier) const;

  TierBudgets budgets_;
  StateDecoder decoder_;
  std::unique_ptr<DiskSnapshotTier> disk_;  // null without a state_dir
  PrefixIndex index_;
  std::unordered_map<SnapshotId, Entry> entries_;
  std::list<SnapshotId> lru_[kNumTiers];  // per tier, most recently used first
  size_t tier_bytes_[kNumTiers] = {0, 0, 0};
  // Device tier: live states, whose shared blocks count once (block -> states holding it, bytes).
  void count_device_state(const CachedState & state, int sign);
  std::unordered_map<const void *, std::pair<int, size_t>> device_blocks_;
  SnapshotId next_id_ = 1;
  std::int64_t clock_ = 0;  // logical time of last use, persisted in the disk index
  SnapshotStoreCounters counters_;
};

}  // namespace m1
