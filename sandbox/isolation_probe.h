// Asks the kernel, in throwaway child processes, whether the isolation the sandbox relies on is
// available here: user namespaces (unprivileged isolation) and seccomp-bpf filters.
#pragma once

#include <string>

namespace m1::sandbox {

struct ProbeResult {
  bool usable = false;
  std::string reason;  // why not, when !usable
};

ProbeResult probe_user_namespaces();
ProbeResult probe_seccomp();
std::string libseccomp_version();

}  // namespace m1::sandbox
