// Registration of the built-in tools, in the order they are listed to the model.
#include "tools/builtin_tools.h"

#include "tools/apply_patch_tool.h"
#include "tools/bash_tool.h"
#include "tools/edit_tool.h"
#include "tools/python_tool.h"
#include "tools/search_tool.h"

namespace m1::tools {

ToolRegistry builtin_tools(const BuiltinToolOptions & options) {
  CommandSettings settings;
  settings.allow_network = options.allow_network;
  ToolRegistry registry;
  // Names are distinct and valid by construction, so add() cannot fail here.
  (void)registry.add(std::make_unique<BashTool>(options.persistent_shell, settings));
  (void)registry.add(std::make_unique<PythonTool>(settings));
  (void)registry.add(std::make_unique<EditTool>());
  (void)registry.add(std::make_unique<SearchTool>());
  (void)registry.add(std::make_unique<ApplyPatchTool>());
  return registry;
}

}  // namespace m1::tools
