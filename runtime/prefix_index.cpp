#include "runtime/prefix_index.h"

#include <algorithm>

namespace m1 {

std::uint64_t PrefixIndex::extend(std::uint64_t hash, Token token) {
  // splitmix64's finalizer over (hash, token): every bit of both reaches every output bit.
  std::uint64_t z = hash ^ (std::uint64_t(std::uint32_t(token)) * 0x9e3779b97f4a7c15ull);
  z += 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t PrefixIndex::hash_of(std::span<const Token> tokens) {
  std::uint64_t h = kEmptyHash;
  for (Token t : tokens) h = extend(h, t);
  return h;
}

void PrefixIndex::insert(SnapshotId id, std::span<const Token> tokens) {
  erase(id);
  const std::uint64_t h = hash_of(tokens);
  entries_.emplace(id, Entry{h, std::vector<Token>(tokens.begin(), tokens.end())});
  by_hash_.emplace(h, id);
  ++n_with_length_[tokens.size()];
  max_length_ = std::max(max_length_, tokens.size());
}

void PrefixIndex::erase(SnapshotId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto [first, last] = by_hash_.equal_range(it->second.hash);
  for (auto h = first; h != last; ++h)
    if (h->second == id) {
      by_hash_.erase(h);
      break;
    }
  const size_t length = it->second.tokens.size();
  if (--n_with_length_[length] == 0) n_with_length_.erase(length);
  entries_.erase(it);
  if (length == max_length_) {
    max_length_ = 0;
    for (const auto & [len, n] : n_with_length_) max_length_ = std::max(max_length_, len);
  }
}

std::optional<PrefixIndex::Match> PrefixIndex::longest_prefix(std::span<const Token> tokens,
                                                              size_t min_tokens) const {
  // Hash hits first (cheap), then token comparison from the longest down, so a long history with
  // a snapshot per turn is compared once, not once per snapshot.
  std::vector<Match> hits;
  if (min_tokens == 0 && n_with_length_.count(0) != 0)
    if (auto empty = find_exact({})) hits.push_back({*empty, 0});
  std::uint64_t h = kEmptyHash;
  const size_t limit = std::min(tokens.size(), max_length_);
  for (size_t n = 1; n <= limit; ++n) {
    h = extend(h, tokens[n - 1]);
    if (n <= min_tokens || n_with_length_.count(n) == 0) continue;
    auto [first, last] = by_hash_.equal_range(h);
    for (auto it = first; it != last; ++it)
      if (entries_.at(it->second).tokens.size() == n) hits.push_back({it->second, n});
  }
  for (auto it = hits.rbegin(); it != hits.rend(); ++it) {
    const std::vector<Token> & stored = entries_.at(it->id).tokens;
    if (std::equal(stored.begin(), stored.end(), tokens.begin())) return *it;
  }
  return std::nullopt;
}

std::optional<SnapshotId> PrefixIndex::find_exact(std::span<const Token> tokens) const {
  auto [first, last] = by_hash_.equal_range(hash_of(tokens));
  for (auto it = first; it != last; ++it) {
    const std::vector<Token> & stored = entries_.at(it->second).tokens;
    if (std::equal(stored.begin(), stored.end(), tokens.begin(), tokens.end())) return it->second;
  }
  return std::nullopt;
}

}  // namespace m1
