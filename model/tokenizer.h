// The M1 tokenizer (M1_SPEC.md section 6): byte-level BPE loaded from an HF tokenizer.json or a
// vocab.json + merges.txt pair, with the ids HF tokenizers gives (tests/data/tokenizer goldens).
//
//   Expected<Tokenizer> tok = Tokenizer::load(model_dir);
//   std::vector<TokenId> ids = tok->encode(prompt);   // special tokens in the text become their ids
//   std::string text = tok->decode(ids);
//
// encode() never adds tokens of its own (no BOS): the prompt format writes every special token.
// Text that is not valid UTF-8 is first repaired with U+FFFD, as Python's errors="replace" does.
// A Tokenizer is immutable and cheap to copy; every method may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/tokenizer_bpe.h"

namespace m1 {

// M1's special tokens (absent ones are nullopt).
struct SpecialTokenIds {
  std::optional<TokenId> begin_of_document;  // <begin_of_document>, first token of every prompt
  std::optional<TokenId> bos;                // <beginning_of_sentence>, opens each message
  std::optional<TokenId> eos;                // <end_of_sentence>, ends each message; generation stops here
  std::optional<TokenId> unk;                // <end_of_document>
};

class Tokenizer {
 public:
  // `path`: a model directory (tokenizer.json, else vocab.json + merges.txt), a tokenizer.json
  // file, or a *vocab.json file with its *merges.txt beside it.
  static Expected<Tokenizer> load(const std::string & path);
  // The text of a tokenizer.json; `name` is used in messages.
  static Expected<Tokenizer> from_json_text(const std::string & json_text, const std::string & name);
  // A vocab.json + merges.txt pair, configured as GPT-2 (ByteLevel with its regex); special tokens
  // are M1's four names plus those named in `tokenizer_config_json` (may be empty).
  static Expected<Tokenizer> from_vocab_and_merges(const std::string & vocab_path,
                                                   const std::string & merges_path,
                                                   const std::string & tokenizer_config_json);

  std::vector<TokenId> encode(std::string_view text) const;
  // Text of `ids` as HF's decode gives it: ill-formed UTF-8 becomes U+FFFD, unknown ids are skipped.
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

  std::optional<TokenId> token_to_id(std::string_view token) const;  // added tokens included
  std::optional<std::string> id_to_token(TokenId id) const;
  // One past the largest id: the size of the logits row. Ids below it may still be undefined.
  size_t vocab_size() const;
  bool is_defined(TokenId id) const;
  bool is_special(TokenId id) const;
  const SpecialTokenIds & special_tokens() const;

  // The bytes one token adds to a decoded stream (see IncrementalDecoder); empty for unknown ids
  // and, with skip_special_tokens, for special ones.
  std::string token_bytes(TokenId id, bool first_in_stream, bool skip_special_tokens) const;

  struct State;  // the loaded pipeline, shared by copies (tokenizer.cpp)

 private:
  explicit Tokenizer(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace m1
