// The patch format coding models emit (the `apply_patch` envelope):
//
//   *** Begin Patch
//   *** Add File: path            then the file's lines, each prefixed with '+'
//   *** Delete File: path
//   *** Update File: path
//   *** Move to: new/path          optional, right after Update File
//   @@ optional context line       starts a hunk; then lines prefixed ' ' (context), '-', '+'
//   *** End of File                optional: the hunk ends at the end of the file
//   *** End Patch
//
// This file parses it into operations; apply_patch_tool.cpp applies them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace m1::tools {

struct PatchLine {
  char op;           // ' ' context, '-' removed, '+' added
  std::string text;  // without prefix and line terminator
};

struct PatchHunk {
  std::string anchor;  // the text after "@@ " (a line to find first), or empty
  std::vector<PatchLine> lines;
  bool at_end_of_file = false;
  size_t patch_line = 0;  // 1-based line of the hunk in the patch, for messages
};

enum class PatchAction { add, remove, update };

struct FilePatch {
  PatchAction action = PatchAction::update;
  std::string path;
  std::string move_to;          // update only; empty = stays
  std::vector<std::string> added_lines;  // add only
  std::vector<PatchHunk> hunks;          // update only
  size_t patch_line = 0;
};

// Fails with "patch line N: <what is wrong>" for malformed input.
Expected<std::vector<FilePatch>> parse_patch(std::string_view text);

}  // namespace m1::tools
