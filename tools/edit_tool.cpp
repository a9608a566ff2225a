// The editor tool's five commands. Messages name the path as the model wrote it.
#include "tools/edit_tool.h"

#include <algorithm>

#include "tools/scratch_folder.h"
#include "tools/text_file.h"
#include "tools/unified_diff.h"
#include "tools/workspace.h"

namespace m1::tools {

namespace {

constexpr size_t kSnippetContextLines = 4;

const char * kDescription =
    "View, create and edit text files in the workspace.\n"
    "* view: a file is shown like `cat -n` (line numbers, a TAB, the line); view_range [start, end] shows "
    "lines start..end (1-based, end -1 = to the end of the file). A directory lists files and directories "
    "up to 2 levels deep, without hidden ones.\n"
    "* create: writes a new file with file_text (parent directories are created); never overwrites.\n"
    "* str_replace: replaces old_str, which must occur exactly once in the file (copy it exactly, "
    "including whitespace), with new_str (default: empty, i.e. delete).\n"
    "* insert: inserts new_str after line insert_line (0 = at the top).\n"
    "* undo_edit: reverts the last edit of the file made with this tool.\n"
    "Paths are absolute inside the workspace or relative to it. Long outputs are clipped.";

Json parameters_schema() {
  return Json::parse(R"({
    "type": "object",
    "properties": {
      "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"],
                  "description": "The operation."},
      "path": {"type": "string", "minLength": 1,
               "description": "File or directory, absolute inside the workspace or relative to it."},
      "file_text": {"type": "string", "description": "For create: the whole content of the new file."},
      "old_str": {"type": "string", "description": "For str_replace: the exact text to replace; must occur once."},
      "new_str": {"type": "string",
                  "description": "For str_replace: the replacement (default empty). For insert: the text to insert."},
      "insert_line": {"type": "integer", "minimum": 0,
                      "description": "For insert: new_str goes after this line (0 = at the top)."},
      "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                     "description": "For view of a file: [start, end], 1-based and inclusive; end -1 = to the end."}
    },
    "required": ["command", "path"],
    "additionalProperties": false
  })");
}

// One call's state: the parsed arguments and the opened workspace.
struct EditCall {
  const Json & args;
  const ToolContext & context;
  Workspace & workspace;
  std::string shown;     // the path as given
  std::string relative;  // workspace-relative

  std::string text(const char * key) const { return args.contains(key) ? args[key].get<std::string>() : ""; }
  bool has(const char * key) const { return args.contains(key); }
};

std::string clip(std::string text) {
  if (text.size() <= EditTool::kMaxOutputChars) return text;
  std::string clipped(utf8_prefix(text, EditTool::kMaxOutputChars));
  clipped += "<response clipped><NOTE>Only part of the output is shown: it exceeded " +
             std::to_string(EditTool::kMaxOutputChars) +
             " characters. View a smaller view_range, or use the search tool to find the line numbers you "
             "need.</NOTE>\n";
  return clipped;
}

ToolResult missing_parameter(const char * name, const char * command) {
  return ToolResult::error(std::string("parameter `") + name + "` is required for command `" + command + "`");
}

// The lines [first, last] (1-based, clamped) of `text` in cat -n form.
std::string numbered_snippet(const std::string & text, size_t first, size_t last) {
  auto lines = split_lines_keep_endings(text);
  if (lines.empty()) return "";
  first = std::max<size_t>(first, 1);
  last = std::min(last, lines.size());
  if (first > last) return "";
  std::vector<std::string_view> part(lines.begin() + long(first - 1), lines.begin() + long(last));
  return number_lines(part, first);
}

ToolResult edited(const EditCall & call, const std::string & before, const std::string & after, size_t first_line,
                  size_t last_line, const char * closing) {
  ToolResult result = ToolResult::success(
      clip("The file " + call.shown + " has been edited. Here's the result of running `cat -n` on a snippet of " +
           call.shown + ":\n" +
           numbered_snippet(after, first_line > kSnippetContextLines ? first_line - kSnippetContextLines : 1,
                            last_line + kSnippetContextLines) +
           closing));
  result.metadata["diff"] = unified_diff(before, after, "a/" + call.relative, "b/" + call.relative);
  return result;
}

class EditCommands {
public:
  EditCommands(EditCall & call, EditHistory & history) : call_(call), history_(history) {}

