// sandbox::run(): spawn, feed stdin, capture both streams without deadlock (one poll loop over
// every descriptor, non-blocking reads and writes), enforce the wall-clock and CPU limits and
// the cancel flag by killing the sandbox's init (which takes every descendant with it), then
// assemble the structured Result.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "sandbox/output_capture.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_policy.h"
#include "sandbox/spawn.h"

namespace m1::sandbox {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCancelPollMs = 50;      // how quickly a cancel flag is noticed
constexpr int kCpuPollMs = 100;        // how often cgroup CPU usage is checked against the limit
constexpr int kDrainAfterExitMs = 2000;  // bound on reading what is left once init is gone

// What init reported, folded into the Result as it arrives.
struct Reports {
  bool ended = false;  // exited or killed was reported
  bool backstop_fired = false;
  int exit_code = -1;
  int signal = 0;
  std::optional<std::string> violation;
};

void apply_report(const InitReport & report, Reports & reports) {
  switch (report.kind) {
    case ReportKind::exited:
      reports.ended = true;
      reports.exit_code = report.value;
      break;
    case ReportKind::killed:
      reports.ended = true;
      reports.signal = report.value;
      break;
    case ReportKind::violation:
      if (!reports.violation) reports.violation = syscall_name(report.value);
      break;
    case ReportKind::timed_out: reports.backstop_fired = true; break;
    default: break;
  }
}

// Reads what is available; returns false at end-of-file (and closes the descriptor).
bool drain(int & fd, StreamCapture & capture, int stream, const Request & request) {
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      capture.append(buffer, size_t(n));
      if (request.on_output) request.on_output(stream, std::string_view(buffer, size_t(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    RunningSandbox::close_fd(fd);
    return false;
  }
}

void drain_reports(int & fd, Reports & reports) {
  InitReport report;
  for (;;) {
    ssize_t n = read(fd, &report, sizeof report);
    if (n == sizeof report) {
      apply_report(report, reports);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    RunningSandbox::close_fd(fd);
    return;
  }
}

// Writes as much of the pending stdin as the pipe takes; closes it when done or unwanted.
void feed(int & fd, const std::string & bytes, size_t & offset) {
  while (offset < bytes.size()) {
    ssize_t n = write_without_sigpipe(fd, bytes.data() + offset, std::min<size_t>(bytes.size() - offset, 65536));
    if (n > 0) {
      offset += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    break;  // EPIPE: the command closed its stdin
  }
  RunningSandbox::close_fd(fd);
}

class RunLoop {
public:
  RunLoop(RunningSandbox & box, const Request & request, const std::atomic<bool> * cancel)
      : box_(box), request_(request), cancel_(cancel),
        out_(request.limits.stdout_cap_bytes), err_(request.limits.stderr_cap_bytes) {}

  Result run(Clock::time_point started);

private:
  int poll_timeout_ms(Clock::time_point deadline) const;
  void check_limits(Clock::time_point deadline);
  void finish_after_exit();
  Result assemble(Clock::time_point started, int wait_status, const struct rusage & usage);

  RunningSandbox & box_;
  const Request & request_;
  const std::atomic<bool> * cancel_;
  StreamCapture out_, err_;
  Reports reports_;
  size_t stdin_offset_ = 0;
  LimitHit killed_for_ = LimitHit::none;  // set when the host killed the sandbox
};

int RunLoop::poll_timeout_ms(Clock::time_point deadline) const {
  int timeout = -1;
  if (request_.limits.wall_seconds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    timeout = int(std::max<long long>(0, left) + 1);
  }
  auto at_most = [&](int ms) { timeout = timeout < 0 ? ms : std::min(timeout, ms); };
  if (cancel_ != nullptr) at_most(kCancelPollMs);
  if (request_.limits.cpu_seconds > 0 && box_.cgroup.counts_cpu()) at_most(kCpuPollMs);
  return timeout;
}

void RunLoop::check_limits(Clock::time_point deadline) {
  if (killed_for_ != LimitHit::none) return;
  if (cancel_ != nullptr && cancel_->load()) killed_for_ = LimitHit::cancelled;
  else if (request_.limits.wall_seconds > 0 && Clock::now() >= deadline) killed_for_ = LimitHit::wall_time;
  else if (request_.limits.cpu_seconds > 0 && box_.cgroup.counts_cpu() &&
           box_.cgroup.usage().cpu_seconds >= request_.limits.cpu_seconds)
    killed_for_ = LimitHit::cpu_time;
  if (killed_for_ != LimitHit::none) box_.kill_all();
}

// Init is gone, and with it every process of the namespace: what is left in the pipes is final.
void RunLoop::finish_after_exit() {
  auto until = Clock::now() + std::chrono::milliseconds(kDrainAfterExitMs);
  while ((box_.stdout_fd >= 0 || box_.stderr_fd >= 0 || box_.status_fd >= 0) && Clock::now() < until) {
    struct pollfd watched[3] = {{box_.stdout_fd, POLLIN, 0}, {box_.stderr_fd, POLLIN, 0}, {box_.status_fd, POLLIN, 0}};
    if (poll(watched, 3, 100) < 0 && errno != EINTR) break;
    if (box_.stdout_fd >= 0 && watched[0].revents) drain(box_.stdout_fd, out_, 1, request_);
    if (box_.stderr_fd >= 0 && watched[1].revents) drain(box_.stderr_fd, err_, 2, request_);
    if (box_.status_fd >= 0 && watched[2].revents) drain_reports(box_.status_fd, reports_);
  }
}

Result RunLoop::run(Clock::time_point started) {
  for (const InitReport & report : box_.early_reports) apply_report(report, reports_);
  if (request_.stdin_bytes.empty()) RunningSandbox::close_fd(box_.stdin_fd);
  Clock::time_point deadline = started + std::chrono::microseconds(long(request_.limits.wall_seconds * 1e6));
  int wait_status = 0;
  struct rusage usage = {};
  while (!box_.reap(&wait_status, &usage)) {
    struct pollfd watched[5] = {{box_.stdout_fd, POLLIN, 0},
                                {box_.stderr_fd, POLLIN, 0},
                                {box_.status_fd, POLLIN, 0},
                                {box_.stdin_fd, POLLOUT, 0},
                                {box_.pidfd, POLLIN, 0}};
    int n = poll(watched, 5, poll_timeout_ms(deadline));
    if (n < 0 && errno != EINTR) break;
    if (box_.stdout_fd >= 0 && watched[0].revents) drain(box_.stdout_fd, out_, 1, request_);
    if (box_.stderr_fd >= 0 && watched[1].revents) drain(box_.stderr_fd, err_, 2, request_);
    if (box_.status_fd >= 0 && watched[2].revents) drain_reports(box_.status_fd, reports_);
    if (box_.stdin_fd >= 0 && watched[3].revents) feed(box_.stdin_fd, request_.stdin_bytes, stdin_offset_);
    check_limits(deadline);
    if (watched[4].revents) continue;  // init exited: reaped at the top of the loop
  }
  RunningSandbox::close_fd(box_.stdin_fd);
  finish_after_exit();
  return assemble(started, wait_status, usage);
}

Result RunLoop::assemble(Clock::time_point started, int wait_status, const struct rusage & usage) {
  Result result;
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (reports_.ended) {
    result.exit_code = reports_.exit_code;
    result.signal = reports_.signal;
  } else {
    // Init died before the command ended: killed from here, by the OOM killer, or its backstop.
    result.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : SIGKILL;
  }
  CgroupUsage group = box_.cgroup.usage();
  double rusage_cpu = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                      double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  result.cpu_seconds = std::max(rusage_cpu, group.cpu_seconds);
  result.peak_memory_bytes = group.peak_memory_bytes > 0 ? group.peak_memory_bytes : size_t(usage.ru_maxrss) * 1024;
  result.seccomp_violation = reports_.violation;
  if (!result.seccomp_violation && result.signal == SIGSYS) result.seccomp_violation = "non-native syscall ABI";

  LimitHit limit = killed_for_;
  if (limit == LimitHit::none && reports_.backstop_fired) limit = LimitHit::wall_time;
  if (limit == LimitHit::none && group.oom_kills > 0) limit = LimitHit::memory;
  if (limit == LimitHit::none && (result.signal == SIGXCPU ||
                                  (request_.limits.cpu_seconds > 0 && result.signal == SIGKILL &&
                                   result.cpu_seconds >= request_.limits.cpu_seconds)))
    limit = LimitHit::cpu_time;
  // A shell reports a child killed by SIGXFSZ / SIGXCPU as 128 + the signal.
  if (limit == LimitHit::none && result.signal == 0 && result.exit_code == 128 + SIGXCPU) limit = LimitHit::cpu_time;
  if (limit == LimitHit::none && (result.signal == SIGXFSZ || (result.signal == 0 && result.exit_code == 128 + SIGXFSZ)))
    limit = LimitHit::file_size;
  if (limit == LimitHit::none && group.pids_limit_hits > 0) limit = LimitHit::processes;
  result.limit = limit;
  result.timed_out = limit == LimitHit::wall_time;
  result.out = out_.finish();
  result.err = err_.finish();
  return result;
}

}  // namespace

Expected<Result> run(const Request & request, const std::atomic<bool> * cancel) {
  Clock::time_point started = Clock::now();
  Expected<std::unique_ptr<RunningSandbox>> box = spawn_sandbox(request, false);
  if (!box.ok()) return box.status();
  RunLoop loop(**box, request, cancel);
  return loop.run(started);
}

}  // namespace m1::sandbox
