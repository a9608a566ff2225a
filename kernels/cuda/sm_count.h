// The current device's SM count, asked once per process (launch grids sized to fill the card).
#pragma once

#include <cuda_runtime.h>

namespace m1::kernels::cuda {

inline int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      n = 132;  // an H100's; only grid sizes depend on it
    return n;
  }();
  return count;
}

}  // namespace m1::kernels::cuda
