#include "runtime/generation.h"

#include <algorithm>

namespace m1 {

const char * to_string(FinishReason reason) {
  switch (reason) {
  case FinishReason::eos: return "eos";
  case FinishReason::stop_token: return "stop_token";
  case FinishReason::stop_string: return "stop_string";
  case FinishReason::max_tokens: return "max_tokens";
  case FinishReason::cancelled: return "cancelled";
  }
  return "unknown";
}

Generation::Generation(const GenerateRequest & request, const TokenMask & mask, const EngineText * text)
    : request_(request), mask_(mask), rng_(request.sampling.seed),
      stream_(text ? text->stream() : nullptr), stops_(request.stop) {
  if (text && request.stop_at_eos) end_ids_ = text->end_of_message_ids();
}

Expected<std::unique_ptr<Generation>> Generation::start(const GenerateRequest & request, const TokenMask & mask,
                                                        const EngineText * text) {
  M1_RETURN_IF_ERROR(validate(request.sampling).with_context("generate"));
  if (request.max_tokens < 0) return Status::error("generate: max_tokens must be >= 0");
  if (request.top_logprobs < 0) return Status::error("generate: top_logprobs must be >= 0");
  if (!text && !request.stop.empty())
    return Status::error("generate: stop strings need a tokenizer, and the model directory has none");
  std::unique_ptr<Generation> g(new Generation(request, mask, text));
  if (request.thinking_budget >= 0 || request.starts_in_reasoning) {
    std::vector<Token> closing;
    if (request.thinking_budget >= 0) {
      if (!text) return Status::error("generate: a thinking budget needs a tokenizer, and the model directory has none");
      Expected<std::vector<Token>> encoded = text->encode("\n</think>\n");
      if (!encoded) return encoded.status().with_context("generate: thinking budget");
      closing = std::move(*encoded);
    }
    g->thinking_.emplace(request.thinking_budget, std::move(closing), request.starts_in_reasoning);
  }
  if (request.max_tokens == 0) g->finish(FinishReason::max_tokens);
  return g;
}

TokenEvent Generation::step(std::span<const float> logits) {
  TokenEvent event;
  const std::optional<Token> forced = thinking_ ? thinking_->forced_token() : std::nullopt;
  if (forced) {
    // No draw for a forced token (the seeded stream stays that of the sampled ones); its
    // logprob is still the model's view of it.
    const std::vector<float> logprobs = log_softmax(logits, mask_);
    event.token = *forced;
    event.logprob = size_t(*forced) < logprobs.size() ? logprobs[size_t(*forced)] : 0.0f;
    if (request_.top_logprobs > 0) event.top = top_choices(logprobs, mask_, request_.top_logprobs);
    event.forced = true;
  } else {
    SampledToken sampled = sample_token(logits, mask_, request_.sampling, request_.top_logprobs, rng_);
    event.token = sampled.id;
    event.logprob = sampled.logprob;
    event.top = std::move(sampled.top);
  }
  return emit(std::move(event));
}

bool Generation::next_is_forced() const { return thinking_ && thinking_->forced_token().has_value(); }

Generation::Draw Generation::next_draw() {
  return {request_.sampling, sampling_uniform(request_.sampling, rng_), request_.top_logprobs};
}

TokenEvent Generation::accept(SampledToken sampled) {
  TokenEvent event;
  event.token = sampled.id;
  event.logprob = sampled.logprob;
  event.top = std::move(sampled.top);
  return emit(std::move(event));
}

TokenEvent Generation::emit(TokenEvent event) {
  const bool forced = event.forced;
  emitted_.push_back(event.token);
  const std::string delta = stream_ ? stream_->next(event.token) : std::string();
  if (thinking_) thinking_->observe(event.token, delta);

  StopStringMatcher::Output shown = stops_.feed(delta);
  event.text = std::move(shown.text);
  text_ += event.text;
  if (shown.stopped) {
    finish(FinishReason::stop_string);
    result_->stop_string = shown.matched;
  } else if (!forced && std::find(end_ids_.begin(), end_ids_.end(), event.token) != end_ids_.end()) {
    finish(FinishReason::eos);
  } else if (!forced && std::find(request_.stop_tokens.begin(), request_.stop_tokens.end(), event.token) !=
                            request_.stop_tokens.end()) {
    finish(FinishReason::stop_token);
  } else if (int(emitted_.size()) >= request_.max_tokens) {
    finish(FinishReason::max_tokens);
  }
  return event;
}

std::optional<TokenEvent> Generation::final_event() {
  if (!result_ || result_->finish == FinishReason::stop_string) return std::nullopt;
  TokenEvent event;
  // Bytes of an unfinished character still pass through the stop strings.
  StopStringMatcher::Output tail = stops_.feed(stream_ ? stream_->finish() : std::string());
  event.text = tail.text + (tail.stopped ? std::string() : stops_.flush());
  if (tail.stopped) {
    result_->finish = FinishReason::stop_string;
    result_->stop_string = tail.matched;
  }
  if (event.text.empty()) return std::nullopt;
  text_ += event.text;
  result_->text = text_;
  return event;
}

void Generation::cancel() {
  if (!result_) finish(FinishReason::cancelled);
}

void Generation::finish(FinishReason reason) {
  result_.emplace();
  result_->finish = reason;
  result_->tokens = emitted_;
  result_->text = text_;
}

}  // namespace m1
