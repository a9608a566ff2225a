// The data-movement operations of tensor_ops_gpu.h on the CUDA runtime: copies through
// cudaMemcpy*, and three small kernels (row gather, bf16 -> fp32, uniform random fill).
#include <cuda_bf16.h>

#include <algorithm>

#include <string>

#include "kernels/cuda/check.h"
#include "kernels/tensor_ops_gpu.h"

namespace m1::kernels::gpu {

namespace {

cudaStream_t as_cuda(Stream s) { return static_cast<cudaStream_t>(s); }

// One block per row, 16-byte vectors (8 bf16) per thread.
__global__ void gather_rows_kernel(const uint4 * table, int vectors_per_row, const std::int32_t * ids, uint4 * out) {
  const int row = blockIdx.x;
  const std::int64_t src = std::int64_t(ids[row]) * vectors_per_row;
  const std::int64_t dst = std::int64_t(row) * vectors_per_row;
  for (int i = threadIdx.x; i < vectors_per_row; i += blockDim.x) out[dst + i] = table[src + i];
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16 * in, float * out, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = __bfloat162float(in[i]);
}

__device__ std::uint32_t hash32(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<std::uint32_t>(x);
}

__global__ void fill_uniform_kernel(void * dst, std::int64_t n, bool f32, std::uint64_t seed, float lo, float hi) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x) {
    const float v = lo + (hi - lo) * (hash32(seed * 0x9e3779b97f4a7c15ull + std::uint64_t(i)) * 2.3283064e-10f);
    if (f32) static_cast<float *>(dst)[i] = v;
    else static_cast<__nv_bfloat16 *>(dst)[i] = __float2bfloat16(v);
  }
}

}  // namespace

Status copy_to_device(void * dst, const void * src, std::size_t n_bytes) {
  if (n_bytes == 0) return {};
  M1_CUDA_STATUS(cudaMemcpy(dst, src, n_bytes, cudaMemcpyHostToDevice));
  return {};
}

Status copy_to_host(void * dst, const void * src, std::size_t n_bytes) {
  if (n_bytes == 0) return {};
  M1_CUDA_STATUS(cudaMemcpy(dst, src, n_bytes, cudaMemcpyDeviceToHost));
  return {};
}

Status copy_to_device_async(void * dst, const void * src, std::size_t n_bytes, Stream stream) {
  if (n_bytes == 0) return {};
  M1_CUDA_STATUS(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyHostToDevice, as_cuda(stream)));
  return {};
}

Status copy_to_host_async(void * dst, const void * src, std::size_t n_bytes, Stream stream) {
  if (n_bytes == 0) return {};
  M1_CUDA_STATUS(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToHost, as_cuda(stream)));
  return {};
}

Status copy_2d(void * dst, std::size_t dst_pitch, const void * src, std::size_t src_pitch, std::size_t width_bytes,
               std::size_t height, Stream stream) {
  if (width_bytes == 0 || height == 0) return {};
  M1_CUDA_STATUS(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width_bytes, height, cudaMemcpyDeviceToDevice,
                                   as_cuda(stream)));
  return {};
}

Status fill_zero(void * dst, std::size_t n_bytes, Stream stream) {
  if (n_bytes == 0) return {};
  M1_CUDA_STATUS(cudaMemsetAsync(dst, 0, n_bytes, as_cuda(stream)));
  return {};
}

Status fill_uniform(void * dst, std::int64_t n, bool f32, std::uint64_t seed, float lo, float hi, Stream stream) {
  if (n == 0) return {};
  if (!dst || n < 0) return Status::error("fill_uniform: null destination or negative count");
  const int blocks = int(std::min<std::int64_t>((n + 255) / 256, 8192));
  fill_uniform_kernel<<<blocks, 256, 0, as_cuda(stream)>>>(dst, n, f32, seed, lo, hi);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status gather_rows(const Bf16 * table, int width, const std::int32_t * ids, int n_rows, Bf16 * out, Stream stream) {
  if (n_rows == 0) return {};
  if (width <= 0 || width % 8 != 0 || !table || !ids || !out)
    return Status::error("gather_rows: width " + std::to_string(width) + " must be a positive multiple of 8 and "
                         "table, ids, out set");
  gather_rows_kernel<<<n_rows, 128, 0, as_cuda(stream)>>>(reinterpret_cast<const uint4 *>(table), width / 8, ids,
                                                          reinterpret_cast<uint4 *>(out));
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status bf16_to_f32(const Bf16 * in, float * out, std::int64_t n, Stream stream) {
  if (n == 0) return {};
  const int blocks = int(std::min<std::int64_t>((n + 255) / 256, 4096));
  bf16_to_f32_kernel<<<blocks, 256, 0, as_cuda(stream)>>>(reinterpret_cast<const __nv_bfloat16 *>(in), out, n);
  M1_CUDA_STATUS(cudaGetLastError());
  return {};
}

Status synchronize(Stream stream) {
  M1_CUDA_STATUS(cudaStreamSynchronize(as_cuda(stream)));
  return {};
}

}  // namespace m1::kernels::gpu
