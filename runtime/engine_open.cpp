// Engine::open for a model directory: the M1 network on the CPU (no devices) or on one GPU, and
// the folder's tokenizer, if any.
#include "runtime/engine.h"
#include "runtime/engine_impl.h"
#include "runtime/gpu_sequence_model.h"
#include "runtime/m1_sequence_model.h"
#include "runtime/tokenizer_text.h"

namespace m1 {

namespace {

Expected<std::unique_ptr<SequenceModel>> open_sequence_model(const EngineOptions & options) {
  if (options.devices.empty()) {
    Expected<std::unique_ptr<M1SequenceModel>> cpu = M1SequenceModel::open(options.model_dir, options.threads);
    if (!cpu) return cpu.status();
    return std::unique_ptr<SequenceModel>(std::move(*cpu));
  }
  if (options.devices.size() > 1)
    return Status::error("engine: " + std::to_string(options.devices.size()) +
                         " devices given; the GPU engine runs on one device (cuda or cuda:N)");
  GpuSequenceModelOptions gpu;
  gpu.device = options.devices[0];
  gpu.max_sequences = options.gpu_sequences;
  gpu.max_cached_tokens = options.gpu_cached_tokens;
  gpu.reserved_slots = options.gpu_reserved_slots;
  Expected<std::unique_ptr<GpuSequenceModel>> model = GpuSequenceModel::open(options.model_dir, gpu);
  if (!model) return model.status();
  return std::unique_ptr<SequenceModel>(std::move(*model));
}

}  // namespace

Expected<std::unique_ptr<Engine>> Engine::open(const EngineOptions & options) {
  Expected<std::unique_ptr<SequenceModel>> model = open_sequence_model(options);
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