  ToolResult view() {
    auto info = call_.workspace.info(call_.relative);
    if (!info) return ToolResult::error(restate(info.status(), call_.relative, call_.shown));
    if (!info->exists) return ToolResult::error(call_.shown + ": no such file or directory; check the path");
    if (info->is_directory) return view_directory();
    auto text = read_text_file(call_.workspace, call_.relative, call_.shown);
    if (!text) return ToolResult::error(text.status().message());
    auto lines = split_lines_keep_endings(*text);
    size_t first = 1, last = lines.size();
    if (call_.has("view_range")) {
      long start = call_.args["view_range"][0].get<long>(), end = call_.args["view_range"][1].get<long>();
      long n = static_cast<long>(lines.size());
      if (start < 1 || start > std::max(n, 1L))
        return ToolResult::error("invalid view_range [" + std::to_string(start) + ", " + std::to_string(end) +
                                 "]: start must be between 1 and " + std::to_string(std::max(n, 1L)) + ", the number of lines in " +
                                 call_.shown);
      if (end != -1 && end < start)
        return ToolResult::error("invalid view_range [" + std::to_string(start) + ", " + std::to_string(end) +
                                 "]: end must be -1 (to the end of the file) or at least start (" +
                                 std::to_string(start) + ")");
      first = static_cast<size_t>(start);
      if (end != -1) last = std::min(last, static_cast<size_t>(end));  // past the end: up to the last line
    }
    std::vector<std::string_view> shown(lines.begin() + long(std::min(first - 1, lines.size())),
                                        lines.begin() + long(last));
    return ToolResult::success(
        clip("Here's the result of running `cat -n` on " + call_.shown + ":\n" + number_lines(shown, first)));
  }

  ToolResult create() {
    if (!call_.has("file_text")) return missing_parameter("file_text", "create");
    auto info = call_.workspace.info(call_.relative);
    if (!info) return ToolResult::error(restate(info.status(), call_.relative, call_.shown));
    if (info->exists)
      return ToolResult::error(call_.shown + (info->is_directory ? ": is an existing directory" : ": already exists") +
                               "; `create` never overwrites. Use `str_replace` or `insert` to change a file.");
    std::string text = call_.text("file_text");
    Status written = call_.workspace.write_file(call_.relative, text, true);
    if (!written.ok()) return ToolResult::error(restate(written, call_.relative, call_.shown));
    record({false, ""});
    ToolResult result = ToolResult::success("File created successfully at: " + call_.shown);
    result.metadata["diff"] = unified_diff("", text, "/dev/null", "b/" + call_.relative);
    return result;
  }

  ToolResult str_replace() {
    if (!call_.has("old_str")) return missing_parameter("old_str", "str_replace");
    auto text = read_text_file(call_.workspace, call_.relative, call_.shown);
    if (!text) return ToolResult::error(text.status().message());
    std::string old_str = call_.text("old_str"), new_str = call_.text("new_str");
    if (old_str.empty()) return ToolResult::error("old_str is empty; give the exact text to replace (use `insert` to add text)");
    std::vector<size_t> at = occurrences(*text, old_str);
    if (at.empty() && dominant_line_ending(*text) == "\r\n" && old_str.find('\n') != std::string::npos) {
      // The model saw the file through `cat -n`, which hides the CR of CRLF lines.
      std::string crlf_old = to_crlf(old_str);
      at = occurrences(*text, crlf_old);
      if (!at.empty()) old_str = crlf_old, new_str = to_crlf(new_str);
    }
    if (at.empty())
      return ToolResult::error("no replacement was performed: old_str did not appear verbatim in " + call_.shown +
                               ". Copy the text exactly as it is in the file, including whitespace and indentation "
                               "(view the file to check).");
    if (at.size() > 1) {
      std::string lines;
      for (size_t offset : at) lines += (lines.empty() ? "" : ", ") + std::to_string(line_number_at(*text, offset));
      return ToolResult::error("no replacement was performed: old_str occurs " + std::to_string(at.size()) +
                               " times in " + call_.shown + ", at lines " + lines +
                               ". Include more surrounding lines in old_str so that it occurs exactly once.");
    }
    std::string after = text->substr(0, at[0]) + new_str + text->substr(at[0] + old_str.size());
    Status written = call_.workspace.write_file(call_.relative, after, false);
    if (!written.ok()) return ToolResult::error(restate(written, call_.relative, call_.shown));
    record({true, *text});
    size_t first = line_number_at(after, at[0]);
    size_t last = line_number_at(after, at[0] + (new_str.empty() ? 0 : new_str.size() - 1));
    return edited(call_, *text, after, first, last,
                  "Review the changes and make sure they are as expected. Edit the file again if necessary.");
  }

  ToolResult insert() {
    if (!call_.has("insert_line")) return missing_parameter("insert_line", "insert");
    if (!call_.has("new_str")) return missing_parameter("new_str", "insert");
    auto text = read_text_file(call_.workspace, call_.relative, call_.shown);
    if (!text) return ToolResult::error(text.status().message());
    auto lines = split_lines_keep_endings(*text);
    long line = call_.args["insert_line"].get<long>();
    if (line < 0 || static_cast<size_t>(line) > lines.size())
      return ToolResult::error("invalid insert_line " + std::to_string(line) + ": " + call_.shown + " has " +
                               std::to_string(lines.size()) + " lines, so insert_line must be between 0 and " +
                               std::to_string(lines.size()));
    size_t offset = 0;
    for (long i = 0; i < line; ++i) offset += lines[size_t(i)].size();
    std::string ending = dominant_line_ending(*text);
    std::string inserted = ending == "\r\n" ? to_crlf(call_.text("new_str")) : call_.text("new_str");
    bool at_end = offset == text->size();
    bool last_line_open = at_end && !text->empty() && text->back() != '\n';
    if (last_line_open) inserted = ending + inserted;  // never glue onto a last line without newline
    bool ends_open = inserted.empty() || inserted.back() != '\n';
    if (ends_open && !last_line_open) inserted += ending;  // "" inserts one empty line
    std::string after = text->substr(0, offset) + inserted + text->substr(offset);
    Status written = call_.workspace.write_file(call_.relative, after, false);
    if (!written.ok()) return ToolResult::error(restate(written, call_.relative, call_.shown));
    record({true, *text});
    size_t first = static_cast<size_t>(line) + 1;
    size_t last = first + std::max<size_t>(count_lines(call_.text("new_str")), 1) - 1;
    return edited(call_, *text, after, first, last,
                  "Review the changes and make sure they are as expected (correct indentation, no duplicate "
                  "lines, etc). Edit the file again if necessary.");
  }

