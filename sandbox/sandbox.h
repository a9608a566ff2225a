// The sandbox's public contract: run a command isolated below the shell (user, mount, pid,
// network, ipc and uts namespaces; seccomp-bpf; resource limits) and get a structured result.
// Tools (tools/) and `m1 sandbox run` use only this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1::sandbox {

struct Limits {
  double wall_seconds = 120;            // the whole sandbox (every descendant) dies after this
  double cpu_seconds = 0;               // 0 = no CPU-time limit
  size_t memory_bytes = 0;              // 0 = no limit; cgroup when available, else RLIMIT_AS
  int max_processes = 256;              // 0 = no limit
  size_t max_file_bytes = 0;            // RLIMIT_FSIZE; 0 = no limit
  int max_open_files = 1024;
  size_t stdout_cap_bytes = 1 << 20;    // captured bytes kept per stream (head + tail halves)
  size_t stderr_cap_bytes = 1 << 20;
  size_t tmp_bytes = size_t(1) << 30;   // size of the private /tmp (tmpfs, charged to the memory cgroup)
};

struct Policy {
  std::string workspace;                        // host path, mounted read-write at the same path
  bool allow_network = false;                   // false: empty network namespace, loopback only
  std::vector<std::string> extra_protected;     // workspace-relative paths kept read-only
  std::vector<std::string> extra_writable;      // host paths mounted read-write (e.g. a scratch dir)
  std::vector<std::string> extra_denied;        // host paths hidden (empty dir / empty file), on top
                                                // of the default deny list (sandbox/filesystem_view.h)
};

struct Request {
  std::vector<std::string> argv;                // argv[0] resolved through PATH inside the sandbox
  std::vector<std::string> env;                 // "KEY=VALUE"; the child gets only these
  std::string cwd;                              // default: the workspace
  std::string stdin_bytes;
  Policy policy;
  Limits limits;
  // Optional: every chunk of output as it arrives (fd 1 = stdout, 2 = stderr), on the calling
  // thread, in addition to the capped capture (streaming to a terminal, spilling to a file).
  std::function<void(int fd, std::string_view bytes)> on_output;
};

// Output kept under a byte cap: the first and last halves of the cap, and what was dropped.
struct CapturedStream {
  std::string head;
  std::string tail;                             // empty unless bytes were dropped
  size_t total_bytes = 0;
  size_t dropped_bytes = 0;
  std::string text() const;                     // head + a "[... N bytes dropped ...]" line + tail
};

enum class LimitHit { none, wall_time, cpu_time, memory, processes, file_size, open_files, cancelled };
const char * limit_name(LimitHit);

struct Result {
  int exit_code = -1;                           // valid when signal == 0
  int signal = 0;                               // the signal that killed the command, or 0
  bool timed_out = false;
  LimitHit limit = LimitHit::none;
  std::optional<std::string> seccomp_violation; // syscall name, when the kernel reports it
  double wall_seconds = 0;
  double cpu_seconds = 0;
  size_t peak_memory_bytes = 0;
  CapturedStream out;
  CapturedStream err;
  int shell_status() const { return signal ? 128 + signal : exit_code; }
};


// Runs to completion. Setting *cancel to true kills the whole sandbox; the result then says
// LimitHit::cancelled and keeps the output captured so far. An Error Status means the sandbox
// could not be built (e.g. the kernel lacks user namespaces): nothing ran, nothing unisolated.
Expected<Result> run(const Request & request, const std::atomic<bool> * cancel = nullptr);

// A sandboxed process that stays alive between interactions (the bash tool's persistent shell).
class Process {
public:
  virtual ~Process() = default;                 // kills the whole sandbox
  virtual Status write_stdin(const std::string & bytes) = 0;
  // Reads what is available on stdout/stderr (merged), waiting at most `timeout` for the first byte.
  virtual Expected<std::string> read_output(std::chrono::milliseconds timeout) = 0;
  virtual bool running() = 0;
  virtual void kill() = 0;                      // every process in the sandbox
};

Expected<std::unique_ptr<Process>> start(const Request & request);

}  // namespace m1::sandbox
