// The conversation's messages: system, user, assistant (reasoning, visible text, tool calls, and
// the raw output exactly as generated) and tool results. Messages are stored in the session log
// as JSON (the payload of "message" events) and rendered to the prompt with M1's format.
#pragma once

#include <string>
#include <vector>

#include "agents/event.h"
#include "common/status.h"

namespace m1::agents {

enum class Role { system, user, assistant, tool };
const char * role_name(Role role);

struct ToolCall {
  std::string name;
  Json arguments = Json::object();
};

// One call's outcome as the model reads it back.
struct ToolOutcome {
  std::string name;
  std::string text;
  bool is_error = false;
  bool cancelled = false;  // the user stopped the tool; `text` holds the output up to then
};

struct Message {
  Role role = Role::user;
  std::string text;                  // system / user text; assistant: the visible answer
  std::string reasoning;             // assistant: the <think> part
  std::vector<ToolCall> tool_calls;  // assistant: the calls that parsed
  std::string raw;                   // assistant: the whole output, rendered verbatim
  std::vector<ToolOutcome> results;  // tool: one per call, in call order
  bool summary = false;              // user: written by compaction, not by the user
  bool aborted = false;              // assistant: generation was cut off by a cancel

  static Message system_message(std::string text);
  static Message user_message(std::string text);
  static Message tool_message(std::vector<ToolOutcome> results);
};

Json message_to_json(const Message & message);
// Fails with the field that is missing or has the wrong type.
Expected<Message> message_from_json(const Json & json);

}  // namespace m1::agents
