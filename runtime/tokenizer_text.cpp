#include "runtime/tokenizer_text.h"

#include <filesystem>

#include "model/tokenizer_stream.h"

namespace m1 {

Expected<std::unique_ptr<TokenizerText>> TokenizerText::load_if_present(const std::string & model_dir) {
  namespace fs = std::filesystem;
  const bool present = fs::exists(fs::path(model_dir) / "tokenizer.json") ||
                       (fs::exists(fs::path(model_dir) / "vocab.json") && fs::exists(fs::path(model_dir) / "merges.txt"));
  if (!present) return std::unique_ptr<TokenizerText>();
  Expected<Tokenizer> tokenizer = Tokenizer::load(model_dir);
  if (!tokenizer) return tokenizer.status();
  return std::make_unique<TokenizerText>(std::move(*tokenizer));
}

TokenMask TokenizerText::defined_ids(size_t vocab_size) const {
  TokenMask mask(vocab_size, 0);
  for (size_t id = 0; id < vocab_size; ++id) mask[id] = tokenizer_.is_defined(TokenId(id)) ? 1 : 0;
  return mask;
}

std::vector<Token> TokenizerText::end_of_message_ids() const {
  if (std::optional<TokenId> eos = tokenizer_.special_tokens().eos) return {*eos};
  return {};
}

Expected<std::vector<Token>> TokenizerText::encode(std::string_view text) const { return tokenizer_.encode(text); }

std::unique_ptr<TextStream> TokenizerText::stream() const {
  class DecoderStream : public TextStream {
  public:
    explicit DecoderStream(const Tokenizer & t) : decoder_(t, /*skip_special_tokens=*/true) {}
    std::string next(Token token) override { return decoder_.feed(token); }
    std::string finish() override { return decoder_.finish(); }

  private:
    IncrementalDecoder decoder_;
  };
  return std::make_unique<DecoderStream>(tokenizer_);
}

}  // namespace m1
