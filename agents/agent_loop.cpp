#include "agents/agent_loop.h"

#include <algorithm>
#include <thread>

#include "agents/turn_format.h"

namespace m1::agents {

namespace {

Json outcome_to_json(size_t index, const ToolOutcome & outcome) {
  Json j{{"index", index}, {"name", outcome.name}, {"text", outcome.text}, {"is_error", outcome.is_error}};
  if (outcome.cancelled) j["cancelled"] = true;
  return j;
}

std::string join_lines(const std::vector<std::string> & lines) {
  std::string text;
  for (const std::string & line : lines) text += (text.empty() ? "" : "\n") + line;
  return text;
}

std::string first_line(const std::string & text) { return text.substr(0, text.find('\n')); }

std::string call_signature(const ToolCall & call) { return call.name + " " + call.arguments.dump(); }

Json usage_to_json(int turn, const Usage & usage) {
  return Json{{"turn", turn}, {"prompt", usage.prompt}, {"prefilled", usage.prefilled}, {"reused", usage.reused},
              {"generated", usage.generated}, {"ms", usage.ms}};
}

}  // namespace

const char * stop_reason_name(StopReason reason) {
  switch (reason) {
  case StopReason::answered: return "answered";
  case StopReason::turn_limit: return "turn_limit";
  case StopReason::token_limit: return "token_limit";
  case StopReason::time_limit: return "time_limit";
  case StopReason::cancelled: return "cancelled";
  case StopReason::format_errors: return "format_errors";
  case StopReason::repeated_failure: return "repeated_failure";
  case StopReason::model_error: return "model_error";
  case StopReason::store_error: return "store_error";
  }
  return "?";
}

AgentLoop::AgentLoop(ModelBackend & model, ToolRunner & tools, EventLog & log, LoopOptions options)
    : model_(model), tools_(tools), log_(log), options_(std::move(options)) {}

Status AgentLoop::record_messages(const Conversation & conversation, size_t first) {
  const std::vector<Message> & messages = conversation.messages();
  for (size_t i = first; i < messages.size(); ++i) {
    Expected<Event> event = log_.record(event_kind::message, message_to_json(messages[i]));
    if (!event.ok()) return event.status();
  }
  return Status();
}

void AgentLoop::stop_tool() {
  if (in_tool_) tool_cancel_ = true;
}

void AgentLoop::abort_turn() {
  turn_aborted_ = true;
  tool_cancel_ = true;
  model_.cancel();
}

LoopResult AgentLoop::finish(LoopResult result, StopReason reason, std::string detail) {
  result.reason = reason;
  result.detail = std::move(detail);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  Json payload{{"reason", stop_reason_name(reason)}, {"detail", result.detail}, {"turns", result.turns},
               {"prefilled", result.usage.prefilled}, {"reused", result.usage.reused},
               {"generated", result.usage.generated}, {"seconds", result.seconds}};
  if (reason == StopReason::answered) payload["answer"] = result.answer;
  (void)log_.record(event_kind::stop, std::move(payload));  // a store failure here changes nothing more
  if (log_.store()) (void)log_.store()->set_status(log_.session_id(), stop_reason_name(reason));
  return result;
}

bool AgentLoop::out_of_budget(LoopResult & result) const {
  const LoopLimits & limits = options_.limits;
  if (deadline_passed_ || (limits.max_seconds > 0 &&
                           std::chrono::steady_clock::now() - started_ >= std::chrono::duration<double>(limits.max_seconds))) {
    result.reason = StopReason::time_limit;
    result.detail = "the run's wall-clock budget of " + std::to_string(int(limits.max_seconds)) + " s ran out";
    return true;
  }
  if (limits.max_turns > 0 && result.turns >= limits.max_turns) {
    result.reason = StopReason::turn_limit;
    result.detail = "reached the limit of " + std::to_string(limits.max_turns) + " turns without an answer";
    return true;
  }
  if (limits.max_tokens > 0 && result.usage.prefilled + result.usage.generated >= limits.max_tokens) {
    result.reason = StopReason::token_limit;
    result.detail = "used " + std::to_string(result.usage.prefilled + result.usage.generated) +
                    " tokens, the budget is " + std::to_string(limits.max_tokens);
    return true;
  }
  return false;
}

Status AgentLoop::maybe_compact(Conversation & conversation, LoopResult & result, StopReason & failure) {
  failure = StopReason::model_error;
  Expected<int64_t> tokens = model_.prompt_tokens(conversation);
  if (!tokens.ok()) return tokens.status();
  double context = double(model_.context_tokens());
  if (double(*tokens) <= options_.compaction.trigger_fraction * context) return Status();
  Expected<CompactionResult> compacted =
      compact(conversation, model_, int64_t(options_.compaction.target_fraction * context), options_.compaction);
  if (!compacted.ok()) return compacted.status();
  failure = StopReason::store_error;
  Expected<Event> event = log_.record(event_kind::compaction, compaction_to_json(*compacted));
  if (!event.ok()) return event.status();
  conversation.replace_history(std::move(compacted->messages));
  ++result.compactions;
  return Status();
}

ToolOutcome AgentLoop::run_one(const ToolCall & call) {
  ToolOutcome outcome;
  std::string reason;
  if (options_.approve && !options_.approve(call, reason)) {
    outcome = {call.name, "refused: the user did not approve this call" + (reason.empty() ? "" : ": " + reason), true, false};
    return outcome;
  }
  in_tool_ = true;
  outcome = tools_.run(call, tool_cancel_);
  in_tool_ = false;
  outcome.name = call.name;
  if (tool_cancel_) {
    outcome.cancelled = true;
    outcome.text += deadline_passed_ ? "\n[stopped: the run's time limit passed; output above is partial]"
                                     : "\n[cancelled by the user; output above is partial]";
  }
  return outcome;
}

Expected<std::vector<ToolOutcome>> AgentLoop::act_on_calls(const std::vector<ToolCall> & calls,
                                                           const std::vector<std::string> & parse_errors,
                                                           bool & format_error) {
  std::vector<ToolOutcome> outcomes(calls.size() + parse_errors.size());
  std::vector<bool> runnable(calls.size(), true);
  format_error = !parse_errors.empty();
  auto record_result = [&](size_t i) -> Status {
    return log_.record(event_kind::tool_result, outcome_to_json(i, outcomes[i])).status();
  };
  // Problems found without running anything go back first (the tool message keeps call order).
  for (size_t i = 0; i < calls.size(); ++i) {
    std::vector<std::string> problems = tools_.check(calls[i]);
    if (problems.empty()) continue;
    runnable[i] = false;
    format_error = true;
    outcomes[i] = {calls[i].name, "invalid call, not run:\n" + join_lines(problems), true, false};
    M1_RETURN_IF_ERROR(record_result(i));
  }
  for (size_t k = 0; k < parse_errors.size(); ++k) {
    size_t i = calls.size() + k;
    outcomes[i] = {"tool_calls", "format error, not run: " + parse_errors[k] +
                   "\nEach line inside <tool_calls> must be one JSON object: {\"name\": \"TOOL\", \"arguments\": {...}}",
                   true, false};
    M1_RETURN_IF_ERROR(record_result(i));
  }
  std::string skipped;  // why the remaining calls of this turn do not run
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!runnable[i]) continue;
    if (!skipped.empty()) {
      outcomes[i] = {calls[i].name, "not run: " + skipped, true, true};
      M1_RETURN_IF_ERROR(record_result(i));
      continue;
    }
    Json call{{"index", i}, {"name", calls[i].name}, {"arguments", calls[i].arguments}};
    M1_RETURN_IF_ERROR(log_.record(event_kind::tool_call, std::move(call)).status());
    outcomes[i] = run_one(calls[i]);
    M1_RETURN_IF_ERROR(record_result(i));
    if (outcomes[i].cancelled) {
      skipped = turn_aborted_ ? "the turn was aborted" : deadline_passed_ ? "the run's time limit passed"
                                                                          : "the user stopped an earlier call of this turn";
      if (!turn_aborted_ && !deadline_passed_) tool_cancel_ = false;
    }
  }
  return outcomes;
}

