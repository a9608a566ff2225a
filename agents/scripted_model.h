// The scripted model: replays assistant outputs written in advance, for tests, examples and
// demos. Either a list (one output per model call, in order; `--model script:FILE.json`, FILE a
// JSON array of output texts in M1's format) or a function of the conversation.
//
// It keeps the same prompt bookkeeping as the engine (PromptTracker): each call "prefills" only
// the newly rendered suffix, and a restart after compaction reuses the prompt head. Its tokens
// are bytes of the rendered prompt (a byte-level tokenizer without merges), so counts are exact
// and comparable between runs, not comparable with a real tokenizer's.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agents/model_backend.h"
#include "agents/prompt_tracker.h"

namespace m1::agents {

struct ScriptedModelOptions {
  int64_t context_tokens = 256 * 1024;
  size_t stream_chunk_bytes = 16;  // outputs are streamed in pieces this size
  // Answers compaction's summary requests when set (tests of model-written summaries).
  std::function<Expected<std::string>(const std::string & request)> summarizer;
};

class ScriptedModel : public ModelBackend {
public:
  using Script = std::function<Expected<std::string>(const Conversation &)>;

  ScriptedModel(std::vector<std::string> outputs, std::string name, ScriptedModelOptions options = {});
  ScriptedModel(Script script, std::string name, ScriptedModelOptions options = {});
  // Reads a JSON array of strings. Errors name the file and the offending element.
  static Expected<std::unique_ptr<ScriptedModel>> from_file(const std::string & path, ScriptedModelOptions options = {});

  std::string name() const override { return name_; }
  int64_t context_tokens() const override { return options_.context_tokens; }
  Expected<int64_t> prompt_tokens(const Conversation & conversation) override;
  Expected<ModelOutput> generate(const Conversation & conversation, const TextCallback & on_text) override;
  void cancel() override { cancel_requested_ = true; }
  Expected<int64_t> count_tokens(std::string_view text) override { return int64_t(text.size()); }
  bool writes_summaries() const override { return bool(options_.summarizer); }
  Expected<std::string> summarize(const std::string & request) override { return options_.summarizer(request); }

  int calls() const { return calls_; }
  int64_t memory_tokens() const { return memory_tokens_; }

private:
  Script script_;
  std::string name_;
  ScriptedModelOptions options_;
  std::atomic<bool> cancel_requested_{false};
  PromptTracker tracker_;      // what the simulated memory holds
  int64_t memory_tokens_ = 0;  // tokens (bytes) in the simulated memory
  int calls_ = 0;
};

// `--model` values: "script:FILE.json" selects the scripted model.
bool is_script_model(const std::string & model);
std::string script_path(const std::string & model);

}  // namespace m1::agents
