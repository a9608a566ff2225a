// `m1 bench model` run as a user would, on a golden fixture folder: the JSON line carries what was
// asked for, its rates follow from its times, and bad input is one error line.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/common/run_command.h"
#include "tests/kernels/gpu_test_support.h"

namespace m1 {
namespace {

const std::string kModel = std::string(M1_TEST_DATA_DIR) + "/model/orig_three_shards_long";

nlohmann::json run_json(const std::string & extra) {
  test::CommandResult r = test::run_command(std::string(M1_BINARY) + " bench model --model " + kModel +
                                            " --prefill 40 --decode 6 --runs 2 --threads 1 --json " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

void expect_consistent(const nlohmann::json & j, const std::string & device) {
  EXPECT_EQ(j["device"], device);
  EXPECT_EQ(j["prefill_tokens"], 40);
  EXPECT_EQ(j["decode_steps"], 6);
  const double prefill_ms = j["prefill_ms"].get<double>(), decode_ms = j["decode_ms_per_token"].get<double>();
  ASSERT_GT(prefill_ms, 0.0);
  ASSERT_GT(decode_ms, 0.0);
  // Rates are the counts over the times (printed to 3-4 decimals: 1% covers the rounding).
  EXPECT_NEAR(j["prefill_tokens_per_s"].get<double>(), 40 / prefill_ms * 1e3, 0.01 * 40 / prefill_ms * 1e3);
  EXPECT_NEAR(j["decode_tokens_per_s"].get<double>(), 1e3 / decode_ms, 0.01 * 1e3 / decode_ms);
}

TEST(BenchModel, CpuReportsWhatWasAskedAndConsistentRates) { expect_consistent(run_json(""), "cpu"); }

TEST(BenchModel, BadInputIsOneErrorLine) {
  for (const std::string & args : {std::string("--model /nonexistent/model"), "--model " + kModel + " --prefill 0",
                                   "--model " + kModel + " --device tpu"}) {
    test::CommandResult r = test::run_command(std::string(M1_BINARY) + " bench model " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(r.err.rfind("m1: bench model: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(GpuBenchModel, CudaWithAndWithoutGraphsReportsConsistentRates) {
  const std::string reason = test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  expect_consistent(run_json("--device cuda"), "cuda:0");
  expect_consistent(run_json("--device cuda --no-graphs"), "cuda:0");
}

}  // namespace
}  // namespace m1
