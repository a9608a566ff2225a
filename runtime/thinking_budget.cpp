#include "runtime/thinking_budget.h"

#include <algorithm>

namespace m1 {

namespace {

bool only_whitespace(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

}  // namespace

ThinkingBudget::ThinkingBudget(int budget, std::vector<Token> closing_tokens, bool starts_in_reasoning,
                               ThinkingTags tags)
    : budget_(budget), closing_tokens_(std::move(closing_tokens)), tags_(std::move(tags)),
      state_(starts_in_reasoning ? State::reasoning : State::waiting) {
  if (state_ == State::reasoning && budget_ == 0) enter_closing();
}

std::optional<Token> ThinkingBudget::forced_token() const {
  if (state_ != State::closing) return std::nullopt;
  return closing_tokens_[n_forced_];
}

void ThinkingBudget::enter_closing() {
  forced_close_ = true;
  state_ = closing_tokens_.empty() ? State::done : State::closing;
}

void ThinkingBudget::observe(Token token, std::string_view text) {
  switch (state_) {
  case State::waiting: {
    seen_.append(text);
    const size_t at = seen_.find(tags_.open);
    if (at != std::string::npos && only_whitespace(std::string_view(seen_).substr(0, at))) {
      state_ = State::reasoning;
      seen_.erase(0, at + tags_.open.size());  // text after the tag is reasoning already
      if (seen_.find(tags_.close) != std::string::npos) state_ = State::done;
      else if (budget_ == 0) enter_closing();
      return;
    }
    // Not a reasoning output once the text can no longer grow into whitespace + open tag.
    const size_t first = seen_.find_first_not_of(" \n\t\r");
    if (first != std::string::npos && !std::string_view(tags_.open).starts_with(std::string_view(seen_).substr(first)))
      state_ = State::done;
    return;
  }
  case State::reasoning: {
    seen_.append(text);
    if (seen_.find(tags_.close) != std::string::npos) {
      state_ = State::done;
      return;
    }
    if (seen_.size() > tags_.close.size()) seen_.erase(0, seen_.size() - tags_.close.size());
    ++n_reasoning_;
    if (budget_ >= 0 && n_reasoning_ >= budget_) enter_closing();
    return;
  }
  case State::closing:
    if (token == closing_tokens_[n_forced_] && ++n_forced_ == closing_tokens_.size()) state_ = State::done;
    return;
  case State::done:
    return;
  }
}

}  // namespace m1
