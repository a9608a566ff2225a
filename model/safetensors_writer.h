// Writing .safetensors files (8-byte little-endian header length, JSON header padded to 8 bytes,
// then the raw little-endian tensor data), for random checkpoints, tests and tools.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/dtype.h"

namespace m1 {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * dtype_size(dtype), little-endian
};

// Converts fp32 values to a tensor of `dtype` (F32, F16 or BF16; round to nearest even).
TensorToWrite make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::span<const float> values);

// Writes the tensors (sorted by name in the file) and returns an error naming the path on failure.
Status write_safetensors(const std::string & path, std::span<const TensorToWrite> tensors);

}  // namespace m1
