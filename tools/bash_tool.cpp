// The bash tool: one-shot runs through sandbox::run, persistent shells through sandbox::start.
// A persistent shell receives each command inside a quoted here-document that it evals, followed
// by a printf of a random end marker with the exit status; the marker tells where the command's
// output ends. Output is read as it arrives and spilled like a one-shot run's.
#include "tools/bash_tool.h"

#include <chrono>
#include <random>

#include "tools/python_tool.h"
#include "tools/workspace.h"

namespace m1::tools {

namespace {

const char * kDescription =
    "Run a bash command in a sandbox: the workspace is the current directory and is writable, the rest of the "
    "file system is read-only, there is no network. stdout and stderr are returned together, truncated in the "
    "middle when long (the full output is kept in a file named in the result), followed by the exit code. "
    "timeout: seconds, default 120, at most 600; run long jobs in the background. The shell persists between "
    "calls (cd and exported variables carry over); restart: true starts a fresh shell.";

Json parameters_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "command": {"type": "string", "description": "The bash command to run."},
      "timeout": {"type": "integer", "minimum": 1, "maximum": 600, "description": "Seconds before the command is killed (default 120)."},
      "restart": {"type": "boolean", "description": "Start a fresh shell first (cwd and environment are reset)."}
    },
    "additionalProperties": false
  })");
}

// Limits of a persistent shell's sandbox as a whole (each command has its own timeout).
constexpr double kShellLifetimeSeconds = 12 * 3600;
constexpr auto kReadSlice = std::chrono::milliseconds(100);  // how often cancellation is checked

std::string random_hex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char text[20];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(rng()));
  return text;
}

// What the shell reads for one command. The here-document's delimiter is random, so no command
// text can end it early; `eval` makes a syntax error a failed command, not a broken shell.
std::string shell_script(const std::string & command, const std::string & nonce) {
  std::string delimiter = "M1_COMMAND_" + nonce;
  return "IFS= read -r -d '' __m1_command <<'" + delimiter + "'\n" + command + "\n" + delimiter + "\n" +
         "eval \"$__m1_command\" </dev/null 2>&1\n" + "printf '\\n__M1_DONE_" + nonce + "_%s__\\n' \"$?\"\n";
}

}  // namespace

BashTool::BashTool(bool persistent, CommandSettings settings)
    : persistent_(persistent), settings_(std::move(settings)), spec_{"bash", kDescription, parameters_schema()} {
  if (!persistent_)
    spec_.description = std::string(kDescription).substr(0, std::string(kDescription).find(" The shell persists")) +
                        " Each call runs in a fresh shell.";
}

BashTool::~BashTool() = default;

ToolResult BashTool::call(const Json & arguments, const ToolContext & context) {
  std::string command = arguments.value("command", std::string());
  bool restart = arguments.value("restart", false);
  if (command.empty() && !restart)
    return ToolResult::error("parameter `command` is required (or `restart: true` to start a fresh shell)");
  if (command.size() > kMaxCommandBytes)
    return ToolResult::error("the command is " + std::to_string(command.size()) + " bytes, more than " +
                             std::to_string(kMaxCommandBytes) + "; write a script file with the editor and run it");
  double timeout = timeout_argument(arguments);
  if (persistent_) return run_in_shell(command, timeout, restart, context);
  if (command.empty()) return ToolResult::success("Each call runs in a fresh shell; there is nothing to restart.");
  return run_once(command, timeout, context);
}

ToolResult BashTool::run_once(const std::string & command, double timeout, const ToolContext & context) {
  sandbox::Request request;
  request.argv = {"bash", "-c", command};
  return run_sandboxed_to_completion(std::move(request), timeout, "bash", settings_, context);
}

std::shared_ptr<BashTool::Shell> BashTool::shell_for(const std::string & session_id) {
  std::lock_guard<std::mutex> lock(shells_mutex_);
  std::shared_ptr<Shell> & shell = shells_[session_id];
  if (!shell) shell = std::make_shared<Shell>();
  return shell;
}

