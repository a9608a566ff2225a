// Helpers for the Gpu kernel suites: why a suite must skip, bf16 rounding as the hardware does it
// (round to nearest even), and device buffers filled from host vectors (relative_error comes
// from test_values.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/bf16.h"
#include "kernels/device_info.h"
#include "kernels/device_memory.h"
#include "tests/kernels/test_values.h"  // relative_error

namespace m1::test {

// Why the Gpu tests cannot run here, or empty when they can.
inline std::string gpu_unavailable_reason() {
  kernels::AcceleratorReport report = kernels::probe_accelerators();
  if (!report.cuda_built) return report.cuda_reason.empty() ? "built without CUDA" : report.cuda_reason;
  if (report.devices.empty()) return report.cuda_reason.empty() ? "no CUDA device" : report.cuda_reason;
  return "";
}

inline std::uint16_t to_bf16(float f) { return f32_to_bf16(f); }
inline float from_bf16(std::uint16_t b) { return bf16_to_f32(b); }
inline float round_bf16(float f) { return from_bf16(to_bf16(f)); }

// A device buffer holding a copy of `host`; the test fails at the caller if this does not hold.
template <typename T> kernels::DeviceBuffer device_copy(const std::vector<T> & host) {
  auto buffer = kernels::DeviceBuffer::allocate(0, host.size() * sizeof(T));
  if (!buffer.ok()) return kernels::DeviceBuffer();
  if (!buffer->upload(host.data(), host.size() * sizeof(T)).ok()) return kernels::DeviceBuffer();
  return std::move(buffer.value());
}

template <typename T> std::vector<T> host_copy(const kernels::DeviceBuffer & buffer, size_t n) {
  std::vector<T> host(n);
  if (!buffer.download(host.data(), n * sizeof(T)).ok()) host.clear();
  return host;
}

}  // namespace m1::test