  ToolResult undo_edit() {
    auto scratch = open_scratch_folder(call_.workspace, call_.context);
    if (!scratch) return ToolResult::error("undo_edit: " + scratch.status().message());
    auto previous = history_.pop(scratch->folder, call_.relative);
    if (!previous) return ToolResult::error("undo_edit: " + previous.status().message());
    if (!previous->has_value())
      return ToolResult::error("no edit history for " + call_.shown + "; undo_edit reverts edits made with this tool");
    auto current = call_.workspace.read_file(call_.relative, kMaxTextFileBytes);
    std::string before = current ? *current : "";
    const PreviousContent & restored = **previous;
    Status status = restored.existed ? call_.workspace.write_file(call_.relative, restored.bytes, true)
                                     : call_.workspace.remove_file(call_.relative);
    if (!status.ok()) return ToolResult::error(restate(status, call_.relative, call_.shown));
    std::string text = "Last edit to " + call_.shown + " undone successfully.";
    if (restored.existed) {
      auto lines = split_lines_keep_endings(restored.bytes);
      text += " Here's the result of running `cat -n` on " + call_.shown + ":\n" + number_lines(lines, 1);
    } else {
      text += " The file did not exist before and was removed.";
    }
    ToolResult result = ToolResult::success(clip(text));
    result.metadata["diff"] = unified_diff(before, restored.bytes, "a/" + call_.relative,
                                           restored.existed ? "b/" + call_.relative : "/dev/null");
    return result;
  }

private:
  static std::vector<size_t> occurrences(const std::string & text, const std::string & needle) {
    std::vector<size_t> found;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) found.push_back(at);
    return found;
  }

  static std::string to_crlf(const std::string & text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
      out += text[i];
    }
    return out;
  }

  void record(const PreviousContent & before) {
    // The edit itself succeeded; a history failure only costs the ability to undo it.
    auto scratch = open_scratch_folder(call_.workspace, call_.context);
    if (scratch) (void)history_.push(scratch->folder, call_.relative, before);
  }

  ToolResult view_directory() {
    if (call_.has("view_range"))
      return ToolResult::error("view_range is not allowed when " + call_.shown + " is a directory; view a file instead");
    std::string base = call_.shown;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    std::string listing;
    list_level(call_.relative, base, 1, listing);
    return ToolResult::success(clip("Here's the files and directories up to 2 levels deep in " + call_.shown +
                                    ", excluding hidden items:\n" + base + "/\n" + listing));
  }

  void list_level(const std::string & relative, const std::string & shown, int depth, std::string & listing) {
    auto entries = call_.workspace.list_directory(relative);
    if (!entries) {
      listing += shown + "/ (" + entries.status().message() + ")\n";
      return;
    }
    for (const DirectoryEntry & e : *entries) {
      if (e.name[0] == '.') continue;
      std::string child = shown + "/" + e.name;
      listing += child + (e.is_directory ? "/" : "") + "\n";
      if (e.is_directory && depth < 2) list_level(relative == "." ? e.name : relative + "/" + e.name, child, depth + 1, listing);
    }
  }

  EditCall & call_;
  EditHistory & history_;
};

}  // namespace

EditTool::EditTool() : spec_{"str_replace_based_edit_tool", kDescription, parameters_schema()} {}

ToolResult EditTool::call(const Json & arguments, const ToolContext & context) {
  auto workspace = Workspace::open(context.workspace);
  if (!workspace) return ToolResult::error(workspace.status().message());
  std::string shown = arguments["path"].get<std::string>();
  auto relative = workspace->relative(shown);
  if (!relative) return ToolResult::error(relative.status().message());
  EditCall call{arguments, context, *workspace, shown, *relative};
  EditCommands commands(call, history_);
  const std::string command = arguments["command"].get<std::string>();
  if (command != "view") {
    auto info = workspace->info(*relative);
    if (info && info->exists && info->is_directory)
      return ToolResult::error(shown + ": is a directory; only `view` can be used on directories");
  }
  if (command == "view") return commands.view();
  if (command == "create") return commands.create();
  if (command == "str_replace") return commands.str_replace();
  if (command == "insert") return commands.insert();
  return commands.undo_edit();
}

}  // namespace m1::tools
