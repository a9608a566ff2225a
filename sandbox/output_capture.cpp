// Head + tail capture of a stream (see output_capture.h) and the text form of CapturedStream.
#include "sandbox/output_capture.h"

#include <algorithm>

namespace m1::sandbox {

StreamCapture::StreamCapture(size_t cap_bytes)
    : head_cap_(cap_bytes - cap_bytes / 2), tail_cap_(cap_bytes / 2), tail_ring_(cap_bytes / 2) {}

void StreamCapture::append(const char * data, size_t n_bytes) {
  total_bytes_ += n_bytes;
  size_t to_head = std::min(n_bytes, head_cap_ - head_.size());
  head_.append(data, to_head);
  data += to_head;
  n_bytes -= to_head;
  if (n_bytes == 0 || tail_cap_ == 0) return;
  // Only the last tail_cap_ bytes of this chunk can survive.
  if (n_bytes > tail_cap_) {
    data += n_bytes - tail_cap_;
    n_bytes = tail_cap_;
  }
  for (size_t i = 0; i < n_bytes;) {
    size_t write_at = (ring_start_ + ring_filled_) % tail_cap_;
    size_t run = std::min(n_bytes - i, tail_cap_ - write_at);
    std::copy(data + i, data + i + run, tail_ring_.begin() + long(write_at));
    i += run;
    size_t grown = std::min(run, tail_cap_ - ring_filled_);
    ring_filled_ += grown;
    ring_start_ = (ring_start_ + (run - grown)) % tail_cap_;
  }
}

CapturedStream StreamCapture::finish() const {
  std::string tail;
  tail.reserve(ring_filled_);
  for (size_t i = 0; i < ring_filled_; ++i) tail.push_back(tail_ring_[(ring_start_ + i) % tail_cap_]);
  CapturedStream result;
  result.total_bytes = total_bytes_;
  result.head = head_;
  if (total_bytes_ <= head_cap_ + tail_cap_) {
    result.head += tail;  // nothing dropped: head and ring are contiguous
  } else {
    result.tail = std::move(tail);
    result.dropped_bytes = total_bytes_ - head_cap_ - tail_cap_;
  }
  return result;
}

std::string CapturedStream::text() const {
  if (dropped_bytes == 0) return head + tail;
  return head + "\n[... " + std::to_string(dropped_bytes) + " bytes dropped ...]\n" + tail;
}

const char * limit_name(LimitHit limit) {
  switch (limit) {
    case LimitHit::none: return "none";
    case LimitHit::wall_time: return "wall_time";
    case LimitHit::cpu_time: return "cpu_time";
    case LimitHit::memory: return "memory";
    case LimitHit::processes: return "processes";
    case LimitHit::file_size: return "file_size";
    case LimitHit::open_files: return "open_files";
    case LimitHit::cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace m1::sandbox
