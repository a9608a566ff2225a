// Per-process resource limits (setrlimit) for the command: CPU time, file size, open files,
// no core dumps, and the fallbacks for memory (RLIMIT_AS) and process count (RLIMIT_NPROC, which
// the user namespace makes count only the sandbox's processes) when no cgroup holds them.
#pragma once

#include <sys/resource.h>

#include "sandbox/sandbox.h"
#include "sandbox/setup_step.h"

namespace m1::sandbox {

struct RlimitPlan {
  struct Entry {
    int resource;
    rlim_t soft;
    rlim_t hard;
  };
  Entry entries[8];
  int n_entries = 0;
};

// Parent side. `cgroup_memory` / `cgroup_pids`: whether a cgroup enforces those limits already.
RlimitPlan plan_rlimits(const Limits & limits, bool cgroup_memory, bool cgroup_pids);

SetupError apply_rlimits(const RlimitPlan & plan);  // child side, no allocation

}  // namespace m1::sandbox
