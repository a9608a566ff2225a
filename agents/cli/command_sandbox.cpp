// `m1 sandbox run [--workspace DIR] [--net] [--timeout S] [--memory MB] [--pids N] [--json] -- CMD...`
// Runs one command in the sandbox. Plain mode streams the child's stdout/stderr through and exits
// with the child's status (128+signal when killed); --json prints the structured result instead.
// The child's environment is a short allow-list of the caller's (secrets in the environment stay
// out); the workspace defaults to the current directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agents/cli/command.h"
#include "sandbox/sandbox.h"

namespace m1::cli {

namespace {

// The exit status when the sandbox itself could not be built (as env(1) and timeout(1) use 125).
constexpr int kSandboxFailed = 125;

struct SandboxRunOptions {
  std::string workspace;
  bool network = false;
  double timeout_seconds = 120;
  size_t memory_mb = 0;
  int pids = 256;
  bool json = false;
  std::vector<std::string> command;
};

std::vector<std::string> passed_environment() {
  std::vector<std::string> env;
  for (const char * name : {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ"})
    if (const char * value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  env.push_back("TMPDIR=/tmp");
  return env;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(size_t(n));
  }
  return true;
}

nlohmann::json stream_json(const sandbox::CapturedStream & stream) {
  return {{"text", stream.text()}, {"total_bytes", stream.total_bytes}, {"dropped_bytes", stream.dropped_bytes}};
}

nlohmann::json result_json(const sandbox::Result & result) {
  nlohmann::json json = {{"exit_code", result.exit_code},
                         {"signal", result.signal},
                         {"status", result.shell_status()},
                         {"timed_out", result.timed_out},
                         {"limit", sandbox::limit_name(result.limit)},
                         {"seccomp_violation", nullptr},
                         {"wall_seconds", result.wall_seconds},
                         {"cpu_seconds", result.cpu_seconds},
                         {"peak_memory_bytes", result.peak_memory_bytes},
                         {"stdout", stream_json(result.out)},
                         {"stderr", stream_json(result.err)}};
  if (result.seccomp_violation) json["seccomp_violation"] = *result.seccomp_violation;
  return json;
}

int run_sandbox(const SandboxRunOptions & options) {
  sandbox::Request request;
  request.argv = options.command;
  request.env = passed_environment();
  if (options.workspace.empty()) {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) return fail("sandbox", "cannot read the current directory");
    request.policy.workspace = cwd;
  } else {
    request.policy.workspace = options.workspace;
  }
  request.policy.allow_network = options.network;
  request.limits.wall_seconds = options.timeout_seconds;
  request.limits.memory_bytes = options.memory_mb * 1024 * 1024;
  request.limits.max_processes = options.pids;
  if (!isatty(0)) request.stdin_bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (!options.json) {
    // Stream through; the capture only needs to remember a little.
    request.limits.stdout_cap_bytes = request.limits.stderr_cap_bytes = 4096;
    request.on_output = [](int fd, std::string_view bytes) { write_all(fd, bytes); };
  }
  Expected<sandbox::Result> result = sandbox::run(request);
  if (!result.ok()) {
    fail("sandbox", result.status());
    return kSandboxFailed;
  }
  if (options.json) {
    std::string text = result_json(*result).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    write_all(1, text + "\n");
    return 0;
  }
  if (result->limit != sandbox::LimitHit::none)
    std::fprintf(stderr, "m1: sandbox: %s limit hit\n", sandbox::limit_name(result->limit));
  if (result->seccomp_violation)
    std::fprintf(stderr, "m1: sandbox: killed for a forbidden syscall (%s)\n", result->seccomp_violation->c_str());
  return result->shell_status();
}

}  // namespace

void add_sandbox_command(CLI::App & app, CommandList & commands) {
  CLI::App * sandbox = app.add_subcommand("sandbox", "run commands in the sandbox");
  sandbox->require_subcommand(1, 1);
  CLI::App * run = sandbox->add_subcommand("run", "run one command in the sandbox");
  auto options = std::make_shared<SandboxRunOptions>();
  run->add_option("--workspace", options->workspace, "directory mounted read-write (default: the current one)");
  run->add_flag("--net", options->network, "keep the host network (default: none, loopback only)");
  run->add_option("--timeout", options->timeout_seconds, "wall-clock limit in seconds (default 120)")
      ->check(CLI::PositiveNumber);
  run->add_option("--memory", options->memory_mb, "memory limit in MiB (default: none)");
  run->add_option("--pids", options->pids, "process-count limit (default 256, 0 = none)")->check(CLI::NonNegativeNumber);
  run->add_flag("--json", options->json, "print the structured result as JSON");
  run->add_option("command", options->command, "the command and its arguments (after --)")->required();
  run->positionals_at_end(true);
  commands.push_back({run, [options] { return run_sandbox(*options); }});
}

}  // namespace m1::cli
