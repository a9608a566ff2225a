// Scans one line of a <tool_calls> block byte by byte, as it streams in, to find what a streaming
// client wants before the line is complete: the value of the top-level "name" key (to announce the
// call) and the byte range of the top-level "arguments" value (to stream it). It tracks JSON
// strings, so a "</tool_calls>" inside a string value is not taken for the end of the block.
// The line's validity is decided afterwards by a full JSON parse; this scanner only looks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace m1 {

class ToolCallLineScanner {
 public:
  // Call with each byte appended to `line` (line already holds it).
  void push(const std::string & line);
  void reset() { *this = ToolCallLineScanner(); }

  bool in_string() const { return in_string_; }
  // The raw JSON text (quotes included) of the top-level "name" string, once it is complete.
  std::optional<std::string> name_literal() const { return name_literal_; }
  // Where the top-level "arguments" value starts in the line, and where it ends (end once known).
  std::optional<size_t> arguments_begin() const { return arguments_begin_; }
  std::optional<size_t> arguments_end() const { return arguments_end_; }

 private:
  void value_started(size_t pos);
  void value_finished(size_t end, const std::string & line);

  bool started_ = false;  // the line's first non-blank byte was '{'
  bool ignored_ = false;  // it was something else: nothing to look for
  int depth_ = 0;
  bool in_string_ = false, escape_ = false;
  bool expecting_key_ = false;  // at depth 1, the next string is a key
  bool in_value_ = false;       // at depth 1, inside a value (after ':')
  int value_depth_ = 0;         // depth at which the current top-level value started
  size_t token_begin_ = 0;      // start of the current top-level key or value
  std::string key_;             // the current top-level key (raw, quotes included)
  std::optional<std::string> name_literal_;
  std::optional<size_t> arguments_begin_, arguments_end_;
};

}  // namespace m1
