// sandbox::start(): the persistent process the bash tool keeps between calls.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "sandbox/sandbox.h"
#include "sandbox_test_support.h"

namespace {

using namespace std::chrono_literals;
using m1::test::TempDir;

// Reads until `marker` appears or `deadline` passes.
std::string read_until(m1::sandbox::Process & process, const std::string & marker,
                       std::chrono::milliseconds deadline = 5000ms) {
  std::string seen;
  auto until = std::chrono::steady_clock::now() + deadline;
  while (seen.find(marker) == std::string::npos && std::chrono::steady_clock::now() < until) {
    m1::Expected<std::string> chunk = process.read_output(100ms);
    if (!chunk.ok()) break;
    seen += *chunk;
  }
  return seen;
}

TEST(SandboxProcess, ShellKeepsStateBetweenCommands) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::probe_request(ws.path(), {"/bin/sh"});
  auto process = m1::sandbox::start(request);
  ASSERT_TRUE(process.ok()) << process.status().message();
  ASSERT_TRUE((*process)->write_stdin("X=42; cd /tmp; echo done1\n").ok());
  EXPECT_NE(read_until(**process, "done1").find("done1"), std::string::npos);
  ASSERT_TRUE((*process)->write_stdin("echo $X $(pwd); echo oops >&2; echo done2\n").ok());
  std::string out = read_until(**process, "done2");
  EXPECT_NE(out.find("42 /tmp\noops\ndone2"), std::string::npos) << out;
  EXPECT_TRUE((*process)->running());
}

TEST(SandboxProcess, ReadTimesOutWhenSilent) {
  TempDir ws;
  auto process = m1::sandbox::start(m1::test::probe_request(ws.path(), {"/bin/sh"}));
  ASSERT_TRUE(process.ok());
  auto started = std::chrono::steady_clock::now();
  m1::Expected<std::string> chunk = (*process)->read_output(200ms);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(*chunk, "");
  EXPECT_GE(std::chrono::steady_clock::now() - started, 190ms);
}

TEST(SandboxProcess, ExitIsSeenAndKillEndsEverything) {
  TempDir ws;
  auto process = m1::sandbox::start(m1::test::probe_request(ws.path(), {"/bin/sh"}));
  ASSERT_TRUE(process.ok());
  ASSERT_TRUE((*process)->write_stdin("exec sleep 987651\n").ok());
  auto until = std::chrono::steady_clock::now() + 5s;
  while (m1::test::host_pids_with_cmdline({"sleep", "987651"}).empty() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(m1::test::host_pids_with_cmdline({"sleep", "987651"}).size(), 1u);
  (*process)->kill();
  EXPECT_FALSE((*process)->running());
  EXPECT_TRUE(m1::test::host_pids_with_cmdline({"sleep", "987651"}).empty());
}

TEST(SandboxProcess, ExitedShellIsNotRunning) {
  TempDir ws;
  auto process = m1::sandbox::start(m1::test::probe_request(ws.path(), {"/bin/sh"}));
  ASSERT_TRUE(process.ok());
  ASSERT_TRUE((*process)->write_stdin("exit 0\n").ok());
  auto until = std::chrono::steady_clock::now() + 5s;
  while ((*process)->running() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE((*process)->running());
  EXPECT_FALSE((*process)->write_stdin("echo too late\n").ok());
}

TEST(SandboxProcess, LifetimeLimitEndsTheProcess) {
  TempDir ws;
  m1::sandbox::Request request = m1::test::probe_request(ws.path(), {"/bin/sh"});
  request.limits.wall_seconds = 0.5;
  auto process = m1::sandbox::start(request);
  ASSERT_TRUE(process.ok());
  auto until = std::chrono::steady_clock::now() + 5s;
  while ((*process)->running() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE((*process)->running());
}

TEST(SandboxProcess, DestructorLeavesNoProcess) {
  TempDir ws;
  {
    auto process = m1::sandbox::start(m1::test::probe_request(ws.path(), {"/bin/sh"}));
    ASSERT_TRUE(process.ok());
    ASSERT_TRUE((*process)->write_stdin("sleep 987652 &\necho bg\n").ok());
    EXPECT_NE(read_until(**process, "bg").find("bg"), std::string::npos);
    auto until = std::chrono::steady_clock::now() + 5s;  // the background job may not have exec'd yet
    while (m1::test::host_pids_with_cmdline({"sleep", "987652"}).empty() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(m1::test::host_pids_with_cmdline({"sleep", "987652"}).size(), 1u);
  }
  EXPECT_TRUE(m1::test::host_pids_with_cmdline({"sleep", "987652"}).empty());
}

}  // namespace
