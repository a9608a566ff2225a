// The prompt-side view of a tool: the OpenAI-style function entry.
#include "tools/tool.h"

namespace m1::tools {

Json function_schema(const ToolSpec & spec) {
  Json function;
  function["name"] = spec.name;
  function["description"] = spec.description;
  function["parameters"] = spec.parameters;
  Json wrapped;
  wrapped["type"] = "function";
  wrapped["function"] = std::move(function);
  return wrapped;
}

}  // namespace m1::tools
