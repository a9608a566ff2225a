// Escape suite, privileges: no capabilities in any set, no-new-privs and seccomp set, setuid
// binaries powerless, no way to signal host processes or pid 1, and the whole sandbox working
// unprivileged (as nobody, through setpriv, when the tests run as root).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/run_command.h"
#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using m1::sandbox::Result;
using m1::test::TempDir;

Result run_script(const std::string & workspace, const std::string & script) {
  m1::Expected<Result> r = m1::sandbox::run(m1::test::shell_request(workspace, script));
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Result();
}

TEST(EscapePrivilege, EveryCapabilitySetIsEmpty) {
  TempDir ws;
  Result r = run_script(ws.path(), "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | awk '{print $2}' | sort -u");
  EXPECT_EQ(r.out.text(), "0000000000000000\n");
}

TEST(EscapePrivilege, NoNewPrivsAndSeccompFilterAreSet) {
  TempDir ws;
  Result r = run_script(ws.path(), "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t ' ' '");
  EXPECT_EQ(r.out.text(), "NoNewPrivs: 1\nSeccomp: 2\n");
}

TEST(EscapePrivilege, SetuidBinaryIsPowerless) {
  if (geteuid() != 0) GTEST_SKIP() << "making a setuid binary owned by another user needs root";
  TempDir dir{"m1-suid", "/var/tmp"};
  std::string copy = dir / "euid_probe";
  ASSERT_EQ(std::system(("cp " + std::string(m1::test::euid_probe()) + " " + copy).c_str()), 0);
  ASSERT_EQ(chown(copy.c_str(), m1::test::kNobody, m1::test::kNobody), 0);
  ASSERT_EQ(chmod(copy.c_str(), 04755), 0);
  // Outside the sandbox the bit works (the oracle that the binary is really setuid)...
  m1::test::CommandResult outside = m1::test::run_command(copy);
  EXPECT_EQ(outside.out, "0 65534\n");
  // ...inside it does not.
  TempDir ws;
  Result r = run_script(ws.path(), copy);
  EXPECT_EQ(r.out.text(), "0 0\n");
}

TEST(EscapePrivilege, CannotSeeOrSignalHostProcesses) {
  TempDir ws;
  Result r = run_script(ws.path(), "kill -0 " + std::to_string(getpid()) + " 2>/dev/null && echo visible; "
                                   "kill -0 1 && echo init-visible; ls /proc/" + std::to_string(getpid()) +
                                   " >/dev/null 2>&1 && echo proc-visible; true");
  // The only pid 1 it sees is its own init; the test's pid does not exist there (or is another).
  EXPECT_EQ(r.out.text().find("proc-visible"), std::string::npos);
}

TEST(EscapePrivilege, KillingPidOneFromInsideDoesNothing) {
  TempDir ws;
  Result r = run_script(ws.path(), "kill -KILL 1; kill -TERM 1; sleep 0.1; echo survived");
  EXPECT_EQ(r.out.text(), "survived\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(EscapePrivilege, HostnameIsPrivate) {
  TempDir ws;
  Result r = run_script(ws.path(), "hostname; hostname evil 2>/dev/null; hostname");
  EXPECT_EQ(r.out.text(), "m1-sandbox\nm1-sandbox\n");
}

// Runs `m1 sandbox run --json` as nobody; the workspace must be writable by nobody.
nlohmann::json run_as_nobody(const std::string & workspace, const std::string & extra_flags, const std::string & script) {
  std::string command = "setpriv --reuid=" + std::to_string(m1::test::kNobody) + " --regid=" +
                        std::to_string(m1::test::kNobody) + " --clear-groups " + m1::test::m1_binary_for_nobody() +
                        " sandbox run --json --workspace " + workspace + " " + extra_flags + " -- /bin/sh -c '" +
                        script + "'";
  m1::test::CommandResult result = m1::test::run_command(command);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return nlohmann::json::parse(result.out, nullptr, false);
}

class UnprivilegedSandbox : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "already unprivileged: the whole suite covers this case";
    if (std::system("command -v setpriv >/dev/null") != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
    chmod(ws_.path().c_str(), 0777);
    // An unprivileged user may be refused user namespaces (sysctl, AppArmor): skip with the reason.
    m1::test::CommandResult probe = m1::test::run_command(
        "setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(m1::test::m1_binary_for_nobody()) +
        " sandbox run --workspace " + ws_.path() + " -- true");
    if (probe.exit_code == 125) GTEST_SKIP() << "unprivileged sandbox unavailable here: " << probe.err;
  }
  TempDir ws_;
};

TEST_F(UnprivilegedSandbox, RunsIsolatedAsTheCaller) {
  nlohmann::json r = run_as_nobody(ws_.path(), "", "id -u; echo x > made; echo y > /etc/m1-nobody; "
                                                   "grep CapEff /proc/self/status | tr -s \"\\t \" \" \"");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["stdout"]["text"], "65534\nCapEff: 0000000000000000\n");
  struct stat info;
  ASSERT_EQ(stat((ws_ / "made").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, m1::test::kNobody);
  EXPECT_FALSE(m1::test::exists("/etc/m1-nobody"));
}

TEST_F(UnprivilegedSandbox, SyscallFilterAndNetworkIsolationHold) {
  nlohmann::json r = run_as_nobody(ws_.path(), "", std::string(m1::test::syscall_probe()) +
                                                       " mount socket_inet unshare_newuser socket_unix");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["stdout"]["text"], "mount=EPERM\nsocket_inet=EPERM\nunshare_newuser=EPERM\nsocket_unix=ok\n");
}

TEST_F(UnprivilegedSandbox, ProcessLimitHoldsThroughRlimit) {
  // No cgroup is writable by nobody: RLIMIT_NPROC, counted inside the user namespace, holds.
  m1::test::write_file(ws_ / "forks.py", m1::test::kForkCounter);
  nlohmann::json r = run_as_nobody(ws_.path(), "--pids 8 --timeout 10", "exec python3 forks.py");
  ASSERT_TRUE(r.is_object());
  // 8 processes: python itself and 7 children at most.
  EXPECT_EQ(r["stdout"]["text"], "7\n") << r["stderr"]["text"];
}

}  // namespace