Expected<bool> AgentLoop::take_turn(Conversation & conversation, LoopResult & result) {
  OutputReader reader;
  Expected<ModelOutput> output = model_.generate(conversation, [&](std::string_view piece) {
    for (const OutputDelta & delta : reader.feed(piece)) log_.output(delta);
  });
  for (const OutputDelta & delta : reader.finish()) log_.output(delta);
  if (!output.ok()) {
    M1_RETURN_IF_ERROR(log_.record(event_kind::error, Json{{"message", output.status().message()}}).status());
    result.reason = StopReason::model_error;
    result.detail = output.status().message();
    return false;
  }
  ++result.turns;
  result.usage += output->usage;
  M1_RETURN_IF_ERROR(log_.record(event_kind::usage, usage_to_json(result.turns, output->usage)).status());

  ParsedOutput parsed = parse_output(output->text);
  Message assistant;
  assistant.role = Role::assistant;
  assistant.raw = output->text;
  assistant.reasoning = parsed.reasoning;
  assistant.text = parsed.text;
  for (const ParsedCall & call : parsed.calls) assistant.tool_calls.push_back({call.name, call.arguments});
  assistant.aborted = output->cancelled;
  M1_RETURN_IF_ERROR(log_.record(event_kind::message, message_to_json(assistant)).status());
  conversation.append(assistant);
  if (output->cancelled) {
    result.reason = deadline_passed_ ? StopReason::time_limit : StopReason::cancelled;
    result.detail = deadline_passed_ ? "the run's wall-clock budget ran out during generation"
                                     : "the user aborted the turn during generation";
    return false;
  }
  if (parsed.calls.empty() && parsed.errors.empty()) {
    result.answer = parsed.text;
    result.reason = StopReason::answered;
    result.detail = "the model answered without tool calls";
    return false;
  }
  bool format_error = false;
  Expected<std::vector<ToolOutcome>> outcomes = act_on_calls(assistant.tool_calls, parsed.errors, format_error);
  if (!outcomes.ok()) return outcomes.status();
  conversation.append(Message::tool_message(*outcomes));
  if (turn_aborted_ || deadline_passed_) {
    result.reason = turn_aborted_ ? StopReason::cancelled : StopReason::time_limit;
    result.detail = turn_aborted_ ? "the user aborted the turn during a tool call"
                                  : "the run's wall-clock budget ran out during a tool call";
    return false;
  }
  if (!format_error) {
    consecutive_format_errors_ = 0;
  } else if (++consecutive_format_errors_ >= options_.max_consecutive_format_errors) {
    const ToolOutcome & last = *std::find_if(outcomes->rbegin(), outcomes->rend(), [](const ToolOutcome & o) { return o.is_error; });
    result.reason = StopReason::format_errors;
    result.detail = std::to_string(consecutive_format_errors_) + " consecutive model outputs had malformed or invalid "
                    "tool calls; last: " + first_line(last.text.substr(last.text.find(':') + 2));
    return false;
  }
  return !note_failures(assistant.tool_calls, *outcomes, result);
}

