// Rebuilds a conversation from a session's event log, for resume and fork: messages in order,
// tool results gathered into tool messages (by call index), compactions replacing the history.
// A turn cut off by a crash leaves calls without results: they come back as "interrupted"
// outcomes, which the caller records so the log and the conversation agree again.
#pragma once

#include <vector>

#include "agents/conversation.h"
#include "agents/event.h"

namespace m1::agents {

struct Replay {
  Conversation conversation;
  std::vector<Json> missing_results;  // tool_result payloads to record before going on
  int turns = 0;                      // assistant messages seen
  bool answered = false;              // the last message is an assistant answer without calls
  Json snapshot;                      // the last "snapshot" event still valid (no compaction since), or null
};

// `tools` is the tool list for the prompt (it is not part of the log).
Expected<Replay> replay_events(const std::vector<Event> & events, const Json & tools);

}  // namespace m1::agents
