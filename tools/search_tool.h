// search: PCRE2 regular-expression search over the workspace's text files, like `rg -n`:
// .gitignore files respected, .git skipped, symlinks not followed, binary and huge files skipped,
// include/exclude globs, context lines, and caps on matches and output size. Runs in-process,
// confined to the workspace.
#pragma once

#include "tools/tool.h"

namespace m1::tools {

class SearchTool : public Tool {
public:
  SearchTool();
  const ToolSpec & spec() const override { return spec_; }
  ToolResult call(const Json & arguments, const ToolContext & context) override;

  static constexpr int kDefaultMaxResults = 100;
  static constexpr size_t kMaxOutputBytes = 24000;  // the listing stops here, with a note
  static constexpr size_t kMaxLineBytes = 400;      // longer lines are clipped in the listing

private:
  ToolSpec spec_;
};

}  // namespace m1::tools
