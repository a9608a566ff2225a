#include "kernels/cpu_info.h"

#include <cblas.h>

#include <thread>

namespace m1::kernels {

CpuReport probe_cpu() {
  CpuReport report;
  report.hardware_threads = std::thread::hardware_concurrency();
  const char * config = openblas_get_config();
  report.blas = config ? config : "OpenBLAS";
  report.blas_threads = openblas_get_num_threads();
  return report;
}

}  // namespace m1::kernels
