// The records the sandbox's init process (pid 1 of the sandbox) sends to the host over the status
// pipe. Each record is one fixed-size write, smaller than PIPE_BUF, so it arrives whole.
#pragma once

#include <cstdint>

namespace m1::sandbox {

enum class ReportKind : int32_t {
  setup_failed = 1,  // value = errno, text = the step that failed; nothing was executed
  ready = 2,         // isolation complete, the command was started (value = its pid inside)
  exec_failed = 3,   // value = errno of execve for every PATH candidate
  violation = 4,     // value = syscall number of a kill-class seccomp rule, value2 = pid inside
  exited = 5,        // value = exit code
  killed = 6,        // value = signal
  timed_out = 7,     // init's own wall-clock backstop fired
};

struct InitReport {
  ReportKind kind;
  int32_t value = 0;
  int32_t value2 = 0;
  char text[116] = {};
};
static_assert(sizeof(InitReport) == 128);

}  // namespace m1::sandbox
