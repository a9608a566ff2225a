#include "model/safetensors_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

namespace m1 {

namespace {

// fp32 -> fp16 bits, round to nearest even (values here are finite and in range).
uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const float a = std::fabs(f);
  if (std::isnan(f)) return uint16_t(sign | 0x7e00u);
  if (a >= 65520.0f) return uint16_t(sign | 0x7c00u);
  if (a < std::ldexp(1.0f, -14)) {  // subnormal: multiple of 2^-24
    return uint16_t(sign | uint32_t(std::nearbyint(a * std::ldexp(1.0f, 24))));
  }
  uint32_t bits;
  std::memcpy(&bits, &a, 4);
  const uint32_t exponent = (bits >> 23) - 127 + 15, mantissa = bits & 0x7fffffu;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // carries into the exponent correctly
  return uint16_t(sign | half);
}

}  // namespace

TensorToWrite make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::span<const float> values) {
  TensorToWrite t{std::move(name), dtype, std::move(shape), {}};
  t.bytes.resize(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::f32) {
      std::memcpy(t.bytes.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t bits = dtype == DType::bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
      std::memcpy(t.bytes.data() + 2 * i, &bits, 2);
    }
  }
  return t;
}

Status write_safetensors(const std::string & path, std::span<const TensorToWrite> tensors) {
  std::vector<const TensorToWrite *> sorted;
  for (const TensorToWrite & t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto * a, auto * b) { return a->name < b->name; });
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const TensorToWrite * t : sorted) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::error(path + ": cannot create");
  const uint64_t length = text.size();
  out.write(reinterpret_cast<const char *>(&length), 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (const TensorToWrite * t : sorted)
    out.write(reinterpret_cast<const char *>(t->bytes.data()), std::streamsize(t->bytes.size()));
  out.close();
  if (!out) return Status::error(path + ": write failed");
  return Status();
}

}  // namespace m1
