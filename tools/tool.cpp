#include "tools/tool.h"

namespace m1::tools {

nlohmann::ordered_json function_schema(const ToolSpec & spec) {
  nlohmann::ordered_json function;
  function["name"] = spec.name;
  function["description"] = spec.description;
  function["parameters"] = spec.parameters;
  nlohmann::ordered_json wrapped;
  wrapped["type"] = "function";
  wrapped["function"] = std::move(function);
  return wrapped;
}

}  // namespace m1::tools
