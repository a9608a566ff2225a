// Black-box tests of the `m1` executable: the doctor report and the error convention
// ("m1: <what>: <why>" on one stderr line, non-zero exit) from DESIGN.md.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <string>

#include "m1_build_config.h"
#include "tests/common/run_command.h"

namespace {

using m1::test::run_command;

int count_lines(const std::string & text) { return int(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST(CliDoctor, ReportsVersionAndEveryComponent) {
  auto r = run_command(std::string(M1_BINARY) + " doctor");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(std::string("m1 ") + M1_VERSION + " (", 0), 0u) << r.out;
  for (const char * component : {"cpu", "cuda", "nccl", "user namespaces", "seccomp", "sqlite"})
    EXPECT_NE(r.out.find(std::string("  ") + component + " "), std::string::npos) << component << "\n" << r.out;
  // The SQLite version printed is the library the binary links, as SQLite itself reports it.
  EXPECT_NE(r.out.find(std::string("version ") + sqlite3_libversion()), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliDoctor, CudaLineGivesAReasonWhenNotUsable) {
  auto r = run_command(std::string(M1_BINARY) + " doctor");
  ASSERT_EQ(r.exit_code, 0);
  size_t at = r.out.find("  cuda ");
  ASSERT_NE(at, std::string::npos);
  std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  if (!M1_HAVE_CUDA) {
    EXPECT_NE(line.find(" no "), std::string::npos) << line;
    EXPECT_NE(line.find("not built"), std::string::npos) << line;
  }
  if (line.find(" no ") != std::string::npos) {
    EXPECT_GT(line.size(), 30u) << "no reason: " << line;
  }
}

TEST(CliErrors, UnknownCommandIsOneLineAndUsageExit) {
  auto r = run_command(std::string(M1_BINARY) + " frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("m1: frobnicate: unknown command (commands: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("doctor"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliErrors, BadFlagNamesTheCommand) {
  auto r = run_command(std::string(M1_BINARY) + " doctor --no-such-flag");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("m1: doctor: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(CliErrors, NoCommandIsAnError) {
  auto r = run_command(std::string(M1_BINARY));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("m1: ", 0), 0u) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(CliErrors, VersionAndHelpSucceed) {
  auto version = run_command(std::string(M1_BINARY) + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("m1 ") + M1_VERSION + "\n");
  auto help = run_command(std::string(M1_BINARY) + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("doctor"), std::string::npos);
}
