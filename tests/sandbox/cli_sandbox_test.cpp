// `m1 sandbox run` as DESIGN.md defines it: plain mode passes output through and exits with the
// child's status (128+signal when killed); --json prints the structured result; a sandbox that
// cannot be built is one line "m1: sandbox: <why>".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../common/run_command.h"
#include "sandbox_test_support.h"

namespace {

using m1::test::run_command;
using m1::test::TempDir;

std::string m1_sandbox(const std::string & workspace) {
  return std::string(m1::test::m1_binary()) + " sandbox run --workspace " + workspace;
}

TEST(CliSandbox, PlainModePassesOutputAndExitStatusThrough) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " -- sh -c 'echo out; echo err >&2; exit 3'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(CliSandbox, PlainModeExitsWith128PlusSignal) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " -- sh -c 'kill -KILL $$'");
  EXPECT_EQ(r.exit_code, 128 + 9);
}

TEST(CliSandbox, PlainModePassesStdinThrough) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " -- tr a-z A-Z", "hello\n");
  EXPECT_EQ(r.out, "HELLO\n");
}

TEST(CliSandbox, TimeoutKillsAndSaysWhich) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " --timeout 0.3 -- sleep 30");
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_EQ(r.err, "m1: sandbox: wall_time limit hit\n");
}

TEST(CliSandbox, JsonPrintsTheStructuredResult) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " --json -- sh -c 'echo hi; exit 4'");
  EXPECT_EQ(r.exit_code, 0);
  nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << r.out;
  EXPECT_EQ(json["exit_code"], 4);
  EXPECT_EQ(json["signal"], 0);
  EXPECT_EQ(json["timed_out"], false);
  EXPECT_EQ(json["limit"], "none");
  EXPECT_TRUE(json["seccomp_violation"].is_null());
  EXPECT_EQ(json["stdout"]["text"], "hi\n");
  EXPECT_EQ(json["stdout"]["total_bytes"], 3);
  EXPECT_GT(json["wall_seconds"].get<double>(), 0);
}

TEST(CliSandbox, JsonReportsViolationAndNetworkFlag) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) + " --json --net -- " + m1::test::syscall_probe() + " socket_inet ptrace");
  nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << r.out;
  EXPECT_EQ(json["stdout"]["text"], "socket_inet=ok\n");
  EXPECT_EQ(json["seccomp_violation"], "ptrace");
  EXPECT_EQ(json["signal"], 31);
}

TEST(CliSandbox, MemoryAndPidsFlagsApply) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws.path()) +
                       " --json --memory 64 --pids 16 -- python3 -c 'a = bytearray(512 << 20); print(len(a))'");
  nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(json.is_object()) << r.out;
  EXPECT_EQ(json["stdout"]["text"], "");
  EXPECT_NE(json["status"], 0);
}

TEST(CliSandbox, UnbuildableSandboxIsOneErrorLine) {
  TempDir ws;
  auto r = run_command(m1_sandbox(ws / "missing") + " -- true");
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(r.err.rfind("m1: sandbox: sandbox: workspace '", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST(CliSandbox, MissingCommandIsABadCommandLine) {
  auto r = run_command(std::string(m1::test::m1_binary()) + " sandbox run --json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("m1: ", 0), 0u) << r.err;
}

}  // namespace
