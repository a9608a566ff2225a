// The thinking budget: after N reasoning tokens the runtime closes the reasoning itself, by
// forcing the tokens of the model's closing text ("\n</think>\n" for M1), and generation goes on
// with the answer. `<think>` and `</think>` are ordinary text in M1 (M1_SPEC.md section 6), so
// the tags are recognized in the decoded text, whatever tokens spelled them.
//
// States: waiting for the opening tag (only leading whitespace may come before it, otherwise the
// output has no reasoning) -> reasoning (counting tokens; the model may close it itself) ->
// closing (the forced tokens go out one per step) -> done.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/token.h"

namespace m1 {

struct ThinkingTags {
  std::string open = "<think>";
  std::string close = "</think>";
};

class ThinkingBudget {
public:
  // budget < 0: no limit (the machine only tracks the state). closing_tokens: what to force when
  // the budget runs out. starts_in_reasoning: the prompt already opened the reasoning.
  ThinkingBudget(int budget, std::vector<Token> closing_tokens, bool starts_in_reasoning = false,
                 ThinkingTags tags = {});

  enum class State { waiting, reasoning, closing, done };

  // The token to emit next instead of sampling one, while closing; nullopt otherwise.
  std::optional<Token> forced_token() const;

  // Every emitted token, sampled or forced, with its decoded text.
  void observe(Token token, std::string_view text);

  State state() const { return state_; }
  int reasoning_tokens() const { return n_reasoning_; }
  bool forced_close() const { return forced_close_; }  // the budget, not the model, ended it

private:
  void enter_closing();

  int budget_;
  std::vector<Token> closing_tokens_;
  ThinkingTags tags_;
  State state_;
  int n_reasoning_ = 0;
  size_t n_forced_ = 0;
  bool forced_close_ = false;
  std::string seen_;  // waiting: all text so far; reasoning: a tail long enough to hold a tag
};

}  // namespace m1
