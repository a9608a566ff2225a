// The CPU M1 network (model/model.h) behind the engine's SequenceModel seam: a state is a
// model::SequenceMemory; a forward is one batched Model::forward with logits only where asked.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "runtime/sequence_model.h"

namespace m1 {

class M1SequenceState : public SequenceState {
public:
  explicit M1SequenceState(SequenceMemory memory) : memory(std::move(memory)) {}

  size_t n_tokens() const override { return size_t(memory.n_tokens()); }
  size_t byte_size() const override { return size_t(memory.byte_size()); }
  size_t private_bytes() const override;  // the lightning states
  void visit_shared_blocks(const std::function<void(const void *, size_t)> & visit) const override;  // KV pages
  Expected<std::vector<std::uint8_t>> serialize() const override { return memory.serialize(); }
  // A copy of a SequenceMemory shares its full KV pages (model/sequence_memory.h).
  Expected<std::unique_ptr<SequenceState>> fork() const override {
    return std::unique_ptr<SequenceState>(std::make_unique<M1SequenceState>(memory));
  }

  SequenceMemory memory;
};

class M1SequenceModel : public SequenceModel {
public:
  static Expected<std::unique_ptr<M1SequenceModel>> open(const std::string & model_dir, int threads);
  explicit M1SequenceModel(std::unique_ptr<Model> model) : model_(std::move(model)) {}

  size_t vocab_size() const override { return size_t(model_->config().vocab_size); }
  std::unique_ptr<SequenceState> new_state() const override;
  Expected<std::unique_ptr<SequenceState>> deserialize_state(std::span<const std::uint8_t> bytes) const override;
  Status forward(std::span<const Item> batch) override;

  Model & model() { return *model_; }

private:
  std::unique_ptr<Model> model_;
};

}  // namespace m1
