// The scratch folder of a tool context: where spilled command outputs and the editor's undo
// history live. Inside the workspace (the default, <workspace>/.m1/scratch) it is created and
// opened through the workspace's confinement, so a symlink planted at .m1 cannot redirect it.
#pragma once

#include <string>

#include "common/status.h"
#include "tools/tool.h"
#include "tools/workspace.h"

namespace m1::tools {

struct ScratchFolder {
  Workspace folder;          // confined to the scratch folder itself
  std::string shown_prefix;  // how paths in it are named to the model: absolute, ending in "/"
};

Expected<ScratchFolder> open_scratch_folder(const Workspace & workspace, const ToolContext & context);

// A file name unique within this process and time: "<prefix>-<utc time>-<pid>-<n><suffix>".
std::string unique_scratch_name(const std::string & prefix, const std::string & suffix);

}  // namespace m1::tools
