// What the CPU path runs on: hardware threads and the BLAS library behind the CPU GEMMs.
#pragma once

#include <string>

namespace m1::kernels {

struct CpuReport {
  unsigned hardware_threads = 0;
  std::string blas;  // OpenBLAS build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell"
  int blas_threads = 0;
};

CpuReport probe_cpu();

}  // namespace m1::kernels
