// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) used by the tokenizer's
// Split pre-tokenizer and the GPT-2 ByteLevel split. HF tokenizers runs these patterns with
// Oniguruma; the one difference that matters for tokenizer patterns is \s, which Oniguruma takes
// as Unicode White_Space and PCRE2 (with UCP) as \p{Z} plus \h and \v, which differ on U+0085
// and U+180E; so \s and \S are rewritten as the explicit White_Space class.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace m1 {

class TokenizerRegex {
 public:
  static Expected<TokenizerRegex> compile(std::string_view pattern);

  // Non-overlapping matches as byte ranges [begin, end) over well-formed UTF-8 `text`, found left
  // to right; after an empty match the search moves on by one character (as Oniguruma's find_iter).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  // The same matches, handed to `on_match(begin, end)` one by one (no list is built).
  void find_each(std::string_view text, const std::function<void(size_t, size_t)> & on_match) const;

 private:
  struct Code;
  explicit TokenizerRegex(std::shared_ptr<const Code> code) : code_(std::move(code)) {}
  std::shared_ptr<const Code> code_;  // immutable after compile; shared by copies and threads
};

// Rewrites \s and \S as described above (exposed for tests).
std::string oniguruma_compatible_pattern(std::string_view pattern);

}  // namespace m1
