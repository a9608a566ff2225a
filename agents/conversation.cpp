#include "agents/conversation.h"

namespace m1::agents {

std::vector<Message> Conversation::system_messages() const {
  std::vector<Message> system;
  for (const Message & m : messages_)
    if (m.role == Role::system) system.push_back(m);
  return system;
}

size_t Conversation::text_bytes() const {
  size_t bytes = 0;
  for (const Message & m : messages_) {
    bytes += m.text.size() + m.raw.size();
    for (const ToolOutcome & r : m.results) bytes += r.text.size();
  }
  return bytes;
}

}  // namespace m1::agents
