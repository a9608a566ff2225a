// How the sandbox's setup steps (run in the cloned child, between clone and execve) report
// failure. That code may not allocate (the parent may be multithreaded), so a failure is a static
// step name plus errno, and steps chain by returning early (nsjail's RETURN_ON_FAILURE).
#pragma once

#include <cerrno>

namespace m1::sandbox {

struct SetupError {
  const char * step = nullptr;  // nullptr: success
  int error = 0;
  explicit operator bool() const { return step != nullptr; }
};

inline SetupError setup_ok() { return {}; }
inline SetupError setup_failed(const char * step, int error = errno) { return {step, error}; }

}  // namespace m1::sandbox

// Returns a SetupError naming `step` when `expr` (a syscall-style call) is negative.
#define M1_SETUP_CALL(expr, step)                                         \
  do {                                                                    \
    if ((expr) < 0) return ::m1::sandbox::setup_failed(step, errno);      \
  } while (0)

// Returns early when a nested setup function failed.
#define M1_SETUP_RETURN_IF_FAILED(expr)             \
  do {                                              \
    ::m1::sandbox::SetupError m1_setup_ = (expr);   \
    if (m1_setup_) return m1_setup_;                \
  } while (0)
