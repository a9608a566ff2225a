// DeviceBuffer and PinnedHostBuffer for builds without CUDA: nothing can be allocated.
#include "kernels/device_memory.h"

#include "m1_build_config.h"

namespace m1::kernels {

DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer::DeviceBuffer(DeviceBuffer && other) noexcept = default;
DeviceBuffer & DeviceBuffer::operator=(DeviceBuffer && other) noexcept = default;
void DeviceBuffer::release() {}

Expected<DeviceBuffer> DeviceBuffer::allocate(int, size_t) {
  return Status::error(std::string("device memory: built without CUDA (") + M1_CUDA_REASON + ")");
}
Status DeviceBuffer::upload(const void *, size_t) { return Status::error("device memory: no buffer"); }
Status DeviceBuffer::download(void *, size_t) const { return Status::error("device memory: no buffer"); }

PinnedHostBuffer::~PinnedHostBuffer() = default;
PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer && other) noexcept = default;
PinnedHostBuffer & PinnedHostBuffer::operator=(PinnedHostBuffer && other) noexcept = default;

Expected<PinnedHostBuffer> PinnedHostBuffer::allocate(size_t) {
  return Status::error(std::string("pinned host memory: built without CUDA (") + M1_CUDA_REASON + ")");
}

Status make_device_current(int) {
  return Status::error(std::string("device memory: built without CUDA (") + M1_CUDA_REASON + ")");
}

}  // namespace m1::kernels
