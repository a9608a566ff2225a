// One entry of a session's event log, as the store keeps it and as front ends receive it
// (`m1 agent --json` prints one per line). The payload is JSON whose fields depend on the kind.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace m1::agents {

using Json = nlohmann::ordered_json;  // key order kept: payloads read as they were written

// The kinds of event the loop writes (payload fields in the comments).
namespace event_kind {
inline constexpr const char * message = "message";          // a conversation Message (message.h)
inline constexpr const char * tool_call = "tool_call";      // {index, name, arguments} about to run
inline constexpr const char * tool_result = "tool_result";  // {index, name, text, is_error, cancelled}
inline constexpr const char * usage = "usage";              // {prompt, prefilled, reused, generated, ms}
inline constexpr const char * compaction = "compaction";    // {before, after, summary, messages[]}
inline constexpr const char * error = "error";              // {message}
inline constexpr const char * stop = "stop";                // {reason, detail, turns}
inline constexpr const char * snapshot = "snapshot";        // {path, n_tokens, n_messages, end_token}
}  // namespace event_kind

struct Event {
  int64_t seq = 0;     // 1, 2, ... within a session
  std::string kind;
  Json payload;
  double time = 0;     // unix seconds when it was written
};

inline Json event_to_json(const Event & event) {
  Json j;
  j["seq"] = event.seq;
  j["kind"] = event.kind;
  j["time"] = event.time;
  j["payload"] = event.payload;
  return j;
}

}  // namespace m1::agents
