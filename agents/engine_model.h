// The embedded engine as the agent's model: one engine session holds the conversation's memory
// between turns, so each turn appends only the newly rendered suffix (PromptTracker) and the
// engine prefills only those tokens. The prompt head (system prompt + tool list) lives in its own
// session that restarts fork from, so after a compaction only the compacted history is prefilled.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "agents/model_backend.h"
#include "agents/prompt_tracker.h"
#include "runtime/engine.h"

namespace m1::agents {

struct EngineModelOptions {
  int64_t context_tokens = 128 * 1024;
  GenerateRequest request;  // sampling (M1_SPEC.md section 9: temperature 1, top_p 0.95), max tokens
  int summary_max_tokens = 512;
  EngineModelOptions() {
    request.sampling.temperature = 1.0f;
    request.sampling.top_p = 0.95f;
    request.max_tokens = 8192;
  }
};

class EngineModel : public ModelBackend {
public:
  EngineModel(std::shared_ptr<Engine> engine, std::string name, EngineModelOptions options = {});
  // Opens the model directory (CPU engine) for the agent.
  static Expected<std::unique_ptr<EngineModel>> open(const std::string & model_dir, EngineModelOptions options = {});
  ~EngineModel() override;

  std::string name() const override { return name_; }
  int64_t context_tokens() const override { return options_.context_tokens; }
  Expected<int64_t> prompt_tokens(const Conversation & conversation) override;
  Expected<ModelOutput> generate(const Conversation & conversation, const TextCallback & on_text) override;
  void cancel() override;
  Expected<int64_t> count_tokens(std::string_view text) override;
  Expected<Json> save_memory(const std::string & path) override;
  Status restore_memory(const Json & snapshot, const Conversation & conversation) override;
  bool writes_summaries() const override { return true; }
  Expected<std::string> summarize(const std::string & request) override;

  Engine & engine() { return *engine_; }

private:
  Expected<std::vector<Token>> encode(std::string_view text) const;
  // Makes session_ hold the memory `step` continues from; returns the tokens to append.
  Expected<std::vector<Token>> prepare(const PromptTracker::Step & step, Usage & usage);

  std::shared_ptr<Engine> engine_;
  std::string name_;
  EngineModelOptions options_;
  PromptTracker tracker_;
  SessionId head_session_ = 0;       // memory of the prompt head; 0 = none yet
  std::string head_text_;
  int64_t head_tokens_ = 0;
  std::atomic<SessionId> session_{0};  // the conversation's memory; read by cancel() on any thread
  std::atomic<bool> has_session_{false};
  int64_t memory_tokens_ = 0;
};

}  // namespace m1::agents
