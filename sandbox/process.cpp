// sandbox::start(): a sandboxed process that stays alive between interactions (the bash tool's
// persistent shell). stdout and stderr share one pipe so their order is kept; the wall-clock
// limit is the lifetime of the whole process, enforced by the sandbox's init.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "sandbox/sandbox.h"
#include "sandbox/spawn.h"

namespace m1::sandbox {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStdinTimeoutMs = 10000;          // a shell that stops reading its input is stuck
constexpr size_t kMaxReadBytes = 1 << 20;       // one read_output() returns at most this much

class SandboxedProcess : public Process {
public:
  explicit SandboxedProcess(std::unique_ptr<RunningSandbox> box) : box_(std::move(box)) {}
  ~SandboxedProcess() override { kill(); }

  Status write_stdin(const std::string & bytes) override {
    if (box_->stdin_fd < 0) return Status::error("sandbox: the process's input is closed");
    size_t offset = 0;
    Clock::time_point until = Clock::now() + std::chrono::milliseconds(kStdinTimeoutMs);
    while (offset < bytes.size()) {
      ssize_t n = write_without_sigpipe(box_->stdin_fd, bytes.data() + offset, bytes.size() - offset);
      if (n > 0) {
        offset += size_t(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        struct pollfd watched = {box_->stdin_fd, POLLOUT, 0};
        if (left <= 0 || poll(&watched, 1, int(left)) == 0)
          return Status::error("sandbox: the process does not read its input (10 s)");
        continue;
      }
      return Status::error(std::string("sandbox: writing the process's input: ") + std::strerror(errno));
    }
    return Status();
  }

  Expected<std::string> read_output(std::chrono::milliseconds timeout) override {
    std::string output;
    if (box_->stdout_fd < 0) return output;
    struct pollfd watched = {box_->stdout_fd, POLLIN, 0};
    int n = poll(&watched, 1, int(timeout.count()));
    if (n < 0 && errno != EINTR) return Status::error(std::string("sandbox: poll: ") + std::strerror(errno));
    char buffer[65536];
    while (output.size() < kMaxReadBytes) {
      ssize_t got = read(box_->stdout_fd, buffer, sizeof buffer);
      if (got > 0) {
        output.append(buffer, size_t(got));
        continue;
      }
      if (got == 0) RunningSandbox::close_fd(box_->stdout_fd);  // every writer is gone
      break;
    }
    return output;
  }

  bool running() override {
    if (box_->reaped()) return false;
    struct pollfd watched = {box_->pidfd, POLLIN, 0};
    if (poll(&watched, 1, 0) == 1) return !box_->reap(nullptr, nullptr);
    return true;
  }

  void kill() override {
    if (box_->reaped()) return;
    box_->kill_all();
    while (!box_->reap(nullptr, nullptr)) {
      struct pollfd watched = {box_->pidfd, POLLIN, 0};
      poll(&watched, 1, 100);
    }
  }

private:
  std::unique_ptr<RunningSandbox> box_;
};

}  // namespace

Expected<std::unique_ptr<Process>> start(const Request & request) {
  Expected<std::unique_ptr<RunningSandbox>> box = spawn_sandbox(request, true);
  if (!box.ok()) return box.status();
  auto process = std::make_unique<SandboxedProcess>(std::move(*box));
  if (!request.stdin_bytes.empty()) M1_RETURN_IF_ERROR(process->write_stdin(request.stdin_bytes));
  return std::unique_ptr<Process>(std::move(process));
}

}  // namespace m1::sandbox
