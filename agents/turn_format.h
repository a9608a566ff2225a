// Where the agent meets M1's prompt format (M1_SPEC.md sections 7 and 8), over the model layer's
// renderer and output parser: agent Messages become prompt text, appended message by message
// (the rendering is append-only, so each turn only adds a suffix), and model output becomes
// reasoning, visible text, tool calls and format errors, incrementally as it streams.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agents/message.h"

namespace m1 {
class OutputParser;
}

namespace m1::agents {

// The prompt's fixed head: <begin_of_document>, the system block (all system messages joined),
// and the tool list block when `tools` (an array of {name, description, parameters}) is non-empty.
std::string render_prompt_head(const std::vector<Message> & system_messages, const Json & tools);
// One non-system message, as it appears in the prompt.
std::string render_message(const Message & message);
// The text that asks the model for the next assistant message.
std::string generation_prompt();
// What closes an assistant message after its raw output in a model's memory: the end-of-sentence
// marker unless generation stopped on (and so already holds) that token, then the line break.
std::string assistant_message_end(bool end_token_in_memory);
// The whole prompt for `messages` (system messages first) with the generation prompt.
std::string render_prompt(const std::vector<Message> & messages, const Json & tools);

struct ParsedCall {
  std::string name;
  Json arguments = Json::object();
  std::string line;  // the line as the model wrote it
};

struct ParsedOutput {
  std::string reasoning;
  std::string text;                 // visible answer: everything outside <think> and <tool_calls>
  std::vector<ParsedCall> calls;    // the lines that parsed, in order
  std::vector<std::string> errors;  // one line per malformed call line or unterminated block
};

// Parses a complete output (a trailing end-of-sentence marker is ignored).
ParsedOutput parse_output(std::string_view output);

// Splits output into what a transcript shows while it streams: reasoning and visible text as
// they arrive (newlines next to the tags trimmed); tool-call blocks are held back (the loop
// reports the calls once parsed). Any split of the same text yields the same concatenation.
struct OutputDelta {
  enum class Kind { reasoning, text } kind;
  std::string text;
};

class OutputReader {
public:
  OutputReader();
  ~OutputReader();
  std::vector<OutputDelta> feed(std::string_view chunk);
  std::vector<OutputDelta> finish();  // flushes what was held back for a possible tag

private:
  std::unique_ptr<m1::OutputParser> parser_;  // the model layer's streaming parser
};

}  // namespace m1::agents