LoopResult AgentLoop::run_turns(Conversation & conversation) {
  LoopResult result;
  for (;;) {
    if (turn_aborted_) return finish(result, StopReason::cancelled, "the user aborted the turn");
    if (out_of_budget(result)) return finish(result, result.reason, result.detail);
    StopReason failure = StopReason::store_error;
    Status compacted = maybe_compact(conversation, result, failure);
    if (!compacted.ok()) return finish(result, failure, compacted.message());
    Expected<bool> more = take_turn(conversation, result);
    if (!more.ok()) return finish(result, StopReason::store_error, "the session store failed: " + more.status().message());
    if (!*more) return finish(result, result.reason, result.detail);
  }
}

bool AgentLoop::note_failures(const std::vector<ToolCall> & calls, const std::vector<ToolOutcome> & outcomes,
                              LoopResult & result) {
  for (size_t i = 0; i < calls.size() && i < outcomes.size(); ++i) {
    std::string key = call_signature(calls[i]);
    if (!outcomes[i].is_error || outcomes[i].cancelled) {
      failures_.erase(key);
      continue;
    }
    if (++failures_[key] >= options_.max_repeated_failures) {
      result.reason = StopReason::repeated_failure;
      result.detail = "the call " + call_signature(calls[i]).substr(0, 200) + " failed " +
                      std::to_string(failures_[key]) + " times; last error: " + first_line(outcomes[i].text);
      return true;
    }
  }
  return false;
}

LoopResult AgentLoop::run(Conversation & conversation) {
  started_ = std::chrono::steady_clock::now();
  tool_cancel_ = turn_aborted_ = deadline_passed_ = false;
  consecutive_format_errors_ = 0;
  failures_.clear();

  // The deadline watcher cancels generation or the running tool when the wall clock runs out.
  std::mutex mutex;
  std::condition_variable wake;
  bool done = false;
  std::thread watcher;
  if (options_.limits.max_seconds > 0)
    watcher = std::thread([&] {
      std::unique_lock lock(mutex);
      if (!wake.wait_for(lock, std::chrono::duration<double>(options_.limits.max_seconds), [&] { return done; })) {
        deadline_passed_ = true;
        tool_cancel_ = true;
        model_.cancel();
      }
    });
  LoopResult result = run_turns(conversation);
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  wake.notify_all();
  if (watcher.joinable()) watcher.join();
  return result;
}

}  // namespace m1::agents
