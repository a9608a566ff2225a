// The decoder stage of an HF tokenizer.json: ByteLevel, ByteFallback, Fuse, Replace, Strip and
// Sequence, turning token strings back into text. decode() gives HF's text exactly (ill-formed
// UTF-8 replaced as the library does); token_bytes() gives one token's raw bytes for streaming.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace m1 {

class TokenizerDecoder {
 public:
  // `spec` is the "decoder" value of tokenizer.json (null: tokens are joined with spaces, as HF does).
  static Expected<TokenizerDecoder> from_json(const nlohmann::json & spec);
  static TokenizerDecoder byte_level();

  std::string decode(std::vector<std::string> tokens) const;
  // The bytes one token contributes to a stream; `first` is whether it starts the stream (Strip
  // applies its start count there). A Strip's end count is not applied: a stream has no known end.
  std::string token_bytes(const std::string & token, bool first) const;
  bool joins_with_spaces() const { return steps_.empty(); }

 private:
  struct Step {
    enum class Kind { byte_level, byte_fallback, fuse, replace, strip } kind;
    std::string pattern, content;  // replace
    std::string strip_char;        // strip: the character removed
    size_t strip_start = 0, strip_stop = 0;
  };
  static Status add_steps(const nlohmann::json & spec, std::vector<Step> & steps);
  static void run(const Step & step, std::vector<std::string> & tokens, bool raw, bool first);
  std::vector<Step> steps_;
};

}  // namespace m1
