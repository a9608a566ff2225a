// Unified diff: checked against two independent oracles on random texts: applying the hunks to
// the old text must give the new text, and the number of changed lines must equal
// n + m - 2 * LCS(n, m) computed by the textbook dynamic programme (the diff is minimal).
#include "tools/unified_diff.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "tools/text_file.h"

using m1::tools::unified_diff;

namespace {

struct Applied {
  std::string text;
  size_t n_changed = 0;
  bool ok = true;
};

// Applies a unified diff's hunks to `before` (test oracle, independent of the implementation).
Applied apply_unified(const std::string & before, const std::string & diff) {
  auto old_lines = m1::tools::split_lines_keep_endings(before);
  std::vector<std::string> diff_lines;
  std::stringstream in(diff);
  for (std::string line; std::getline(in, line);) diff_lines.push_back(line);
  Applied out;
  size_t next_old = 0;  // 0-based
  bool last_line_in_result = false;  // whether the previous diff line was copied to the result
  std::string result;
  for (size_t i = 2; i < diff_lines.size(); ++i) {
    const std::string & line = diff_lines[i];
    if (line.rfind("@@ -", 0) == 0) {
      size_t start = std::stoul(line.substr(4));
      size_t comma = line.find(',', 4), space = line.find(' ', 4);
      size_t count = comma < space ? std::stoul(line.substr(comma + 1)) : 1;
      size_t first = count == 0 ? start : start - 1;
      while (next_old < first) result += old_lines[next_old++];
      continue;
    }
    if (line == "\\ No newline at end of file") {
      // The previous line had no terminator: drop the "\n" the reassembly added (if that line is
      // in the new text; after a '-' line the marker describes the old text).
      if (last_line_in_result) result.pop_back();
      continue;
    }
    char op = line[0];
    std::string text = line.substr(1) + "\n";
    if (op == ' ' || op == '-') {
      if (next_old >= old_lines.size() || std::string(m1::tools::strip_line_ending(old_lines[next_old])) !=
                                              std::string(m1::tools::strip_line_ending(text)))
        out.ok = false;
      ++next_old;
    }
    if (op == ' ' || op == '+') result += text;
    last_line_in_result = op == ' ' || op == '+';
    if (op != ' ') ++out.n_changed;
  }
  while (next_old < old_lines.size()) result += old_lines[next_old++];
  out.text = result;
  return out;
}

size_t lcs(const std::vector<std::string_view> & a, const std::vector<std::string_view> & b) {
  std::vector<std::vector<size_t>> t(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j)
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
  return t[a.size()][b.size()];
}

std::string random_text(std::mt19937 & rng, size_t n_lines) {
  static const char * words[] = {"a\n", "b\n", "c\n", "d\n", "e\n", "\n", "x y\n"};
  std::string text;
  for (size_t i = 0; i < n_lines; ++i) text += words[rng() % 7];
  if (!text.empty() && rng() % 4 == 0) text.pop_back();  // sometimes no final newline
  return text;
}

}  // namespace

TEST(UnifiedDiff, EqualTextsGiveNothing) { EXPECT_EQ(unified_diff("a\n", "a\n", "a", "b"), ""); }

TEST(UnifiedDiff, FormatOfASmallChange) {
  EXPECT_EQ(unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
  EXPECT_EQ(unified_diff("", "x\n", "/dev/null", "b/f"), "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n");
  EXPECT_EQ(unified_diff("x", "x\n", "a/f", "b/f"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n");
}

TEST(UnifiedDiff, DistantChangesGetSeparateHunks) {
  std::string before, after;
  for (int i = 0; i < 30; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 3 || i == 25 ? "changed" : std::to_string(i)) + std::string("\n");
  }
  std::string diff = unified_diff(before, after, "a", "b");
  EXPECT_NE(diff.find("@@ -1,7 +1,7 @@"), std::string::npos) << diff;
  EXPECT_NE(diff.find("@@ -23,7 +23,7 @@"), std::string::npos) << diff;
}

TEST(UnifiedDiff, RandomTextsRoundTripAndAreMinimal) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 400; ++trial) {
    std::string before = random_text(rng, rng() % 25), after = random_text(rng, rng() % 25);
    std::string diff = unified_diff(before, after, "a", "b");
    if (before == after) {
      EXPECT_EQ(diff, "");
      continue;
    }
    Applied applied = apply_unified(before, diff);
    ASSERT_TRUE(applied.ok) << "context/removed lines do not match the old text\n" << diff;
    ASSERT_EQ(applied.text, after) << "before:\n" << before << "\ndiff:\n" << diff;
    auto a = m1::tools::split_lines_keep_endings(before), b = m1::tools::split_lines_keep_endings(after);
    EXPECT_EQ(applied.n_changed, a.size() + b.size() - 2 * lcs(a, b)) << diff;
  }
}
