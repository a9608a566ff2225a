// Device memory round trips. The Gpu suite needs a CUDA device and is skipped, with the reason,
// where there is none; the cpu suite checks what a build or machine without one reports.
#include "kernels/device_memory.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/device_info.h"

namespace {

// Why the Gpu tests cannot run here, or empty when they can.
std::string gpu_unavailable_reason() {
  m1::kernels::AcceleratorReport report = m1::kernels::probe_accelerators();
  if (!report.cuda_built) return report.cuda_reason;
  if (report.devices.empty()) return report.cuda_reason.empty() ? "no CUDA device" : report.cuda_reason;
  return "";
}

}  // namespace

TEST(DeviceMemoryGpu, RoundTripPreservesEveryByte) {
  std::string reason = gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  std::mt19937 rng(7);
  std::vector<uint32_t> sent(1 << 20);
  for (uint32_t & v : sent) v = rng();
  auto buffer = m1::kernels::DeviceBuffer::allocate(0, sent.size() * 4);
  ASSERT_TRUE(buffer.ok()) << buffer.status().message();
  ASSERT_TRUE(buffer->upload(sent.data(), sent.size() * 4).ok());
  std::vector<uint32_t> received(sent.size(), 0);
  ASSERT_TRUE(buffer->download(received.data(), received.size() * 4).ok());
  EXPECT_EQ(sent, received);
}

TEST(DeviceMemoryGpu, OversizedCopyIsAnErrorNotACrash) {
  std::string reason = gpu_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;

  auto buffer = m1::kernels::DeviceBuffer::allocate(0, 16);
  ASSERT_TRUE(buffer.ok());
  std::vector<char> big(32);
  m1::Status status = buffer->upload(big.data(), big.size());
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("32 bytes"), std::string::npos) << status.message();
}

TEST(DeviceMemory, AllocationWithoutUsableCudaExplainsWhy) {
  if (gpu_unavailable_reason().empty()) GTEST_SKIP() << "a CUDA device is present; covered by the Gpu suite";
  auto buffer = m1::kernels::DeviceBuffer::allocate(0, 16);
  ASSERT_FALSE(buffer.ok());
  EXPECT_FALSE(buffer.status().message().empty());
}
