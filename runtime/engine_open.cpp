// Engine::open for a model directory: the CPU M1 network and the folder's tokenizer, if any.
#include "runtime/engine.h"
#include "runtime/engine_impl.h"
#include "runtime/m1_sequence_model.h"
#include "runtime/tokenizer_text.h"

namespace m1 {

Expected<std::unique_ptr<Engine>> Engine::open(const EngineOptions & options) {
  if (!options.devices.empty())
    return Status::error("engine: the CUDA engine is not built into this runtime yet: use the CPU (no devices)");
  Expected<std::unique_ptr<M1SequenceModel>> model = M1SequenceModel::open(options.model_dir, options.threads);
  if (!model) return model.status();
  Expected<std::unique_ptr<TokenizerText>> text = TokenizerText::load_if_present(options.model_dir);
  if (!text) return text.status();
  if (*text && (*text)->tokenizer().vocab_size() > (*model)->vocab_size())
    return Status::error(options.model_dir + ": the tokenizer has ids up to " +
                         std::to_string((*text)->tokenizer().vocab_size() - 1) + " but the model only " +
                         std::to_string((*model)->vocab_size()) + " logits");
  return open(options, std::move(*model), std::move(*text));
}

const Tokenizer * Engine::tokenizer() const {
  const auto * text = dynamic_cast<const TokenizerText *>(impl_->text.get());
  return text ? &text->tokenizer() : nullptr;
}

}  // namespace m1
