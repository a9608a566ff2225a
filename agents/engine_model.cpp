#include "agents/engine_model.h"

#include <chrono>

#include "agents/turn_format.h"
#include "runtime/engine_text.h"

namespace m1::agents {

EngineModel::EngineModel(std::shared_ptr<Engine> engine, std::string name, EngineModelOptions options)
    : engine_(std::move(engine)), name_(std::move(name)), options_(std::move(options)) {}

EngineModel::~EngineModel() {
  if (has_session_) (void)engine_->close_session(session_);
  if (head_session_) (void)engine_->close_session(head_session_);
}

Expected<std::unique_ptr<EngineModel>> EngineModel::open(const std::string & model_dir, EngineModelOptions options) {
  EngineOptions engine_options;
  engine_options.model_dir = model_dir;
  Expected<std::unique_ptr<Engine>> engine = Engine::open(engine_options);
  if (!engine.ok()) return engine.status();
  if (!(*engine)->text()) return Status::error(model_dir + ": the model has no tokenizer (tokenizer.json); the agent needs one");
  return std::make_unique<EngineModel>(std::shared_ptr<Engine>(std::move(*engine)), model_dir, std::move(options));
}

Expected<std::vector<Token>> EngineModel::encode(std::string_view text) const {
  if (!engine_->text()) return Status::error(name_ + ": the model has no tokenizer");
  return engine_->text()->encode(text);
}

Expected<int64_t> EngineModel::count_tokens(std::string_view text) {
  Expected<std::vector<Token>> tokens = encode(text);
  if (!tokens.ok()) return tokens.status();
  return int64_t(tokens->size());
}

Expected<int64_t> EngineModel::prompt_tokens(const Conversation & conversation) {
  PromptTracker::Step step = tracker_.next(conversation);
  Expected<int64_t> text = count_tokens(step.text);
  if (!text.ok()) return text.status();
  if (!step.restart) return memory_tokens_ + *text;
  Expected<int64_t> head = count_tokens(step.head);
  if (!head.ok()) return head.status();
  return *head + *text;
}

Expected<std::vector<Token>> EngineModel::prepare(const PromptTracker::Step & step, Usage & usage) {
  if (!step.restart) {
    usage.reused = memory_tokens_;
    return encode(step.text);
  }
  // A restart: fork the head's memory (the system-prompt snapshot), building it when new.
  if (!head_session_ || head_text_ != step.head) {
    if (head_session_) (void)engine_->close_session(head_session_);
    Expected<std::vector<Token>> head = encode(step.head);
    if (!head.ok()) return head.status();
    head_session_ = engine_->create_session();
    M1_RETURN_IF_ERROR(engine_->append(head_session_, *head));
    head_text_ = step.head;
    head_tokens_ = int64_t(head->size());
    usage.prefilled += head_tokens_;
  } else {
    usage.reused = head_tokens_;
  }
  if (has_session_) (void)engine_->close_session(session_);
  Expected<SessionId> fork = engine_->fork(head_session_);
  if (!fork.ok()) return fork.status();
  session_ = *fork;
  has_session_ = true;
  memory_tokens_ = head_tokens_;
  return encode(step.text);
}

Expected<ModelOutput> EngineModel::generate(const Conversation & conversation, const TextCallback & on_text) {
  auto start = std::chrono::steady_clock::now();
  PromptTracker::Step step = tracker_.next(conversation);
  ModelOutput output;
  Expected<std::vector<Token>> tokens = prepare(step, output.usage);
  if (!tokens.ok()) return tokens.status();
  output.usage.prefilled += int64_t(tokens->size());
  memory_tokens_ += int64_t(tokens->size());
  output.usage.prompt = memory_tokens_;
  if (memory_tokens_ >= options_.context_tokens)
    return Status::error(name_ + ": the prompt has " + std::to_string(memory_tokens_) + " tokens, the context is " +
                         std::to_string(options_.context_tokens));
  Status appended = engine_->append(session_, *tokens);
  if (!appended.ok()) {
    tracker_.reset();
    return appended;
  }
  GenerateRequest request = options_.request;
  request.max_tokens = int(std::min<int64_t>(request.max_tokens, options_.context_tokens - memory_tokens_));
  Expected<GenerateResult> result = engine_->generate(session_, request, [&](const TokenEvent & event) {
    if (!event.text.empty() && on_text) on_text(event.text);
  });
  if (!result.ok()) {
    tracker_.reset();
    return result.status();
  }
  output.text = result->text;
  output.usage.generated = int64_t(result->tokens.size());
  memory_tokens_ += output.usage.generated;
  output.cancelled = result->finish == FinishReason::cancelled;
  output.end_token = result->finish == FinishReason::eos;
  if (output.cancelled) tracker_.reset();
  else tracker_.generated(conversation, step, output.end_token);
  output.usage.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return output;
}

void EngineModel::cancel() {
  if (has_session_) engine_->cancel(session_);
}

Expected<Json> EngineModel::save_memory(const std::string & path) {
  if (!has_session_ || tracker_.messages_in_memory() == 0)
    return Status::error(name_ + ": no conversation in memory to save");
  M1_RETURN_IF_ERROR(engine_->save(session_, path));
  return Json{{"path", path}, {"n_tokens", memory_tokens_}, {"n_messages", tracker_.messages_in_memory()},
              {"end_token", tracker_.end_token_in_memory()}};
}

Status EngineModel::restore_memory(const Json & snapshot, const Conversation & conversation) {
  std::string path = snapshot.value("path", "");
  size_t n_messages = snapshot.value("n_messages", size_t(0));
  const std::vector<Message> & messages = conversation.messages();
  if (n_messages == 0 || n_messages > messages.size() || messages[n_messages - 1].role != Role::assistant)
    return Status::error(path + ": the snapshot does not match the conversation (" + std::to_string(n_messages) +
                         " messages in memory, the conversation has " + std::to_string(messages.size()) + ")");
  Expected<SessionId> loaded = engine_->load(path);
  if (!loaded.ok()) return loaded.status();
  if (has_session_) (void)engine_->close_session(session_);
  session_ = *loaded;
  has_session_ = true;
  memory_tokens_ = snapshot.value("n_tokens", int64_t(0));
  tracker_.assume(conversation, n_messages, snapshot.value("end_token", false));
  return Status();
}

Expected<std::string> EngineModel::summarize(const std::string & request) {
  // Outside the conversation's memory: a session of its own, closed afterwards.
  std::vector<Message> messages{Message::system_message("You write short, factual summaries."),
                                Message::user_message(request)};
  Expected<std::vector<Token>> tokens = encode(render_prompt(messages, Json::array()));
  if (!tokens.ok()) return tokens.status();
  SessionId session = engine_->create_session();
  Status appended = engine_->append(session, *tokens);
  GenerateRequest generate = options_.request;
  generate.max_tokens = options_.summary_max_tokens;
  Expected<GenerateResult> result = appended.ok() ? engine_->generate(session, generate)
                                                  : Expected<GenerateResult>(appended);
  (void)engine_->close_session(session);
  if (!result.ok()) return result.status();
  return parse_output(result->text).text;
}

}  // namespace m1::agents
