// `m1 bench sessions` run as a user would, on a tiny random model folder without a tokenizer
// (so also covering weights-only folders): per-turn counts follow from the turn structure
// (T new tokens, G generated, the last token of each call kept for the next).
#include <gtest/gtest.h>

#include "tests/runtime/temp_path.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/random_checkpoint.h"
#include "tests/common/run_command.h"
#include "tests/kernels/gpu_test_support.h"

namespace m1 {
namespace {

const std::string & tiny_model() {
  static const std::string dir = [] {
    const std::string d = testing::temp_path("m1_bench_sessions_model");
    std::filesystem::remove_all(d);
    Status written = write_random_checkpoint(d, m1_shaped_config({300, 32, 8, 2, 1, 16, 8, 4, 2, 32, 16}), {});
    EXPECT_TRUE(written.ok()) << written.message();
    return d;
  }();
  static const testing::RemovedAtExit cleanup{dir};
  return dir;
}

std::vector<nlohmann::json> run_json(const std::string & extra) {
  test::CommandResult r = test::run_command(std::string(M1_BINARY) + " bench sessions --model " + tiny_model() +
                                            " --turns 4 --tokens-per-turn 20 --generate 3 --threads 1 --json " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(BenchSessions, CachedTurnsComputeOnlyTheNewTokens) {
  const std::vector<nlohmann::json> lines = run_json("");
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json & l = lines[i];
    EXPECT_EQ(l["turn"], i + 1);
    EXPECT_EQ(l["history"], 23 * i);                     // 20 new + 3 generated per turn
    EXPECT_EQ(l["prefilled"], i == 0 ? 22u : 23u);       // never the history again
    EXPECT_EQ(l["reused"], i == 0 ? 0u : 23 * i - 1);    // all but the last generated token
    EXPECT_GT(l["ms"].get<double>(), 0.0);
  }
}

TEST(BenchSessions, NoCacheReprefillsTheWholeHistory) {
  for (const std::string & extra : {std::string("--no-cache"), std::string("--no-cache --measure-every 2")}) {
    const std::vector<nlohmann::json> lines = run_json(extra);
    const std::vector<int> turns = extra.find("every") != std::string::npos ? std::vector<int>{1, 2, 4}
                                                                            : std::vector<int>{1, 2, 3, 4};
    ASSERT_EQ(lines.size(), turns.size()) << extra;
    for (size_t i = 0; i < lines.size(); ++i) {
      const size_t history = 23 * size_t(turns[i] - 1);
      EXPECT_EQ(lines[i]["turn"], turns[i]);
      EXPECT_EQ(lines[i]["history"], history);
      EXPECT_EQ(lines[i]["prefilled"], history + 22);
      EXPECT_EQ(lines[i]["reused"], 0u);
    }
  }
}

TEST(BenchSessions, BadModelFolderIsOneErrorLine) {
  test::CommandResult r = test::run_command(std::string(M1_BINARY) +
                                            " bench sessions --model /nonexistent/model --turns 2 --tokens-per-turn 5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("m1: bench sessions: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Where CUDA or a device is missing, asking for one is a one-line error that says which.
TEST(BenchSessions, CudaWithoutADeviceIsOneErrorLine) {
  const std::string reason = test::gpu_unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device is present (GpuBenchSessions runs there)";
  test::CommandResult r = test::run_command(std::string(M1_BINARY) + " bench sessions --model " + tiny_model() +
                                            " --turns 2 --tokens-per-turn 5 --device cuda");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("m1: bench sessions: engine: device cuda:0: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(GpuBenchSessions, CachedTurnsOnTheDeviceComputeOnlyTheNewTokens) {
  const std::string reason = test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const std::vector<nlohmann::json> lines = run_json("--device cuda");
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["history"], 23 * i);
    EXPECT_EQ(lines[i]["prefilled"], i == 0 ? 22u : 23u);
    EXPECT_EQ(lines[i]["reused"], i == 0 ? 0u : 23 * i - 1);
  }
}

}  // namespace
}  // namespace m1
