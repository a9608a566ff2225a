// One generate call's decisions, token by token: sample (or take the thinking budget's forced
// token), decode the text delta, hold back possible stop strings, and decide when to finish.
// The engine thread feeds it the logits of each step; it owns no model state.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "runtime/engine.h"
#include "runtime/engine_text.h"
#include "runtime/stop_strings.h"
#include "runtime/thinking_budget.h"

namespace m1 {

class Generation {
public:
  // `mask` and `text` outlive the generation; text may be null (no stop strings, no thinking
  // budget, empty text deltas). Fails on requests that cannot be honoured.
  static Expected<std::unique_ptr<Generation>> start(const GenerateRequest & request, const TokenMask & mask,
                                                     const EngineText * text);

  // Chooses the next token from the logits of the last position. Returns the event to stream;
  // finished() tells whether this was the last token.
  TokenEvent step(std::span<const float> logits);

  // The same step split for a model that samples where its logits are (SequenceModel::Sample):
  // when the next token is not forced by the thinking budget (which needs the logits: use
  // step()), next_draw() gives what the model needs, taking the draw from the seeded stream as
  // step() would, and accept() takes the model's choice.
  bool next_is_forced() const;
  struct Draw {
    SamplingParams params;
    double uniform = 0.0;
    int n_top = 0;
  };
  Draw next_draw();
  TokenEvent accept(SampledToken sampled);
  // The event that releases held-back text once finished without a stop string (may be empty).
  std::optional<TokenEvent> final_event();

  void cancel();
  bool finished() const { return result_.has_value(); }
  const GenerateResult & result() const { return *result_; }
  const std::vector<Token> & emitted() const { return emitted_; }

private:
  Generation(const GenerateRequest & request, const TokenMask & mask, const EngineText * text);
  void finish(FinishReason reason);
  TokenEvent emit(TokenEvent event);  // text, stop strings and end conditions after the choice

  GenerateRequest request_;
  const TokenMask & mask_;
  SamplingRng rng_;
  std::unique_ptr<TextStream> stream_;
  StopStringMatcher stops_;
  std::optional<ThinkingBudget> thinking_;
  std::vector<Token> end_ids_;
  std::vector<Token> emitted_;
  std::string text_;
  std::optional<GenerateResult> result_;
};

}  // namespace m1
