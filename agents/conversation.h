// The conversation an agent holds: the tool list offered to the model and the messages so far.
// Messages are only appended, except when compaction replaces the history; the epoch counts
// those replacements so a model backend knows its memory no longer matches and must restart.
#pragma once

#include <cstdint>
#include <vector>

#include "agents/message.h"

namespace m1::agents {

class Conversation {
public:
  explicit Conversation(Json tools = Json::array()) : tools_(std::move(tools)) {}

  // The tools as the prompt lists them: [{name, description, parameters}, ...].
  const Json & tools() const { return tools_; }
  const std::vector<Message> & messages() const { return messages_; }
  uint64_t epoch() const { return epoch_; }

  void append(Message message) { messages_.push_back(std::move(message)); }
  void replace_history(std::vector<Message> messages) {
    messages_ = std::move(messages);
    ++epoch_;
  }
  std::vector<Message> system_messages() const;
  // Total bytes of message text (a size measure for tests and compaction targets).
  size_t text_bytes() const;

private:
  Json tools_;
  std::vector<Message> messages_;
  uint64_t epoch_ = 0;
};

}  // namespace m1::agents
