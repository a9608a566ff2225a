// The streaming scanner of one tool-call line (see tool_call_line.h).
#include "model/tool_call_line.h"

namespace m1 {

void ToolCallLineScanner::value_started(size_t pos) {
  in_value_ = true;
  token_begin_ = pos;
  if (key_ == "\"arguments\"" && !arguments_begin_) arguments_begin_ = pos;
}

void ToolCallLineScanner::value_finished(size_t end, const std::string & line) {
  in_value_ = false;
  if (key_ == "\"name\"" && !name_literal_ && line[token_begin_] == '"')
    name_literal_ = line.substr(token_begin_, end - token_begin_);
  if (key_ == "\"arguments\"" && arguments_begin_ && *arguments_begin_ == token_begin_ && !arguments_end_)
    arguments_end_ = end;
  key_.clear();
}

void ToolCallLineScanner::push(const std::string & line) {
  if (ignored_ || line.empty()) return;
  size_t pos = line.size() - 1;
  char c = line[pos];
  bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
  if (!started_) {
    if (blank) return;
    if (c != '{') {
      ignored_ = true;
      return;
    }
    started_ = true;
    depth_ = 1;
    expecting_key_ = true;
    return;
  }
  if (in_string_) {
    if (escape_) {
      escape_ = false;
    } else if (c == '\\') {
      escape_ = true;
    } else if (c == '"') {
      in_string_ = false;
      if (depth_ == 1 && expecting_key_)
        key_ = line.substr(token_begin_, pos + 1 - token_begin_);
      else if (depth_ == 1 && in_value_ && value_depth_ == 1)
        value_finished(pos + 1, line);
    }
    return;
  }
  if (depth_ == 1 && !in_value_ && !expecting_key_ && !blank && c != ':' && c != ',' && c != '}') {
    value_started(pos);  // first byte of a top-level value
    value_depth_ = 1;
  }
  switch (c) {
    case '"':
      in_string_ = true;
      if (depth_ == 1 && expecting_key_) token_begin_ = pos;
      break;
    case '{':
    case '[':
      ++depth_;
      break;
    case '}':
    case ']':
      --depth_;
      if (depth_ == 1 && in_value_) value_finished(pos + 1, line);
      if (depth_ == 0 && in_value_) value_finished(pos, line);  // a bare literal ended by '}'
      break;
    case ':':
      if (depth_ == 1) expecting_key_ = false;
      break;
    case ',':
      if (depth_ == 1) {
        if (in_value_) value_finished(pos, line);  // a number or literal ends here
        expecting_key_ = true;
      }
      break;
    default:
      break;
  }
}

}  // namespace m1
