// Keeps a long command output readable for the model: the first and last lines are kept, the
// middle is replaced by one line saying how many lines and bytes were dropped and where the full
// output is (a file the model can view or search).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace m1::tools {

struct TruncationLimits {
  size_t max_bytes = 16000;  // of kept output, head and tail halves
  size_t max_lines = 400;
};

struct TruncatedOutput {
  std::string text;
  bool truncated = false;
  size_t dropped_lines = 0;  // newline characters in the dropped part
  size_t dropped_bytes = 0;
};

// `full_output_path` is named in the note ("" = not kept anywhere).
TruncatedOutput truncate_head_tail(std::string_view output, const TruncationLimits & limits,
                                   const std::string & full_output_path);

// Collects an output stream of any length in bounded memory: the first and last `keep_bytes`
// bytes, and counts of everything. finish() gives the same text as truncate_head_tail would on the
// whole stream, as long as the limits' halves fit in `keep_bytes`.
class OutputCollector {
public:
  explicit OutputCollector(size_t keep_bytes = 1 << 20) : keep_bytes_(keep_bytes) {}
  void append(std::string_view bytes);
  size_t total_bytes() const { return total_bytes_; }
  size_t total_newlines() const { return total_newlines_; }
  TruncatedOutput finish(const TruncationLimits & limits, const std::string & full_output_path) const;

private:
  size_t keep_bytes_;
  std::string head_;  // the first keep_bytes_ bytes
  std::string tail_;  // the last bytes after the head, at most 2 * keep_bytes_ (trimmed lazily)
  size_t total_bytes_ = 0, total_newlines_ = 0;
  bool dropped_ = false;  // bytes between head_ and tail_ were discarded
};

}  // namespace m1::tools
