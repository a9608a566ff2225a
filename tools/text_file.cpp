// Line splitting, `cat -n` rendering and UTF-8-safe clipping for the file tools.
#include "tools/text_file.h"

#include <algorithm>
#include <cstdio>

namespace m1::tools {

std::vector<std::string_view> split_lines_keep_endings(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t newline = text.find('\n', start);
    size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    lines.push_back(text.substr(start, end - start));
    start = end;
  }
  return lines;
}

std::string_view strip_line_ending(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

size_t count_lines(std::string_view text) {
  if (text.empty()) return 0;
  size_t n = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return text.back() == '\n' ? n : n + 1;
}

std::string dominant_line_ending(std::string_view text) {
  size_t newline = text.find('\n');
  return newline != std::string_view::npos && newline > 0 && text[newline - 1] == '\r' ? "\r\n" : "\n";
}

bool looks_binary(std::string_view bytes) { return bytes.find('\0') != std::string_view::npos; }

std::string number_lines(const std::vector<std::string_view> & lines, size_t first_number) {
  std::string out;
  char number[32];
  for (size_t i = 0; i < lines.size(); ++i) {
    std::snprintf(number, sizeof number, "%6zu\t", first_number + i);
    out += number;
    out += strip_line_ending(lines[i]);
    out += '\n';
  }
  return out;
}

namespace {
bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
}  // namespace

std::string_view utf8_prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back off over continuation bytes so the cut lands before a lead byte.
  size_t steps = 0;
  while (end > 0 && is_continuation(text[end]) && steps < 4) --end, ++steps;
  return text.substr(0, end);
}

std::string_view utf8_suffix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t start = text.size() - max_bytes;
  size_t steps = 0;
  while (start < text.size() && is_continuation(text[start]) && steps < 4) ++start, ++steps;
  return text.substr(start);
}

size_t line_number_at(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

}  // namespace m1::tools

#include "tools/workspace.h"

namespace m1::tools {

Expected<std::string> read_text_file(const Workspace & workspace, const std::string & relative_path,
                                     const std::string & shown_path) {
  auto info = workspace.info(relative_path);
  if (!info) return Status::error(restate(info.status(), relative_path, shown_path));
  if (!info->exists) return Status::error(shown_path + ": no such file; check the path");
  if (info->is_directory) return Status::error(shown_path + ": is a directory, not a file");
  if (!info->is_regular) return Status::error(shown_path + ": is not a regular file");
  if (info->size > kMaxTextFileBytes)
    return Status::error(shown_path + ": is " + std::to_string(info->size) + " bytes; text tools handle files up to " +
                         std::to_string(kMaxTextFileBytes >> 20) + " MiB (use bash with head, tail or sed -n)");
  auto bytes = workspace.read_file(relative_path, kMaxTextFileBytes);
  if (!bytes) return Status::error(restate(bytes.status(), relative_path, shown_path));
  if (looks_binary(*bytes))
    return Status::error(shown_path + ": looks like a binary file (it contains NUL bytes); text tools only handle text");
  return bytes;
}

}  // namespace m1::tools
