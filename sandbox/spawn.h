// Spawning a sandbox: the parent's half of the set-up. It validates the request and prepares
// everything the child needs (filesystem plan, seccomp program, rlimits, cgroups, argv/env),
// clones the sandbox's init into new user, mount, pid, network, ipc, uts and cgroup namespaces,
// attaches the cgroups, and waits until init reports that the command started or why it could not.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <memory>
#include <vector>

#include "common/status.h"
#include "sandbox/cgroup.h"
#include "sandbox/init_report.h"
#include "sandbox/sandbox.h"

namespace m1::sandbox {

// A started sandbox as the host sees it. Destroying it kills every process inside and reaps init.
class RunningSandbox {
public:
  ~RunningSandbox();
  RunningSandbox(const RunningSandbox &) = delete;
  RunningSandbox & operator=(const RunningSandbox &) = delete;

  pid_t init_pid = -1;
  int pidfd = -1;      // readable when init exited
  int stdin_fd = -1;   // write end of the command's stdin; -1 once closed
  int stdout_fd = -1;  // read end (stdout and stderr merged when spawned with merge_output)
  int stderr_fd = -1;  // read end; -1 when merged
  int status_fd = -1;  // init's reports (init_report.h)
  SandboxCgroup cgroup;
  std::vector<InitReport> early_reports;  // reports read while waiting for `ready`

  void kill_all();                                 // SIGKILL to init: the whole namespace dies
  bool reap(int * wait_status, struct rusage * usage);  // false while init still runs
  bool reaped() const { return reaped_; }
  static void close_fd(int & fd);

private:
  friend Expected<std::unique_ptr<RunningSandbox>> spawn_sandbox(const Request &, bool);
  RunningSandbox() = default;
  bool reaped_ = false;
};

// `persistent` (Process): stdout and stderr share one pipe, and init enforces the wall-clock limit
// (the lifetime) itself; otherwise run()'s loop enforces it and init's deadline is a backstop.
Expected<std::unique_ptr<RunningSandbox>> spawn_sandbox(const Request & request, bool persistent);

// write(2) to the command's stdin without the process-wide SIGPIPE a closed reader would raise
// (SIGPIPE is blocked in this thread for the call and a signal it caused is consumed).
ssize_t write_without_sigpipe(int fd, const char * data, size_t n_bytes);

}  // namespace m1::sandbox
