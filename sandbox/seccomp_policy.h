// The seccomp-bpf policy every sandboxed process runs under (built with libseccomp, compiled once
// per variant and cached as raw BPF, so the child only loads it). Denials return EPERM so tools
// print a readable error; the ptrace class (ptrace, process_vm_readv/writev) is routed to the
// sandbox's init through a user-notification listener, which kills the caller and reports the
// syscall by name. Non-native ABIs (i386 via int 0x80, x32) kill the process.
#pragma once

#include <linux/filter.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "sandbox/setup_step.h"

namespace m1::sandbox {

struct SeccompProgram {
  std::vector<sock_filter> instructions;
};

// Parent side; thread-safe. `allow_network` false additionally refuses every socket family but
// AF_UNIX (AF_VSOCK is refused always).
Expected<std::shared_ptr<const SeccompProgram>> seccomp_program(bool allow_network);

// Child side, no allocation: sets no-new-privs and loads `program`; *listener_fd receives the
// user-notification listener for the kill-class rules.
SetupError install_seccomp(const SeccompProgram & program, int * listener_fd);

// "ptrace" for the native syscall number, or "syscall N".
std::string syscall_name(int number);

}  // namespace m1::sandbox
