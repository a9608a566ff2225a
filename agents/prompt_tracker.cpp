#include "agents/prompt_tracker.h"

#include "agents/turn_format.h"

namespace m1::agents {

namespace {

std::string render_from(const Conversation & conversation, size_t first) {
  std::string text;
  const std::vector<Message> & messages = conversation.messages();
  for (size_t i = first; i < messages.size(); ++i)
    if (messages[i].role != Role::system) text += render_message(messages[i]);
  return text + generation_prompt();
}

}  // namespace

PromptTracker::Step PromptTracker::next(const Conversation & conversation) const {
  Step step;
  const std::vector<Message> & messages = conversation.messages();
  bool continues = valid_ && epoch_ == conversation.epoch() && n_consumed_ >= 1 &&
                   messages.size() >= n_consumed_ && messages[n_consumed_ - 1].role == Role::assistant;
  if (continues) {
    step.text = assistant_message_end(end_token_in_memory_) + render_from(conversation, n_consumed_);
    return step;
  }
  step.restart = true;
  step.head = render_prompt_head(conversation.system_messages(), conversation.tools());
  step.head_unchanged = !head_.empty() && step.head == head_;
  step.text = render_from(conversation, 0);
  return step;
}

void PromptTracker::generated(const Conversation & conversation, const Step & step, bool end_token_in_memory) {
  end_token_in_memory_ = end_token_in_memory;
  if (step.restart) head_ = step.head;
  valid_ = true;
  epoch_ = conversation.epoch();
  n_consumed_ = conversation.messages().size() + 1;
}

void PromptTracker::assume(const Conversation & conversation, size_t n_messages, bool end_token_in_memory) {
  valid_ = true;
  epoch_ = conversation.epoch();
  n_consumed_ = n_messages;
  end_token_in_memory_ = end_token_in_memory;
  head_ = render_prompt_head(conversation.system_messages(), conversation.tools());
}

}  // namespace m1::agents
