#include "agents/registry_tool_runner.h"

#include <algorithm>

#include "tools/schema_validation.h"

namespace m1::agents {

std::vector<std::string> RegistryToolRunner::names() const {
  std::vector<std::string> names;
  for (const std::string & name : registry_.names())
    if (offered_.empty() || std::find(offered_.begin(), offered_.end(), name) != offered_.end()) names.push_back(name);
  return names;
}

const tools::Tool * RegistryToolRunner::find(const std::string & name) const {
  std::vector<std::string> offered = names();
  return std::find(offered.begin(), offered.end(), name) == offered.end() ? nullptr : registry_.find(name);
}

Json RegistryToolRunner::prompt_tools() const {
  Json list = Json::array();
  for (const std::string & name : names()) {
    const tools::ToolSpec & spec = registry_.find(name)->spec();
    list.push_back(Json{{"name", spec.name}, {"description", spec.description}, {"parameters", spec.parameters}});
  }
  return list;
}

std::vector<std::string> RegistryToolRunner::check(const ToolCall & call) const {
  const tools::Tool * tool = find(call.name);
  if (!tool) {
    std::string available;
    for (const std::string & n : names()) available += (available.empty() ? "" : ", ") + n;
    return {"unknown tool \"" + call.name + "\"; available tools: " + (available.empty() ? "none" : available)};
  }
  const Json & schema = tool->spec().parameters;
  // As the registry does when it runs a call: an optional argument given as null means omitted.
  Json arguments = call.arguments;
  if (arguments.is_object()) {
    Json required = schema.value("required", Json::array());
    for (auto it = arguments.begin(); it != arguments.end();) {
      bool is_required = std::find(required.begin(), required.end(), Json(it.key())) != required.end();
      it = it.value().is_null() && !is_required ? arguments.erase(it) : std::next(it);
    }
  }
  return tools::schema_problems(schema, arguments);
}

ToolOutcome RegistryToolRunner::run(const ToolCall & call, const std::atomic<bool> & cancel) {
  if (!find(call.name)) return ToolOutcome{call.name, check(call).front(), true, false};
  tools::ToolContext context = context_;
  context.cancel = &cancel;
  tools::ToolResult result = registry_.call(call.name, call.arguments, context);
  return ToolOutcome{call.name, result.text, result.is_error, false};
}

}  // namespace m1::agents
