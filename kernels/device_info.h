// What accelerators this build can use: asked once by `m1 doctor` and by the engine's device
// selection. Compiles without CUDA; the answer comes from device_info_cuda.cpp or
// device_info_none.cpp, whichever the build selected.
#pragma once

#include <string>
#include <vector>

namespace m1::kernels {

struct CudaDevice {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t memory_bytes = 0;
};

struct AcceleratorReport {
  bool cuda_built = false;            // compiled with the CUDA kernels
  std::string cuda_reason;            // why CUDA is unusable (empty when usable)
  std::vector<CudaDevice> devices;    // devices the CUDA runtime sees
  std::string cuda_runtime_version;   // e.g. "13.0"
  bool nccl_built = false;
  std::string nccl_version;           // e.g. "2.27.3"; empty when not built
  std::string nccl_reason;
};

AcceleratorReport probe_accelerators();

}  // namespace m1::kernels
