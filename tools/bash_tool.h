// bash: runs a command with bash in the sandbox (sandbox/sandbox.h), with a timeout (default
// 120 s, at most 600 s). Output (stdout and stderr merged, in order) is truncated head + tail for
// the model; the full output is kept in the scratch folder, and the result names the file.
// Persistent mode keeps one shell per session, so cwd and environment carry over between calls;
// `restart: true` starts a fresh one. One-shot mode runs every call in a fresh shell.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "sandbox/sandbox.h"
#include "tools/sandboxed_command.h"
#include "tools/tool.h"

namespace m1::tools {

class BashTool : public Tool {
public:
  BashTool(bool persistent, CommandSettings settings = {});
  ~BashTool() override;
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext & context) override;
  void end_session(const std::string & session_id) override;

  // Longer commands are refused (the kernel's limit on one argument is 128 KiB).
  static constexpr size_t kMaxCommandBytes = 100 * 1024;

private:
  struct Shell {
    std::mutex busy;  // one command at a time per shell
    std::unique_ptr<sandbox::Process> process;
    std::string workspace;
  };

  ToolResult run_once(const std::string & command, double timeout, const ToolContext & context);
  ToolResult run_in_shell(const std::string & command, double timeout, bool restart, const ToolContext & context);
  std::shared_ptr<Shell> shell_for(const std::string & session_id);
  sandbox::Request base_request(const std::string & workspace_root) const;

  bool persistent_;
  CommandSettings settings_;
  ToolSpec spec_;
  std::mutex shells_mutex_;                                  // guards shells_
  std::map<std::string, std::shared_ptr<Shell>> shells_;     // by session id
};

}  // namespace m1::tools
