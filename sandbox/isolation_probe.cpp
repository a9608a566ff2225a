#include "sandbox/isolation_probe.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace m1::sandbox {

namespace {

// Runs `body` in a forked child and returns its exit code (or -1 when it did not exit normally).
// The child reports a failing errno as its exit code so the parent can explain it.
template <typename Body> int run_in_child(Body body) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(body());
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ProbeResult probe_user_namespaces() {
  int code = run_in_child([] { return unshare(CLONE_NEWUSER) == 0 ? 0 : errno; });
  if (code == 0) return {true, ""};
  if (code < 0) return {false, "probe child did not exit normally"};
  return {false, std::string("unshare(CLONE_NEWUSER) failed: ") + std::strerror(code) +
                     " (check /proc/sys/kernel/unprivileged_userns_clone and user.max_user_namespaces)"};
}

ProbeResult probe_seccomp() {
  // The child installs a filter denying uname(2) with EPERM, then checks the denial happens.
  int code = run_in_child([] {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == nullptr) return 100;
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(uname), 0) != 0) return 101;
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) return 102;
    struct utsname u;
    return (uname(&u) == -1 && errno == EPERM) ? 0 : 103;
  });
  switch (code) {
    case 0: return {true, ""};
    case 100: return {false, "seccomp_init failed"};
    case 101: return {false, "seccomp_rule_add failed"};
    case 102: return {false, "seccomp_load failed: the kernel refuses seccomp filters"};
    case 103: return {false, "a loaded filter was not enforced"};
    default: return {false, "probe child did not exit normally"};
  }
}

std::string libseccomp_version() {
  const scmp_version * v = seccomp_version();
  if (v == nullptr) return "unknown";
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
}

}  // namespace m1::sandbox
