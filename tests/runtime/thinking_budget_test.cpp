// The thinking-budget state machine driven by token streams written out by hand.
#include "runtime/thinking_budget.h"

#include <gtest/gtest.h>

#include <map>

namespace m1 {
namespace {

const std::vector<Token> kClosing = {901, 902, 903};  // stands for "\n", "</think>", "\n"

// Feeds (token, text) pairs; whenever the machine forces a token, that token is emitted instead
// of the scripted one (as the engine does). Returns the emitted token ids.
std::vector<Token> drive(ThinkingBudget & b, const std::vector<std::pair<Token, std::string>> & script) {
  const std::map<Token, std::string> closing_text = {{901, "\n"}, {902, "</think>"}, {903, "\n"}};
  std::vector<Token> emitted;
  size_t next = 0;
  while (next < script.size()) {
    if (std::optional<Token> forced = b.forced_token()) {
      b.observe(*forced, closing_text.at(*forced));
      emitted.push_back(*forced);
      continue;
    }
    b.observe(script[next].first, script[next].second);
    emitted.push_back(script[next].first);
    ++next;
  }
  return emitted;
}

TEST(ThinkingBudget, ForcesTheClosingTokensAfterTheBudget) {
  ThinkingBudget b(3, kClosing);
  const std::vector<Token> out =
      drive(b, {{1, "<th"}, {2, "ink>"}, {3, "\na"}, {4, " b"}, {5, " c"}, {6, " d"}, {7, "answer"}});
  EXPECT_EQ(out, (std::vector<Token>{1, 2, 3, 4, 5, 901, 902, 903, 6, 7}));
  EXPECT_EQ(b.state(), ThinkingBudget::State::done);
  EXPECT_TRUE(b.forced_close());
  EXPECT_EQ(b.reasoning_tokens(), 3);
}

TEST(ThinkingBudget, ModelClosingItselfEndsTheCount) {
  ThinkingBudget b(5, kClosing);
  const std::vector<Token> out = drive(b, {{1, " <think>"}, {2, "x"}, {3, "</th"}, {4, "ink>"}, {5, "y"}, {6, "z"}, {7, "w"}});
  EXPECT_EQ(out, (std::vector<Token>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(b.state(), ThinkingBudget::State::done);
  EXPECT_FALSE(b.forced_close());
}

TEST(ThinkingBudget, OutputWithoutReasoningIsNeverForced) {
  ThinkingBudget b(1, kClosing);
  const std::vector<Token> out = drive(b, {{1, "Hello"}, {2, " <think>"}, {3, "a"}, {4, "b"}});
  EXPECT_EQ(out, (std::vector<Token>{1, 2, 3, 4}));
  EXPECT_EQ(b.state(), ThinkingBudget::State::done);
}

TEST(ThinkingBudget, PromptThatOpenedReasoningCountsFromTheFirstToken) {
  ThinkingBudget b(2, kClosing, /*starts_in_reasoning=*/true);
  EXPECT_EQ(drive(b, {{1, "a"}, {2, "b"}, {3, "c"}}), (std::vector<Token>{1, 2, 901, 902, 903, 3}));
  ThinkingBudget zero(0, kClosing, true);
  EXPECT_EQ(drive(zero, {{1, "a"}}), (std::vector<Token>{901, 902, 903, 1}));
}

TEST(ThinkingBudget, NegativeBudgetOnlyTracks) {
  ThinkingBudget b(-1, kClosing);
  std::vector<std::pair<Token, std::string>> script = {{1, "<think>"}};
  for (int i = 0; i < 100; ++i) script.push_back({2, "x"});
  EXPECT_EQ(drive(b, script).size(), script.size());
  EXPECT_EQ(b.state(), ThinkingBudget::State::reasoning);
  EXPECT_EQ(b.reasoning_tokens(), 100);
}

}  // namespace
}  // namespace m1
