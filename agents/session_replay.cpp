#include "agents/session_replay.h"

#include <map>

#include "agents/turn_format.h"

namespace m1::agents {

namespace {

// The results of the last assistant message's calls, as they arrive (index -> outcome).
struct PendingTurn {
  bool open = false;
  size_t n_outcomes = 0;  // calls + format errors the tool message must hold
  std::vector<ToolCall> calls;
  std::map<size_t, ToolOutcome> outcomes;
  std::map<size_t, bool> started;  // a tool_call event was written for the index
};

void close_turn(PendingTurn & turn, Replay & replay) {
  if (!turn.open) return;
  std::vector<ToolOutcome> results;
  for (size_t i = 0; i < turn.n_outcomes; ++i) {
    auto found = turn.outcomes.find(i);
    if (found != turn.outcomes.end()) {
      results.push_back(found->second);
      continue;
    }
    std::string name = i < turn.calls.size() ? turn.calls[i].name : "tool_calls";
    std::string why = turn.started.count(i)
                          ? "interrupted: the session stopped while this call ran; its effects, if any, are unknown"
                          : "not run: the session stopped before this call ran";
    ToolOutcome outcome{name, why, true, true};
    Json payload{{"index", i}, {"name", name}, {"text", why}, {"is_error", true}, {"cancelled", true}};
    replay.missing_results.push_back(std::move(payload));
    results.push_back(std::move(outcome));
  }
  replay.conversation.append(Message::tool_message(std::move(results)));
  turn = PendingTurn();
}

Status open_turn(const Message & assistant, PendingTurn & turn) {
  size_t n_errors = parse_output(assistant.raw).errors.size();
  if (assistant.tool_calls.empty() && n_errors == 0) return Status();
  if (assistant.aborted) return Status();  // an aborted output's calls never ran
  turn.open = true;
  turn.calls = assistant.tool_calls;
  turn.n_outcomes = assistant.tool_calls.size() + n_errors;
  return Status();
}

Status apply(const Event & event, Replay & replay, PendingTurn & turn) {
  auto where = [&](const Status & s) { return s.with_context("event " + std::to_string(event.seq)); };
  if (event.kind == event_kind::message) {
    Expected<Message> message = message_from_json(event.payload);
    if (!message.ok()) return where(message.status());
    close_turn(turn, replay);
    replay.conversation.append(*message);
    if (message->role == Role::assistant) {
      ++replay.turns;
      M1_RETURN_IF_ERROR(open_turn(*message, turn));
      replay.answered = !turn.open && !message->aborted;
    } else {
      replay.answered = false;
    }
  } else if (event.kind == event_kind::tool_call || event.kind == event_kind::tool_result) {
    auto index = event.payload.find("index");
    if (!turn.open || index == event.payload.end() || !index->is_number_unsigned())
      return where(Status::error(event.kind + " without an open turn or an index"));
    size_t i = index->get<size_t>();
    if (event.kind == event_kind::tool_call) turn.started[i] = true;
    else
      turn.outcomes[i] = {event.payload.value("name", ""), event.payload.value("text", ""),
                          event.payload.value("is_error", false), event.payload.value("cancelled", false)};
  } else if (event.kind == event_kind::compaction) {
    close_turn(turn, replay);
    std::vector<Message> messages;
    for (const Json & m : event.payload.value("messages", Json::array())) {
      Expected<Message> message = message_from_json(m);
      if (!message.ok()) return where(message.status());
      messages.push_back(std::move(*message));
    }
    replay.conversation.replace_history(std::move(messages));
    replay.snapshot = nullptr;  // a memory of the old history no longer matches
  } else if (event.kind == event_kind::snapshot) {
    replay.snapshot = event.payload;
  }
  return Status();  // usage, error and stop events do not change the conversation
}

}  // namespace

Expected<Replay> replay_events(const std::vector<Event> & events, const Json & tools) {
  Replay replay{Conversation(tools), {}, 0, false, nullptr};
  PendingTurn turn;
  for (const Event & event : events) M1_RETURN_IF_ERROR(apply(event, replay, turn));
  close_turn(turn, replay);
  return replay;
}

}  // namespace m1::agents
