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

}  // namespace m1::tools
