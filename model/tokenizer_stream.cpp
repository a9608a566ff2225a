// Streaming detokenization (see tokenizer_stream.h).
#include "model/tokenizer_stream.h"

#include "model/unicode_utf8.h"

namespace m1 {

std::string IncrementalDecoder::feed(TokenId id) {
  std::string bytes = tokenizer_.token_bytes(id, first_, skip_special_tokens_);
  if (bytes.empty()) return {};
  first_ = false;
  pending_ += bytes;
  size_t hold = utf8::incomplete_tail_length(pending_);
  std::string text = utf8::replace_invalid(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return text;
}

std::string IncrementalDecoder::finish() {
  std::string text = utf8::replace_invalid(pending_);
  pending_.clear();
  return text;
}

}  // namespace m1
