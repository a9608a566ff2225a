// Control groups for one sandbox: the memory limit (with peak usage and OOM kills reported), the
// process-count limit (with hits reported) and CPU usage across every process. cgroup v2 is used
// where the current cgroup (or its parent) delegates memory and pids to us; cgroup v1 where the
// memory / pids / cpuacct hierarchies are writable (root on hybrid hosts). Elsewhere the
// sandbox falls back to rlimits (resource_limits.h), and says so in Expected errors only where
// no fallback exists.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "sandbox/sandbox.h"

namespace m1::sandbox {

struct CgroupUsage {
  size_t peak_memory_bytes = 0;  // 0: unknown
  uint64_t oom_kills = 0;
  uint64_t pids_limit_hits = 0;
  double cpu_seconds = -1;       // < 0: unknown
};

class SandboxCgroup {
public:
  SandboxCgroup() = default;
  SandboxCgroup(const SandboxCgroup &) = delete;
  SandboxCgroup & operator=(const SandboxCgroup &) = delete;
  SandboxCgroup(SandboxCgroup && other) noexcept;
  SandboxCgroup & operator=(SandboxCgroup && other) noexcept;
  ~SandboxCgroup();  // removes the groups (the sandbox's processes are gone by then)

  // Creates the groups the limits need among those available here (possibly none).
  static SandboxCgroup create(const Limits & limits);

  bool limits_memory() const { return memory_dir_.size() > 0; }
  bool limits_pids() const { return pids_dir_.size() > 0; }
  bool counts_cpu() const { return cpu_dir_.size() > 0; }
  Status attach(pid_t pid) const;
  CgroupUsage usage() const;
  std::string description() const;  // e.g. "cgroup v1 memory,pids" for `m1 doctor` and errors

private:
  void remove();
  bool v2_ = false;
  std::string memory_dir_, pids_dir_, cpu_dir_;  // empty: that controller is not used
  std::vector<std::string> created_;             // directories to remove, deepest first
};

}  // namespace m1::sandbox
