// Planning and applying the command's rlimits (see resource_limits.h).
#include "sandbox/resource_limits.h"

#include <cmath>

namespace m1::sandbox {

namespace {

void add(RlimitPlan & plan, int resource, rlim_t soft, rlim_t hard) {
  plan.entries[plan.n_entries++] = {resource, soft, hard};
}

}  // namespace

RlimitPlan plan_rlimits(const Limits & limits, bool cgroup_memory, bool cgroup_pids) {
  RlimitPlan plan;
  add(plan, RLIMIT_CORE, 0, 0);  // a SIGSYS or SIGXCPU must not drop a core file in the workspace
  if (limits.cpu_seconds > 0) {
    // SIGXCPU at the soft limit; SIGKILL one second later for a process that ignores it.
    rlim_t soft = rlim_t(std::ceil(limits.cpu_seconds));
    add(plan, RLIMIT_CPU, soft, soft + 1);
  }
  if (limits.max_file_bytes > 0) add(plan, RLIMIT_FSIZE, limits.max_file_bytes, limits.max_file_bytes);
  if (limits.max_open_files > 0) add(plan, RLIMIT_NOFILE, rlim_t(limits.max_open_files), rlim_t(limits.max_open_files));
  if (limits.memory_bytes > 0 && !cgroup_memory) add(plan, RLIMIT_AS, limits.memory_bytes, limits.memory_bytes);
  if (limits.max_processes > 0 && !cgroup_pids)
    // +1: the sandbox's init process counts too.
    add(plan, RLIMIT_NPROC, rlim_t(limits.max_processes) + 1, rlim_t(limits.max_processes) + 1);
  return plan;
}

SetupError apply_rlimits(const RlimitPlan & plan) {
  for (int i = 0; i < plan.n_entries; ++i) {
    struct rlimit value = {plan.entries[i].soft, plan.entries[i].hard};
    M1_SETUP_CALL(setrlimit(plan.entries[i].resource, &value), "setrlimit");
  }
  return setup_ok();
}

}  // namespace m1::sandbox
