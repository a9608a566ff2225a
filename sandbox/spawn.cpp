// The parent's half of starting a sandbox (see spawn.h).
#include "sandbox/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/privileges.h"
#include "sandbox/sandbox_init.h"

namespace m1::sandbox {

namespace {

constexpr const char * kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr int kReadyTimeoutMs = 30000;  // set-up takes milliseconds; this only bounds a hang

// Clones the sandbox's init. A raw clone: the child continues here on a copy of this thread's
// stack, like fork(), and never returns from sandbox_init_main.
long clone_init(InitPlan & plan, unsigned long flags, int * pidfd) {
  long pid = syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, nullptr, pidfd, nullptr, 0);
  if (pid == 0) sandbox_init_main(plan);
  return pid < 0 ? -errno : pid;
}

Status make_pipe(int fds[2], const char * what) {
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::error(std::string("sandbox: pipe for ") + what + ": " + std::strerror(errno));
  return Status();
}

Status fill_command(const Request & request, const std::string & workspace, InitPlan & plan) {
  if (request.argv.empty() || request.argv[0].empty()) return Status::error("sandbox: empty command");
  plan.argv_storage = request.argv;
  plan.env_storage = request.env;
  for (std::string & arg : plan.argv_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  plan.path_list = kDefaultPath;
  for (std::string & entry : plan.env_storage) {
    plan.envp.push_back(entry.data());
    if (entry.compare(0, 5, "PATH=") == 0) plan.path_list = entry.substr(5);
  }
  plan.envp.push_back(nullptr);
  plan.cwd = !request.cwd.empty() ? request.cwd : !workspace.empty() ? workspace : "/";
  if (plan.cwd[0] != '/') return Status::error("sandbox: working directory '" + plan.cwd + "' must be absolute");
  plan.command_stack.resize(64 * 1024);
  return Status();
}

Status wait_until_ready(RunningSandbox & box) {
  for (;;) {
    struct pollfd watched = {box.status_fd, POLLIN, 0};
    int n = poll(&watched, 1, kReadyTimeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::error("sandbox: set-up did not finish within 30 s");
    InitReport report;
    ssize_t got = read(box.status_fd, &report, sizeof report);
    if (got != sizeof report) return Status::error("sandbox: set-up ended without a report (killed?)");
    if (report.kind == ReportKind::ready) return Status();
    if (report.kind == ReportKind::setup_failed)
      return Status::error(std::string("sandbox: ") + report.text + ": " + std::strerror(report.value));
    box.early_reports.push_back(report);
  }
}

}  // namespace

ssize_t write_without_sigpipe(int fd, const char * data, size_t n_bytes) {
  sigset_t sigpipe, old_mask, pending;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, &old_mask);
  ssize_t n = write(fd, data, n_bytes);
  int saved = errno;
  if (n < 0 && errno == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    sigtimedwait(&sigpipe, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved;
  return n;
}

void RunningSandbox::close_fd(int & fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void RunningSandbox::kill_all() {
  if (reaped_ || pidfd < 0) return;
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

bool RunningSandbox::reap(int * wait_status, struct rusage * usage) {
  if (reaped_) return true;
  int status = 0;
  struct rusage ignored;
  pid_t got = wait4(init_pid, &status, WNOHANG | __WALL, usage ? usage : &ignored);
  if (got != init_pid) return false;
  reaped_ = true;
  if (wait_status) *wait_status = status;
  return true;
}

RunningSandbox::~RunningSandbox() {
  if (!reaped_ && init_pid > 0) {
    kill_all();
    int status;
    while (wait4(init_pid, &status, __WALL, nullptr) < 0 && errno == EINTR) {}
    reaped_ = true;
  }
  for (int * fd : {&pidfd, &stdin_fd, &stdout_fd, &stderr_fd, &status_fd}) close_fd(*fd);
}

Expected<std::unique_ptr<RunningSandbox>> spawn_sandbox(const Request & request, bool persistent) {
  bool merge_output = persistent;
  Expected<std::shared_ptr<const SeccompProgram>> program = seccomp_program(request.policy.allow_network);
  if (!program.ok()) return program.status();
  Expected<MountPlan> mounts = plan_filesystem_view(request.policy, request.limits);
  if (!mounts.ok()) return mounts.status().with_context("sandbox");
  std::unique_ptr<RunningSandbox> box(new RunningSandbox());
  box->cgroup = SandboxCgroup::create(request.limits);
  if (request.limits.max_processes > 0 && !box->cgroup.limits_pids() && geteuid() == 0)
    return Status::error(
        "sandbox: process limit: as root it needs a writable pids cgroup (RLIMIT_NPROC does not bind uid 0) "
        "and none is available here; run as an unprivileged user or set max_processes to 0");

  InitPlan plan;
  plan.mounts = std::move(*mounts);
  plan.seccomp = program->get();
  plan.ids = id_maps_for_current_user();
  plan.new_network = !request.policy.allow_network;
  plan.rlimits = plan_rlimits(request.limits, box->cgroup.limits_memory(), box->cgroup.limits_pids());
  plan.last_cap = last_capability();
  plan.backstop_seconds = request.limits.wall_seconds > 0 ? request.limits.wall_seconds + (persistent ? 0.0 : 1.0) : 0;
  std::string workspace = plan.mounts.steps.empty() || request.policy.workspace.empty() ? "" : request.policy.workspace;
  M1_RETURN_IF_ERROR(fill_command(request, workspace, plan));

  // Parent ends go to the box at once (its destructor closes them); child ends close below.
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, status[2] = {-1, -1}, go[2] = {-1, -1};
  auto close_child_ends = [&] {
    for (int * fd : {&in[0], &out[1], &err[1], &status[1], &go[0], &go[1]}) RunningSandbox::close_fd(*fd);
  };
  Status piped = make_pipe(in, "stdin");
  box->stdin_fd = in[1];
  if (piped.ok()) piped = make_pipe(out, "stdout");
  box->stdout_fd = out[0];
  if (piped.ok() && !merge_output) piped = make_pipe(err, "stderr");
  box->stderr_fd = err[0];
  if (piped.ok()) piped = make_pipe(status, "status");
  box->status_fd = status[0];
  if (piped.ok()) piped = make_pipe(go, "start");
  if (!piped.ok()) {
    close_child_ends();
    return piped;
  }
  plan.stdin_read = in[0];
  plan.stdout_write = out[1];
  plan.stderr_write = merge_output ? out[1] : err[1];
  plan.status_write = status[1];
  plan.go_read = go[0];

  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  if (plan.new_network) flags |= CLONE_NEWNET;
  int pidfd = -1;
  long pid = clone_init(plan, flags, &pidfd);
  int go_write = go[1];
  go[1] = -1;
  close_child_ends();
  if (pid < 0) {
    close(go_write);
    return Status::error(std::string("sandbox: clone into new namespaces: ") + std::strerror(int(-pid)) +
                         " (needs user namespaces, see `m1 doctor`, and Linux >= 5.2)");
  }
  box->init_pid = pid_t(pid);
  box->pidfd = pidfd;
  Status attached = box->cgroup.attach(box->init_pid);
  if (attached.ok() && write(go_write, "g", 1) != 1) attached = Status::error("sandbox: cannot signal the child to start");
  close(go_write);  // without the byte, init sees end-of-file and exits
  M1_RETURN_IF_ERROR(attached);
  M1_RETURN_IF_ERROR(wait_until_ready(*box));
  for (int fd : {box->stdout_fd, box->stderr_fd, box->status_fd, box->stdin_fd})
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return box;
}

}  // namespace m1::sandbox
