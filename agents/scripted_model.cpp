#include "agents/scripted_model.h"

#include <chrono>
#include <fstream>
#include <sstream>

namespace m1::agents {

ScriptedModel::ScriptedModel(std::vector<std::string> outputs, std::string name, ScriptedModelOptions options)
    : name_(std::move(name)), options_(options) {
  auto list = std::make_shared<std::vector<std::string>>(std::move(outputs));
  auto next = std::make_shared<size_t>(0);
  std::string shown = name_;
  script_ = [list, next, shown](const Conversation &) -> Expected<std::string> {
    if (*next >= list->size())
      return Status::error(shown + ": no output left for model call " + std::to_string(*next + 1) +
                           " (the script has " + std::to_string(list->size()) + ")");
    return (*list)[(*next)++];
  };
}

ScriptedModel::ScriptedModel(Script script, std::string name, ScriptedModelOptions options)
    : script_(std::move(script)), name_(std::move(name)), options_(options) {}

Expected<std::unique_ptr<ScriptedModel>> ScriptedModel::from_file(const std::string & path, ScriptedModelOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot read the script");
  std::stringstream buffer;
  buffer << in.rdbuf();
  Json json = Json::parse(buffer.str(), nullptr, false);
  if (json.is_discarded()) return Status::error(path + ": not valid JSON");
  if (!json.is_array()) return Status::error(path + ": expected a JSON array of assistant outputs");
  std::vector<std::string> outputs;
  for (size_t i = 0; i < json.size(); ++i) {
    if (!json[i].is_string())
      return Status::error(path + ": element " + std::to_string(i) + ": expected a string, got " + json[i].type_name());
    outputs.push_back(json[i].get<std::string>());
  }
  return std::make_unique<ScriptedModel>(std::move(outputs), "script:" + path, options);
}

Expected<int64_t> ScriptedModel::prompt_tokens(const Conversation & conversation) {
  PromptTracker::Step step = tracker_.next(conversation);
  if (step.restart) return int64_t(step.head.size() + step.text.size());
  return memory_tokens_ + int64_t(step.text.size());
}

Expected<ModelOutput> ScriptedModel::generate(const Conversation & conversation, const TextCallback & on_text) {
  auto start = std::chrono::steady_clock::now();
  cancel_requested_ = false;
  ++calls_;
  PromptTracker::Step step = tracker_.next(conversation);
  ModelOutput output;
  if (step.restart) {
    int64_t head = int64_t(step.head.size());
    output.usage.reused = step.head_unchanged ? head : 0;
    output.usage.prefilled = int64_t(step.text.size()) + (step.head_unchanged ? 0 : head);
    memory_tokens_ = head + int64_t(step.text.size());
  } else {
    output.usage.reused = memory_tokens_;
    output.usage.prefilled = int64_t(step.text.size());
    memory_tokens_ += int64_t(step.text.size());
  }
  output.usage.prompt = memory_tokens_;
  if (memory_tokens_ > options_.context_tokens)
    return Status::error(name_ + ": the prompt has " + std::to_string(memory_tokens_) + " tokens, over the context of " +
                         std::to_string(options_.context_tokens));
  Expected<std::string> text = script_(conversation);
  if (!text.ok()) return text.status();
  for (size_t at = 0; at < text->size(); at += options_.stream_chunk_bytes) {
    if (cancel_requested_) {
      output.cancelled = true;
      break;
    }
    std::string_view piece = std::string_view(*text).substr(at, options_.stream_chunk_bytes);
    output.text += piece;
    if (on_text) on_text(piece);
  }
  output.usage.generated = int64_t(output.text.size());
  memory_tokens_ += output.usage.generated;
  if (output.cancelled) tracker_.reset();
  else tracker_.generated(conversation, step, false);  // a script's text has no end token
  output.usage.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return output;
}

bool is_script_model(const std::string & model) { return model.rfind("script:", 0) == 0; }

std::string script_path(const std::string & model) { return model.substr(std::string("script:").size()); }

}  // namespace m1::agents
