// The M1 prompt format (see prompt_format.h). Each string below is the official template's text;
// the template's control flow is: <begin_of_document>, the joined system text, the tools block,
// then every message in order (system messages write nothing there), then the generation prompt.
#include "model/prompt_format.h"

namespace m1 {

namespace {

constexpr std::string_view kBeginOfDocument = "<begin_of_document>";
constexpr std::string_view kEndOfSentence = "<end_of_sentence>\n";
constexpr std::string_view kSystemHeader = "<beginning_of_sentence>system ai_setting=assistant\n";
constexpr std::string_view kToolsHeader =
    "<beginning_of_sentence>system tool_setting=tools\nYou are provided with these tools:\n<tools>\n";
constexpr std::string_view kToolsFooter =
    "</tools>\n\nIf you need to call tools, please respond with <tool_calls></tool_calls> XML tags, and "
    "provide "
    "tool-name and json-object of arguments, following the format below:\n<tool_calls>\n{name: "
    "<tool-name-1>, "
    "arguments: <args-json-object-1>}\n...\n</tool_calls><end_of_sentence>\n";
constexpr std::string_view kUserHeader = "<beginning_of_sentence>user name=user\n";
constexpr std::string_view kToolHeader = "<beginning_of_sentence>tool name=tools\n";

void append_message(std::string & out, const Message & message) {
  switch (message.role) {
    case Role::system:
      break;  // rendered in the system block at the top
    case Role::user:
      out.append(kUserHeader).append(message.text).append(kEndOfSentence);
      break;
    case Role::assistant:
      out.append(kGenerationPrompt).append(message.text).append(kEndOfSentence);
      break;
    case Role::tool:
      out.append(kToolHeader);
      for (const ToolResult & result : message.results)
        out.append("tool name: ")
            .append(result.name)
            .append("\ntool result: ")
            .append(result.text)
            .append("\n\n");
      out.append(kEndOfSentence);
      break;
  }
}

}  // namespace

std::string render_prompt(const Conversation & conversation, const ToolList & tools,
                          bool add_generation_prompt) {
  std::string out(kBeginOfDocument);
  std::string system;
  for (const Message & message : conversation)
    if (message.role == Role::system) system += message.text;
  if (!system.empty()) out.append(kSystemHeader).append(system).append(kEndOfSentence);
  if (!tools.empty()) {
    out.append(kToolsHeader);
    for (const nlohmann::ordered_json & tool : tools) out.append(to_python_json(tool)).append("\n");
    out.append(kToolsFooter);
  }
  for (const Message & message : conversation) append_message(out, message);
  if (add_generation_prompt) out.append(kGenerationPrompt);
  return out;
}

Expected<std::string> render_suffix(const Conversation & conversation, size_t n_rendered,
                                    const ToolList & tools, bool add_generation_prompt) {
  if (n_rendered > conversation.size())
    return Status::error("render_suffix: " + std::to_string(n_rendered) +
                         " messages rendered but the conversation has " +
                         std::to_string(conversation.size()));
  if (n_rendered == 0) return render_prompt(conversation, tools, add_generation_prompt);
  std::string out;
  for (size_t i = n_rendered; i < conversation.size(); ++i) {
    const Message & message = conversation[i];
    if (message.role == Role::system && !message.text.empty())
      return Status::error("render_suffix: message " + std::to_string(i) +
                           " is a system message; system text is rendered at the top of the prompt, so it "
                           "cannot be appended (re-render the whole conversation)");
    append_message(out, message);
  }
  if (add_generation_prompt) out.append(kGenerationPrompt);
  return out;
}

std::string assistant_text(std::string_view reasoning, std::string_view content,
                           const std::vector<ToolCallText> & calls) {
  std::string out;
  if (!reasoning.empty()) out.append("<think>\n").append(reasoning).append("\n</think>\n");
  out.append(content);
  if (!calls.empty()) {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out.append("<tool_calls>\n");
    for (const ToolCallText & call : calls) {
      nlohmann::ordered_json line = {{"name", call.name}, {"arguments", call.arguments}};
      out.append(to_python_json(line)).append("\n");
    }
    out.append("</tool_calls>");
  }
  return out;
}

}  // namespace m1
