// Streaming detokenization: feed generated ids one at a time and get back only complete UTF-8
// text, so a stream never shows a broken character. Bytes of an unfinished character are held
// until the ids that finish it arrive; bytes that can never become valid are replaced by U+FFFD
// (as decode() does). The concatenated output equals decode() of all ids for byte-level BPE.
#pragma once

#include <string>

#include "model/tokenizer.h"

namespace m1 {

class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(Tokenizer tokenizer, bool skip_special_tokens = false)
      : tokenizer_(std::move(tokenizer)), skip_special_tokens_(skip_special_tokens) {}

  // The text that `id` completes (possibly empty).
  std::string feed(TokenId id);
  // Whatever is still held (an unfinished character at the end of the stream), as U+FFFD.
  std::string finish();
  // Bytes held back right now (0 to 3).
  size_t held_bytes() const { return pending_.size(); }

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  bool first_ = true;
  std::string pending_;  // an incomplete UTF-8 sequence
};

}  // namespace m1
