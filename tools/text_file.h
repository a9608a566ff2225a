// Byte-exact text handling shared by the file tools: lines that keep their own terminators (so an
// edit can preserve tabs, CRLF and a missing final newline), the `cat -n` rendering models are
// trained on, binary detection and output clipping on a UTF-8 boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1::tools {

// The lines of `text`, each with its terminator ("\n" or "\r\n"); the last may have none.
// An empty text has no lines.
std::vector<std::string_view> split_lines_keep_endings(std::string_view text);
// A line without its "\n" / "\r\n".
std::string_view strip_line_ending(std::string_view line);
size_t count_lines(std::string_view text);

// "\r\n" when the file's first line ends that way, else "\n".
std::string dominant_line_ending(std::string_view text);

// A file the text tools refuse: it holds a NUL byte.
bool looks_binary(std::string_view bytes);

// `cat -n` style: each line as a 6-wide right-aligned number, a TAB, the line (terminator
// dropped), "\n". Numbers start at `first_number`.
std::string number_lines(const std::vector<std::string_view> & lines, size_t first_number);

// The longest prefix of `text` of at most `max_bytes` that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, size_t max_bytes);
// The longest suffix of at most `max_bytes` that starts on a UTF-8 sequence boundary.
std::string_view utf8_suffix(std::string_view text, size_t max_bytes);

// The 1-based line number of byte `offset` in `text`.
size_t line_number_at(std::string_view text, size_t offset);

}  // namespace m1::tools

namespace m1::tools {
class Workspace;

// Files larger than this are refused by the text tools (editor, apply_patch) and skipped by search.
constexpr uint64_t kMaxTextFileBytes = 16ull << 20;

// Reads a text file for editing: fails with a clear message for a missing path, a directory, a
// binary file or one over kMaxTextFileBytes. `shown_path` is how messages name it.
Expected<std::string> read_text_file(const Workspace & workspace, const std::string & relative_path,
                                     const std::string & shown_path);
}  // namespace m1::tools
