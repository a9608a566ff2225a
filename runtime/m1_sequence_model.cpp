#include "runtime/m1_sequence_model.h"

namespace m1 {

Expected<std::unique_ptr<M1SequenceModel>> M1SequenceModel::open(const std::string & model_dir, int threads) {
  ModelOptions options;
  options.threads = threads;
  Expected<std::unique_ptr<Model>> model = Model::open(model_dir, options);
  if (!model) return model.status();
  return std::make_unique<M1SequenceModel>(std::move(*model));
}

std::unique_ptr<SequenceState> M1SequenceModel::new_state() const {
  return std::make_unique<M1SequenceState>(model_->new_memory());
}

Expected<std::unique_ptr<SequenceState>> M1SequenceModel::deserialize_state(std::span<const std::uint8_t> bytes) const {
  Expected<SequenceMemory> memory = SequenceMemory::deserialize(bytes, model_->memory_shape());
  if (!memory) return memory.status();
  return std::unique_ptr<SequenceState>(std::make_unique<M1SequenceState>(std::move(*memory)));
}

Status M1SequenceModel::forward(std::span<const Item> batch) {
  std::vector<SequenceInput> inputs;
  inputs.reserve(batch.size());
  for (const Item & item : batch) {
    SequenceInput in;
    // Every state this model hands out is an M1SequenceState (new_state, deserialize_state, fork).
    in.memory = &static_cast<M1SequenceState *>(item.state)->memory;
    in.tokens = item.tokens;
    in.logits = item.want_logits ? LogitRows::last : LogitRows::none;
    inputs.push_back(in);
  }
  Expected<std::vector<SequenceLogits>> logits = model_->forward(inputs);
  if (!logits) return logits.status();
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i].want_logits) *batch[i].logits = std::move((*logits)[i].values);
  return Status();
}

}  // namespace m1
