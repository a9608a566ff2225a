// Escape suite, syscalls, probed bubblewrap-style with tests/sandbox/probes/syscall_probe.c: each
// call gets invalid arguments, so that a call the kernel reaches fails with EFAULT/EBADF/EINVAL
// (or succeeds harmlessly) and a call the filter refuses fails with EPERM. Three contexts:
//   control:  the probe with every capability it can have here (real root, or root of a fresh
//             user namespace) and no filter: proves the arguments reach the kernel;
//   filtered: the same context plus the sandbox's seccomp program: proves the rule;
//   sandbox:  the probe inside sandbox::run(): proves the sandbox installs it.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <map>
#include <sstream>

#include "sandbox/seccomp_policy.h"
#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using m1::sandbox::Result;
using m1::test::TempDir;

// Families the filter must refuse with EPERM whatever the network mode.
const std::vector<std::string> kDenied = {
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "open_by_handle_at", "setns",
    "clone_newuser", "clone_newns", "clone_newnet", "clone_newpid", "unshare_newuser", "unshare_newns",
    "unshare_newnet", "unshare_newtime", "tiocsti", "tiocsti_high_bits", "tioclinux", "socket_inet",
    "socket_inet6", "socket_netlink", "socket_packet", "socket_raw", "socket_vsock", "socket_vsock_high_bits"};
// Must stay usable (a filter that refuses too much breaks tools).
const std::vector<std::string> kAllowed = {"socket_unix", "ioctl_other", "getpid"};

std::map<std::string, std::string> parse_probe_output(const std::string & text) {
  std::map<std::string, std::string> results;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) results[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return results;
}

void write_proc(const char * path, const std::string & text) {
  int fd = open(path, O_WRONLY);
  if (fd >= 0) {
    ssize_t ignored = write(fd, text.data(), text.size());
    (void)ignored;
    close(fd);
  }
}

// Runs the probe in the control context, with the sandbox's filter when `program` is set.
std::map<std::string, std::string> probe_outside(const m1::sandbox::SeccompProgram * program,
                                                 const std::vector<std::string> & names) {
  std::vector<std::string> argv_storage = {m1::test::syscall_probe()};
  argv_storage.insert(argv_storage.end(), names.begin(), names.end());
  std::vector<char *> argv;
  for (std::string & arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::string uid_map = std::to_string(geteuid()), gid_map = std::to_string(getegid());
  uid_map = "0 " + uid_map + " 1", gid_map = "0 " + gid_map + " 1";
  int out[2];
  if (pipe(out) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    if (geteuid() != 0) {
      // Root of fresh namespaces: the capabilities an unprivileged control can have.
      if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) != 0) _exit(3);
      write_proc("/proc/self/setgroups", "deny");
      write_proc("/proc/self/uid_map", uid_map);
      write_proc("/proc/self/gid_map", gid_map);
      pid_t inner = fork();  // enters the new pid namespace
      if (inner != 0) {
        int status = 0;
        waitpid(inner, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 4);
      }
    }
    if (program != nullptr) {
      int listener = -1;
      if (m1::sandbox::install_seccomp(*program, &listener)) _exit(5);
      close(listener);  // kill-class calls then fail with ENOSYS: not probed here
    }
    execv(argv[0], argv.data());
    _exit(6);
  }
  close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, size_t(n));
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "probe context failed: " << status;
  return parse_probe_output(text);
}

class SyscallProbes : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    std::vector<std::string> all = kDenied;
    all.insert(all.end(), kAllowed.begin(), kAllowed.end());
    m1::Expected<std::shared_ptr<const m1::sandbox::SeccompProgram>> program = m1::sandbox::seccomp_program(false);
    ASSERT_TRUE(program.ok()) << program.status().message();
    control_ = new std::map<std::string, std::string>(probe_outside(nullptr, all));
    filtered_ = new std::map<std::string, std::string>(probe_outside(program->get(), all));
    TempDir ws;
    std::vector<std::string> argv = {m1::test::syscall_probe()};
    argv.insert(argv.end(), all.begin(), all.end());
    m1::Expected<Result> r = m1::sandbox::run(m1::test::probe_request(ws.path(), argv));
    ASSERT_TRUE(r.ok()) << r.status().message();
    sandboxed_ = new std::map<std::string, std::string>(parse_probe_output(r->out.text()));
  }
  static void TearDownTestSuite() {
    delete control_;
    delete filtered_;
    delete sandboxed_;
  }
  static std::map<std::string, std::string> * control_, * filtered_, * sandboxed_;
};
std::map<std::string, std::string> * SyscallProbes::control_ = nullptr;
std::map<std::string, std::string> * SyscallProbes::filtered_ = nullptr;
std::map<std::string, std::string> * SyscallProbes::sandboxed_ = nullptr;

