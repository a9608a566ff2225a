// str_replace_based_edit_tool: view, create, str_replace, insert and undo_edit on workspace files,
// with the semantics coding models are trained on (cat -n views, exactly-one-match replacement,
// insert after line N, undo). Runs in-process, confined to the workspace (workspace.h); every
// edit keeps all bytes outside the replaced span, is written atomically and returns a unified diff
// in metadata["diff"].
#pragma once

#include "tools/edit_history.h"
#include "tools/tool.h"

namespace m1::tools {

class EditTool : public Tool {
public:
  EditTool();
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext & context) override;

  // Output longer than this is clipped with a note (the limit models expect from this tool).
  static constexpr size_t kMaxOutputChars = 16000;

private:
  ToolSpec spec_;
  EditHistory history_;
};

}  // namespace m1::tools
