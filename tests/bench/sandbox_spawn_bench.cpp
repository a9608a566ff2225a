// Spawn-to-exit latency of `true` in the sandbox, next to bubblewrap with equivalent namespaces
// in the same run (TESTING.md: compare with the peer side by side). Usage:
//   m1_sandbox_bench [RUNS=300] [WARMUP=20]
// Prints p50/p90/p99/mean per contender, interleaving the contenders run by run so that machine
// noise hits both alike.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

extern char ** environ;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

// bwrap with the namespaces and view m1's sandbox builds: user, mount, pid, net, ipc, uts,
// cgroup; host root read-only; the workspace read-write; fresh /proc, /dev, /tmp; new session;
// die with the parent.
std::vector<std::string> bwrap_argv(const std::string & workspace) {
  return {"bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
          "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", workspace, workspace,
          "--chdir", workspace, "--", "/bin/true"};
}

double run_bwrap(const std::vector<std::string> & argv) {
  std::vector<char *> args;
  for (const std::string & arg : argv) args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);
  Clock::time_point start = Clock::now();
  pid_t pid;
  if (posix_spawnp(&pid, "bwrap", nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return ms_since(start);
}

double run_m1(const m1::sandbox::Request & request) {
  Clock::time_point start = Clock::now();
  m1::Expected<m1::sandbox::Result> result = m1::sandbox::run(request);
  if (!result.ok() || result->exit_code != 0) {
    std::fprintf(stderr, "m1 sandbox failed: %s\n", result.ok() ? result->err.text().c_str() : result.status().message().c_str());
    return -1;
  }
  return ms_since(start);
}

void print_stats(const char * name, std::vector<double> samples) {
  if (samples.empty()) {
    std::printf("%-28s unavailable\n", name);
    return;
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[std::min(samples.size() - 1, size_t(q * double(samples.size())))]; };
  double mean = 0;
  for (double s : samples) mean += s;
  mean /= double(samples.size());
  std::printf("%-28s n=%zu  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  mean %.2f ms\n", name, samples.size(), at(0.5),
              at(0.9), at(0.99), mean);
}

}  // namespace

int main(int argc, char ** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 300;
  int warmup = argc > 2 ? std::atoi(argv[2]) : 20;
  char dir_template[] = "/tmp/m1-bench-XXXXXX";
  std::string workspace = mkdtemp(dir_template);
  // Isolation equal to bwrap's: namespaces, filesystem view, seccomp; no resource limits (bwrap
  // sets none). The second configuration adds m1's default limits: as root they need a pids
  // cgroup, and moving the new process into it costs an RCU grace period.
  m1::sandbox::Request request;
  request.argv = {"/bin/true"};
  request.env = {"PATH=/usr/bin:/bin"};
  request.policy.workspace = workspace;
  request.limits.max_processes = 0;
  request.limits.max_open_files = 0;
  m1::sandbox::Request limited = request;
  limited.limits = m1::sandbox::Limits();
  std::vector<std::string> bwrap = bwrap_argv(workspace);
  bool have_bwrap = run_bwrap(bwrap) >= 0;
  if (!have_bwrap) std::fprintf(stderr, "bubblewrap unavailable (install the Debian package 'bubblewrap')\n");
  std::vector<double> m1_ms, limited_ms, bwrap_ms;
  for (int i = 0; i < warmup + runs; ++i) {
    double a = run_m1(request);
    double b = have_bwrap ? run_bwrap(bwrap) : -1;
    double c = run_m1(limited);
    if (i < warmup) continue;
    if (a >= 0) m1_ms.push_back(a);
    if (b >= 0) bwrap_ms.push_back(b);
    if (c >= 0) limited_ms.push_back(c);
  }
  std::printf("spawn-to-exit of /bin/true, %d runs after %d warm-up, interleaved\n", runs, warmup);
  print_stats("m1 sandbox::run", m1_ms);
  print_stats("bwrap --unshare-all", bwrap_ms);
  print_stats("m1 + default limits", limited_ms);
  rmdir(workspace.c_str());
  return m1_ms.size() == size_t(runs) ? 0 : 1;
}
