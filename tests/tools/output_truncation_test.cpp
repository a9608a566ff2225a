// Head + tail truncation: what is kept, what the note says, and UTF-8 safety.
#include "tools/output_truncation.h"

#include <gtest/gtest.h>

using namespace m1::tools;

TEST(OutputTruncation, ShortOutputIsUnchanged) {
  TruncatedOutput out = truncate_head_tail("a\nb\n", TruncationLimits{}, "/x");
  EXPECT_FALSE(out.truncated);
  EXPECT_EQ(out.text, "a\nb\n");
}

TEST(OutputTruncation, ManyLinesKeepHeadAndTailWithCounts) {
  std::string text;
  for (int i = 1; i <= 100; ++i) text += "l" + std::to_string(i) + "\n";
  TruncatedOutput out = truncate_head_tail(text, TruncationLimits{1000, 6}, "/ws/.m1/scratch/out.txt");
  EXPECT_TRUE(out.truncated);
  EXPECT_EQ(out.dropped_lines, 94u);
  // Dropped bytes: everything except "l1\nl2\nl3\n" and "l98\nl99\nl100\n".
  EXPECT_EQ(out.dropped_bytes, text.size() - 9 - 13);
  EXPECT_EQ(out.text, "l1\nl2\nl3\n[... 94 lines (" + std::to_string(out.dropped_bytes) +
                          " bytes) dropped; the full output is in /ws/.m1/scratch/out.txt ...]\nl98\nl99\nl100\n");
}

TEST(OutputTruncation, ByteBudgetCutsLinesToo) {
  std::string text(100000, 'x');
  TruncatedOutput out = truncate_head_tail(text, TruncationLimits{1000, 400}, "");
  EXPECT_TRUE(out.truncated);
  EXPECT_EQ(out.dropped_bytes, 99000u);
  EXPECT_EQ(out.dropped_lines, 0u);
  EXPECT_EQ(out.text, std::string(500, 'x') + "\n[... 0 lines (99000 bytes) dropped ...]\n" + std::string(500, 'x'));
}

TEST(OutputTruncation, NeverSplitsUtf8) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "é";  // 2 bytes each
  TruncatedOutput out = truncate_head_tail(text, TruncationLimits{101, 10}, "");
  size_t note = out.text.find("\n[...");
  ASSERT_NE(note, std::string::npos);
  EXPECT_EQ(note, 50u);  // 50 bytes = 25 whole characters (51 would split one)
  std::string tail = out.text.substr(out.text.find("...]\n") + 5);
  EXPECT_EQ(tail.size(), 50u);
  EXPECT_EQ(out.dropped_bytes, 2000u - 100u);
}
