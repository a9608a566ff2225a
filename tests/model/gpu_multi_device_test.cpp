// The GPU model on the machine's last CUDA device (cuda:N, N > 0) against the same model on
// device 0. The same kernels on the same kind of card compute the same sums in the same order, so
// the logits must be bit-identical; the two models are used in turn from one thread, so each call
// must make its own device current (a kernel launched on the wrong device fails or reads another
// card's memory). Skipped, with the reason, on machines with fewer than two devices.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "model/gpu_model.h"
#include "tests/kernels/gpu_test_support.h"
#include "tests/model/golden_fixtures.h"

namespace {

using m1::GpuMemory;
using m1::GpuModel;
using m1::GpuSequenceInput;
using m1::LogitRows;

std::unique_ptr<GpuModel> open_on(const m1::test::GoldenFixture & fx, int device) {
  m1::GpuModelOptions options;
  options.device = device;
  options.max_sequences = 2;
  options.max_cached_tokens = 4096;
  auto model = GpuModel::open(fx.folder, options);
  EXPECT_TRUE(model.ok()) << "cuda:" << device << ": " << model.status().message();
  return model ? std::move(model).value() : nullptr;
}

std::vector<float> step(GpuModel & model, GpuMemory & memory, std::span<const int32_t> tokens) {
  GpuSequenceInput in{&memory, tokens, LogitRows::all};
  auto out = model.forward(std::span<const GpuSequenceInput>(&in, 1));
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out ? (*out)[0].values : std::vector<float>();
}

TEST(GpuMultiDevice, LastDeviceMatchesDeviceZeroBitIdentically) {
  const std::string reason = m1::test::gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const m1::kernels::AcceleratorReport report = m1::kernels::probe_accelerators();
  if (report.devices.size() < 2) GTEST_SKIP() << "one CUDA device: a second device is needed";
  const m1::kernels::CudaDevice & first = report.devices.front(), & last = report.devices.back();
  if (first.name != last.name)
    GTEST_SKIP() << "devices 0 and " << last.index << " differ (" << first.name << ", " << last.name
                 << "): bit-identity needs one kind of card";
  for (const m1::test::GoldenFixture & fx : m1::test::load_golden_fixtures()) {
    auto zero = open_on(fx, first.index), other = open_on(fx, last.index);
    ASSERT_TRUE(zero && other) << fx.name;
    auto m0 = zero->new_memory(), mn = other->new_memory();
    ASSERT_TRUE(m0.ok() && mn.ok()) << fx.name;
    const std::vector<int32_t> & tokens = fx.sequences[0].tokens;
    // Prefill in chunks of 7, then decode token by token (CUDA graphs), the two devices in turn.
    const size_t prefill = std::min<size_t>(tokens.size() / 2, 70);
    for (size_t t = 0; t < tokens.size();) {
      const size_t n = t < prefill ? std::min<size_t>(7, prefill - t) : 1;
      const std::span<const int32_t> chunk = std::span<const int32_t>(tokens).subspan(t, n);
      const std::vector<float> want = step(*zero, *m0, chunk), got = step(*other, *mn, chunk);
      ASSERT_FALSE(want.empty()) << fx.name;
      ASSERT_EQ(got, want) << fx.name << " tokens " << t << ".." << t + n << " on cuda:" << last.index;
      t += n;
    }
    EXPECT_GT(other->graph_replays(), 0) << fx.name;
  }
}

}  // namespace
