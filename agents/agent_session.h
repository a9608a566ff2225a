// A session as front ends use it: the conversation plus its durable log. start() records the
// system prompt and the task; resume() rebuilds the conversation from the store (recording
// outcomes for calls a crash cut off); fork() branches a stored session at any event.
#pragma once

#include <memory>
#include <string>

#include "agents/conversation.h"
#include "agents/event_log.h"
#include "agents/model_backend.h"
#include "agents/session_replay.h"
#include "agents/session_store.h"

namespace m1::agents {

struct SessionSetup {
  std::string system_prompt;  // system prompt and project instructions (may be empty)
  std::string task;           // the first user message
  std::string model;          // what --model said, for the session list
  std::string workspace;
};

class AgentSession {
public:
  // A new session; with a null store the log only reaches observers. The observers are attached
  // before the first messages are recorded, so they see the whole session.
  static Expected<std::unique_ptr<AgentSession>> start(SessionStore * store, const SessionSetup & setup, Json tools,
                                                       const std::vector<LoopObserver *> & observers = {});
  // Continues a stored session. `tools` is the tool list to offer (not part of the log).
  static Expected<std::unique_ptr<AgentSession>> resume(SessionStore & store, const std::string & session_id, Json tools);
  // A new stored session that holds events 1..at_seq of `session_id`, ready to continue.
  static Expected<std::unique_ptr<AgentSession>> fork(SessionStore & store, const std::string & session_id,
                                                      int64_t at_seq, Json tools);

  const std::string & id() const { return log_.session_id(); }
  Conversation & conversation() { return conversation_; }
  EventLog & log() { return log_; }
  int previous_turns() const { return previous_turns_; }  // turns before this process took over
  bool answered() const { return answered_; }
  // The saved model memory the session can continue from (null: none; the model re-prefills).
  const Json & snapshot() const { return snapshot_; }
  // Saves `model`'s memory under `folder` and records it (a "snapshot" event and a snapshots row).
  Status save_memory(ModelBackend & model, const std::string & folder);

  // Records and appends a user message (e.g. the next instruction after an answer).
  Status add_user_message(const std::string & text);

private:
  AgentSession(EventLog log, Conversation conversation) : log_(std::move(log)), conversation_(std::move(conversation)) {}
  static Expected<std::unique_ptr<AgentSession>> from_log(SessionStore & store, const std::string & session_id, Json tools);

  EventLog log_;
  Conversation conversation_;
  int previous_turns_ = 0;
  bool answered_ = false;
  Json snapshot_;
};

}  // namespace m1::agents
