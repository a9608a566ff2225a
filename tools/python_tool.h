// python: runs a code string with python3 in the sandbox (the code arrives on stdin, so tracebacks
// name "<stdin>"), with the same timeout, truncation and full-output file as bash.
#pragma once

#include "sandbox/sandbox.h"
#include "tools/sandboxed_command.h"
#include "tools/tool.h"

namespace m1::tools {

class PythonTool : public Tool {
public:
  explicit PythonTool(CommandSettings settings = {});
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext & context) override;

private:
  CommandSettings settings_;
  ToolSpec spec_;
};

// Runs `request` to completion with its merged output spilled and truncated; shared by bash's
// one-shot mode and python.
ToolResult run_sandboxed_to_completion(sandbox::Request request, double timeout, const std::string & spill_prefix,
                                       const CommandSettings & settings, const ToolContext & context);

}  // namespace m1::tools
