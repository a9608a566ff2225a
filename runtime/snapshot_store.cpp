#include "runtime/snapshot_store.h"

#include <algorithm>

namespace m1 {

SnapshotStore::SnapshotStore(TierBudgets budgets, StateDecoder decoder,
                             std::unique_ptr<DiskSnapshotTier> disk)
    : budgets_(budgets), decoder_(std::move(decoder)), disk_(std::move(disk)) {}

Expected<std::unique_ptr<SnapshotStore>> SnapshotStore::open(TierBudgets budgets, StateDecoder decoder,
                                                             const std::string & state_dir) {
  std::unique_ptr<DiskSnapshotTier> disk;
  if (!state_dir.empty()) {
    Expected<std::unique_ptr<DiskSnapshotTier>> opened = DiskSnapshotTier::open(state_dir);
    if (!opened) return opened.status().with_context("state cache");
    disk = std::move(*opened);
  }
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(budgets, std::move(decoder), std::move(disk)));
  M1_RETURN_IF_ERROR(store->load_disk_index().with_context("state cache"));
  return store;
}

Status SnapshotStore::load_disk_index() {
  if (!disk_) return Status();
  Expected<std::vector<DiskSnapshotTier::Record>> records = disk_->list();
  if (!records) return records.status();
  for (DiskSnapshotTier::Record & r : *records) {  // least recently used first
    Entry & e = entries_[r.id];
    e.tokens = std::move(r.tokens);
    index_.insert(r.id, e.tokens);
    place(r.id, e, Tier::disk, r.bytes);
    next_id_ = std::max(next_id_, r.id + 1);
    clock_ = std::max(clock_, r.last_used);
  }
  return enforce_budgets();
}

size_t SnapshotStore::budget_of(Tier tier) const {
  switch (tier) {
  case Tier::device: return budgets_.device;
  case Tier::host: return budgets_.host;
  case Tier::disk: return disk_ ? budgets_.disk : 0;
  }
  return 0;
}

// Adds (sign +1) or removes (-1) a live state's blocks in the device tier's count: a block shared
// by several snapshots (and by the sessions they came from) costs its bytes once.
void SnapshotStore::count_device_state(const CachedState & state, int sign) {
  state.visit_shared_blocks([&](const void * block, size_t bytes) {
    auto [it, inserted] = device_blocks_.try_emplace(block, 0, bytes);
    if (it->second.first == 0) tier_bytes_[int(Tier::device)] += bytes;
    it->second.first += sign;
    if (it->second.first == 0) {
      tier_bytes_[int(Tier::device)] -= bytes;
      device_blocks_.erase(it);
    }
  });
}

// Puts `e` at the most recently used end of `tier`.
void SnapshotStore::place(SnapshotId id, Entry & e, Tier tier, size_t bytes) {
  e.tier = tier;
  e.bytes = bytes;
  lru_[int(tier)].push_front(id);
  e.lru_position = lru_[int(tier)].begin();
  tier_bytes_[int(tier)] += bytes;
  if (tier == Tier::device) {
    count_device_state(*e.state, +1);
    e.host_bytes = e.state->host_bytes();
    tier_bytes_[int(Tier::host)] += e.host_bytes;
  }
}

void SnapshotStore::unlink(Entry & e) {
  lru_[int(e.tier)].erase(e.lru_position);
  tier_bytes_[int(e.tier)] -= e.bytes;
  if (e.tier == Tier::device) {
    count_device_state(*e.state, -1);
    tier_bytes_[int(Tier::host)] -= e.host_bytes;
    e.host_bytes = 0;
  }
}

Status SnapshotStore::put(std::span<const Token> tokens, std::shared_ptr<const CachedState> state) {
  if (std::optional<SnapshotId> existing = index_.find_exact(tokens)) {
    Entry & e = entries_.at(*existing);
    if (e.tier == Tier::device) {  // refresh its place in the LRU order
      unlink(e);
      place(*existing, e, Tier::device, e.bytes);
    }
    return Status();
  }
  const SnapshotId id = next_id_++;
  Entry & e = entries_[id];
  e.tokens.assign(tokens.begin(), tokens.end());
  const size_t bytes = state->private_bytes();
  e.state = std::move(state);
  index_.insert(id, e.tokens);
  place(id, e, Tier::device, bytes);
  return enforce_budgets();
}

