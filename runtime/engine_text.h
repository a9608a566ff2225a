// The engine's view of the tokenizer: which ids exist, which end a message, how to spell the
// thinking budget's closing text, and a streaming decoder for text deltas. The model
// directory's tokenizer provides it (TokenizerText); tests may give a small one of their own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/sampling.h"
#include "runtime/token.h"

namespace m1 {

// Turns generated tokens into text as they come: returns what became complete (a UTF-8
// character split across tokens waits for its last byte).
class TextStream {
public:
  virtual ~TextStream() = default;
  virtual std::string next(Token token) = 0;
  // At the end of the stream: what is still held (an unfinished character, as U+FFFD).
  virtual std::string finish() { return {}; }
};

class EngineText {
public:
  virtual ~EngineText() = default;
  // allowed[id] for every id of a vocabulary of `vocab_size` rows.
  virtual TokenMask defined_ids(size_t vocab_size) const = 0;
  virtual std::vector<Token> end_of_message_ids() const = 0;
  virtual Expected<std::vector<Token>> encode(std::string_view text) const = 0;
  virtual std::unique_ptr<TextStream> stream() const = 0;
};

}  // namespace m1