void BashTool::end_session(const std::string & session_id) {
  std::shared_ptr<Shell> shell;
  {
    std::lock_guard<std::mutex> lock(shells_mutex_);
    auto it = shells_.find(session_id);
    if (it == shells_.end()) return;
    shell = it->second;
    shells_.erase(it);
  }
  std::lock_guard<std::mutex> busy(shell->busy);
  shell->process.reset();  // kills the sandbox
}

ToolResult BashTool::run_in_shell(const std::string & command, double timeout, bool restart,
                                  const ToolContext & context) {
  auto workspace = Workspace::open(context.workspace);
  if (!workspace) return ToolResult::error(workspace.status().message());
  std::shared_ptr<Shell> shell = shell_for(context.session_id);
  std::lock_guard<std::mutex> busy(shell->busy);
  bool was_running = shell->process && shell->process->running();
  if (restart || !was_running || shell->workspace != workspace->root()) {
    shell->process.reset();
    sandbox::Request request;
    request.argv = {"bash", "--noprofile", "--norc"};
    request.env = sandbox_environment();
    request.cwd = workspace->root();
    request.policy.workspace = workspace->root();
    request.policy.allow_network = settings_.allow_network;
    request.limits.wall_seconds = kShellLifetimeSeconds;
    request.limits.memory_bytes = settings_.memory_bytes;
    request.limits.max_processes = settings_.max_processes;
    auto process = sandbox::start(request);
    if (!process) return ToolResult::error("the sandbox could not start a shell: " + process.status().message());
    shell->process = std::move(*process);
    shell->workspace = workspace->root();
  }
  if (command.empty()) return ToolResult::success("The shell was restarted (a fresh cwd and environment).");

  auto scratch = open_scratch_folder(*workspace, context);
  if (!scratch) return ToolResult::error(scratch.status().message());
  auto spill = OutputSpill::create(*scratch, "bash", settings_.max_spill_bytes);
  if (!spill) return ToolResult::error(spill.status().message());
  std::string nonce = random_hex();
  std::string marker = "__M1_DONE_" + nonce + "_";
  Status written = shell->process->write_stdin(shell_script(command, nonce));
  if (!written.ok()) {
    shell->process.reset();
    return ToolResult::error("the shell did not accept the command (" + written.message() + "); it was restarted, run the command again");
  }

  CommandEnd end;
  end.timeout_seconds = timeout;
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
  std::string pending;  // output not yet spilled: the marker may be split across reads
  bool finished = false;
  while (!finished) {
    auto chunk = shell->process->read_output(kReadSlice);
    if (chunk) pending += *chunk;
    size_t at = pending.find(marker);
    size_t close = at == std::string::npos ? std::string::npos : pending.find("__\n", at + marker.size());
    if (close != std::string::npos) {
      end.exit_code = std::atoi(pending.c_str() + at + marker.size());
      size_t output_end = at > 0 && pending[at - 1] == '\n' ? at - 1 : at;  // the newline printf added
      spill->append(std::string_view(pending).substr(0, output_end));
      finished = true;
      break;
    }
    // Keep back what could be the start of the marker (and the newline before it).
    if (at == std::string::npos && pending.size() > marker.size() + 1) {
      size_t flush = pending.size() - marker.size() - 1;
      spill->append(std::string_view(pending).substr(0, flush));
      pending.erase(0, flush);
    }
    bool alive = chunk.ok() && shell->process->running();
    if (!alive) {
      spill->append(pending);
      end.exit_code = -1;
      end.extra_note = "the shell exited; the next call starts a new one (cwd and environment are reset)";
      shell->process.reset();
      break;
    }
    if (context.cancelled() || std::chrono::steady_clock::now() >= deadline) {
      spill->append(pending);
      (context.cancelled() ? end.cancelled : end.timed_out) = true;
      end.extra_note = "the shell was restarted; cwd and environment are reset";
      shell->process.reset();  // kills everything the command started
      break;
    }
  }
  end.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  TruncatedOutput output = spill->finish(settings_.truncation);
  return command_result(output, *spill, end);
}

}  // namespace m1::tools
