// Parses what the model emits (M1_SPEC.md section 8) into reasoning, visible text and tool calls,
// whole or streaming, with the same result for any way the text is cut:
//
//   <think>\n...reasoning...\n</think>\n
//   visible text
//   <tool_calls>\n{"name": "read_file", "arguments": {"path": "a.txt"}}\n...\n</tool_calls>
//
// Rules: the reasoning is a leading <think>...</think> (newlines next to the tags trimmed; a
// <tool_calls> block inside it is not a call). Each <tool_calls> block after it holds one JSON
// object per non-blank line with a string "name" and an object "arguments" (a JSON string holding
// an object is accepted). Text outside the blocks is the content (leading and trailing newlines
// trimmed). Parsing stops at a literal <end_of_sentence>. A malformed line becomes an OutputError
// worded for the model, and the other calls still count; an unterminated block is parsed as far as
// it goes and flagged; an unterminated reasoning is flagged too.
//
// The parser does not know the tools: whether a name is a registered tool and whether the
// arguments fit its schema is for the caller (the agent validates each ParsedToolCall against the
// tool registry and adds its own errors, using ParsedToolCall::index to refer to the call).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/tool_call_line.h"

namespace m1 {

struct ParsedToolCall {
  size_t index = 0;  // position among the candidate (non-blank) lines of all blocks, from 0
  std::string name;
  nlohmann::ordered_json arguments;  // always an object
  std::string raw;                   // the line as the model wrote it
};

enum class OutputErrorKind {
  invalid_json,            // the line is not one JSON value
  not_an_object,           // it is JSON, but not an object
  missing_name,            // no "name", or not a string
  missing_arguments,       // no "arguments"
  arguments_not_object,    // "arguments" is neither an object nor a string holding one
  unterminated_block,      // the output ended inside <tool_calls>
  unterminated_reasoning,  // the output ended inside <think>
};
std::string_view to_string(OutputErrorKind kind);

struct OutputError {
  OutputErrorKind kind;
  std::optional<size_t> call_index;  // the candidate line it concerns, if any
  std::string message;               // one paragraph, written to be fed back to the model
};

struct ParsedOutput {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;
  std::vector<OutputError> errors;
  // {"reasoning", "content", "tool_calls": [{"name", "arguments"}], "errors": [{"kind", "message", "call"?}]}
  nlohmann::ordered_json to_json() const;
};

struct OutputEvent {
  enum class Kind { reasoning_delta, text_delta, tool_call_start, arguments_delta, tool_call_done, error };
  Kind kind;
  std::string text;       // deltas: the new text (whole UTF-8 characters); tool_call_start: the name
  size_t call_index = 0;  // tool_call_*: the call; error: the call when error->call_index is set
  std::optional<ParsedToolCall> call;  // tool_call_done
  std::optional<OutputError> error;    // error
};

class OutputParser {
 public:
  // Feeds the next bytes; returns the events they complete. A call is announced (start) once its
  // name is read, its arguments stream as they arrive, and it is reported done only when its line
  // is complete and valid; a call that turns out malformed ends in an error event instead.
  std::vector<OutputEvent> feed(std::string_view bytes);
  // Ends the output: releases held text, closes an open block or reasoning (with an error).
  std::vector<OutputEvent> finish();
  // Everything parsed so far (complete after finish()).
  const ParsedOutput & result() const { return result_; }

 private:
  enum class State { start, reasoning, content, block, done };
  void push_byte(char c);
  void ordinary_byte(char c);
  bool try_tag(char c);
  void on_tag(std::string_view tag);
  void reasoning_byte(char c);
  void content_byte(char c);
  void block_byte(char c);
  void end_line();
  void stream_line_events();
  void close_open_state();
  void report_error(OutputErrorKind kind, std::optional<size_t> call, std::string message);
  void emit_delta(OutputEvent::Kind kind, std::string_view text, size_t call = 0);
  void emit(OutputEvent event);
  void flush_delta(bool whole);

  State state_ = State::start;
  std::string held_tag_;     // bytes that may be the start of a tag
  std::string start_blank_;  // blanks before anything else (dropped if <think> follows)
  bool reasoning_started_ = false, content_started_ = false;
  std::string held_newlines_;  // newlines that are dropped if they turn out to be trailing
  std::string line_;           // the current line of a block
  ToolCallLineScanner scanner_;
  size_t n_candidates_ = 0;  // non-blank lines seen in blocks
  bool call_announced_ = false;
  size_t arguments_sent_ = 0;  // bytes of the arguments value already streamed

  // Text of the next delta event, flushed before any other event and at the end of feed() (then
  // without an incomplete UTF-8 tail, which waits for the next bytes).
  std::optional<OutputEvent::Kind> pending_kind_;
  size_t pending_call_ = 0;
  std::string pending_;
  std::vector<OutputEvent> events_;
  ParsedOutput result_;
};

// The whole output at once (the streaming parser fed once, then finished).
ParsedOutput parse_output(std::string_view text);

}  // namespace m1
