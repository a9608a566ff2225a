// Copy-on-write KV pages (model/sequence_memory.h), which forks and snapshots rely on: a copy
// shares every page; the first write to a shared, partly filled last page copies only that page;
// neither side ever sees the other's new tokens. Oracle: KvPages built directly from the tokens.
#include <gtest/gtest.h>

#include "model/sequence_memory.h"

namespace m1 {
namespace {

constexpr int kWidth = 3;

// Token t's K row is (t, t + 0.25, t + 0.5), V row the negatives.
KvPages direct(int from, int to, KvPages pages = KvPages(kWidth)) {
  for (int t = from; t < to; ++t) {
    const float k[kWidth] = {float(t), t + 0.25f, t + 0.5f}, v[kWidth] = {-k[0], -k[1], -k[2]};
    pages.append(k, v, kWidth, 1);
  }
  return pages;
}

TEST(KvPageSharing, CopiesShareUntilTheLastPageIsWritten) {
  const KvPages original = direct(0, 100);  // one full page of 64, one of 36
  KvPages copy = original;
  EXPECT_EQ(original.n_unshared_pages(), 0);  // k and v pages, all shared
  EXPECT_EQ(copy.k_pages(), original.k_pages());

  copy = direct(100, 101, copy);
  EXPECT_EQ(copy.n_unshared_pages(), 2);      // its own last k and v page
  EXPECT_EQ(copy.k_pages()[0], original.k_pages()[0]);  // the full page is still shared
  EXPECT_NE(copy.k_pages()[1], original.k_pages()[1]);
  EXPECT_TRUE(original == direct(0, 100));    // the original never saw token 100
  EXPECT_TRUE(copy == direct(0, 101));

  KvPages original_grown = original;
  original_grown = direct(100, 140, original_grown);  // crosses into a third page
  EXPECT_TRUE(original_grown == direct(0, 140));
  EXPECT_TRUE(copy == direct(0, 101));
  EXPECT_TRUE(original == direct(0, 100));
}

TEST(KvPageSharing, CopyAtAPageBoundarySharesEverything) {
  const KvPages original = direct(0, 128);
  KvPages copy = direct(128, 130, KvPages(original));  // new page: nothing to copy
  EXPECT_EQ(copy.k_pages()[1], original.k_pages()[1]);
  EXPECT_TRUE(copy == direct(0, 130));
  EXPECT_TRUE(original == direct(0, 128));
}

}  // namespace
}  // namespace m1
