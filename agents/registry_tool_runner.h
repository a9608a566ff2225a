// The agent loop's ToolRunner over the tools layer: the registry's tools, listed for the prompt,
// checked against their JSON Schemas (the tools layer's validator) and run with a ToolContext
// for the session's workspace (the shell and python tools run inside the sandbox).
#pragma once

#include "agents/tool_runner.h"
#include "tools/registry.h"

namespace m1::agents {

class RegistryToolRunner : public ToolRunner {
public:
  // `context` gives the workspace, scratch folder and session id; its cancel flag is replaced
  // per call. The registry must outlive the runner.
  // `offered` limits the tools to these names (empty: all of the registry's).
  RegistryToolRunner(const tools::ToolRegistry & registry, tools::ToolContext context,
                     std::vector<std::string> offered = {})
      : registry_(registry), context_(std::move(context)), offered_(std::move(offered)) {}

  Json prompt_tools() const override;
  std::vector<std::string> check(const ToolCall & call) const override;
  ToolOutcome run(const ToolCall & call, const std::atomic<bool> & cancel) override;

private:
  std::vector<std::string> names() const;  // the offered tools, in the registry's order
  const tools::Tool * find(const std::string & name) const;

  const tools::ToolRegistry & registry_;
  tools::ToolContext context_;
  std::vector<std::string> offered_;
};

}  // namespace m1::agents
