// The M1 prompt format (M1_SPEC.md section 7): a conversation and its tools rendered exactly as
// the official chat template renders them (tests/data/m1_reference/tokenizer_config.json), byte
// for byte. Rendering is append-only, so the agent prefills only the text of new messages:
//
//   std::string prompt = render_prompt(conversation, tools, /*add_generation_prompt=*/true);
//   ... the model answers; append its message, then tool results ...
//   Expected<std::string> more = render_suffix(conversation, n_rendered, tools, true);
//
// After the model generated an assistant message in reply to a prompt that ended with the
// generation prompt and stopped on <end_of_sentence>, its memory lacks only kAfterEndOfSentence
// to equal the rendering of the conversation that includes that message.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1 {

enum class Role { system, user, assistant, tool };

struct ToolResult {
  std::string name;  // the tool that produced it
  std::string text;
};

struct Message {
  Role role = Role::user;
  // system / user: the text; assistant: the raw model output (reasoning in <think>, visible text
  // and <tool_calls> blocks, verbatim). Unused for tool messages.
  std::string text;
  std::vector<ToolResult> results;  // tool messages: one entry per result

  static Message system(std::string text) { return {Role::system, std::move(text), {}}; }
  static Message user(std::string text) { return {Role::user, std::move(text), {}}; }
  static Message assistant(std::string raw_output) { return {Role::assistant, std::move(raw_output), {}}; }
  static Message tool(std::vector<ToolResult> results) { return {Role::tool, {}, std::move(results)}; }
};

using Conversation = std::vector<Message>;
// Tool definitions, each a JSON object (OpenAI function format or the bare {name, description,
// parameters}); ordered_json keeps their key order, which the template preserves.
using ToolList = std::vector<nlohmann::ordered_json>;

inline constexpr std::string_view kGenerationPrompt = "<beginning_of_sentence>ai name=assistant\n";
inline constexpr std::string_view kAfterEndOfSentence = "\n";

std::string render_prompt(const Conversation & conversation, const ToolList & tools,
                          bool add_generation_prompt);

// The text to append to render_prompt(first `n_rendered` messages, tools, false) to obtain
// render_prompt(conversation, tools, add_generation_prompt). Fails when a new message is a
// non-empty system message: the template joins all system text into the block at the top, so
// such a message would change what is already rendered.
Expected<std::string> render_suffix(const Conversation & conversation, size_t n_rendered,
                                    const ToolList & tools, bool add_generation_prompt);

// A JSON value as Python's json.dumps(value, ensure_ascii=False) writes it (the template's tojson):
// ", " and ": " separators, key order kept, non-ASCII kept, floats as Python's repr.
std::string to_python_json(const nlohmann::ordered_json & value);

// Reads messages in the shape of chat-template-cases.json: [{"role", "content": [{"type",
// "text", "name"?}]}], taking from each what the template takes (system / user: the first part;
// assistant: every part of type "text"; tool: every part). A plain string content is accepted
// as a single text part.
Expected<Conversation> conversation_from_json(const nlohmann::ordered_json & messages);
Expected<ToolList> tools_from_json(const nlohmann::ordered_json & tools);

// The raw assistant text for a message built from parts (the inverse of the output parser):
// "<think>\n{reasoning}\n</think>\n" when there is reasoning, then the content, then one
// <tool_calls> block with one {"name": ..., "arguments": ...} line per call.
struct ToolCallText {
  std::string name;
  nlohmann::ordered_json arguments;
};
std::string assistant_text(std::string_view reasoning, std::string_view content,
                           const std::vector<ToolCallText> & calls);

}  // namespace m1
