// The prefix index against a brute-force oracle: over random snapshot sets and queries, the
// longest stored prefix found by hashing equals the one found by comparing every stored prefix.
#include "runtime/prefix_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace m1 {
namespace {

std::optional<PrefixIndex::Match> brute_force(const std::map<SnapshotId, std::vector<Token>> & stored,
                                              const std::vector<Token> & query, size_t min_tokens) {
  std::optional<PrefixIndex::Match> best;
  for (const auto & [id, tokens] : stored)
    if (tokens.size() > min_tokens || (min_tokens == 0 && tokens.empty()))
      if (tokens.size() <= query.size() && std::equal(tokens.begin(), tokens.end(), query.begin()))
        if (!best || tokens.size() > best->n_tokens) best = PrefixIndex::Match{id, tokens.size()};
  return best;
}

TEST(PrefixIndex, LongestPrefixAtAnyPositionMatchesBruteForce) {
  std::mt19937 gen(1234);
  // A small alphabet makes many shared prefixes and near misses.
  std::uniform_int_distribution<Token> token(0, 3);
  PrefixIndex index;
  std::map<SnapshotId, std::vector<Token>> stored;
  std::vector<Token> base(300);
  for (Token & t : base) t = token(gen);
  for (SnapshotId id = 1; id <= 60; ++id) {
    // Prefixes of the base sequence at arbitrary positions, some with a divergent tail.
    std::vector<Token> p(base.begin(), base.begin() + std::uniform_int_distribution<int>(0, 300)(gen));
    if (id % 3 == 0)
      for (int i = 0; i < 5; ++i) p.push_back(token(gen));
    index.insert(id, p);
    stored[id] = p;
  }
  for (int q = 0; q < 200; ++q) {
    std::vector<Token> query(base.begin(), base.begin() + std::uniform_int_distribution<int>(0, 300)(gen));
    for (int i = 0, n = q % 7; i < n; ++i) query.push_back(token(gen));
    const size_t min_tokens = size_t(q % 4 == 0 ? 50 : 0);
    const auto got = index.longest_prefix(query, min_tokens);
    const auto want = brute_force(stored, query, min_tokens);
    ASSERT_EQ(got.has_value(), want.has_value()) << "query " << q;
    if (got) {
      EXPECT_EQ(got->n_tokens, want->n_tokens);
      EXPECT_EQ(stored[got->id].size(), got->n_tokens);  // duplicates may return either id
    }
  }
  // Erasing removes exactly that snapshot.
  for (SnapshotId id = 1; id <= 60; id += 2) {
    index.erase(id);
    stored.erase(id);
  }
  const auto got = index.longest_prefix(base);
  const auto want = brute_force(stored, base, 0);
  ASSERT_EQ(got.has_value(), want.has_value());
  if (got) {
    EXPECT_EQ(got->n_tokens, want->n_tokens);
  }
}

TEST(PrefixIndex, FindsExactPrefixesAndNothingLonger) {
  PrefixIndex index;
  index.insert(7, std::vector<Token>{5, 6, 7});
  EXPECT_EQ(index.find_exact(std::vector<Token>{5, 6, 7}), std::optional<SnapshotId>(7));
  EXPECT_FALSE(index.find_exact(std::vector<Token>{5, 6}).has_value());
  EXPECT_FALSE(index.longest_prefix(std::vector<Token>{5, 6}).has_value());
  EXPECT_EQ(index.longest_prefix(std::vector<Token>{5, 6, 7, 8})->n_tokens, 3u);
  EXPECT_FALSE(index.longest_prefix(std::vector<Token>{5, 6, 7, 8}, 3).has_value());
}

TEST(PrefixIndex, HashDependsOnOrderAndEveryToken) {
  EXPECT_NE(PrefixIndex::hash_of(std::vector<Token>{1, 2}), PrefixIndex::hash_of(std::vector<Token>{2, 1}));
  EXPECT_NE(PrefixIndex::hash_of(std::vector<Token>{0}), PrefixIndex::hash_of(std::vector<Token>{}));
  EXPECT_NE(PrefixIndex::hash_of(std::vector<Token>{0, 0}), PrefixIndex::hash_of(std::vector<Token>{0}));
}

}  // namespace
}  // namespace m1
