// The tools every agent offers: bash, python, str_replace_based_edit_tool, search, apply_patch.
#pragma once

#include "tools/registry.h"

namespace m1::tools {

struct BuiltinToolOptions {
  // true: bash keeps one shell per session (cwd and environment persist between calls);
  // false: every call runs in a fresh shell (what one-off callers such as `m1 tool call` want).
  bool persistent_shell = true;
  bool allow_network = false;  // for commands run by bash and python
};

ToolRegistry builtin_tools(const BuiltinToolOptions & options = {});

}  // namespace m1::tools
