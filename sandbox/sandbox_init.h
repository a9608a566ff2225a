// The pid namespace and its init: the cloned child becomes pid 1 of a new pid namespace, builds
// the isolation (user ids, hostname, loopback, filesystem view, privileges, seccomp), then starts
// the command as pid 2 and supervises it: it reaps every orphan, answers the seccomp listener
// (killing a process that calls a kill-class syscall and reporting the syscall), and reports
// the command's end over the status pipe. When init exits the kernel kills every process left in
// the namespace, so background children never outlive the command, and killing init from the
// host (timeout, cancel) ends the whole sandbox; so does the host's death, seen by init through
// its pipes.
#pragma once

#include <string>
#include <vector>

#include "sandbox/filesystem_view.h"
#include "sandbox/resource_limits.h"
#include "sandbox/seccomp_policy.h"
#include "sandbox/user_namespace.h"

namespace m1::sandbox {

// Everything the child needs, prepared by the parent so that the child never allocates.
struct InitPlan {
  // Descriptors as numbered in the parent (the child inherits them through clone).
  int stdin_read = -1;
  int stdout_write = -1;
  int stderr_write = -1;   // may equal stdout_write (merged output)
  int status_write = -1;
  int go_read = -1;        // one byte from the parent: cgroups are attached, go on
  IdMaps ids;
  bool new_network = true;
  MountPlan mounts;
  const SeccompProgram * seccomp = nullptr;
  RlimitPlan rlimits;
  int last_cap = 40;
  double backstop_seconds = 0;  // init's own wall-clock limit (0: none); the parent's comes first
  // The command.
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char *> argv, envp;  // null-terminated, pointing into the storage
  std::string path_list;           // PATH from the request's environment, or a default
  std::string cwd;
  std::vector<char> command_stack;  // the stack the command's vfork-style child starts on
};

[[noreturn]] void sandbox_init_main(InitPlan & plan);

}  // namespace m1::sandbox
