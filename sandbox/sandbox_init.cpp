// The sandbox's init process (see sandbox_init.h). Everything here runs in the child of a clone
// made by a possibly multithreaded parent: syscalls and reads of the prepared plan only, no
// allocation, no stdio, no locks.
#include "sandbox/sandbox_init.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "sandbox/init_report.h"
#include "sandbox/network_namespace.h"
#include "sandbox/privileges.h"

namespace m1::sandbox {

namespace {

constexpr int kFirstKeptFd = 100;  // init's own descriptors live above the standard ones

void report(int status_fd, ReportKind kind, int value = 0, int value2 = 0, const char * text = nullptr) {
  InitReport record;
  record.kind = kind;
  record.value = value;
  record.value2 = value2;
  if (text != nullptr) std::strncpy(record.text, text, sizeof record.text - 1);
  ssize_t written = write(status_fd, &record, sizeof record);
  (void)written;  // the parent gone: nothing left to tell
}

[[noreturn]] void fail_setup(int status_fd, SetupError error) {
  report(status_fd, ReportKind::setup_failed, error.error, 0, error.step);
  _exit(125);
}

// Closes every descriptor but the `n` in `keep` (sorted ascending).
void close_all_except(const int * keep, int n) {
  unsigned from = 0;
  for (int i = 0; i <= n; ++i) {
    unsigned to = i < n ? unsigned(keep[i]) : UINT_MAX;
    if (to > from) {
      if (syscall(SYS_close_range, from, to - 1, 0) != 0) {
        struct rlimit limit;
        getrlimit(RLIMIT_NOFILE, &limit);  // close_range needs Linux 5.9: close one by one
        unsigned last = to - 1 < limit.rlim_cur ? to - 1 : unsigned(limit.rlim_cur);
        for (unsigned fd = from; fd <= last; ++fd) close(int(fd));
      }
    }
    if (i < n) from = unsigned(keep[i]) + 1;
  }
}

struct Descriptors {
  int in, out, err, status, go;
};

SetupError arrange_descriptors(const InitPlan & plan, Descriptors & fds) {
  const int sources[5] = {plan.stdin_read, plan.stdout_write, plan.stderr_write, plan.status_write, plan.go_read};
  int moved[5];
  for (int i = 0; i < 5; ++i) {
    moved[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, kFirstKeptFd);
    M1_SETUP_CALL(moved[i], "move the sandbox's descriptors");
  }
  fds = {moved[0], moved[1], moved[2], moved[3], moved[4]};
  int keep[5];
  std::memcpy(keep, moved, sizeof keep);
  for (int i = 1; i < 5; ++i)  // insertion sort: five entries
    for (int j = i; j > 0 && keep[j - 1] > keep[j]; --j) std::swap(keep[j - 1], keep[j]);
  close_all_except(keep, 5);
  return setup_ok();
}

void reset_signals(bool ignore_sigpipe) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = (ignore_sigpipe && sig == SIGPIPE) ? SIG_IGN : SIG_DFL;
    sigaction(sig, &action, nullptr);  // fails harmlessly for the real-time signals libc keeps
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// ---- the command (pid 2), started with CLONE_VM | CLONE_VFORK on its own stack ----

struct CommandStart {
  const InitPlan * plan;
  Descriptors fds;
};

const char * errno_text(int error) {
  switch (error) {
    case ENOENT: return "command not found";
    case EACCES: return "permission denied";
    case ENOEXEC: return "exec format error";
    case ENOTDIR: return "not a directory";
    case E2BIG: return "argument list too long";
    default: return "cannot execute";
  }
}

void write_text(int fd, const char * text) {
  ssize_t written = write(fd, text, std::strlen(text));
  (void)written;
}

// execve through the PATH of the request's environment (not init's): returns the errno to report.
int exec_command(const InitPlan & plan) {
  const char * name = plan.argv[0];
  if (std::strchr(name, '/') != nullptr) {
    execve(name, plan.argv.data(), plan.envp.data());
    return errno;
  }
  char candidate[PATH_MAX];
  int result = ENOENT;
  const char * dir = plan.path_list.c_str();
  while (true) {
    const char * end = std::strchr(dir, ':');
    size_t dir_length = end ? size_t(end - dir) : std::strlen(dir);
    size_t name_length = std::strlen(name);
    if (dir_length + name_length + 2 <= sizeof candidate) {
      std::memcpy(candidate, dir_length ? dir : ".", dir_length ? dir_length : 1);
      size_t at = dir_length ? dir_length : 1;
      candidate[at] = '/';
      std::memcpy(candidate + at + 1, name, name_length + 1);
      execve(candidate, plan.argv.data(), plan.envp.data());
      if (errno == EACCES) result = EACCES;  // keep looking, as execvp does
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    if (end == nullptr) return result;
    dir = end + 1;
  }
}

int command_main(void * argument) {
  const CommandStart & start = *static_cast<const CommandStart *>(argument);
  const InitPlan & plan = *start.plan;
  reset_signals(false);
  setsid();  // no controlling terminal: nothing to inject keystrokes into
  if (dup2(start.fds.in, 0) < 0 || dup2(start.fds.out, 1) < 0 || dup2(start.fds.err, 2) < 0) _exit(126);
  SetupError limited = apply_rlimits(plan.rlimits);
  if (limited) {
    report(start.fds.status, ReportKind::setup_failed, limited.error, 0, limited.step);
    _exit(125);
  }
  int error = chdir(plan.cwd.c_str()) == 0 ? exec_command(plan) : errno;
  write_text(2, "m1 sandbox: ");
  write_text(2, plan.argv[0]);
  write_text(2, ": ");
  write_text(2, errno_text(error));
  write_text(2, "\n");
  report(start.fds.status, ReportKind::exec_failed, error);
  _exit(error == ENOENT ? 127 : 126);
}

// ---- supervision ----

struct Supervision {
  int status_fd;
  int signal_fd;
  int listener_fd;
  pid_t command;
  bool command_killed_by_policy = false;
  unsigned short notif_size = sizeof(seccomp_notif);
  unsigned short resp_size = sizeof(seccomp_notif_resp);
};

void answer_notification(Supervision & s) {
  alignas(16) char request_buffer[1024];
  alignas(16) char response_buffer[256];
  std::memset(request_buffer, 0, sizeof request_buffer);
  if (ioctl(s.listener_fd, SECCOMP_IOCTL_NOTIF_RECV, request_buffer) != 0) return;  // caller died
  const seccomp_notif * request = reinterpret_cast<const seccomp_notif *>(request_buffer);
  report(s.status_fd, ReportKind::violation, request->data.nr, request->pid);
  __u64 id = request->id;
  if (ioctl(s.listener_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0) {
    kill(pid_t(request->pid), SIGKILL);
    if (pid_t(request->pid) == s.command) s.command_killed_by_policy = true;
  }
  std::memset(response_buffer, 0, sizeof response_buffer);
  seccomp_notif_resp * response = reinterpret_cast<seccomp_notif_resp *>(response_buffer);
  response->id = id;
  response->error = -EPERM;
  ioctl(s.listener_fd, SECCOMP_IOCTL_NOTIF_SEND, response_buffer);
}

// Reaps every exited process; returns true when the command itself ended (and reports it).
bool reap(Supervision & s) {
  struct signalfd_siginfo info;
  while (read(s.signal_fd, &info, sizeof info) == sizeof info) {}
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
    if (pid != s.command) continue;
    if (WIFEXITED(status)) report(s.status_fd, ReportKind::exited, WEXITSTATUS(status));
    else report(s.status_fd, ReportKind::killed, s.command_killed_by_policy ? SIGSYS : WTERMSIG(status));
    return true;
  }
  return false;
}

double monotonic_seconds() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return double(now.tv_sec) + double(now.tv_nsec) * 1e-9;
}

[[noreturn]] void supervise(Supervision & s, double backstop_seconds) {
  double deadline = backstop_seconds > 0 ? monotonic_seconds() + backstop_seconds : 0;
  // The status pipe doubles as the lifeline: its write end reports POLLERR once the host process
  // (every holder of the read end) is gone, whichever of its threads started the sandbox.
  struct pollfd watched[3] = {{s.signal_fd, POLLIN, 0}, {s.listener_fd, POLLIN, 0}, {s.status_fd, 0, 0}};
  for (;;) {
    int timeout_ms = -1;
    if (deadline > 0) {
      double left = deadline - monotonic_seconds();
      timeout_ms = left <= 0 ? 0 : int(left * 1000) + 1;
    }
    int n = poll(watched, 3, timeout_ms);
    if (n == 0) {
      report(s.status_fd, ReportKind::timed_out);
      _exit(124);  // the kernel kills everything left in the namespace
    }
    if (n < 0) continue;  // EINTR
    if (watched[2].revents & (POLLERR | POLLHUP)) _exit(125);  // the host died: so does the sandbox
    if (watched[1].revents & POLLIN) answer_notification(s);
    if ((watched[0].revents & POLLIN) && reap(s)) _exit(0);
  }
}

}  // namespace

[[noreturn]] void sandbox_init_main(InitPlan & plan) {
  reset_signals(true);  // init writes to a pipe whose reader may be gone: EPIPE, not death
  // No PR_SET_PDEATHSIG: it follows the creating *thread*, and a sandbox started from a worker
  // thread must outlive that thread. Host death is seen through the pipes instead (the start
  // byte during set-up, the status pipe's POLLERR afterwards).
  Descriptors fds;
  SetupError failed = arrange_descriptors(plan, fds);
  if (failed) fail_setup(plan.status_write, failed);
  if ((failed = apply_id_maps(plan.ids))) fail_setup(fds.status, failed);
  if (sethostname("m1-sandbox", 10) != 0) fail_setup(fds.status, setup_failed("sethostname"));
  if (plan.new_network && (failed = bring_up_loopback())) fail_setup(fds.status, failed);
  if ((failed = apply_filesystem_view(plan.mounts))) fail_setup(fds.status, failed);
  sigset_t child_signals;
  sigemptyset(&child_signals);
  sigaddset(&child_signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &child_signals, nullptr);
  Supervision s{fds.status, signalfd(-1, &child_signals, SFD_CLOEXEC | SFD_NONBLOCK), -1, 0};
  if (s.signal_fd < 0) fail_setup(fds.status, setup_failed("signalfd"));
  if ((failed = drop_privileges(plan.last_cap))) fail_setup(fds.status, failed);
  if ((failed = install_seccomp(*plan.seccomp, &s.listener_fd))) fail_setup(fds.status, failed);
  // Not dumpable: the command (same uid) cannot open /proc/1/mem or attach to init.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // The parent attaches the cgroups meanwhile (moving a task costs an RCU grace period, so the
  // set-up above overlaps it); its byte means go, end-of-file means it died.
  char go = 0;
  if (read(fds.go, &go, 1) != 1) _exit(125);
  close(fds.go);
  CommandStart start{&plan, fds};
  char * stack_top = plan.command_stack.data() + plan.command_stack.size();
  stack_top = reinterpret_cast<char *>(reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t(15));
  s.command = clone(command_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
  if (s.command < 0) fail_setup(fds.status, setup_failed("start the command"));
  close(fds.in);
  close(fds.out);
  close(fds.err);
  report(fds.status, ReportKind::ready, s.command);
  supervise(s, plan.backstop_seconds);
}

}  // namespace m1::sandbox