class DeniedSyscall : public SyscallProbes, public ::testing::WithParamInterface<std::string> {};

TEST_P(DeniedSyscall, IsRefusedWithEperm) {
  const std::string & name = GetParam();
  ASSERT_TRUE(control_->count(name)) << "control probe did not report " << name;
  // Where the kernel itself answers EPERM first (capabilities of the initial namespace an
  // unprivileged control cannot have), the control cannot tell the filter apart: say so.
  if (control_->at(name) == "EPERM")
    GTEST_SKIP() << name << ": the kernel refuses it with EPERM before seccomp could be observed here "
                 << "(needs real root); filtered=" << filtered_->at(name);
  EXPECT_EQ(filtered_->at(name), "EPERM") << name << " (control: " << control_->at(name) << ")";
  EXPECT_EQ(sandboxed_->at(name), "EPERM") << name;
}

INSTANTIATE_TEST_SUITE_P(EscapeSyscall, DeniedSyscall, ::testing::ValuesIn(kDenied),
                         [](const ::testing::TestParamInfo<std::string> & info) { return info.param; });

class AllowedSyscall : public SyscallProbes, public ::testing::WithParamInterface<std::string> {};

TEST_P(AllowedSyscall, StillReachesTheKernel) {
  const std::string & name = GetParam();
  EXPECT_NE(filtered_->at(name), "EPERM") << name;
  EXPECT_EQ(filtered_->at(name), control_->at(name)) << name;
  EXPECT_NE(sandboxed_->at(name), "EPERM") << name;
}

INSTANTIATE_TEST_SUITE_P(EscapeSyscall, AllowedSyscall, ::testing::ValuesIn(kAllowed),
                         [](const ::testing::TestParamInfo<std::string> & info) { return info.param; });

TEST_F(SyscallProbes, Clone3AnswersEnosysSoLibcFallsBackToClone) {
  TempDir ws;
  m1::Expected<Result> r = m1::sandbox::run(m1::test::probe_request(ws.path(), {m1::test::syscall_probe(), "clone3"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.text(), "clone3=ENOSYS\n");
}

Result run_probe(const std::vector<std::string> & names) {
  TempDir ws;
  std::vector<std::string> argv = {m1::test::syscall_probe()};
  argv.insert(argv.end(), names.begin(), names.end());
  m1::Expected<Result> r = m1::sandbox::run(m1::test::probe_request(ws.path(), argv));
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Result();
}

class KillClassSyscall : public ::testing::TestWithParam<std::string> {};

TEST_P(KillClassSyscall, KillsTheCallerAndIsReportedByName) {
  Result r = run_probe({"getpid", GetParam(), "getpid"});
  EXPECT_EQ(r.out.text(), "getpid=ok\n");  // nothing after the violation ran
  EXPECT_EQ(r.signal, SIGSYS);
  ASSERT_TRUE(r.seccomp_violation.has_value());
  EXPECT_EQ(*r.seccomp_violation, GetParam());
}

INSTANTIATE_TEST_SUITE_P(EscapeSyscall, KillClassSyscall,
                         ::testing::Values("ptrace", "process_vm_readv", "process_vm_writev"));

TEST(EscapeSyscall, KillClassCallInAGrandchildIsReported) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::shell_request(
      ws.path(), std::string("( ") + m1::test::syscall_probe() + " ptrace ); echo after=$?");
  m1::Expected<Result> r = m1::sandbox::run(request);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.text(), "after=137\n");  // the caller was killed, the shell went on
  ASSERT_TRUE(r->seccomp_violation.has_value());
  EXPECT_EQ(*r->seccomp_violation, "ptrace");
}

TEST(EscapeSyscall, I386AbiIsKilled) {
  Result r = run_probe({"getpid", "i386", "getpid"});
  EXPECT_EQ(r.out.text(), "getpid=ok\n");
  EXPECT_EQ(r.signal, SIGSYS);
  EXPECT_TRUE(r.seccomp_violation.has_value());
}

TEST(EscapeSyscall, X32AbiIsKilled) {
  Result r = run_probe({"getpid", "x32", "getpid"});
  EXPECT_EQ(r.out.text(), "getpid=ok\n");
  EXPECT_EQ(r.signal, SIGSYS);
  EXPECT_TRUE(r.seccomp_violation.has_value());
}

TEST(EscapeSyscall, NetworkModeStillRefusesVsockButAllowsInet) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::probe_request(
      ws.path(), {m1::test::syscall_probe(), "socket_vsock", "socket_vsock_high_bits", "socket_inet", "mount"});
  request.policy.allow_network = true;
  m1::Expected<Result> r = m1::sandbox::run(request);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.text(), "socket_vsock=EPERM\nsocket_vsock_high_bits=EPERM\nsocket_inet=ok\nmount=EPERM\n");
}

}  // namespace
