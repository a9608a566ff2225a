// EngineText from the model directory's tokenizer (model/tokenizer.h): defined ids, <end_of_sentence>
// as the end of a message, and the incremental decoder for streamed text (special tokens are
// not shown: they are format, not text).
#pragma once

#include <memory>
#include <string>

#include "model/tokenizer.h"
#include "runtime/engine_text.h"

namespace m1 {

class TokenizerText : public EngineText {
public:
  explicit TokenizerText(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

  // The tokenizer of `model_dir`, or nullptr when the folder has no tokenizer files (a weights-only
  // checkpoint still runs, on token ids); a broken tokenizer is an error.
  static Expected<std::unique_ptr<TokenizerText>> load_if_present(const std::string & model_dir);

  TokenMask defined_ids(size_t vocab_size) const override;
  std::vector<Token> end_of_message_ids() const override;
  Expected<std::vector<Token>> encode(std::string_view text) const override;
  std::unique_ptr<TextStream> stream() const override;

  const Tokenizer & tokenizer() const { return tokenizer_; }

private:
  Tokenizer tokenizer_;
};

}  // namespace m1
