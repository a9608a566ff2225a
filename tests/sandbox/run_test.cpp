// sandbox::run() end to end: exit statuses, signals, stdin, output capture at any size, the
// environment and working directory, exec failures, and clear errors for requests it refuses.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using m1::sandbox::LimitHit;
using m1::sandbox::Request;
using m1::sandbox::Result;
using m1::test::shell_request;
using m1::test::TempDir;

Result run_ok(const Request & request) {
  m1::Expected<Result> result = m1::sandbox::run(request);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? *result : Result();
}

TEST(SandboxRun, ReportsExitCodeAndSeparateStreams) {
  TempDir ws;
  Result r = run_ok(shell_request(ws.path(), "echo out; echo err >&2; exit 7"));
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.shell_status(), 7);
  EXPECT_EQ(r.out.text(), "out\n");
  EXPECT_EQ(r.err.text(), "err\n");
  EXPECT_EQ(r.limit, LimitHit::none);
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.wall_seconds, 0);
}

TEST(SandboxRun, ReportsTheKillingSignal) {
  TempDir ws;
  Result r = run_ok(shell_request(ws.path(), "kill -TERM $$"));
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(r.shell_status(), 128 + SIGTERM);
}

TEST(SandboxRun, FeedsStdinLargerThanAPipe) {
  TempDir ws;
  Request request = shell_request(ws.path(), "wc -c");
  request.stdin_bytes = std::string(3 << 20, 'x');  // 3 MiB: many pipe buffers
  Result r = run_ok(request);
  EXPECT_EQ(r.out.text(), std::to_string(3 << 20) + "\n");
}

TEST(SandboxRun, CommandThatIgnoresStdinDoesNotDeadlock) {
  TempDir ws;
  Request request = shell_request(ws.path(), "head -c 2000000 /dev/zero | tr '\\0' a");
  request.stdin_bytes = std::string(2 << 20, 'y');  // never read
  Result r = run_ok(request);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.total_bytes, 2000000u);
}

TEST(SandboxRun, CapsBothStreamsKeepingHeadAndTail) {
  TempDir ws;
  Request request = shell_request(ws.path(), "seq 1 100000; seq 1 100000 >&2");
  request.limits.stdout_cap_bytes = 100;
  request.limits.stderr_cap_bytes = 100;
  Result r = run_ok(request);
  std::string full;
  for (int i = 1; i <= 100000; ++i) full += std::to_string(i) + "\n";
  for (const m1::sandbox::CapturedStream * s : {&r.out, &r.err}) {
    EXPECT_EQ(s->total_bytes, full.size());
    EXPECT_EQ(s->head, full.substr(0, 50));
    EXPECT_EQ(s->tail, full.substr(full.size() - 50));
    EXPECT_EQ(s->dropped_bytes, full.size() - 100);
  }
}

TEST(SandboxRun, ChildGetsOnlyTheGivenEnvironmentAndCwd) {
  TempDir ws;
  mkdir((ws / "sub").c_str(), 0755);
  Request request = shell_request(ws.path(), "env | sort; pwd");
  request.env = {"PATH=/usr/bin:/bin", "ONLY=this"};
  request.cwd = ws / "sub";
  Result r = run_ok(request);
  EXPECT_EQ(r.out.text(), "ONLY=this\nPATH=/usr/bin:/bin\nPWD=" + (ws / "sub") + "\n" + (ws / "sub") + "\n");
}

TEST(SandboxRun, ResolvesArgv0ThroughTheRequestPath) {
  TempDir ws;
  Request request = m1::test::probe_request(ws.path(), {"echo", "found"});
  request.env = {"PATH=/nonexistent:/bin"};
  Result r = run_ok(request);
  EXPECT_EQ(r.out.text(), "found\n");
}

TEST(SandboxRun, MissingCommandExits127WithAMessage) {
  TempDir ws;
  Result r = run_ok(m1::test::probe_request(ws.path(), {"no-such-command-m1"}));
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.text().find("no-such-command-m1: command not found"), std::string::npos) << r.err.text();
}

TEST(SandboxRun, RefusesAMissingWorkspaceWithoutRunning) {
  TempDir ws;
  m1::Expected<Result> r = m1::sandbox::run(shell_request(ws / "missing", "touch " + (ws / "ran")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("workspace"), std::string::npos) << r.status().message();
  EXPECT_FALSE(m1::test::exists(ws / "ran"));
}

TEST(SandboxRun, RefusesAnEmptyCommand) {
  TempDir ws;
  Request request = shell_request(ws.path(), "");
  request.argv.clear();
  EXPECT_FALSE(m1::sandbox::run(request).ok());
}

TEST(SandboxRun, CancelKillsTheSandbox) {
  TempDir ws;
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  m1::Expected<Result> r = m1::sandbox::run(shell_request(ws.path(), "echo started; sleep 30"), &cancel);
  canceller.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->limit, LimitHit::cancelled);
  EXPECT_EQ(r->out.text(), "started\n");
  EXPECT_LT(r->wall_seconds, 15);  // far below the 30 s sleep; generous for a loaded machine
}

TEST(SandboxRun, StreamsOutputThroughTheCallback) {
  TempDir ws;
  Request request = shell_request(ws.path(), "echo a; echo b >&2");
  std::string seen_out, seen_err;
  request.on_output = [&](int fd, std::string_view bytes) { (fd == 1 ? seen_out : seen_err) += bytes; };
  Result r = run_ok(request);
  EXPECT_EQ(seen_out, "a\n");
  EXPECT_EQ(seen_err, "b\n");
}

TEST(SandboxRun, ConcurrentRunsFromManyThreads) {
  TempDir ws;
  std::vector<std::thread> threads;
  std::atomic<int> correct{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      m1::Expected<Result> r = m1::sandbox::run(shell_request(ws.path(), "echo " + std::to_string(t)));
      if (r.ok() && r->out.text() == std::to_string(t) + "\n") ++correct;
    });
  for (std::thread & thread : threads) thread.join();
  EXPECT_EQ(correct.load(), 8);
}

}  // namespace
