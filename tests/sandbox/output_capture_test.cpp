// StreamCapture against the oracle "keep everything, then cut": for any chunking, the head is
// the first half of the cap, the tail the last half, and the count of dropped bytes exact.
#include "sandbox/output_capture.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

using m1::sandbox::CapturedStream;
using m1::sandbox::StreamCapture;

std::string random_bytes(size_t n, std::mt19937 & rng) {
  std::string bytes(n, '\0');
  for (char & c : bytes) c = char('a' + rng() % 26);
  return bytes;
}

TEST(StreamCapture, MatchesKeepAllThenCutForAnyChunking) {
  std::mt19937 rng(7);
  for (size_t cap : {size_t(0), size_t(1), size_t(7), size_t(64), size_t(1000)}) {
    for (size_t total : {size_t(0), size_t(5), size_t(63), size_t(64), size_t(65), size_t(5000)}) {
      std::string all = random_bytes(total, rng);
      StreamCapture capture(cap);
      for (size_t at = 0; at < total;) {
        size_t chunk = std::min(total - at, size_t(1 + rng() % 300));
        capture.append(all.data() + at, chunk);
        at += chunk;
      }
      CapturedStream got = capture.finish();
      size_t head_cap = cap - cap / 2, tail_cap = cap / 2;
      EXPECT_EQ(got.total_bytes, total);
      if (total <= cap) {
        EXPECT_EQ(got.head, all);
        EXPECT_EQ(got.tail, "");
        EXPECT_EQ(got.dropped_bytes, 0u);
        EXPECT_EQ(got.text(), all);
      } else {
        EXPECT_EQ(got.head, all.substr(0, head_cap)) << cap << " " << total;
        EXPECT_EQ(got.tail, all.substr(total - tail_cap)) << cap << " " << total;
        EXPECT_EQ(got.dropped_bytes, total - cap);
        EXPECT_NE(got.text().find("[... " + std::to_string(total - cap) + " bytes dropped ...]"), std::string::npos);
      }
    }
  }
}

}  // namespace
