// Matching of added tokens in text (see tokenizer_added_tokens.h).
#include "model/tokenizer_added_tokens.h"

#include <algorithm>

#include "model/unicode_utf8.h"

namespace m1 {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken> & tokens, bool normalized) {
  for (const AddedToken & token : tokens)
    if (token.normalized == normalized && !token.content.empty()) tokens_.push_back(&token);
  for (const AddedToken * token : tokens_) by_first_byte_[uint8_t(token->content[0])].push_back(token);
  for (auto & bucket : by_first_byte_)
    std::stable_sort(bucket.begin(), bucket.end(), [](const AddedToken * a, const AddedToken * b) {
      return a->content.size() > b->content.size();
    });
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment> & out) const {
  size_t start = 0;  // start of the text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken * found = nullptr;
    for (const AddedToken * token : by_first_byte_[uint8_t(text[pos])]) {
      if (text.substr(pos).starts_with(token->content)) {
        found = token;  // the bucket is longest first: leftmost-longest
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + found->content.size();
    if (found->lstrip)
      begin = std::max(start, begin - utf8::trailing_whitespace_length(text.substr(0, begin)));
    if (found->rstrip) end += utf8::leading_whitespace_length(text.substr(end));
    if (begin > start) out.push_back({text.substr(start, begin - start), -1});
    out.push_back({text.substr(begin, end - begin), found->id});
    start = pos = end;
  }
  if (start < text.size()) out.push_back({text.substr(start), -1});
}

}  // namespace m1
