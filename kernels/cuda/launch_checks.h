// Shape and alignment checks shared by the launchers: each returns a Status naming the kernel,
// the argument, and what was expected versus found, so a caller can report it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace m1::kernels::cuda {

inline Status require(bool ok, const char * kernel, const std::string & what) {
  return ok ? Status() : Status::error(std::string(kernel) + ": " + what);
}

inline bool aligned16(const void * p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

inline Status require_vector_row(const char * kernel, const char * name, const void * p,
                                 std::int64_t stride, std::int64_t width) {
  if (p == nullptr) return Status::error(std::string(kernel) + ": " + name + " is null");
  if (!aligned16(p)) return Status::error(std::string(kernel) + ": " + name + " is not 16-byte aligned");
  if (stride % 8 != 0 || stride < width)
    return Status::error(std::string(kernel) + ": " + name + " row stride " + std::to_string(stride) +
                         " must be a multiple of 8 and at least " + std::to_string(width));
  return {};
}

}  // namespace m1::kernels::cuda
