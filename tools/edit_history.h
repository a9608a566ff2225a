// The editor's undo stack, one per file, kept in the scratch folder so that `undo_edit` works
// across processes (each `m1 tool call` is one) and survives a restart of the agent.
// Each entry is the file's content before one edit, or "did not exist" for a create.
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "tools/workspace.h"

namespace m1::tools {

struct PreviousContent {
  bool existed = false;
  std::string bytes;
};

class EditHistory {
public:
  // The newest `max_depth` entries per file are kept.
  explicit EditHistory(size_t max_depth = 32) : max_depth_(max_depth) {}

  // `file` is the workspace-relative path; `scratch` the opened scratch folder.
  Status push(const Workspace & scratch, const std::string & file, const PreviousContent & before);
  // The newest entry, removed from the stack; nullopt when there is none.
  Expected<std::optional<PreviousContent>> pop(const Workspace & scratch, const std::string & file);

private:
  size_t max_depth_;
  std::mutex mutex_;  // serializes stack updates of this process's threads
};

}  // namespace m1::tools
