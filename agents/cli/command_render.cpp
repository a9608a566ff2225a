// `m1 render --messages FILE [--tools FILE] [--generation-prompt]`: the prompt text of a
// conversation in the M1 format (model/prompt_format.h). FILE holds the messages as in
// chat-template-cases.json: a JSON array of messages, or one case object ({"messages", "tools",
// "add_generation_prompt"}), whose tools and flag apply unless given on the command line.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "agents/cli/command.h"
#include "model/prompt_format.h"

namespace m1::cli {

namespace {

struct RenderOptions {
  std::string messages_file;
  std::string tools_file;
  bool generation_prompt = false;
};

Expected<nlohmann::ordered_json> read_json(const std::string & path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::ordered_json::parse_error & e) {
    return Status::error(path + ": not valid JSON: " + e.what());
  }
}

int run_render(const RenderOptions & options) {
  Expected<nlohmann::ordered_json> messages = read_json(options.messages_file);
  if (!messages) return fail("render", messages.status());
  nlohmann::ordered_json tools_json;
  bool generation_prompt = options.generation_prompt;
  if (messages->is_object()) {  // a whole case
    tools_json = messages->value("tools", nlohmann::ordered_json());
    generation_prompt = generation_prompt || messages->value("add_generation_prompt", false);
    *messages = messages->value("messages", nlohmann::ordered_json());
  }
  if (!options.tools_file.empty()) {
    Expected<nlohmann::ordered_json> tools = read_json(options.tools_file);
    if (!tools) return fail("render", tools.status());
    tools_json = *tools;
  }
  Expected<Conversation> conversation = conversation_from_json(*messages);
  if (!conversation) return fail("render", conversation.status().with_context(options.messages_file));
  Expected<ToolList> tools = tools_from_json(tools_json);
  if (!tools) return fail("render", tools.status());
  std::string prompt = render_prompt(*conversation, *tools, generation_prompt);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace

void add_render_command(CLI::App & app, CommandList & commands) {
  auto options = std::make_shared<RenderOptions>();
  CLI::App * sub = app.add_subcommand("render", "prompt text of a conversation in the M1 format");
  sub->add_option("--messages", options->messages_file, "JSON messages (as in chat-template-cases.json)")
      ->required();
  sub->add_option("--tools", options->tools_file, "JSON array of tool definitions");
  sub->add_flag("--generation-prompt", options->generation_prompt, "end with the assistant's header");
  commands.push_back({sub, [options] { return run_render(*options); }});
}

}  // namespace m1::cli
