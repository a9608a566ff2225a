// The agent loop: generate (streaming) -> parse -> check each call against its tool's schema ->
// approval -> run the calls in order -> append the results as a tool message -> repeat, until the
// model answers without calls, a budget (turns, tokens, wall clock) runs out, or a cancel.
// Every event is recorded (EventLog: store first) before the loop acts on it.
//
// Malformed calls and schema failures go back to the model as tool errors; 3 consecutive outputs
// with format errors, or the same failing call 3 times, stop the loop with a clear reason.
// Cancellation has two levels, both callable from any thread and both keeping the session usable:
// stop_tool() stops the running tool (its partial output goes back to the model marked cancelled,
// the turn goes on); abort_turn() stops generation or the tool and ends the run.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "agents/compaction.h"
#include "agents/conversation.h"
#include "agents/event_log.h"
#include "agents/model_backend.h"
#include "agents/tool_runner.h"

namespace m1::agents {

enum class StopReason { answered, turn_limit, token_limit, time_limit, cancelled, format_errors, repeated_failure,
                        model_error, store_error };
const char * stop_reason_name(StopReason reason);

struct LoopLimits {
  int max_turns = 50;       // model calls per run
  int64_t max_tokens = 0;   // tokens prefilled + generated per run; 0 = no limit
  double max_seconds = 0;   // wall clock per run; 0 = no limit
};

// Asked before each call runs; returning false refuses it (the model is told, with `reason`).
using ApprovalHook = std::function<bool(const ToolCall & call, std::string & reason)>;

struct LoopOptions {
  LoopLimits limits;
  CompactionOptions compaction;
  ApprovalHook approve;                 // empty: every call runs
  int max_consecutive_format_errors = 3;
  int max_repeated_failures = 3;
};

struct LoopResult {
  StopReason reason = StopReason::answered;
  std::string detail;   // one line saying why it stopped
  std::string answer;   // the final visible text
  int turns = 0;        // model calls in this run
  int compactions = 0;
  Usage usage;          // summed over this run
  double seconds = 0;
};

class AgentLoop {
public:
  AgentLoop(ModelBackend & model, ToolRunner & tools, EventLog & log, LoopOptions options = {});

  // Runs until a stop. `conversation` must already hold the system and user messages (record
  // new ones with record_messages first).
  LoopResult run(Conversation & conversation);

  // Records the conversation's initial messages (system, user) as events.
  Status record_messages(const Conversation & conversation, size_t first = 0);

  void stop_tool();   // level 1: the running tool stops, the turn goes on
  void abort_turn();  // level 2: generation or the tool stops and run() returns `cancelled`
  bool tool_running() const { return in_tool_; }

private:
  LoopResult run_turns(Conversation & conversation);
  // One model call and its tool calls; false when the run stops (result says why). An error
  // Status is a store failure: nothing further may happen unrecorded.
  Expected<bool> take_turn(Conversation & conversation, LoopResult & result);
  Expected<std::vector<ToolOutcome>> act_on_calls(const std::vector<ToolCall> & calls,
                                                  const std::vector<std::string> & parse_errors, bool & format_error);
  bool out_of_budget(LoopResult & result) const;
  Status maybe_compact(Conversation & conversation, LoopResult & result, StopReason & failure);
  ToolOutcome run_one(const ToolCall & call);
  bool note_failures(const std::vector<ToolCall> & calls, const std::vector<ToolOutcome> & outcomes, LoopResult & result);
  LoopResult finish(LoopResult result, StopReason reason, std::string detail);

  ModelBackend & model_;
  ToolRunner & tools_;
  EventLog & log_;
  LoopOptions options_;

  // Set from any thread (cancel functions, the deadline watcher); read by the loop's thread.
  std::atomic<bool> tool_cancel_{false};
  std::atomic<bool> turn_aborted_{false};
  std::atomic<bool> deadline_passed_{false};
  std::atomic<bool> in_tool_{false};

  // Owned by the loop's thread.
  std::chrono::steady_clock::time_point started_;
  int consecutive_format_errors_ = 0;
  std::map<std::string, int> failures_;  // call signature -> failures since its last success
};

}  // namespace m1::agents
