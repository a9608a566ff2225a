// What the engine needs from a network: per-sequence states it can fork, size, serialize and
// restore, and one batched forward over several sequences, each with its own state and new
// tokens. The CPU M1 model plugs in through ModelBackedSequenceModel (m1_sequence_model.h); the
// GPU path plugs in here too. Keeping the engine on this seam lets its scheduling and caching
// be exercised without knowing the layer math.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "common/status.h"
#include "runtime/cached_state.h"
#include "runtime/sampling.h"
#include "runtime/token.h"

namespace m1 {

// One sequence's memory (M1: per lightning layer the fp32 state, per softmax layer KV pages).
class SequenceState : public CachedState {
public:
  virtual size_t n_tokens() const = 0;  // tokens folded into the state so far
  // An independent copy that continues exactly as this one would. Implementations share what
  // never changes (full KV pages) and copy the rest; a device error while copying fails it.
  virtual Expected<std::unique_ptr<SequenceState>> fork() const = 0;
};

class SequenceModel {
public:
  virtual ~SequenceModel() = default;

  virtual size_t vocab_size() const = 0;
  virtual std::unique_ptr<SequenceState> new_state() const = 0;
  // Restores a state from SequenceState::serialize(); errors name what did not match.
  virtual Expected<std::unique_ptr<SequenceState>> deserialize_state(std::span<const std::uint8_t> bytes) const = 0;

  // The next token chosen by the model itself from its last position's logits, as
  // sample_token_with_uniform() would choose it (the draw comes from the caller's seeded stream).
  struct Sample {
    SamplingParams params;
    double uniform = 0.0;
    int n_top = 0;
    SampledToken result;  // filled by forward
  };

  struct Item {
    SequenceState * state = nullptr;  // advanced by tokens.size()
    std::span<const Token> tokens;    // at least one
    bool want_logits = false;         // fp32 logits of the last position into `logits`
    std::vector<float> * logits = nullptr;
    Sample * sample = nullptr;        // instead of logits (only where samples_next_token())
  };

  // Whether forward can pick next tokens where the logits are (Item::sample) with the ids `mask`
  // allows, so they need not be copied out: true once enable_sampling() succeeded.
  virtual Status enable_sampling(const TokenMask & mask) {
    (void)mask;
    return Status::error("this model returns logits only");
  }
  virtual bool samples_next_token() const { return false; }
  // Computes every item (one batch where the implementation can). On failure the states of the
  // items are unspecified.
  virtual Status forward(std::span<const Item> batch) = 0;
};

}  // namespace m1
