// Accelerator report for builds without CUDA (M1_CUDA=OFF or no nvcc at configure time).
#include "kernels/device_info.h"

#include "m1_build_config.h"

namespace m1::kernels {

AcceleratorReport probe_accelerators() {
  AcceleratorReport report;
  report.cuda_reason = std::string("not built: ") + M1_CUDA_REASON;
  report.nccl_reason = "not built: needs the CUDA build";
  return report;
}

}  // namespace m1::kernels
