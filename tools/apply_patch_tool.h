// apply_patch: applies a `*** Begin Patch` patch (patch_format.h) to workspace files, atomically
// across files: every hunk is matched and every new content computed in memory first; only then
// are files written (each by temp file + rename), and a failure while writing restores the files
// already written. Hunks match exactly, else ignoring trailing whitespace, else ignoring leading
// and trailing whitespace; context lines keep the file's bytes. Runs in-process, confined to the
// workspace. metadata["diff"] holds a unified diff of every file.
#pragma once

#include "tools/tool.h"

namespace m1::tools {

class ApplyPatchTool : public Tool {
public:
  ApplyPatchTool();
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext & context) override;

private:
  ToolSpec spec_;
};

}  // namespace m1::tools
