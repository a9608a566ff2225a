// The python tool, and the run-to-completion path it shares with bash's one-shot mode.
#include "tools/python_tool.h"

#include "tools/workspace.h"

namespace m1::tools {

namespace {

const char * kDescription =
    "Run Python 3 code in a sandbox (the workspace is the current directory and is writable; no network). "
    "stdout and stderr are returned together, truncated in the middle when long (the full output is kept in a "
    "file named in the result). timeout: seconds, default 120, at most 600.";

Json parameters_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "code": {"type": "string", "minLength": 1, "description": "The Python code to run."},
      "timeout": {"type": "integer", "minimum": 1, "maximum": 600, "description": "Seconds before the run is killed (default 120)."}
    },
    "required": ["code"],
    "additionalProperties": false
  })");
}

}  // namespace

ToolResult run_sandboxed_to_completion(sandbox::Request request, double timeout, const std::string & spill_prefix,
                                       const CommandSettings & settings, const ToolContext & context) {
  auto workspace = Workspace::open(context.workspace);
  if (!workspace) return ToolResult::error(workspace.status().message());
  auto scratch = open_scratch_folder(*workspace, context);
  if (!scratch) return ToolResult::error(scratch.status().message());
  auto spill = OutputSpill::create(*scratch, spill_prefix, settings.max_spill_bytes);
  if (!spill) return ToolResult::error(spill.status().message());
  request.env = sandbox_environment();
  request.cwd = workspace->root();
  request.policy.workspace = workspace->root();
  request.policy.allow_network = settings.allow_network;
  request.limits.wall_seconds = timeout;
  request.limits.memory_bytes = settings.memory_bytes;
  request.limits.max_processes = settings.max_processes;
  // The tool keeps its own merged copy through on_output; the sandbox's capture stays small.
  request.limits.stdout_cap_bytes = request.limits.stderr_cap_bytes = 64 * 1024;
  request.on_output = [&](int, std::string_view bytes) { spill->append(bytes); };
  auto result = sandbox::run(request, context.cancel);
  if (!result) return ToolResult::error("the sandbox could not run the command: " + result.status().message());
  CommandEnd end;
  end.exit_code = result->exit_code;
  end.signal = result->signal;
  end.timed_out = result->timed_out || result->limit == sandbox::LimitHit::wall_time;
  end.cancelled = result->limit == sandbox::LimitHit::cancelled;
  if (result->limit != sandbox::LimitHit::none && !end.timed_out && !end.cancelled) end.limit = sandbox::limit_name(result->limit);
  if (result->seccomp_violation) end.extra_note = "blocked system call: " + *result->seccomp_violation;
  end.wall_seconds = result->wall_seconds;
  end.timeout_seconds = timeout;
  TruncatedOutput output = spill->finish(settings.truncation);
  return command_result(output, *spill, end);
}

PythonTool::PythonTool(CommandSettings settings)
    : settings_(std::move(settings)), spec_{"python", kDescription, parameters_schema()} {}

ToolResult PythonTool::call(const Json & arguments, const ToolContext & context) {
  sandbox::Request request;
  request.argv = {"python3", "-"};
  request.stdin_bytes = arguments["code"].get<std::string>();
  return run_sandboxed_to_completion(std::move(request), timeout_argument(arguments), "python", settings_, context);
}

}  // namespace m1::tools
