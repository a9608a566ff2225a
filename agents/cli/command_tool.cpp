// `m1 tool call NAME --workspace DIR --args JSON`: runs one built-in tool call, as the agent would,
// and prints the result as one JSON object {"tool", "is_error", "text", "metadata"}.
// Exit status: 0 when the tool succeeded, 1 when it returned an error result (still printed) or
// the call could not be made (one line "m1: tool call: <why>" on stderr).
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agents/cli/command.h"
#include "tools/builtin_tools.h"

namespace m1::cli {

namespace {

struct ToolCallOptions {
  std::string name;
  std::string workspace;
  std::string arguments;
};

int run_tool_call(const ToolCallOptions & options) {
  char resolved[PATH_MAX];
  if (!::realpath(options.workspace.c_str(), resolved))
    return fail("tool call", "--workspace " + options.workspace + ": no such directory");
  tools::Json arguments;
  try {
    arguments = tools::Json::parse(options.arguments);
  } catch (const tools::Json::parse_error & e) {
    return fail("tool call", std::string("--args is not valid JSON: ") + e.what());
  }
  // One process, one call: the shell need not outlive it.
  tools::ToolRegistry registry = tools::builtin_tools({.persistent_shell = false});
  tools::ToolContext context;
  context.workspace = resolved;
  tools::ToolResult result = registry.call(options.name, arguments, context);
  tools::Json out;
  out["tool"] = options.name;
  out["is_error"] = result.is_error;
  out["text"] = result.text;
  out["metadata"] = result.metadata;
  // File contents need not be UTF-8 (e.g. Latin-1): invalid bytes become U+FFFD in the JSON.
  std::string text = out.dump(-1, ' ', false, tools::Json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return result.is_error ? 1 : 0;
}

}  // namespace

void add_tool_command(CLI::App & app, CommandList & commands) {
  CLI::App * tool = app.add_subcommand("tool", "run a built-in tool");
  tool->require_subcommand(1, 1);
  CLI::App * call = tool->add_subcommand("call", "one tool call, result as JSON");
  auto options = std::make_shared<ToolCallOptions>();
  call->add_option("name", options->name, "tool name (bash, python, str_replace_based_edit_tool, search, apply_patch)")
      ->required();
  call->add_option("--workspace", options->workspace, "the folder the tool may use")->required();
  call->add_option("--args", options->arguments, "the arguments, one JSON object")->required();
  commands.push_back({call, [options] { return run_tool_call(*options); }});
}

}  // namespace m1::cli
