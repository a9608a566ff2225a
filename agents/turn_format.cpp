// The agent side of M1's format: converts agent Messages to the model layer's prompt format
// (model/prompt_format.h) and its output parser's results (model/tool_call_parser.h) back.
#include "agents/turn_format.h"

#include "model/prompt_format.h"
#include "model/tool_call_parser.h"

namespace m1::agents {

namespace {

m1::Message to_format_message(const Message & message) {
  switch (message.role) {
  case Role::system: return m1::Message::system(message.text);
  case Role::user: return m1::Message::user(message.text);
  case Role::assistant: return m1::Message::assistant(message.raw);
  case Role::tool: {
    std::vector<m1::ToolResult> results;
    for (const ToolOutcome & r : message.results) results.push_back({r.name, r.text});
    return m1::Message::tool(std::move(results));
  }
  }
  return m1::Message::user(message.text);
}

m1::ToolList to_tool_list(const Json & tools) {
  m1::ToolList list;
  if (tools.is_array())
    for (const Json & tool : tools) list.push_back(tool);
  return list;
}

std::vector<OutputDelta> deltas_of(const std::vector<OutputEvent> & events) {
  std::vector<OutputDelta> deltas;
  for (const OutputEvent & event : events) {
    if (event.kind != OutputEvent::Kind::reasoning_delta && event.kind != OutputEvent::Kind::text_delta) continue;
    OutputDelta::Kind kind = event.kind == OutputEvent::Kind::reasoning_delta ? OutputDelta::Kind::reasoning
                                                                              : OutputDelta::Kind::text;
    if (!deltas.empty() && deltas.back().kind == kind) deltas.back().text += event.text;
    else deltas.push_back({kind, event.text});
  }
  return deltas;
}

}  // namespace

std::string render_prompt_head(const std::vector<Message> & system_messages, const Json & tools) {
  m1::Conversation system;
  for (const Message & m : system_messages) system.push_back(to_format_message(m));
  return m1::render_prompt(system, to_tool_list(tools), false);
}

std::string render_message(const Message & message) {
  // A non-system message renders the same wherever it stands, so its text is the suffix it adds
  // after any message (an empty user message stands in for what came before).
  Message shown = message;
  if (shown.role == Role::system) shown.role = Role::user;  // misplaced system text: keep it visible
  Expected<std::string> suffix = m1::render_suffix({m1::Message::user(""), to_format_message(shown)}, 1, {}, false);
  return suffix.ok() ? *suffix : std::string();
}

std::string generation_prompt() { return std::string(m1::kGenerationPrompt); }

std::string assistant_message_end(bool end_token_in_memory) {
  return (end_token_in_memory ? "" : "<end_of_sentence>") + std::string(m1::kAfterEndOfSentence);
}

std::string render_prompt(const std::vector<Message> & messages, const Json & tools) {
  m1::Conversation conversation;
  for (const Message & m : messages)
    if (m.role == Role::system) conversation.push_back(to_format_message(m));
  for (const Message & m : messages)
    if (m.role != Role::system) conversation.push_back(to_format_message(m));
  return m1::render_prompt(conversation, to_tool_list(tools), true);
}

ParsedOutput parse_output(std::string_view output) {
  m1::ParsedOutput parsed = m1::parse_output(output);
  ParsedOutput out;
  out.reasoning = std::move(parsed.reasoning);
  out.text = std::move(parsed.content);
  for (m1::ParsedToolCall & call : parsed.tool_calls) out.calls.push_back({call.name, call.arguments, call.raw});
  for (const m1::OutputError & error : parsed.errors) out.errors.push_back(error.message);
  return out;
}

OutputReader::OutputReader() : parser_(std::make_unique<OutputParser>()) {}
OutputReader::~OutputReader() = default;

std::vector<OutputDelta> OutputReader::feed(std::string_view chunk) { return deltas_of(parser_->feed(chunk)); }

std::vector<OutputDelta> OutputReader::finish() { return deltas_of(parser_->finish()); }

}  // namespace m1::agents
