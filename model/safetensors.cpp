#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace m1 {

namespace {

using json = nlohmann::json;

// Bytes per element of every dtype a safetensors header may name; the model reads the float ones.
std::optional<size_t> element_size(const std::string & dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1}, {"U8", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}, {"BOOL", 1},
      {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  if (it == sizes.end()) return std::nullopt;
  return it->second;
}

std::string file_name_of(const std::string & path) {
  return std::filesystem::path(path).filename().string();
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsFile::~SafetensorsFile() {
  if (data_ && size_) munmap(const_cast<uint8_t *>(data_), size_);
}

Expected<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string & path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::error(path + ": cannot stat: " + std::strerror(errno));
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->size_ = size_t(st.st_size);
  if (file->size_ > 0) {
    void * map = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return Status::error(path + ": cannot map: " + std::strerror(errno));
    }
    file->data_ = static_cast<const uint8_t *>(map);
  }
  ::close(fd);
  M1_RETURN_IF_ERROR(file->parse_header(file_name_of(path)).with_context(path));
  return file;
}

Status SafetensorsFile::parse_header(const std::string & file_name) {
  if (size_ < 8) return Status::error("truncated: " + std::to_string(size_) + " bytes, not even the 8-byte header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, data_, 8);  // little-endian, as the format and this host are
  if (header_len > size_ - 8)
    return Status::error("header length " + std::to_string(header_len) + " runs past the end of the " +
                         std::to_string(size_) + "-byte file (truncated or not safetensors)");
  json header = json::parse(data_ + 8, data_ + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return Status::error("header is not a JSON object");
  const uint8_t * base = data_ + 8 + header_len;
  const size_t data_size = size_ - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto & [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor " + name + ": ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      return Status::error(where + "entry needs dtype, shape and data_offsets");
    const json & dtype = entry["dtype"], & shape = entry["shape"], & offsets = entry["data_offsets"];
    if (!dtype.is_string() || !element_size(dtype.get<std::string>()))
      return Status::error(where + "unknown dtype " + dtype.dump());
    TensorInfo info;
    info.name = name;
    info.file = file_name;
    info.dtype_name = dtype.get<std::string>();
    if (info.dtype_name == "F32" || info.dtype_name == "F16" || info.dtype_name == "BF16")
      info.dtype = parse_dtype(info.dtype_name);
    if (!shape.is_array()) return Status::error(where + "shape is not a list");
    uint64_t numel = 1;
    for (const json & d : shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t(1) << 40))
        return Status::error(where + "bad dimension " + d.dump() + " in shape " + shape.dump());
      info.shape.push_back(int64_t(d.get<uint64_t>()));
      numel *= d.get<uint64_t>();
      if (numel > (uint64_t(1) << 48)) return Status::error(where + "shape " + shape.dump() + " is too large");
    }
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      return Status::error(where + "data_offsets must be two non-negative integers, found " + offsets.dump());
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    const uint64_t expected = numel * *element_size(info.dtype_name);
    if (end < begin || end - begin != expected)
      return Status::error(where + "data_offsets " + offsets.dump() + " hold " + std::to_string(end - begin) +
                           " bytes but " + info.dtype_name + " " + shape.dump() + " needs " + std::to_string(expected));
    if (end > data_size)
      return Status::error(where + "data ends at byte " + std::to_string(end) + " but the file holds only " +
                           std::to_string(data_size) + " bytes of data (truncated)");
    info.bytes = std::span<const uint8_t>(base + begin, end - begin);
    ranges.emplace_back(begin, end);
    tensors_.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      return Status::error("tensor data ranges overlap at byte " + std::to_string(ranges[i].first));
  return Status();
}

Expected<Checkpoint> Checkpoint::open(const std::string & folder) {
  namespace fs = std::filesystem;
  Checkpoint ckpt;
  ckpt.folder_ = folder;
  const fs::path index_path = fs::path(folder) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(folder) / "model.safetensors";
  std::map<std::string, std::string> weight_map;  // tensor -> file, from the index
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    std::stringstream text;
    text << in.rdbuf();
    json index = json::parse(text.str(), nullptr, false);
    if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      return Status::error(index_path.string() + ": not JSON with a weight_map object");
    for (auto & [name, file] : index["weight_map"].items()) {
      if (!file.is_string() || file.get<std::string>().find('/') != std::string::npos)
        return Status::error(index_path.string() + ": tensor " + name + ": bad file name " + file.dump());
      weight_map[name] = file.get<std::string>();
    }
  } else if (!fs::exists(single_path)) {
    return Status::error(folder + ": no model.safetensors.index.json and no model.safetensors");
  }
  std::set<std::string> files;
  for (auto & [name, file] : weight_map) files.insert(file);
  if (weight_map.empty()) files.insert("model.safetensors");
  for (const std::string & file : files) {
    auto opened = SafetensorsFile::open((fs::path(folder) / file).string());
    if (!opened) return opened.status();
    ckpt.files_.push_back(std::move(opened).value());
  }
  for (const auto & f : ckpt.files_) {
    const std::string file = file_name_of(f->path());
    for (const auto & [name, info] : f->tensors()) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(name);
        if (it == weight_map.end() || it->second != file)
          return Status::error(f->path() + ": tensor " + name + " is in this file but the index puts it " +
                               (it == weight_map.end() ? std::string("nowhere") : "in " + it->second));
      }
      if (!ckpt.by_name_.emplace(name, &info).second)
        return Status::error(f->path() + ": tensor " + name + " appears in two files");
    }
  }
  for (const auto & [name, file] : weight_map)
    if (!ckpt.by_name_.count(name))
      return Status::error((fs::path(folder) / file).string() + ": tensor " + name +
                           " is listed in the index but not in the file");
  return ckpt;
}

const TensorInfo * Checkpoint::find(const std::string & name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void tensor_to_f32(const TensorInfo & tensor, float * out) {
  const size_t n = size_t(tensor.numel());
  const uint8_t * src = tensor.bytes.data();
  switch (*tensor.dtype) {
    case DType::f32: std::memcpy(out, src, n * 4); return;
    case DType::bf16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = bf16_to_f32(bits);
      }
      return;
    case DType::f16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = f16_to_f32(bits);
      }
      return;
    case DType::i8: break;
  }
}

}  // namespace m1
