// Reading safetensors checkpoints: memory-mapped, lazy (only headers are parsed at open; tensor
// bytes are touched when read), single file or sharded through model.safetensors.index.json.
// Every header is validated against the file: a truncated or corrupt file is an error naming the
// file and tensor, never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/dtype.h"

namespace m1 {

struct TensorInfo {
  std::string name;
  std::string dtype_name;        // as written in the header ("BF16", "F32", "I64", ...)
  std::optional<DType> dtype;    // set for the float types the model reads
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;  // inside the mapped file
  std::string file;              // file name (no folder), for messages

  int64_t numel() const;
};

std::string shape_string(std::span<const int64_t> shape);  // "[64, 128]"

// One mapped .safetensors file.
class SafetensorsFile {
public:
  static Expected<std::unique_ptr<SafetensorsFile>> open(const std::string & path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile & operator=(const SafetensorsFile &) = delete;

  const std::map<std::string, TensorInfo> & tensors() const { return tensors_; }
  const std::string & path() const { return path_; }

private:
  SafetensorsFile() = default;
  Status parse_header(const std::string & file_name);

  std::string path_;
  const uint8_t * data_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

// All tensors of a checkpoint folder: model.safetensors.index.json and its shards, or a single
// model.safetensors.
class Checkpoint {
public:
  static Expected<Checkpoint> open(const std::string & folder);

  const TensorInfo * find(const std::string & name) const;
  const std::map<std::string, const TensorInfo *> & tensors() const { return by_name_; }
  const std::string & folder() const { return folder_; }

private:
  std::string folder_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo *> by_name_;
};

// Converts a float tensor (F32, F16, BF16) to fp32 into `out` (numel values).
void tensor_to_f32(const TensorInfo & tensor, float * out);

}  // namespace m1
