// apply_patch: plan every file change in memory, then commit them with rollback.
#include "tools/apply_patch_tool.h"

#include <map>
#include <optional>

#include "tools/patch_application.h"
#include "tools/patch_format.h"
#include "tools/text_file.h"
#include "tools/unified_diff.h"
#include "tools/workspace.h"

namespace m1::tools {

namespace {

const char * kDescription =
    "Apply a patch to files in the workspace. All files change or none do. Format:\n"
    "*** Begin Patch\n"
    "*** Add File: path/new.py\n"
    "+each line of the new file, prefixed with +\n"
    "*** Delete File: path/old.py\n"
    "*** Update File: path/file.py\n"
    "*** Move to: path/renamed.py   (optional)\n"
    "@@ def function_to_find():      (optional line that locates the hunk)\n"
    " context line (unchanged, prefixed with a space)\n"
    "-removed line\n"
    "+added line\n"
    "*** End of File                 (optional: the hunk ends at the end of the file)\n"
    "*** End Patch\n"
    "Give about 3 lines of context around each change; paths are relative to the workspace or absolute "
    "inside it.";

Json parameters_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "patch": {"type": "string", "minLength": 1,
                "description": "The whole patch, from \"*** Begin Patch\" to \"*** End Patch\"."}
    },
    "required": ["patch"],
    "additionalProperties": false
  })");
}

// The planned state of one path: its content after the patch (nullopt = deleted) and before.
struct PlannedFile {
  std::string shown;
  std::optional<std::string> before, after;
};

class PatchPlan {
public:
  explicit PatchPlan(const Workspace & workspace) : workspace_(workspace) {}

  Status plan(const FilePatch & patch) {
    auto relative = resolve(patch.path);
    if (!relative) return relative.status();
    auto current = current_content(*relative, patch.path);
    if (!current) return current.status();
    if (patch.action == PatchAction::add) {
      if (current->has_value())
        return Status::error(patch.path + ": already exists; use \"*** Update File: " + patch.path + "\" to change it");
      std::string text;
      for (const std::string & line : patch.added_lines) text += line + "\n";
      set(*relative, patch.path, text);
      summary_ += "A " + patch.path + "\n";
      return Status();
    }
    if (!current->has_value()) return Status::error(patch.path + ": no such file; check the path (\"*** Add File\" creates one)");
    if (patch.action == PatchAction::remove) {
      set(*relative, patch.path, std::nullopt);
      summary_ += "D " + patch.path + "\n";
      return Status();
    }
    auto updated = apply_hunks(**current, patch.hunks, patch.path);
    if (!updated) return updated.status();
    if (patch.move_to.empty()) {
      set(*relative, patch.path, *updated);
      summary_ += "M " + patch.path + "\n";
      return Status();
    }
    auto destination = resolve(patch.move_to);
    if (!destination) return destination.status();
    if (*destination != *relative) {
      auto existing = current_content(*destination, patch.move_to);
      if (!existing) return existing.status();
      if (existing->has_value()) return Status::error(patch.move_to + ": already exists; \"*** Move to\" does not overwrite");
      set(*relative, patch.path, std::nullopt);
    }
    set(*destination, patch.move_to, *updated);
    summary_ += "M " + patch.move_to + (*destination != *relative ? " (moved from " + patch.path + ")" : "") + "\n";
    return Status();
  }

  // Writes the plan; on a failure, restores what was already written and reports both.
  Status commit() {
    std::vector<std::string> done;
    for (const std::string & relative : order_) {
      const PlannedFile & file = files_[relative];
      if (file.after == file.before) continue;
      Status status = file.after ? workspace_.write_file(relative, *file.after, true) : workspace_.remove_file(relative);
      if (!status.ok()) {
        rollback(done);
        return Status::error(restate(status, relative, file.shown) + "; no file was changed");
      }
      done.push_back(relative);
    }
    return Status();
  }

  std::string diff() const {
    std::string out;
    for (const std::string & relative : order_) {
      const PlannedFile & file = files_.at(relative);
      out += unified_diff(file.before.value_or(""), file.after.value_or(""),
                          file.before ? "a/" + relative : "/dev/null", file.after ? "b/" + relative : "/dev/null");
    }
    return out;
  }

  const std::string & summary() const { return summary_; }

private:
  Expected<std::string> resolve(const std::string & path) const {
    auto relative = workspace_.relative(path);
    if (!relative) return relative.status();
    if (*relative == ".") return Status::error(path + ": is the workspace folder, not a file");
    return relative;
  }

  // The path's content as the patch has left it so far (several sections may touch one file).
  Expected<std::optional<std::string>> current_content(const std::string & relative, const std::string & shown) {
    if (auto it = files_.find(relative); it != files_.end()) return it->second.after;
    auto info = workspace_.info(relative);
    if (!info) return Status::error(restate(info.status(), relative, shown));
    if (!info->exists) return std::optional<std::string>();
    auto text = read_text_file(workspace_, relative, shown);
    if (!text) return text.status();
    return std::optional<std::string>(std::move(*text));
  }

  void set(const std::string & relative, const std::string & shown, std::optional<std::string> after) {
    auto it = files_.find(relative);
    if (it == files_.end()) {
      auto before = current_content(relative, shown);
      files_[relative] = PlannedFile{shown, before ? *before : std::nullopt, std::move(after)};
      order_.push_back(relative);
    } else {
      it->second.after = std::move(after);
    }
  }

  void rollback(const std::vector<std::string> & done) {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      const PlannedFile & file = files_[*it];
      if (file.before) (void)workspace_.write_file(*it, *file.before, true);
      else (void)workspace_.remove_file(*it);
    }
  }

  const Workspace & workspace_;
  std::map<std::string, PlannedFile> files_;  // by workspace-relative path
  std::vector<std::string> order_;            // first-touch order
  std::string summary_;
};

}  // namespace

ApplyPatchTool::ApplyPatchTool() : spec_{"apply_patch", kDescription, parameters_schema()} {}

ToolResult ApplyPatchTool::call(const Json & arguments, const ToolContext & context) {
  auto workspace = Workspace::open(context.workspace);
  if (!workspace) return ToolResult::error(workspace.status().message());
  auto patch = parse_patch(arguments["patch"].get<std::string>());
  if (!patch) return ToolResult::error("the patch was not applied: " + patch.status().message());
  PatchPlan plan(*workspace);
  for (const FilePatch & file : *patch) {
    Status planned = plan.plan(file);
    if (!planned.ok()) return ToolResult::error("the patch was not applied (no file was changed): " + planned.message());
  }
  if (context.cancelled()) return ToolResult::error("apply_patch cancelled; no file was changed");
  Status committed = plan.commit();
  if (!committed.ok()) return ToolResult::error("the patch was not applied: " + committed.message());
  ToolResult result = ToolResult::success("Success. Updated the following files:\n" + plan.summary());
  result.metadata["diff"] = plan.diff();
  return result;
}

}  // namespace m1::tools
