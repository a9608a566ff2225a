// The loaded tokenizer pipeline behind m1::Tokenizer: added tokens, normalizer, pre-tokenizer,
// BPE model, decoder. Internal to model/tokenizer*.cpp.
#pragma once

#include <optional>
#include <unordered_map>
#include <vector>

#include "model/tokenizer.h"
#include "model/tokenizer_added_tokens.h"
#include "model/tokenizer_decoder.h"
#include "model/tokenizer_normalizer.h"
#include "model/tokenizer_pre_tokenizer.h"

namespace m1 {

struct Tokenizer::State {
  std::vector<AddedToken> added;                        // in tokenizer.json order
  std::unordered_map<TokenId, size_t> added_by_id;      // id -> index into `added`
  std::optional<AddedTokenMatcher> raw_matcher;         // tokens matched before normalization
  std::optional<AddedTokenMatcher> normalized_matcher;  // tokens matched after it
  TokenizerNormalizer normalizer;
  TokenizerPreTokenizer pre_tokenizer;
  BpeModel model;
  TokenizerDecoder decoder;
  SpecialTokenIds special;

  // Builds the matchers and the special-token ids once `added` and `model` are final.
  void finish();
  const AddedToken * added_token(TokenId id) const {
    auto it = added_by_id.find(id);
    return it == added_by_id.end() ? nullptr : &added[it->second];
  }
};

}  // namespace m1
