// A fast 64-bit checksum over 8-byte words, for the integrity of snapshot and session files
// (it catches damage and truncation; it is not a cryptographic hash).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace m1 {

inline std::uint64_t checksum64(std::span<const std::uint8_t> data) {
  std::uint64_t h = 0x243f6a8885a308d3ull ^ data.size();
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < data.size(); ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

}  // namespace m1
