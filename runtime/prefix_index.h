// Finds, for a token sequence, the longest stored snapshot whose tokens are a prefix of it, at
// any token position (no block alignment: a lightning layer's state exists only at the exact
// position it was taken, and snapshots are taken wherever a turn ends).
//
// Each snapshot is keyed by a chain hash of its whole prefix, h_i = extend(h_{i-1}, token_i).
// A lookup extends the chain over the query once, probing the table at every position: O(n) for
// n query tokens whatever the number of snapshots. A hash hit is confirmed by comparing the
// tokens, so a collision can never hand out the wrong state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "runtime/token.h"

namespace m1 {

using SnapshotId = std::uint64_t;

class PrefixIndex {
public:
  static constexpr std::uint64_t kEmptyHash = 0x6a09e667f3bcc908ull;
  static std::uint64_t extend(std::uint64_t hash, Token token);
  static std::uint64_t hash_of(std::span<const Token> tokens);

  // Registers snapshot `id` as the state after `tokens`. Ids are unique; prefixes may repeat.
  void insert(SnapshotId id, std::span<const Token> tokens);
  void erase(SnapshotId id);
  bool contains(SnapshotId id) const { return entries_.count(id) != 0; }
  size_t size() const { return entries_.size(); }

  struct Match {
    SnapshotId id = 0;
    size_t n_tokens = 0;
  };
  // The longest registered prefix of `tokens` with more than `min_tokens` tokens.
  std::optional<Match> longest_prefix(std::span<const Token> tokens, size_t min_tokens = 0) const;
  // A snapshot of exactly `tokens`, if one is registered.
  std::optional<SnapshotId> find_exact(std::span<const Token> tokens) const;

private:
  struct Entry {
    std::uint64_t hash;
    std::vector<Token> tokens;
  };
  std::unordered_map<SnapshotId, Entry> entries_;
  std::unordered_multimap<std::uint64_t, SnapshotId> by_hash_;
  std::unordered_map<size_t, size_t> n_with_length_;  // prefix length -> how many entries
  size_t max_length_ = 0;
};

}  // namespace m1
