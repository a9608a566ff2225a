// Head + tail truncation on line boundaries (or UTF-8 boundaries inside one very long line).
#include "tools/output_truncation.h"

#include <algorithm>

#include "tools/text_file.h"

namespace m1::tools {

namespace {

// End of the longest run of whole lines from the start within the budgets.
size_t head_end(std::string_view text, size_t max_bytes, size_t max_lines) {
  size_t end = 0, lines = 0;
  while (lines < max_lines) {
    size_t newline = text.find('\n', end);
    size_t next = newline == std::string_view::npos ? text.size() : newline + 1;
    if (next > max_bytes || next == end) break;
    end = next, ++lines;
  }
  return lines == 0 ? utf8_prefix(text, max_bytes).size() : end;
}

// Start of the longest run of whole lines at the end within the budgets.
size_t tail_start(std::string_view text, size_t max_bytes, size_t max_lines) {
  size_t start = text.size(), lines = 0;
  while (lines < max_lines && start > 0) {
    // The line ending at `start` begins after the previous newline (ignoring its own terminator).
    size_t search_from = start >= 2 ? start - 2 : 0;
    size_t newline = start >= 2 ? text.rfind('\n', search_from) : std::string_view::npos;
    size_t previous = newline == std::string_view::npos ? 0 : newline + 1;
    if (text.size() - previous > max_bytes) break;
    start = previous, ++lines;
  }
  return lines == 0 ? text.size() - utf8_suffix(text, max_bytes).size() : start;
}

}  // namespace

TruncatedOutput truncate_head_tail(std::string_view output, const TruncationLimits & limits,
                                   const std::string & full_output_path) {
  TruncatedOutput result;
  if (output.size() <= limits.max_bytes && count_lines(output) <= limits.max_lines) {
    result.text = std::string(output);
    return result;
  }
  size_t head = head_end(output, limits.max_bytes / 2, limits.max_lines / 2);
  size_t tail = tail_start(output, limits.max_bytes - limits.max_bytes / 2, limits.max_lines - limits.max_lines / 2);
  tail = std::max(tail, head);
  std::string_view dropped = output.substr(head, tail - head);
  result.truncated = true;
  result.dropped_bytes = dropped.size();
  result.dropped_lines = static_cast<size_t>(std::count(dropped.begin(), dropped.end(), '\n'));
  result.text.append(output.substr(0, head));
  if (!result.text.empty() && result.text.back() != '\n') result.text += '\n';
  result.text += "[... " + std::to_string(result.dropped_lines) + " lines (" + std::to_string(result.dropped_bytes) +
                 " bytes) dropped";
  if (!full_output_path.empty()) result.text += "; the full output is in " + full_output_path;
  result.text += " ...]\n";
  result.text.append(output.substr(tail));
  return result;
}

}  // namespace m1::tools
