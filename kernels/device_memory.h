// Owned device memory, usable from code that compiles without CUDA: the engine moves weights,
// states and KV pages through this type. In a build without CUDA every allocation fails with a
// Status that says so.
#pragma once

#include <cstddef>

#include "common/status.h"

namespace m1::kernels {

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer && other) noexcept;
  DeviceBuffer & operator=(DeviceBuffer && other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer & operator=(const DeviceBuffer &) = delete;

  static Expected<DeviceBuffer> allocate(int device, size_t n_bytes);

  // Synchronous copies of the first n_bytes; fail when n_bytes exceeds the buffer.
  Status upload(const void * host, size_t n_bytes);
  Status download(void * host, size_t n_bytes) const;

  void * data() const { return data_; }
  size_t size() const { return n_bytes_; }
  int device() const { return device_; }

private:
  void release();
  void * data_ = nullptr;
  size_t n_bytes_ = 0;
  int device_ = -1;
};

// Page-locked host memory for a decode step's small transfers (the batch plan up, the logits down):
// copies from and to it run asynchronously on a stream, where a pageable copy of the same bytes
// stages through a driver buffer and holds the host. In a build without CUDA allocation fails.
class PinnedHostBuffer {
public:
  PinnedHostBuffer() = default;
  ~PinnedHostBuffer();
  PinnedHostBuffer(PinnedHostBuffer && other) noexcept;
  PinnedHostBuffer & operator=(PinnedHostBuffer && other) noexcept;
  PinnedHostBuffer(const PinnedHostBuffer &) = delete;
  PinnedHostBuffer & operator=(const PinnedHostBuffer &) = delete;

  static Expected<PinnedHostBuffer> allocate(size_t n_bytes);

  void * data() const { return data_; }
  size_t size() const { return n_bytes_; }

private:
  void * data_ = nullptr;
  size_t n_bytes_ = 0;
};

// Makes `device` the calling thread's current CUDA device (kernels launch there). Threads other
// than the one that allocated some buffers call this before launching work on them.
Status make_device_current(int device);

}  // namespace m1::kernels
