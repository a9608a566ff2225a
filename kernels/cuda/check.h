// CUDA error checks that name the call, the device and file:line (STYLE.md, "Errors by layer").
// M1_CUDA_CHECK aborts: it guards programming errors inside kernels/ code. M1_CUDA_STATUS returns
// a Status from the enclosing function, for failures a caller can report (out of memory, no device).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/status.h"

namespace m1::kernels::cuda {

inline std::string describe_failure(cudaError_t err, const char * call, const char * file, int line) {
  int device = -1;
  cudaGetDevice(&device);
  return std::string(call) + " failed on device " + std::to_string(device) + " at " + file + ":" +
         std::to_string(line) + ": " + cudaGetErrorString(err);
}

}  // namespace m1::kernels::cuda

#define M1_CUDA_CHECK(call)                                                                   \
  do {                                                                                        \
    cudaError_t m1_err_ = (call);                                                             \
    if (m1_err_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "m1: cuda: %s\n",                                                  \
                   ::m1::kernels::cuda::describe_failure(m1_err_, #call, __FILE__, __LINE__)  \
                       .c_str());                                                             \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

#define M1_CUDA_STATUS(call)                                                                  \
  do {                                                                                        \
    cudaError_t m1_err_ = (call);                                                             \
    if (m1_err_ != cudaSuccess) {                                                             \
      cudaGetLastError();                                                                     \
      return ::m1::Status::error(                                                             \
          ::m1::kernels::cuda::describe_failure(m1_err_, #call, __FILE__, __LINE__));         \
    }                                                                                         \
  } while (0)
