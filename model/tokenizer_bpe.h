// The BPE model of a tokenizer: vocabulary, ranked merges, unknown token and byte fallback.
// encode_word() applies the merges to one pre-tokenized word the way HF tokenizers does (lowest
// rank first, leftmost first among equals), with a cache of recent words.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace m1 {

using TokenId = int32_t;

class BpeModel {
 public:
  // `spec` is the "model" value of tokenizer.json (type BPE).
  static Expected<BpeModel> from_json(const nlohmann::json & spec);
  // The vocab.json + merges.txt pair (texts of the two files; names for messages).
  static Expected<BpeModel> from_vocab_and_merges(const std::string & vocab_json,
                                                  const std::string & merges_txt,
                                                  const std::string & merges_name);

  void encode_word(std::string_view word, std::vector<TokenId> & out) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;
  // The token string of an id, or nullptr when the id is not in the vocabulary.
  const std::string * id_to_token(TokenId id) const;
  TokenId end_of_ids() const { return TokenId(id_to_token_.size()); }  // one past the largest id
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };
  Status add_merge(const std::string & left, const std::string & right, int32_t rank);
  void build_reverse();
  void initial_symbols(std::string_view word, std::vector<TokenId> & ids) const;
  void apply_merges(std::vector<TokenId> & ids) const;

  std::unordered_map<std::string, TokenId> vocab_;
  std::vector<std::string> id_to_token_;        // empty string = id not in the vocabulary
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  std::optional<TokenId> unk_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  TokenId byte_tokens_[256];  // <0xXX> ids when byte_fallback, -1 when absent

  // Recently encoded words. Shared by every thread that encodes with this model.
  struct Cache {
    std::shared_mutex mutex;  // guards words
    std::unordered_map<std::string, std::vector<TokenId>> words;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

}  // namespace m1