// Demotes from the least recently used end of each tier until every tier fits its budget. The
// newest snapshot may itself move down when it alone exceeds a tier.
Status SnapshotStore::enforce_budgets() {
  for (int t = 0; t < kNumTiers; ++t)
    while (tier_bytes_[t] > budget_of(Tier(t)) && !lru_[t].empty())
      M1_RETURN_IF_ERROR(demote(lru_[t].back()));
  return Status();
}

Status SnapshotStore::demote(SnapshotId id) {
  Entry & e = entries_.at(id);
  if (e.tier == Tier::disk || (e.tier == Tier::host && !disk_)) {
    drop(id);
    return Status();
  }
  unlink(e);
  ++counters_.demotions;
  if (e.tier == Tier::device) {
    Expected<std::vector<std::uint8_t>> bytes = e.state->serialize();
    if (!bytes) {  // the entry cannot move down; dropping it loses only a cache entry
      entries_.erase(id);
      index_.erase(id);
      ++counters_.dropped;
      return bytes.status().with_context("state cache: moving a snapshot to host memory");
    }
    e.serialized = std::move(*bytes);
    e.state.reset();
    place(id, e, Tier::host, e.serialized.size());
    return Status();
  }
  const Status written = disk_->write(id, e.tokens, e.serialized, ++clock_);
  const size_t bytes = e.serialized.size();
  e.serialized = {};
  if (!written.ok()) {
    entries_.erase(id);
    index_.erase(id);
    ++counters_.dropped;
    return written;
  }
  place(id, e, Tier::disk, bytes);
  return Status();
}

void SnapshotStore::drop(SnapshotId id) {
  Entry & e = entries_.at(id);
  unlink(e);
  if (e.tier == Tier::disk) (void)disk_->erase(id);  // a leftover file is removed at next open
  index_.erase(id);
  entries_.erase(id);
  ++counters_.dropped;
}

// Brings a host or disk snapshot back as a live state in the device tier.
Status SnapshotStore::promote(SnapshotId id) {
  Entry & e = entries_.at(id);
  if (e.tier == Tier::device) {
    unlink(e);
    place(id, e, Tier::device, e.bytes);
    return Status();
  }
  std::vector<std::uint8_t> bytes;
  if (e.tier == Tier::host) {
    bytes = std::move(e.serialized);
  } else {
    Expected<std::vector<std::uint8_t>> read = disk_->read(id);
    if (!read) return read.status();
    bytes = std::move(*read);
  }
  Expected<std::shared_ptr<const CachedState>> state = decoder_(bytes);
  if (!state) return state.status();
  if (e.tier == Tier::disk) (void)disk_->erase(id);
  unlink(e);
  e.serialized = {};
  e.state = std::move(*state);
  place(id, e, Tier::device, e.state->private_bytes());
  return Status();
}

std::optional<SnapshotStore::Hit> SnapshotStore::longest_prefix(std::span<const Token> tokens,
                                                                size_t min_tokens) {
  while (std::optional<PrefixIndex::Match> match = index_.longest_prefix(tokens, min_tokens)) {
    const Tier found_in = entries_.at(match->id).tier;
    if (!promote(match->id).ok()) {
      if (entries_.at(match->id).tier != Tier::device) drop(match->id);
      continue;
    }
    ++counters_.hits;
    Hit hit{match->n_tokens, entries_.at(match->id).state, found_in};
    // Making room may demote others, or this one again if it alone exceeds the device budget;
    // the hit holds its state either way, and a failed disk write only loses cache entries.
    (void)enforce_budgets();
    return hit;
  }
  ++counters_.misses;
  return std::nullopt;
}

Status SnapshotStore::persist_all() {
  if (!disk_) return Status();
  for (int t = 0; t < 2; ++t)
    while (!lru_[t].empty()) M1_RETURN_IF_ERROR(demote(lru_[t].back()));
  return enforce_budgets();
}

TierBytes SnapshotStore::bytes() const {
  return TierBytes{tier_bytes_[0], tier_bytes_[1], tier_bytes_[2]};
}

}  // namespace m1
