// sample_rows in a build without CUDA: reports that no kernel was built.
#include <string>

#include "kernels/sampling_gpu.h"
#include "m1_build_config.h"

namespace m1::kernels::gpu {

std::size_t sample_scratch_bytes(int n_rows, int vocab) { return std::size_t(n_rows) * std::size_t(vocab) * sizeof(double); }

Status sample_rows(const SampleArgs &, Stream) {
  return Status::error(std::string("sample_rows: built without CUDA (") + M1_CUDA_REASON + ")");
}

}  // namespace m1::kernels::gpu
