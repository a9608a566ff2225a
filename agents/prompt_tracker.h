// Tracks which part of a conversation's prompt a model's memory already holds, and renders only
// the rest: each turn appends the closing of the last assistant message, the messages after it and
// the generation prompt. A replaced history (compaction: a new epoch), or an assistant message
// that never made it into the conversation, means a restart from the prompt head, whose memory
// (the system-prompt snapshot) is reusable when the head text is unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "agents/conversation.h"

namespace m1::agents {

class PromptTracker {
public:
  struct Step {
    bool restart = false;  // the memory must start over: `head` then `text`
    std::string head;      // on restart: the prompt head (system block + tool list)
    bool head_unchanged = false;  // on restart: `head` equals the head of the previous memory
    std::string text;      // what to append after the memory (or after the head on restart)
  };

  // What to append so the memory holds `conversation`'s whole prompt and the generation prompt.
  Step next(const Conversation & conversation) const;
  // Records that `step` was appended for `conversation` and the model then generated an output
  // (which the caller appends to the conversation as the next assistant message); whether
  // generation ended on the end-of-sentence token, which is then already in the memory.
  void generated(const Conversation & conversation, const Step & step, bool end_token_in_memory);
  // Declares that the memory holds the first `n_messages` messages of `conversation` (the last of
  // them an assistant output), as a restored snapshot does.
  void assume(const Conversation & conversation, size_t n_messages, bool end_token_in_memory);
  size_t messages_in_memory() const { return valid_ ? n_consumed_ : 0; }
  bool end_token_in_memory() const { return end_token_in_memory_; }
  // Forgets the memory (it was cancelled or lost): the next step is a restart.
  void reset() { valid_ = false; }

private:
  bool valid_ = false;
  uint64_t epoch_ = 0;
  size_t n_consumed_ = 0;  // messages in memory, counting the assistant message being generated
  std::string head_;       // the head the memory starts with
  bool end_token_in_memory_ = false;
};

}  // namespace m1::agents
