// One agent run as the front ends start it (`m1 agent`, `m1 run`): the built-in tools confined to
// a workspace, a new session in the store, the system prompt (plus the workspace's AGENTS.md as
// project instructions, when present), and the loop until it stops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agents/agent_loop.h"
#include "agents/model_backend.h"
#include "agents/session_store.h"

namespace m1::agents {

struct AgentRunRequest {
  std::string task;
  std::string workspace;               // absolute path of an existing folder
  std::string model_name;              // as given to --model, for the session list
  std::vector<std::string> tools;      // tool names offered; empty = every built-in tool
  LoopOptions loop;
  SessionStore * store = nullptr;      // null: nothing persisted
  std::string snapshot_dir;            // where the model's memory is saved at the end (models that keep one)
  std::vector<LoopObserver *> observers;
};

struct AgentRunReport {
  std::string session_id;
  LoopResult result;
};

// The system prompt every run starts with, for `workspace`.
std::string default_system_prompt(const std::string & workspace);

// Runs the agent with `model`. `cancel_hook`, when given, receives the loop once it exists so a
// front end can wire signals to stop_tool / abort_turn (and receives nullptr when it ends).
Expected<AgentRunReport> run_agent(const AgentRunRequest & request, ModelBackend & model,
                                   const std::function<void(AgentLoop *)> & cancel_hook = {});

}  // namespace m1::agents
