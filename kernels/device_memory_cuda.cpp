// DeviceBuffer on the CUDA runtime: cudaMalloc on the chosen device, synchronous copies; and
// PinnedHostBuffer: cudaMallocHost.
#include "kernels/device_memory.h"

#include <utility>

#include "kernels/cuda/check.h"

namespace m1::kernels {

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer && other) noexcept
    : data_(std::exchange(other.data_, nullptr)), n_bytes_(std::exchange(other.n_bytes_, 0)),
      device_(std::exchange(other.device_, -1)) {}

DeviceBuffer & DeviceBuffer::operator=(DeviceBuffer && other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    n_bytes_ = std::exchange(other.n_bytes_, 0);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void DeviceBuffer::release() {
  if (data_ == nullptr) return;
  cudaSetDevice(device_);
  cudaFree(data_);  // a failure here cannot be acted on; the pointer is gone either way
  data_ = nullptr;
}

Expected<DeviceBuffer> DeviceBuffer::allocate(int device, size_t n_bytes) {
  M1_CUDA_STATUS(cudaSetDevice(device));
  DeviceBuffer buffer;
  M1_CUDA_STATUS(cudaMalloc(&buffer.data_, n_bytes));
  buffer.n_bytes_ = n_bytes;
  buffer.device_ = device;
  return buffer;
}

Status DeviceBuffer::upload(const void * host, size_t n_bytes) {
  if (n_bytes > n_bytes_)
    return Status::error("device memory: upload of " + std::to_string(n_bytes) +
                         " bytes into a buffer of " + std::to_string(n_bytes_));
  M1_CUDA_STATUS(cudaSetDevice(device_));
  M1_CUDA_STATUS(cudaMemcpy(data_, host, n_bytes, cudaMemcpyHostToDevice));
  return {};
}

Status DeviceBuffer::download(void * host, size_t n_bytes) const {
  if (n_bytes > n_bytes_)
    return Status::error("device memory: download of " + std::to_string(n_bytes) +
                         " bytes from a buffer of " + std::to_string(n_bytes_));
  M1_CUDA_STATUS(cudaSetDevice(device_));
  M1_CUDA_STATUS(cudaMemcpy(host, data_, n_bytes, cudaMemcpyDeviceToHost));
  return {};
}

PinnedHostBuffer::~PinnedHostBuffer() {
  if (data_ != nullptr) cudaFreeHost(data_);  // a failure here cannot be acted on
}

PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer && other) noexcept
    : data_(std::exchange(other.data_, nullptr)), n_bytes_(std::exchange(other.n_bytes_, 0)) {}

PinnedHostBuffer & PinnedHostBuffer::operator=(PinnedHostBuffer && other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    n_bytes_ = std::exchange(other.n_bytes_, 0);
  }
  return *this;
}

Expected<PinnedHostBuffer> PinnedHostBuffer::allocate(size_t n_bytes) {
  PinnedHostBuffer buffer;
  M1_CUDA_STATUS(cudaMallocHost(&buffer.data_, n_bytes));
  buffer.n_bytes_ = n_bytes;
  return buffer;
}

Status make_device_current(int device) {
  M1_CUDA_STATUS(cudaSetDevice(device));
  return {};
}

}  // namespace m1::kernels
