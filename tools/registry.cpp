// Tool lookup, argument validation and the error results the model sees when a call is wrong.
#include "tools/registry.h"

#include <exception>

#include "tools/schema_validation.h"

namespace m1::tools {

namespace {

bool valid_tool_name(const std::string & name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// An optional argument written as null means "not given": models often spell omission that way,
// and rejecting it would cost a turn without telling the model anything useful.
Json drop_null_optionals(const Json & schema, const Json & arguments) {
  if (!arguments.is_object()) return arguments;
  Json required = schema.is_object() && schema.contains("required") ? schema["required"] : Json::array();
  Json cleaned = Json::object();
  for (auto it = arguments.begin(); it != arguments.end(); ++it) {
    bool is_required = false;
    for (const Json & r : required)
      if (r == it.key()) is_required = true;
    if (it.value().is_null() && !is_required) continue;
    cleaned[it.key()] = it.value();
  }
  return cleaned;
}

}  // namespace

Status ToolRegistry::add(std::unique_ptr<Tool> tool) {
  const std::string & name = tool->spec().name;
  if (!valid_tool_name(name))
    return Status::error("tool name \"" + name + "\": use 1-64 letters, digits, '_' or '-'");
  if (find(name)) return Status::error("tool \"" + name + "\": a tool with this name is already registered");
  tools_.push_back(std::move(tool));
  return Status();
}

Tool * ToolRegistry::find(const std::string & name) const {
  for (const auto & tool : tools_)
    if (tool->spec().name == name) return tool.get();
  return nullptr;
}

std::vector<std::string> ToolRegistry::names() const {
  std::vector<std::string> names;
  for (const auto & tool : tools_) names.push_back(tool->spec().name);
  return names;
}

Json ToolRegistry::function_list() const {
  Json list = Json::array();
  for (const auto & tool : tools_) list.push_back(function_schema(tool->spec()));
  return list;
}

ToolResult ToolRegistry::call(const std::string & name, const Json & arguments,
                              const ToolContext & context) const {
  Tool * tool = find(name);
  if (!tool) {
    std::string available;
    for (const std::string & n : names()) available += (available.empty() ? "" : ", ") + n;
    return ToolResult::error("unknown tool \"" + name + "\"; available tools: " + (available.empty() ? "none" : available));
  }
  const Json & schema = tool->spec().parameters;
  Json cleaned = drop_null_optionals(schema, arguments);
  std::vector<std::string> problems = schema_problems(schema, cleaned);
  if (!problems.empty()) {
    std::string text = "invalid arguments for tool " + name + ":";
    for (const std::string & p : problems) text += "\n- " + p;
    return ToolResult::error(text);
  }
  if (context.cancelled()) return ToolResult::error("tool " + name + " was cancelled before it started");
  try {
    return tool->call(cleaned, context);
  } catch (const std::exception & e) {
    // Tools report failures as results; this keeps a bug in one from ending the session.
    return ToolResult::error("tool " + name + " failed with an internal error: " + e.what());
  }
}

ToolResult ToolRegistry::call_text(const std::string & name, const std::string & arguments_json,
                                   const ToolContext & context) const {
  Json arguments;
  try {
    arguments = Json::parse(arguments_json);
  } catch (const Json::parse_error & e) {
    return ToolResult::error("arguments for tool " + name + " are not valid JSON (" + e.what() +
                             "); send one JSON object");
  }
  return call(name, arguments, context);
}

void ToolRegistry::end_session(const std::string & session_id) const {
  for (const auto & tool : tools_) tool->end_session(session_id);
}

}  // namespace m1::tools
