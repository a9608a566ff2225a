// Added tokens (special tokens such as <end_of_sentence>, and any others a tokenizer.json lists):
// they are cut out of the text before normalization (normalized=false) or right after it
// (normalized=true), leftmost-longest first, and never reach the pre-tokenizer or the BPE model.
// lstrip / rstrip make a token absorb the whitespace before / after it, as HF tokenizers does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer_bpe.h"

namespace m1 {

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool special = false;
  bool lstrip = false, rstrip = false;
  bool normalized = false;
};

// A run of text that is either ordinary text (id < 0) or one added token.
struct TextSegment {
  std::string_view text;
  TokenId id = -1;
};

class AddedTokenMatcher {
 public:
  // The tokens to look for (those whose `normalized` flag equals `normalized`).
  AddedTokenMatcher(const std::vector<AddedToken> & tokens, bool normalized);

  bool empty() const { return tokens_.empty(); }
  // Cuts `text` into ordinary runs and added tokens, appending to `out`.
  void split(std::string_view text, std::vector<TextSegment> & out) const;

 private:
  std::vector<const AddedToken *> tokens_;
  std::array<std::vector<const AddedToken *>, 256> by_first_byte_;  // longest first
};

}  // namespace m1
