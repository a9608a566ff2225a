// The one interface the agent loop talks to a model through: given the conversation so far,
// produce the next assistant output as a stream of text, and report what it cost in tokens.
// Implementations: the embedded engine (engine_model.h) and the scripted model (scripted_model.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agents/conversation.h"
#include "common/status.h"

namespace m1::agents {

struct Usage {
  int64_t prompt = 0;     // tokens of the whole prompt this call answered
  int64_t prefilled = 0;  // tokens processed for this call (the new suffix, or all on a restart)
  int64_t reused = 0;     // tokens already in the model's memory, not processed again
  int64_t generated = 0;
  double ms = 0;

  Usage & operator+=(const Usage & other) {
    prompt += other.prompt;
    prefilled += other.prefilled;
    reused += other.reused;
    generated += other.generated;
    ms += other.ms;
    return *this;
  }
};

struct ModelOutput {
  std::string text;        // the whole output, as streamed
  Usage usage;
  bool cancelled = false;  // cancel() cut it short; `text` is what came before
  bool end_token = false;  // it stopped on the end-of-sentence token, which the memory now holds
};

using TextCallback = std::function<void(std::string_view)>;

class ModelBackend {
public:
  virtual ~ModelBackend() = default;
  virtual std::string name() const = 0;
  // The most tokens a prompt plus its output may take.
  virtual int64_t context_tokens() const = 0;
  // How many tokens the prompt for the next generate() would have (renders only what is new).
  virtual Expected<int64_t> prompt_tokens(const Conversation & conversation) = 0;
  // Generates the next assistant message for `conversation`, calling `on_text` as text arrives.
  virtual Expected<ModelOutput> generate(const Conversation & conversation, const TextCallback & on_text) = 0;
  // Stops a generate() in flight from another thread; it returns with cancelled set.
  virtual void cancel() = 0;
  // Tokens `text` takes in this model's prompt (compaction measures candidate prompts with it).
  virtual Expected<int64_t> count_tokens(std::string_view text) = 0;
  // Saves the model's memory of the conversation to `path` for a later resume; returns what
  // restore_memory() needs ({"path", "n_tokens", "n_messages", "end_token"}).
  virtual Expected<Json> save_memory(const std::string & path) {
    (void)path;
    return Status::error(name() + ": this model keeps no memory to save");
  }
  // Makes the model continue `conversation` from a saved memory instead of prefilling it again.
  virtual Status restore_memory(const Json & snapshot, const Conversation & conversation) {
    (void)snapshot;
    (void)conversation;
    return Status::error(name() + ": this model cannot restore a saved memory");
  }
  // Whether summarize() works; otherwise compaction writes a structural summary itself.
  virtual bool writes_summaries() const { return false; }
  // A model-written summary answering `request` (the older turns, as text), outside the session's
  // memory. Called only when writes_summaries().
  virtual Expected<std::string> summarize(const std::string & request) {
    (void)request;
    return Status::error(name() + ": this model does not write summaries");
  }
};

}  // namespace m1::agents
