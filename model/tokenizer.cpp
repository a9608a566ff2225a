// Encoding and decoding with a loaded tokenizer (loading: tokenizer_load.cpp). The order of the
// stages is HF tokenizers': added tokens not normalized are cut out of the raw text, each other
// run is normalized, normalized added tokens are cut out of that, and each remaining run is
// pre-tokenized into words that the BPE model encodes one by one.
#include "model/tokenizer.h"

#include "model/tokenizer_state.h"
#include "model/unicode_utf8.h"

namespace m1 {

namespace {

const char * const kBeginOfDocument = "<begin_of_document>";
const char * const kBos = "<beginning_of_sentence>";
const char * const kEos = "<end_of_sentence>";
const char * const kUnk = "<end_of_document>";

}  // namespace

void Tokenizer::State::finish() {
  added_by_id.clear();
  for (size_t i = 0; i < added.size(); ++i) added_by_id[added[i].id] = i;
  raw_matcher.emplace(added, false);
  normalized_matcher.emplace(added, true);
  auto find = [this](const char * name) -> std::optional<TokenId> {
    for (const AddedToken & token : added)
      if (token.content == name) return token.id;
    return model.token_to_id(name);
  };
  special = {find(kBeginOfDocument), find(kBos), find(kEos), find(kUnk)};
}

std::vector<TokenId> Tokenizer::encode(std::string_view input) const {
  const State & s = *state_;
  std::string repaired;
  if (!utf8::is_valid(input)) {
    repaired = utf8::replace_invalid(input);
    input = repaired;
  }
  std::vector<TokenId> ids;
  ids.reserve(input.size() / 3 + 1);
  std::vector<TextSegment> raw_segments, normalized_segments;
  auto encode_word = [&](std::string_view word) { s.model.encode_word(word, ids); };
  s.raw_matcher->split(input, raw_segments);
  for (const TextSegment & raw : raw_segments) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    std::string normalized =
        s.normalizer.empty() ? std::string(raw.text) : s.normalizer.apply(std::string(raw.text));
    normalized_segments.clear();
    s.normalized_matcher->split(normalized, normalized_segments);
    for (const TextSegment & segment : normalized_segments) {
      if (segment.id >= 0) {
        ids.push_back(segment.id);
        continue;
      }
      s.pre_tokenizer.split(segment.text, encode_word);
    }
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  const State & s = *state_;
  // Added tokens are written as they are; the decoder runs over the model tokens between them.
  std::string text;
  std::vector<std::string> chunk;
  auto flush = [&] {
    if (!chunk.empty()) text += s.decoder.decode(std::move(chunk));
    chunk.clear();
  };
  for (TokenId id : ids) {
    if (const AddedToken * added = s.added_token(id)) {
      if (skip_special_tokens && added->special) continue;
      flush();
      text += added->content;
    } else if (const std::string * token = s.model.id_to_token(id)) {
      chunk.push_back(*token);
    }
  }
  flush();
  return text;
}

std::string Tokenizer::token_bytes(TokenId id, bool first_in_stream, bool skip_special_tokens) const {
  const State & s = *state_;
  if (const AddedToken * added = s.added_token(id))
    return (skip_special_tokens && added->special) ? std::string() : added->content;
  if (const std::string * token = s.model.id_to_token(id))
    return s.decoder.token_bytes(*token, first_in_stream);
  return {};
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken & added : state_->added)
    if (added.content == token) return added.id;
  return state_->model.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (const AddedToken * added = state_->added_token(id)) return added->content;
  if (const std::string * token = state_->model.id_to_token(id)) return *token;
  return std::nullopt;
}

size_t Tokenizer::vocab_size() const {
  TokenId end = state_->model.end_of_ids();
  for (const AddedToken & added : state_->added) end = std::max(end, added.id + 1);
  return size_t(end);
}

bool Tokenizer::is_defined(TokenId id) const {
  return state_->added_token(id) != nullptr || state_->model.id_to_token(id) != nullptr;
}

bool Tokenizer::is_special(TokenId id) const {
  const AddedToken * added = state_->added_token(id);
  return added != nullptr && added->special;
}

const SpecialTokenIds & Tokenizer::special_tokens() const { return state_->special; }

}  // namespace m1
