// Accelerator report for CUDA builds: asks the CUDA runtime (and NCCL when linked) what is here.
#include "kernels/device_info.h"

#include <cuda_runtime_api.h>

#include "m1_build_config.h"
#if M1_HAVE_NCCL
#include <nccl.h>
#endif

namespace m1::kernels {

static std::string version_text(int v, int major_div, int minor_div, int minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string((v / minor_div) % minor_mod);
}

AcceleratorReport probe_accelerators() {
  AcceleratorReport report;
  report.cuda_built = true;
  int runtime_version = 0;
  if (cudaRuntimeGetVersion(&runtime_version) == cudaSuccess)
    report.cuda_runtime_version = version_text(runtime_version, 1000, 10, 100);

  int n_devices = 0;
  cudaError_t err = cudaGetDeviceCount(&n_devices);
  if (err != cudaSuccess) {
    report.cuda_reason = std::string("no usable device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later probes start clean
  } else if (n_devices == 0) {
    report.cuda_reason = "no CUDA device visible";
  }
  for (int i = 0; i < n_devices; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    report.devices.push_back({i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }

#if M1_HAVE_NCCL
  report.nccl_built = true;
  int nccl_version = 0;
  if (ncclGetVersion(&nccl_version) == ncclSuccess)
    report.nccl_version = version_text(nccl_version, 10000, 100, 100) + "." +
                          std::to_string(nccl_version % 100);
  else
    report.nccl_reason = "ncclGetVersion failed";
#else
  report.nccl_reason = "not built: nccl.h / libnccl not found at configure time (set M1_NCCL_ROOT)";
#endif
  return report;
}

}  // namespace m1::kernels
