// Captures one output stream under a byte cap without ever blocking the writer: the first half of
// the cap is kept as the head, the last half in a ring as the tail, and what fell between is
// counted (Limits::stdout_cap_bytes / stderr_cap_bytes).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace m1::sandbox {

class StreamCapture {
public:
  explicit StreamCapture(size_t cap_bytes);
  void append(const char * data, size_t n_bytes);
  CapturedStream finish() const;
  size_t total_bytes() const { return total_bytes_; }

private:
  size_t head_cap_;
  size_t tail_cap_;
  size_t total_bytes_ = 0;
  std::string head_;
  std::vector<char> tail_ring_;  // the newest bytes after the head; ring_start_ is the oldest
  size_t ring_start_ = 0;
  size_t ring_filled_ = 0;
};

}  // namespace m1::sandbox
