#include "agents/agent_run.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agents/agent_session.h"
#include "agents/registry_tool_runner.h"
#include "tools/builtin_tools.h"

namespace m1::agents {

namespace {

// Project instructions a repository keeps for agents; read verbatim, capped so a huge file cannot
// crowd out the conversation.
std::string project_instructions(const std::string & workspace) {
  constexpr size_t kMaxBytes = 16 * 1024;
  std::ifstream in(workspace + "/AGENTS.md", std::ios::binary);
  if (!in) return "";
  std::string text(kMaxBytes, '\0');
  in.read(text.data(), std::streamsize(kMaxBytes));
  text.resize(size_t(in.gcount()));
  return text;
}

}  // namespace

std::string default_system_prompt(const std::string & workspace) {
  std::string prompt =
      "You are M1, an agent that completes tasks in the workspace " + workspace +
      " by calling tools. Inspect before you change things, make the smallest change that does the task, "
      "and check your work with the tools. Tool results come back as tool messages. When the task is done, "
      "answer briefly without any tool call.";
  std::string instructions = project_instructions(workspace);
  if (!instructions.empty()) prompt += "\n\nProject instructions (AGENTS.md):\n" + instructions;
  return prompt;
}

Expected<AgentRunReport> run_agent(const AgentRunRequest & request, ModelBackend & model,
                                   const std::function<void(AgentLoop *)> & cancel_hook) {
  tools::BuiltinToolOptions tool_options;
  tool_options.persistent_shell = true;
  tools::ToolRegistry registry = tools::builtin_tools(tool_options);
  for (const std::string & name : request.tools)
    if (!registry.find(name)) return Status::error("tool " + name + ": no such tool (built-in tools: bash, python, "
                                                   "str_replace_based_edit_tool, search, apply_patch)");
  tools::ToolContext context;
  context.workspace = request.workspace;
  RegistryToolRunner runner(registry, context, request.tools);

  SessionSetup setup;
  setup.system_prompt = default_system_prompt(request.workspace);
  setup.task = request.task;
  setup.model = request.model_name;
  setup.workspace = request.workspace;
  // Observers see the first messages too: attach them before start() records anything.
  Expected<std::unique_ptr<AgentSession>> session = AgentSession::start(request.store, setup, runner.prompt_tools(),
                                                                        request.observers);
  if (!session.ok()) return session.status();
  // The shell keeps per-session state under the session id (or a fixed one without a store).
  context.session_id = (*session)->id().empty() ? "m1-agent" : (*session)->id();
  RegistryToolRunner session_runner(registry, context, request.tools);

  AgentLoop loop(model, session_runner, (*session)->log(), request.loop);
  if (cancel_hook) cancel_hook(&loop);
  AgentRunReport report;
  report.session_id = (*session)->id();
  report.result = loop.run((*session)->conversation());
  if (cancel_hook) cancel_hook(nullptr);
  // A resume can then continue from the engine's memory instead of prefilling everything again;
  // a model without one (the scripted model) saves nothing and a resume re-prefills.
  if (request.store && !request.snapshot_dir.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(request.snapshot_dir, ignored);
    (void)(*session)->save_memory(model, request.snapshot_dir);
  }
  registry.end_session(context.session_id);
  return report;
}

}  // namespace m1::agents
