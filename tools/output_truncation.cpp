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

std::string join_with_note(std::string_view head, std::string_view tail, const TruncatedOutput & counts,
                           const std::string & full_output_path) {
  std::string text(head);
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "[... " + std::to_string(counts.dropped_lines) + " lines (" + std::to_string(counts.dropped_bytes) +
          " bytes) dropped";
  if (!full_output_path.empty()) text += "; the full output is in " + full_output_path;
  text += " ...]\n";
  text.append(tail);
  return text;
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
  result.text = join_with_note(output.substr(0, head), output.substr(tail), result, full_output_path);
  return result;
}

void OutputCollector::append(std::string_view bytes) {
  total_bytes_ += bytes.size();
  total_newlines_ += static_cast<size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  if (head_.size() < keep_bytes_) {
    size_t take = std::min(bytes.size(), keep_bytes_ - head_.size());
    head_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
  }
  tail_.append(bytes);
  if (tail_.size() > 2 * keep_bytes_) {
    tail_.erase(0, tail_.size() - keep_bytes_);
    dropped_ = true;
  }
}

TruncatedOutput OutputCollector::finish(const TruncationLimits & limits, const std::string & full_output_path) const {
  if (!dropped_) return truncate_head_tail(head_ + tail_, limits, full_output_path);
  // The middle is gone: keep the head's and tail's ends, count the rest from the totals.
  TruncatedOutput result;
  result.truncated = true;
  std::string_view head(head_), tail(tail_);
  size_t head_kept = head_end(head, limits.max_bytes / 2, limits.max_lines / 2);
  size_t tail_from = tail_start(tail, limits.max_bytes - limits.max_bytes / 2, limits.max_lines - limits.max_lines / 2);
  std::string_view kept_head = head.substr(0, head_kept), kept_tail = tail.substr(tail_from);
  result.dropped_bytes = total_bytes_ - kept_head.size() - kept_tail.size();
  result.dropped_lines = total_newlines_ - static_cast<size_t>(std::count(kept_head.begin(), kept_head.end(), '\n')) -
                         static_cast<size_t>(std::count(kept_tail.begin(), kept_tail.end(), '\n'));
  result.text = join_with_note(kept_head, kept_tail, result, full_output_path);
  return result;
}

}  // namespace m1::tools
