// What the agent loop needs from the tools: the list the prompt offers, a check of one parsed
// call (unknown tool, arguments failing the schema) and running a checked call, cancellably.
// RegistryToolRunner (registry_tool_runner.h) implements it over tools::ToolRegistry.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "agents/message.h"

namespace m1::agents {

class ToolRunner {
public:
  virtual ~ToolRunner() = default;
  // [{name, description, parameters}, ...] in the order the prompt lists them.
  virtual Json prompt_tools() const = 0;
  // Problems with a call, one line each (empty: it may run).
  virtual std::vector<std::string> check(const ToolCall & call) const = 0;
  // Runs a checked call. Setting *cancel stops it: the outcome then holds the output so far.
  virtual ToolOutcome run(const ToolCall & call, const std::atomic<bool> & cancel) = 0;
};

}  // namespace m1::agents
