// Escape suite, process lifecycle: nothing outlives the sandbox (background and daemonized
// children at exit and at timeout, everything when the parent dies), the pid namespace shows only
// the sandbox, no inherited descriptor leaks in, and no zombie is left behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using namespace std::chrono_literals;
using m1::sandbox::Result;
using m1::test::host_pids_with_cmdline;
using m1::test::TempDir;

Result run_script(const std::string & script, double timeout = 20) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::shell_request(ws.path(), script);
  request.limits.wall_seconds = timeout;
  m1::Expected<Result> r = m1::sandbox::run(request);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : Result();
}

TEST(EscapeLifecycle, BackgroundChildrenDieWhenTheCommandExits) {
  Result r = run_script("sleep 987601 & sleep 987602 & echo started");
  EXPECT_EQ(r.out.text(), "started\n");
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987601"}).empty());
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987602"}).empty());
}

TEST(EscapeLifecycle, DaemonizedChildrenDieToo) {
  // setsid + double fork + closed stdio: a daemon's escape from its parent and session.
  Result r = run_script("setsid sh -c 'sleep 987603 </dev/null >/dev/null 2>&1 &' ; nohup sleep 987604 >/dev/null 2>&1 & echo ok");
  EXPECT_EQ(r.out.text(), "ok\n");
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987603"}).empty());
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987604"}).empty());
}

TEST(EscapeLifecycle, TimeoutKillsEveryDescendant) {
  Result r = run_script("sleep 987605 & (sleep 987606 &) ; echo waiting; sleep 987607", 0.5);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.limit, m1::sandbox::LimitHit::wall_time);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.out.text(), "waiting\n");
  EXPECT_LT(r.wall_seconds, 10);  // far below the sleeps; generous for a loaded 2-core CI machine
  for (const char * marker : {"987605", "987606", "987607"}) EXPECT_TRUE(host_pids_with_cmdline({"sleep", marker}).empty());
}

TEST(EscapeLifecycle, SandboxDiesWithItsParent) {
  TempDir ws;
  pid_t parent = fork();
  if (parent == 0) {
    execl(m1::test::m1_binary(), "m1", "sandbox", "run", "--workspace", ws.path().c_str(), "--", "sleep", "987608",
          static_cast<char *>(nullptr));
    _exit(127);
  }
  auto until = std::chrono::steady_clock::now() + 5s;
  while (host_pids_with_cmdline({"sleep", "987608"}).empty() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(host_pids_with_cmdline({"sleep", "987608"}).size(), 1u);
  kill(parent, SIGKILL);
  waitpid(parent, nullptr, 0);
  until = std::chrono::steady_clock::now() + 3s;
  while (!host_pids_with_cmdline({"sleep", "987608"}).empty() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987608"}).empty());
}

TEST(EscapeLifecycle, PidNamespaceShowsOnlyTheSandbox) {
  Result r = run_script("echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l");
  // pid 1 is the sandbox's init, the shell is 2; ls, grep and wc make the count at most 5.
  std::string out = r.out.text();
  EXPECT_EQ(out.substr(0, 2), "2\n");
  int count = std::stoi(out.substr(2));
  EXPECT_GE(count, 2);
  EXPECT_LE(count, 5);
}

TEST(EscapeLifecycle, NoInheritedDescriptorLeaksIn) {
  // Descriptors without close-on-exec, as a careless library would leave them.
  int leaked_file = open("/etc/hostname", O_RDONLY);
  int leaked_pipe[2];
  ASSERT_EQ(pipe(leaked_pipe), 0);
  TempDir ws;
  m1::Expected<Result> r = m1::sandbox::run(m1::test::probe_request(ws.path(), {m1::test::fd_probe()}));
  close(leaked_file);
  close(leaked_pipe[0]);
  close(leaked_pipe[1]);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.text(), "0 1 2 \n");
}

TEST(EscapeLifecycle, NoZombiesOrStrayChildrenAfterManyRuns) {
  for (int i = 0; i < 20; ++i) run_script("sleep 987609 & true");
  EXPECT_TRUE(host_pids_with_cmdline({"sleep", "987609"}).empty());
  // Every sandbox's init was reaped: this process has no child left at all.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
